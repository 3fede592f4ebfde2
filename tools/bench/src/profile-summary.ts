// Reads the .cpuprofile files `node --cpu-prof` wrote and names each process's hottest functions
// by self time, so a run with --profile says where the CPU went.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { functionName: string; url: string; lineNumber: number };
  readonly hitCount?: number;
}
interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples?: readonly number[];
  readonly startTime: number;
  readonly endTime: number;
}

export interface ProfileSummary {
  readonly file: string;
  readonly sampledSeconds: number;
  /** The top functions by self time: name (file:line) and share of samples in %. */
  readonly top: readonly { readonly fn: string; readonly percent: number }[];
}

export function summarizeProfiles(dir: string, topN = 12): ProfileSummary[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith(".cpuprofile"));
  } catch {
    return [];
  }
  return files.map((file) => {
    const profile = JSON.parse(readFileSync(join(dir, file), "utf8")) as CpuProfile;
    const self = new Map<string, number>();
    let total = 0;
    for (const node of profile.nodes) {
      const hits = node.hitCount ?? 0;
      if (hits === 0) continue;
      const { functionName, url, lineNumber } = node.callFrame;
      const where =
        url === ""
          ? ""
          : ` ${url.replace(/^.*node_modules\//, "").replace(/^file:\/\/.*\/dist\//, "dist/")}:${String(lineNumber + 1)}`;
      const key = `${functionName === "" ? "(anonymous)" : functionName}${where}`;
      self.set(key, (self.get(key) ?? 0) + hits);
      total += hits;
    }
    const top = [...self]
      .sort((a, b) => b[1] - a[1])
      .slice(0, topN)
      .map(([fn, hits]) => ({ fn, percent: Math.round((hits / total) * 1000) / 10 }));
    return { file, sampledSeconds: (profile.endTime - profile.startTime) / 1e6, top };
  });
}
