/** Reading configuration from environment variables, with errors that name the variable and the fix. */
export { envReader, ConfigError, type Env, type EnvReader } from "./env-reader";
