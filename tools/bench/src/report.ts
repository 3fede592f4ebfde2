// The table `npm run bench` prints: each figure, its value, and its target (met or MISSED).
import type { fanOutBaseline } from "./scenarios/baseline";
import type { endToEndRun } from "./scenarios/e2e";
import type { fanOut } from "./scenarios/fanout";
import type { overheadRun } from "./scenarios/overhead";
import type { queueFloor } from "./scenarios/queue-floor";
import type { quotaRun } from "./scenarios/quota";
import type { importRun } from "./scenarios/import";
import type { shardsRun } from "./scenarios/shards";
import type { unaryCeiling } from "./scenarios/unary";
import { SETTINGS } from "./settings";
import { round } from "./stats";

export type Results = {
  machine: { cpus: number; cpuModel: string; node: string; redis: string };
  unary: Partial<Awaited<ReturnType<typeof unaryCeiling>>>;
  fanout: Awaited<ReturnType<typeof fanOut>> | undefined;
  endToEnd: Awaited<ReturnType<typeof endToEndRun>> | undefined;
  bullmqAlone: Awaited<ReturnType<typeof queueFloor>> | undefined;
  overhead: Awaited<ReturnType<typeof overheadRun>> | undefined;
  baseline: Awaited<ReturnType<typeof fanOutBaseline>> | undefined;
  quota: Awaited<ReturnType<typeof quotaRun>> | undefined;
  imports: Awaited<ReturnType<typeof importRun>> | undefined;
  shards: Awaited<ReturnType<typeof shardsRun>> | undefined;
  benchSeconds: number;
};

export function printTable(r: Results): void {
  const rows: [string, string, string][] = [];
  const add = (figure: string, value: string, target = "") => rows.push([figure, value, target]);
  const mark = (ok: boolean) => (ok ? "met" : "MISSED");
  for (const [protocol, u] of Object.entries(r.unary.protocols ?? {})) {
    add(
      `${protocol}: CreateImage /s (p50, p99 ms)`,
      `${round(u.create.perSecond, 0)} (${round(u.create.p50Ms)}, ${round(u.create.p99Ms)})`,
    );
    add(
      `${protocol}: no-op ceiling /s (p50, p99 ms)`,
      `${round(u.ceiling.perSecond, 0)} (${round(u.ceiling.p50Ms)}, ${round(u.ceiling.p99Ms)})`,
    );
    add(`${protocol}: CreateImage ÷ ceiling`, String(u.ratio), `≥ 0.70 ${mark(u.ratio >= 0.7)}`);
    add(
      `${protocol}: per CreateImage: gateway CPU µs, Redis CPU µs, Redis commands`,
      `${String(u.perCreate.gatewayCpuUs)}, ${String(u.perCreate.redisCpuUs)}, ${String(u.perCreate.redisCommands)}`,
    );
    add(
      `${protocol}: client CPU s (ceiling, create)`,
      `${round(u.ceiling.clientCpuSeconds)}, ${round(u.create.clientCpuSeconds)} of ${String(u.create.seconds)} s`,
    );
  }
  const g = r.unary.grpcJs;
  if (g !== undefined) {
    add(
      "grpc: @grpc/grpc-js no-op ceiling /s (p50, p99 ms)",
      `${round(g.ceiling.perSecond, 0)} (${round(g.ceiling.p50Ms)}, ${round(g.ceiling.p99Ms)})`,
    );
    add(
      "grpc: CreateImage ÷ grpc-js ceiling",
      String(g.createOverCeiling),
      "(retired ≥ 0.30: see CreateImage gateway CPU ÷ floor)",
    );
  }
  // CreateImage against the floor this design stands on: the gateway's own no-op gRPC call plus
  // BullMQ's `add` alone, both measured in this run.
  const grpcUnary = r.unary.protocols?.["grpc"];
  const addCpu = r.bullmqAlone?.addCpuUsPerJob;
  if (grpcUnary !== undefined && addCpu !== undefined) {
    const floor = grpcUnary.noopGatewayCpuUs + addCpu;
    const ratio = round(grpcUnary.perCreate.gatewayCpuUs / floor, 2);
    add(
      "grpc: CreateImage gateway CPU ÷ floor",
      `${String(ratio)} (${String(grpcUnary.perCreate.gatewayCpuUs)} µs ÷ (${String(grpcUnary.noopGatewayCpuUs)} no-op + ${String(addCpu)} BullMQ add))`,
      `≤ 1.6 ${mark(ratio <= 1.6)}`,
    );
  }
  const f = r.fanout;
  if (f !== undefined) {
    add("fan-out: streams / operations", `${String(f.streams)} / ${String(f.operations)}`);
    add(
      "fan-out: updates delivered",
      `${String(f.updatesDelivered)} of ${String(f.updatesExpected)}`,
      mark(f.updatesDelivered === f.updatesExpected),
    );
    add("fan-out: updates delivered /s", String(f.deliveredPerSecond));
    add("fan-out: publish → deliver p50 ms", String(f.publishToDeliverP50Ms));
    add(
      "fan-out: publish → deliver p99 ms",
      String(f.publishToDeliverP99Ms),
      `< 100 ${mark(f.publishToDeliverP99Ms < 100)}`,
    );
    add(
      "fan-out: gateway RSS MiB (before, open)",
      `${String(f.gatewayRssBeforeMiB)}, ${String(f.gatewayRssOpenMiB)}`,
    );
    // Memory and CPU targets are relative to bare node:http2 in the same run (the baseline).
    const bare = r.baseline?.raw;
    add(
      "fan-out: gateway RSS per stream KiB (bare node:http2)",
      `${String(f.gatewayRssPerStreamKiB)} (${bare === undefined ? "not run" : String(bare.rssPerStreamKiB)})`,
      bare === undefined
        ? "≤ 2× bare"
        : `≤ ${String(round(2 * bare.rssPerStreamKiB))} ${mark(f.gatewayRssPerStreamKiB <= 2 * bare.rssPerStreamKiB)}`,
    );
    add(
      "fan-out: gateway heap at all streams open MiB, longest major-GC pause ms",
      `${String(f.gatewayHeapOpenMiB)}, ${String(f.gatewayLongestMajorGcMs)}`,
    );
    add(
      "fan-out: Redis subscriber connections",
      String(f.redisSubscriberConnections),
      `= 1 ${mark(f.redisSubscriberConnections === 1)}`,
    );
    add(
      "fan-out: CPU s (gateway, clients)",
      `${String(f.gatewayCpuSeconds)}, ${String(f.clientCpuSeconds)}`,
    );
    add(
      "fan-out: offered updates /s (deliveries /s)",
      `${String(SETTINGS.fanoutPublishRate)} (${String(SETTINGS.fanoutPublishRate * SETTINGS.watchersPerOp)})`,
    );
    add(
      "fan-out: gateway µs CPU per delivery, all threads (deliveries /s per core)",
      `${String(f.gatewayCpuPerDeliveryUs)} (${String(f.gatewayDeliveryCapacityPerSecond)})`,
    );
    add(
      "fan-out: gateway µs CPU per delivery, main thread (bare node:http2)",
      `${String(f.gatewayMainThreadCpuPerDeliveryUs)} (${bare === undefined ? "not run" : String(bare.cpuPerDeliveryUs)})`,
      bare === undefined
        ? "≤ 2× bare"
        : `≤ ${String(2 * bare.cpuPerDeliveryUs)} ${mark(f.gatewayMainThreadCpuPerDeliveryUs <= 2 * bare.cpuPerDeliveryUs)}`,
    );
    add(
      "fan-out: p99 ms per update step (redis → gateway p99 bucket)",
      `${f.publishToDeliverP99MsByStep.join(", ")} (${String(f.redisToGatewayP99BucketMs)})`,
    );
    add(
      "fan-out: p99 ms at the worst step",
      String(f.publishToDeliverP99MsWorstStep),
      `< 100 ${mark(f.publishToDeliverP99MsWorstStep < 100)}`,
    );
    add(
      "fan-out: gateway heap / external per stream KiB",
      `${String(f.gatewayHeapUsedPerStreamKiB)} / ${String(f.gatewayExternalPerStreamKiB)}`,
    );
    add("fan-out: gateway idle CPU s per s, streams open", String(f.gatewayIdleCpuPerSecond));
  }
  const e = r.endToEnd;
  if (e !== undefined) {
    add(
      "end to end: images /s",
      `${String(e.imagesPerSecond)} (${String(e.images)} in ${String(e.seconds)} s)`,
      `≥ 1200 ${mark(e.imagesPerSecond >= 1200)}`,
    );
    add(
      "end to end: Compute calls per image",
      String(e.computeCallsPerImage),
      `≤ 2 ${mark(e.computeCallsPerImage <= 2)}`,
    );
    add(
      "end to end: Redis commands per image",
      String(e.redisCommandsPerImage),
      "(retired ≤ 30: see our Redis commands per image)",
    );
    const bullCommands = r.bullmqAlone?.redisCommandsPerJob;
    if (bullCommands !== undefined) {
      const ours = round(e.redisCommandsPerImage - bullCommands, 1);
      add(
        "end to end: our Redis commands per image",
        `${String(ours)} (${String(e.redisCommandsPerImage)} − ${String(bullCommands)} BullMQ alone)`,
        `≤ 20 ${mark(ours <= 20)}`,
      );
    }
    add(
      "end to end: Redis CPU µs per image (one Redis core's ceiling, images/s)",
      `${String(e.redisCpuUsPerImage)} (${String(e.redisCeilingImagesPerSecond)})`,
    );
    add(
      "end to end: Redis bytes in/out per image",
      `${String(e.redisBytesInPerImage)} / ${String(e.redisBytesOutPerImage)}`,
    );
    add(
      "end to end: CPU s (gateway, worker, emulator, client)",
      `${String(e.cpuSeconds.gateway)}, ${String(e.cpuSeconds.worker)}, ${String(e.cpuSeconds.emulator)}, ${String(e.cpuSeconds.client)}`,
    );
  }
  const bull = r.bullmqAlone;
  if (bull !== undefined)
    add(
      "BullMQ alone, no-op jobs: Redis commands, Redis CPU µs, add CPU µs, worker CPU µs per job",
      `${String(bull.redisCommandsPerJob)}, ${String(bull.redisCpuUsPerJob)}, ${String(bull.addCpuUsPerJob)}, ${String(bull.workerCpuUsPerJob)}`,
    );
  const o = r.overhead;
  if (o !== undefined) {
    add(
      "overhead: median direct / service ms",
      `${String(o.directMedianMs)} / ${String(o.serviceMedianMs)}`,
    );
    add("overhead: added median ms", String(o.addedMedianMs), `< 5 ${mark(o.addedMedianMs < 5)}`);
    add(
      "overhead: path medians ms (queued, hand-off, worker, DONE at client)",
      `${String(o.pathMedianMs.untilQueued)}, ${String(o.pathMedianMs.handOff)}, ${String(o.pathMedianMs.worker)}, ${String(o.pathMedianMs.untilClientHasDone)}`,
    );
  }

  const b = r.baseline;
  if (b !== undefined) {
    for (const m of [b.connect, b.grpcJs, b.raw]) {
      const who =
        m.server === "connect"
          ? "connect-node alone"
          : m.server === "grpc-js"
            ? "@grpc/grpc-js Server"
            : "bare node:http2";
      add(
        `baseline, ${who}: p99 ms (per step)`,
        `${String(m.p99Ms)} (${m.p99MsByStep.join(", ")})`,
      );
      add(
        `baseline, ${who}: RSS per stream KiB, µs CPU per delivery, longest stall ms, client CPU s`,
        `${String(m.rssPerStreamKiB)}, ${String(m.cpuPerDeliveryUs)}, ${String(m.longestStallMs)}, ${String(m.clientCpuSeconds)}`,
      );
    }
  }

  const im = r.imports;
  if (im !== undefined) {
    add(
      "import: end to end ÷ plain pipeline",
      `${String(im.overPlain)} (${String(im.cli.seconds)} s; by hand ${String(im.plain.seconds)} s: convert ${String(im.plain.convertSeconds)}, ${im.compressor} ${String(im.plain.compressSeconds)}, upload ${String(im.plain.uploadSeconds)})`,
      `≤ 0.8 ${mark(im.overPlain <= 0.8)}`,
    );
    add(
      "import: end to end ÷ slower of compress and upload",
      String(im.overSlowerOfCompressAndUpload),
      `≤ 1.25 ${mark(im.overSlowerOfCompressAndUpload <= 1.25)}`,
    );
    add(
      "import: CLI phases s (convert, archive with upload beside, upload after), MiB/s of disk data",
      `${String(im.cli.convertSeconds)}, ${String(im.cli.archiveSeconds)}, ${String(im.cli.uploadAfterArchiveSeconds)}; ${String(im.cli.dataMiBPerSecond)} (${String(im.dataMiB)} MiB of data, ${String(im.archiveMiB)} MiB archived)`,
    );
    add(
      "import: CLI peak RSS MiB, peak extra disk MiB",
      `${String(im.cli.peakRssMiB)}, ${String(im.cli.peakScratchMiB)}`,
    );
    add(
      "import: emulator's Cloud Storage rate ÷ the CLI's upload rate",
      String(im.storageOverCliUploadRate),
      `≥ 4 ${mark(im.storageOverCliUploadRate >= 4)}`,
    );
  }

  const q = r.quota;
  if (q !== undefined) {
    const worst = Math.max(...q.byWatchers.map((w) => w.computeCallsPerImage));
    add(
      `quota: Compute calls per image, ${String(q.importSeconds / 60)}-min import (${q.byWatchers.map((w) => `${String(w.watchers)} watchers`).join(", ")})`,
      q.byWatchers.map((w) => String(w.computeCallsPerImage)).join(", "),
      `≤ 7 ${mark(worst <= 7)}`,
    );
    add(
      "quota: polling clients on the same import (Packer every 5 s, Terraform 2→10 s)",
      `${String(q.pollingClients.packerEvery5s)}, ${String(q.pollingClients.terraform2to10s)}`,
    );
    const b = q.burst;
    if (b.shared !== undefined && b.own !== undefined) {
      add(
        "quota: time to all DONE ÷ floor",
        `${String(b.shared.overFloor)} (${String(b.shared.seconds)} s for ${String(b.images)} images, floor ${String(b.floorSeconds)} s; each retrying on its own: ${String(b.own.overFloor)})`,
        `≤ 1.15 ${mark(b.shared.overFloor <= 1.15)}`,
      );
      add(
        "quota: refused Compute calls per image",
        `${String(b.shared.refusedPerImage)} (each retrying on its own: ${String(b.own.refusedPerImage)})`,
        `≤ 0.1 ${mark(b.shared.refusedPerImage <= 0.1)}`,
      );
    }
  }

  const c = r.shards;
  if (c !== undefined) {
    add(
      `shards: 3-master cluster, ${String(c.images)} images over ${String(c.projects)} projects, images /s`,
      String(c.imagesPerSecond),
    );
    add(
      "shards: Redis CPU µs per image by shard (commands per image)",
      c.shards
        .map(
          (s) =>
            `${String(s.redisCpuUsPerImage)}${s.holdsQueue ? " queue" : ""} (${String(s.redisCommandsPerImage)})`,
        )
        .join(", "),
    );
    add(
      "shards: the cluster's Redis ceiling, images /s (the busiest shard's core full)",
      String(c.clusterCeilingImagesPerSecond),
    );
  }
  const e1 = r.endToEnd;
  if (e1 !== undefined && c !== undefined)
    add(
      "shards: ceiling ÷ one Redis's ceiling",
      String(round(c.clusterCeilingImagesPerSecond / e1.redisCeilingImagesPerSecond, 2)),
    );

  const widths = [0, 1, 2].map((c) => Math.max(...rows.map((row) => row[c]?.length ?? 0)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(" | ")} |`;
  const header = [
    `imagesvc bench, ${new Date().toISOString()}, ${String(r.machine.cpus)} × ${r.machine.cpuModel}, Node ${r.machine.node}, Redis ${r.machine.redis}, ${String(r.benchSeconds)} s`,
    line(["figure", "value", "target"]),
    line(widths.map((w) => "-".repeat(w))),
  ];
  process.stdout.write(`${[...header, ...rows.map(line)].join("\n")}\n`);
}
