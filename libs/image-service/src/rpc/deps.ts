import type { ComputeClient } from "@imagesvc/compute";
import type {
  FamilyPolicies,
  OperationBus,
  OperationStore,
  ReleaseSchedules,
} from "@imagesvc/operations";
import type { RawDiskPreflight } from "@imagesvc/preflight";
import type { WebhookPolicy } from "@imagesvc/validation";
import type { ImageQueue, WebhookQueue } from "@imagesvc/queue";
import type { SecretBox } from "@imagesvc/secrets";
import type { Logger } from "pino";
import type { StreamLimiter } from "../auth/limits";
import type { Policy } from "../auth/policy";
import type { StreamDrain } from "../drain";

/** What the ImageService RPCs need; `createImageService` hands it to each of them. */
export interface ImageServiceDeps {
  readonly store: OperationStore;
  readonly bus: OperationBus;
  readonly queue: ImageQueue;
  /**
   * Where a cancel queues the DONE delivery its request asked for (the worker queues every other
   * one). Without it, the cancelled operation's job is kept, and the worker that runs it queues it.
   */
  readonly webhooks?: WebhookQueue;
  readonly log: Logger;
  /** Who may do what in which project. */
  readonly policy: Policy;
  /**
   * Seals the secrets a request carries before they reach Redis. Without it, a request with a
   * customer-supplied key is refused (FAILED_PRECONDITION).
   */
  readonly secrets?: SecretBox;
  /** Projects whose images and licenses anyone may name (Google's public images and OS licenses). */
  readonly publicImageProjects: ReadonlySet<string>;
  /** CreateImage's per-principal rate limit; throws RESOURCE_EXHAUSTED. Default: none. */
  readonly rateLimit?: (principal: string) => Promise<void>;
  /** Caps open Watch/Wait streams per principal. */
  readonly streams: StreamLimiter;
  /** Ends Watch/Wait streams when the gateway drains. */
  readonly drain: StreamDrain;
  /**
   * The pre-flight of raw disk sources (libs/preflight), run before CreateImage stores anything.
   * Without it, Compute checks the archive itself, minutes later.
   */
  readonly rawDiskPreflight?: RawDiskPreflight;
  /** Families' retention policies: SetFamilyPolicy writes them, GetFamily reads them. */
  readonly familyPolicies: FamilyPolicies;
  /** Images' deprecation schedules, which GetFamily shows. */
  readonly schedules: ReleaseSchedules;
  /** Compute, read with the gateway's own credentials for GetFamily; without it, GetFamily is refused. */
  readonly compute?: ComputeClient;
  /** Which webhook URLs CreateImage accepts (WEBHOOK_ALLOWED_HOSTS, WEBHOOK_ALLOW_LOCAL_HTTP). */
  readonly webhookPolicy: WebhookPolicy;
}
