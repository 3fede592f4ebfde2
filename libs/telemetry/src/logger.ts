import { pino, type DestinationStream, type Logger } from "pino";

/**
 * Paths pino blanks in every log line. Nothing should log these in the first place; this is the
 * second line of defence, so that a bearer token, an ID token or a key never reaches a log.
 */
export const REDACTED_PATHS = [
  "authorization",
  "*.authorization",
  "headers.authorization",
  "req.headers.authorization",
  "token",
  "*.token",
  "accessToken",
  "*.accessToken",
  "access_token",
  "*.access_token",
  "idToken",
  "*.idToken",
  "rawKey",
  "*.rawKey",
  "*.*.rawKey",
  "raw_key",
  "*.raw_key",
  "private_key",
  "*.private_key",
  "password",
  "*.password",
];

/** The process's logger: pino JSON lines (to stdout unless told otherwise), with secrets redacted. */
export function createLogger(
  name: string,
  level = "info",
  destination?: DestinationStream,
): Logger {
  const options = { name, level, redact: { paths: REDACTED_PATHS, censor: "[redacted]" } };
  return destination === undefined ? pino(options) : pino(options, destination);
}
