import { resolveSettings, type ResolvedSettings } from "@imagesvc/config";

/** The apps whose settings a test builds. */
type TestedApp = "gateway" | "worker";

/** The least an app's rules need to resolve: no auth and no pre-flight, a Compute endpoint. */
const MINIMAL: Record<TestedApp, Record<string, string>> = {
  gateway: { AUTH_MODE: "none", PREFLIGHT: "off" },
  worker: { COMPUTE_ENDPOINT: "http://127.0.0.1:1" },
};

/**
 * An app's settings for a test that starts it in process: the deployment's defaults from
 * libs/config's table (resolved as the app resolves them at start), with the test's overrides.
 */
export function testSettings<A extends TestedApp>(
  app: A,
  overrides: Partial<ResolvedSettings<A>> = {},
): ResolvedSettings<A> {
  return { ...resolveSettings(app, MINIMAL[app]), ...overrides };
}
