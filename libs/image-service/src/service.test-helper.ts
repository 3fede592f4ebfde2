// The RPC service served in memory (createRouterTransport) to a caller named "tester", with
// everything but storage set as a test wants it.
import { createClient, createRouterTransport, type Client } from "@connectrpc/connect";
import { ImageService } from "@imagesvc/proto";
import { pino } from "pino";
import { StreamLimiter } from "./auth/limits";
import { Policy } from "./auth/policy";
import { PRINCIPAL } from "./auth/principal";
import { StreamDrain } from "./drain";
import { errorInterceptor } from "./error-interceptor";
import { createImageService } from "./image-service";
import type { ImageServiceDeps } from "./rpc/deps";

export function inMemoryClient(
  storage: Pick<ImageServiceDeps, "store" | "bus" | "queue" | "webhooks"> &
    Partial<Pick<ImageServiceDeps, "familyPolicies" | "schedules">>,
): Client<typeof ImageService> {
  const service = createImageService({
    familyPolicies: untouched("familyPolicies"),
    schedules: untouched("schedules"),
    ...storage,
    log: pino({ level: "silent" }),
    policy: Policy.allowAll(),
    publicImageProjects: new Set(),
    streams: new StreamLimiter(10),
    drain: new StreamDrain(),
    webhookPolicy: { allowedHosts: ["hooks.example.com"], allowLocalHttp: false },
  });
  const transport = createRouterTransport(
    ({ service: register }) => register(ImageService, service),
    {
      router: {
        interceptors: [errorInterceptor(pino({ level: "silent" }))],
        requestGate: (ctx) => {
          ctx.values.set(PRINCIPAL, { name: "tester" });
        },
      },
    },
  );
  return createClient(ImageService, transport);
}

/** A dependency a test does not give: any use of it fails the test, naming it. */
function untouched(
  name: string,
): ImageServiceDeps["familyPolicies"] & ImageServiceDeps["schedules"] {
  return new Proxy({} as ImageServiceDeps["familyPolicies"] & ImageServiceDeps["schedules"], {
    get: (_t, prop) => {
      throw new Error(`${name}.${String(prop)} used by a test that gave no ${name}`);
    },
  });
}
