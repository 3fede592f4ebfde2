/** Secrets at rest: what a request carries in confidence is sealed before it reaches Redis. */
export { createSecretBox, loadSecretBox, SecretBoxError, type SecretBox } from "./secret-box";
