import type { IncomingMessage, ServerResponse } from "node:http";
import { notFound } from "./compute-error";
import { sendFault, sendJson, sendText, resetConnection } from "./http-io";
import type { Faults } from "./faults";
import type { ResolvedEmulatorOptions } from "./options";
import type { Tokens } from "./tokens";

const FLAVOR = { "metadata-flavor": "Google" };
const SA = "/computeMetadata/v1/instance/service-accounts/default";

/**
 * The parts of the GCE metadata server that google-auth-library and gcp-metadata use, when
 * `GCE_METADATA_HOST` points at the emulator. Like the real one, it requires the
 * `Metadata-Flavor: Google` request header and sends it back on every answer (the library rejects
 * answers without it).
 */
export function handleMetadata(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  deps: {
    readonly options: ResolvedEmulatorOptions;
    readonly tokens: Tokens;
    readonly faults: Faults;
    readonly countCall: (route: string) => void;
  },
): void {
  if (req.headers["metadata-flavor"]?.toString().toLowerCase() !== "google") {
    sendText(res, 403, "Missing required header: Metadata-Flavor\n", FLAVOR);
    return;
  }
  const { options, tokens } = deps;
  const path = url.pathname.replace(/\/$/, "");
  const text = (body: string) => {
    sendText(res, 200, body, FLAVOR);
  };
  switch (path) {
    case "/computeMetadata/v1":
      text("instance/\nproject/\nuniverse/\n");
      return;
    case "/computeMetadata/v1/instance":
      text("attributes/\nhostname\nid\nservice-accounts/\nzone\n");
      return;
    case "/computeMetadata/v1/instance/service-accounts":
      text(`default/\n${options.serviceAccountEmail}/\n`);
      return;
    case `${SA}/token`: {
      deps.countCall("metadata.token");
      const decision = deps.faults.decide("metadata.token");
      if (decision.before === "reset") {
        resetConnection(res);
        return;
      }
      if (decision.before !== undefined) {
        sendFault(
          res,
          decision.before === "notFound"
            ? notFound(`service account token ${SA}`)
            : decision.before,
        );
        return;
      }
      sendJson(res, 200, tokens.issue(Date.now()), FLAVOR);
      return;
    }
    case `${SA}/email`:
      text(options.serviceAccountEmail);
      return;
    case `${SA}/scopes`:
      text("https://www.googleapis.com/auth/cloud-platform\n");
      return;
    case SA:
      if (url.searchParams.get("recursive") === "true") {
        sendJson(
          res,
          200,
          {
            aliases: ["default"],
            email: options.serviceAccountEmail,
            scopes: ["https://www.googleapis.com/auth/cloud-platform"],
          },
          FLAVOR,
        );
      } else text("aliases\nemail\nidentity\nscopes\ntoken\n");
      return;
    case "/computeMetadata/v1/project/project-id":
      text(options.projectId);
      return;
    case "/computeMetadata/v1/project/numeric-project-id":
      text("000000000000");
      return;
    case "/computeMetadata/v1/universe/universe-domain":
      text("googleapis.com");
      return;
    default:
      sendText(res, 404, "Not Found\n", FLAVOR);
  }
}
