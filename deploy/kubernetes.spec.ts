// The Kubernetes manifests, validated against the Kubernetes API's own schemas (kubernetes-models)
// and held to the deployment's rules: every app non-root on a read-only root filesystem, with
// requests and limits, a PodDisruptionBudget, a termination grace longer than its drain, and the
// gateway probed over grpc.health.v1.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ServiceAccount, ConfigMap, Service } from "kubernetes-models/v1";
import { Deployment } from "kubernetes-models/apps/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";

const BASE = join(dirname(fileURLToPath(import.meta.url)), "kubernetes", "base");

interface Doc {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly labels?: Record<string, string> };
  readonly [key: string]: unknown;
}

const MODELS: Record<string, (doc: Doc) => { validate(): void }> = {
  "v1/ServiceAccount": (d) => new ServiceAccount(d),
  "v1/ConfigMap": (d) => new ConfigMap(d),
  "v1/Service": (d) => new Service(d),
  "apps/v1/Deployment": (d) => new Deployment(d),
  "policy/v1/PodDisruptionBudget": (d) => new PodDisruptionBudget(d),
};

const kustomization = parse(readFileSync(join(BASE, "kustomization.yaml"), "utf8")) as {
  resources: string[];
  images: { name: string }[];
};
const docs: Doc[] = kustomization.resources.flatMap((file) =>
  parseAllDocuments(readFileSync(join(BASE, file), "utf8")).map((d) => d.toJSON() as Doc),
);
const ofKind = (kind: string) => docs.filter((d) => d.kind === kind);
type PodSpec = {
  terminationGracePeriodSeconds: number;
  securityContext: { runAsNonRoot: boolean };
  containers: {
    image: string;
    resources: { requests: Record<string, string>; limits: Record<string, string> };
    securityContext: {
      readOnlyRootFilesystem: boolean;
      allowPrivilegeEscalation: boolean;
      capabilities: { drop: string[] };
    };
    readinessProbe: Record<string, unknown>;
    livenessProbe: Record<string, unknown>;
  }[];
};
const podOf = (d: Doc) =>
  (
    d as unknown as {
      spec: { template: { spec: PodSpec; metadata: { labels: Record<string, string> } } };
    }
  ).spec.template;

describe("the Kubernetes manifests (deploy/kubernetes/base)", () => {
  it("are valid against the Kubernetes API's schemas, every document", () => {
    expect(docs.length).toBeGreaterThanOrEqual(8);
    for (const doc of docs) {
      const model = MODELS[`${doc.apiVersion}/${doc.kind}`];
      expect(model, `${doc.apiVersion}/${doc.kind} ${doc.metadata.name}`).toBeDefined();
      expect(() => model?.(doc).validate(), doc.metadata.name).not.toThrow();
    }
  });

  it("catches a broken manifest (the validation is real)", () => {
    const [deployment] = ofKind("Deployment");
    const broken = { ...deployment, spec: { replicas: "two" } } as unknown as Doc;
    expect(() => MODELS["apps/v1/Deployment"]?.(broken).validate()).toThrow();
  });

  it("run every app non-root, read-only, unprivileged, with requests and a memory limit", () => {
    for (const deployment of ofKind("Deployment")) {
      const pod = podOf(deployment).spec;
      expect(pod.securityContext.runAsNonRoot, deployment.metadata.name).toBe(true);
      for (const c of pod.containers) {
        expect(c.securityContext).toMatchObject({
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ["ALL"] },
        });
        expect(Object.keys(c.resources.requests).sort()).toEqual(["cpu", "memory"]);
        expect(c.resources.limits["memory"]).toBeDefined();
        expect(kustomization.images.map((i) => i.name)).toContain(c.image);
      }
    }
  });

  it("give each pod longer to stop than its drain (SHUTDOWN_TIMEOUT_MS), and a disruption budget", () => {
    const [config] = ofKind("ConfigMap") as unknown as { data: Record<string, string> }[];
    const drainSeconds = Number(config?.data["SHUTDOWN_TIMEOUT_MS"]) / 1000;
    for (const deployment of ofKind("Deployment")) {
      const template = podOf(deployment);
      expect(template.spec.terminationGracePeriodSeconds).toBeGreaterThan(drainSeconds);
      const budgets = ofKind("PodDisruptionBudget").filter((pdb) =>
        Object.entries(
          (pdb as unknown as { spec: { selector: { matchLabels: Record<string, string> } } }).spec
            .selector.matchLabels,
        ).every(([k, v]) => template.metadata.labels[k] === v),
      );
      expect(budgets, deployment.metadata.name).toHaveLength(1);
    }
  });

  it("probe the gateway natively over grpc.health.v1", () => {
    const gateway = ofKind("Deployment").find((d) => d.metadata.name === "imagesvc-gateway");
    const [container] = gateway === undefined ? [] : podOf(gateway).spec.containers;
    expect(container?.readinessProbe["grpc"]).toEqual({
      port: 8080,
      service: "computeimages.v1.ImageService",
    });
    expect(container?.livenessProbe["grpc"]).toEqual({ port: 8080 });
  });
});
