import type { RedisClient } from "@imagesvc/redis";
import {
  createOperationArgs,
  createOperationKeys,
  createOperationScript,
  writeOperationArgs,
  writeOperationKeys,
  writeOperationScript,
  type CreateOperationArgs,
  type CreateOperationKeys,
  type LuaScript,
  type WriteOperationArgs,
  type WriteOperationKeys,
} from "./lua/scripts.generated";

/**
 * The store's Lua scripts, as calls that take their KEYS and ARGV by name. Each script runs
 * atomically in Redis, so a record, its lifecycle, its indexes and the published update never
 * disagree, whatever crashes or races happen around them.
 *
 * The scripts are the `.lua` files in `lua/`, whose headers document KEYS, ARGV and the reply. The
 * positional order comes from code generated from those headers (`lua/scripts.generated.ts`, by
 * tools/lua/generate.mjs), so a caller cannot put an argument in another's place.
 */
export interface OperationScripts {
  /**
   * create-operation.lua: `[1, name]` when the operation was created, `[0, existing name]` when
   * the request id was already taken (nothing was written).
   */
  createOperation(
    keys: CreateOperationKeys,
    args: CreateOperationArgs,
  ): Promise<[created: number, name: string]>;
  /**
   * write-operation.lua: `[-1, 0, 0]` when there is no such record, `[0, seq, 0]` on a lifecycle
   * conflict, else `[1, lifecycle seq, new version or 0 when no version was written, 1 when the
   * entered index was renewed]` (the last absent when no version was written).
   */
  writeOperation(
    keys: WriteOperationKeys,
    args: WriteOperationArgs,
  ): Promise<[outcome: number, seq: number, version: number, renewed?: number]>;
}

/** Defines the scripts on `redis` (EVALSHA, loading them on NOSCRIPT) and returns their calls. */
export function defineOperationScripts(redis: RedisClient): OperationScripts {
  const define = (command: string, { numberOfKeys, lua }: LuaScript) => {
    redis.defineCommand(command, { numberOfKeys, lua });
  };
  define("imagesvcCreateOperation", createOperationScript);
  define("imagesvcWriteOperation", writeOperationScript);
  const run = redis as unknown as {
    imagesvcCreateOperation(...args: (string | number)[]): Promise<[number, string]>;
    imagesvcWriteOperation(...args: (string | number)[]): Promise<[number, number, number]>;
  };
  return {
    createOperation: (keys, args) =>
      run.imagesvcCreateOperation(...createOperationKeys(keys), ...createOperationArgs(args)),
    writeOperation: (keys, args) =>
      run.imagesvcWriteOperation(...writeOperationKeys(keys), ...writeOperationArgs(args)),
  };
}
