// What every scenario shares: the settings (BENCH_* variables), the bench's project and Redis
// prefix, the clock, the log, and the CreateImage request they all send.
import { create } from "@bufbuild/protobuf";
import { CreateImageRequestSchema } from "@imagesvc/proto";
import { join } from "node:path";

export const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
export const SETTINGS = {
  unarySeconds: env("BENCH_SECONDS", 8),
  warmupSeconds: 2,
  concurrency: 64,
  fanoutOps: env("BENCH_FANOUT_OPS", 1000),
  watchersPerOp: env("BENCH_WATCHERS_PER_OP", 10),
  fanoutUpdatesPerOp: 5,
  /**
   * Updates written per second during the fan-out, each reaching watchersPerOp streams: 400/s
   * is each of the 1,000 operations moving every 2.5 s (BENCH_FANOUT_RATE to change it).
   */
  fanoutPublishRate: env("BENCH_FANOUT_RATE", 400),
  watchClients: 4,
  /**
   * Scenario 3 measures this many images after a warm-up of `endToEndWarmupImages` (not counted):
   * the worker starts cold, and a short run measures V8's compiler more than the service.
   */
  endToEndImages: env("BENCH_IMAGES", 6000),
  endToEndWarmupImages: env("BENCH_WARMUP_IMAGES", 2000),
  directImages: env("BENCH_DIRECT_IMAGES", 200),
  /** Scenario 7: images end to end on a 3-master Redis Cluster, spread over this many projects. */
  shardImages: env("BENCH_SHARD_IMAGES", 2000),
  shardProjects: 12,
} as const;
export /** The repository (the bundle runs from dist/tools/bench). */
const ROOT = join(import.meta.dirname, "..", "..", "..");
export const DATE = new Date().toISOString().slice(0, 10);
export const PROJECT = "bench-project";
export const PREFIX = "bench";

export const now = () => performance.timeOrigin + performance.now();
export const log = (message: string) => {
  process.stderr.write(`bench: ${message}\n`);
};

export const createRequest = (name: string, project = PROJECT) =>
  create(CreateImageRequestSchema, {
    project,
    image: {
      name,
      rawDisk: { source: "https://storage.googleapis.com/bench-bucket/images/web.tar.gz" },
      labels: { team: "bench" },
    },
  });
