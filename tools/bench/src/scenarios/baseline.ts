import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import type { MinimalResult } from "../fanout-minimal";

/**
 * The fan-out on a minimal server, through the same bus, Redis and watch clients: connect-node
 * alone, @grpc/grpc-js's own Server, then bare node:http2. Tells the framework's share from the
 * gateway's and the bus's.
 */
export async function fanOutBaseline(redisUrl: string) {
  const run = async (server: MinimalResult["server"]) => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["--expose-gc", join(import.meta.dirname, "fanout-minimal.js"), server, redisUrl],
      { maxBuffer: 16 << 20 },
    );
    const line = stdout.split("\n").find((l) => l.startsWith("RESULT "));
    if (line === undefined) throw new Error(`fanout-minimal ${server} printed no result`);
    return JSON.parse(line.slice("RESULT ".length)) as MinimalResult;
  };
  return { connect: await run("connect"), grpcJs: await run("grpc-js"), raw: await run("raw") };
}
