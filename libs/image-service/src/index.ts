/**
 * The image service behind the gateway: ImageService's RPCs (one file each in rpc/), how callers
 * authenticate and what they may do (auth/), health, reflection and the console, all served on
 * one port through libs/serving and backed by Redis. apps/gateway resolves the settings and
 * starts it; the system tests start it in process.
 */
export { startGateway, type Gateway, type GatewayOptions } from "./gateway";
export type { AuthConfig } from "./auth/authenticator";
export { resolveGoogleAccounts, type GoogleAccounts } from "./auth/google-accounts";
export { DEFAULT_PUBLIC_IMAGE_PROJECTS } from "./auth/named-resources";
export { Policy } from "./auth/policy";
export { newOperationName, OPERATION_NAME } from "@imagesvc/operations";
