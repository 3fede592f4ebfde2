import {
  pino,
  type Bindings,
  type ChildLoggerOptions,
  type DestinationStream,
  type Logger,
} from "pino";

/**
 * Keys whose values every log line blanks, at the top of a line's fields (a child logger's
 * bindings included) and two levels down, in plain objects and arrays. Nothing should log these
 * in the first place; this is the second line of defence, so that a bearer token, an ID token or
 * a key never reaches a log.
 */
export const SECRET_KEYS: ReadonlySet<string> = new Set([
  "authorization",
  "token",
  "accessToken",
  "access_token",
  "idToken",
  "rawKey",
  "raw_key",
  "private_key",
  "password",
]);
const CENSOR = "[redacted]";
/** How far below a line's fields secrets are looked for: `image.imageEncryptionKey.rawKey`. */
const DEPTH = 2;

/**
 * `fields` with every SECRET_KEYS value blanked, copied only where something is blanked (most
 * lines hold none, and cost one pass over their keys). Class instances (an Error, a Buffer) are
 * left whole: pino's serializers write them. This replaces pino's `redact` paths, whose wildcards
 * cost about 8 µs a line (docs/performance.md).
 */
export function redactSecrets<T extends object>(fields: T, depth = DEPTH): T {
  let copy: Record<string, unknown> | undefined;
  const isArray = Array.isArray(fields);
  for (const [key, value] of Object.entries(fields)) {
    let blanked: unknown = value;
    if (SECRET_KEYS.has(key) && !isArray) blanked = CENSOR;
    else if (depth > 0 && isPlain(value)) blanked = redactSecrets(value, depth - 1);
    if (blanked === value) continue;
    copy ??= (isArray ? [...fields] : { ...fields }) as Record<string, unknown>;
    copy[key] = blanked;
  }
  return (copy as T | undefined) ?? fields;
}

function isPlain(value: unknown): value is object {
  if (value === null || typeof value !== "object") return false;
  if (Array.isArray(value)) return true;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * The process's logger: pino JSON lines (to stdout unless told otherwise), with secrets redacted:
 * in each line's fields (a formatter), in an `err` as pino serializes it (an Error's own fields,
 * three levels down: a client error's `config.headers.authorization`), and in every child
 * logger's bindings, which pino writes without the formatters.
 */
export function createLogger(
  name: string,
  level = "info",
  destination?: DestinationStream,
): Logger {
  const options = {
    name,
    level,
    formatters: { log: redactSecrets, bindings: redactSecrets },
    serializers: {
      err: (e: unknown) =>
        redactSecrets(pino.stdSerializers.err(e as Error) as unknown as object, DEPTH + 1),
    },
  };
  const root = destination === undefined ? pino(options) : pino(options, destination);
  // pino's own `child`, which takes its logger as `this` (called so below).
  return withRedactedChildren(root, Reflect.get(root, "child"));
}

/**
 * `logger`, whose children (and theirs) get their bindings redacted. `child` is pino's own, taken
 * from the root before it is replaced: each child is an object whose prototype is its parent, so
 * the replacement is set on every child again, calling pino's with that child as `this`.
 */
function withRedactedChildren(logger: Logger, pinoChild: Logger["child"]): Logger {
  const child = function (this: Logger, bindings: Bindings, options?: ChildLoggerOptions) {
    const made = Reflect.apply(pinoChild, this, [redactSecrets(bindings), options]) as Logger;
    return withRedactedChildren(made, pinoChild);
  };
  logger.child = child as unknown as Logger["child"];
  return logger;
}
