import { useTestRedis, type TestRedis } from "@imagesvc/testing";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { agreeDeploymentSettings, deploymentSettingsKey } from "./deployment-settings";

let redis: TestRedis;
let key: string;
beforeEach(async () => {
  redis = await useTestRedis();
  key = deploymentSettingsKey(redis.prefix.slice(0, -1));
});
afterEach(async () => {
  await redis.cleanup();
});

const values = { RECORD_RETENTION_MS: 604_800_000, JOB_ATTEMPTS: 10 };

describe("agreeDeploymentSettings", () => {
  it("records the first process's values, and lets every process that agrees start", async () => {
    await agreeDeploymentSettings(redis.client, key, { values, mode: "check", by: "gateway 1" });
    await agreeDeploymentSettings(redis.client, key, { values, mode: "check", by: "worker 2" });
    expect(JSON.parse((await redis.client.get(key)) ?? "")).toMatchObject({
      values,
      by: "gateway 1",
    });
  });

  it("refuses a process that disagrees, naming the setting, both values and the way out", async () => {
    await agreeDeploymentSettings(redis.client, key, { values, mode: "check", by: "gateway 1" });
    await expect(
      agreeDeploymentSettings(redis.client, key, {
        values: { ...values, JOB_ATTEMPTS: 3 },
        mode: "check",
        by: "worker 2",
      }),
    ).rejects.toThrow(
      /^JOB_ATTEMPTS: is 3 here, but 10 in this deployment \(recorded at .* by gateway 1 at .*\)\. Set JOB_ATTEMPTS=10; or, to change it, roll every gateway and worker with the new value and DEPLOYMENT_SETTINGS=replace$/,
    );
  });

  it("takes a rollout's new values with replace, and holds later processes to them", async () => {
    await agreeDeploymentSettings(redis.client, key, { values, mode: "check", by: "gateway 1" });
    const changed = { ...values, RECORD_RETENTION_MS: 86_400_000 };
    await agreeDeploymentSettings(redis.client, key, {
      values: changed,
      mode: "replace",
      by: "g2",
    });
    await agreeDeploymentSettings(redis.client, key, { values: changed, mode: "check", by: "w3" });
    await expect(
      agreeDeploymentSettings(redis.client, key, { values, mode: "check", by: "old worker" }),
    ).rejects.toThrow(/RECORD_RETENTION_MS: is 604800000 here, but 86400000/);
  });

  it("adds a setting a newer release shares to the record, and checks it from then on", async () => {
    await agreeDeploymentSettings(redis.client, key, { values, mode: "check", by: "old" });
    const newer = { ...values, WEBHOOK_ATTEMPTS: 10 };
    await agreeDeploymentSettings(redis.client, key, { values: newer, mode: "check", by: "new" });
    await expect(
      agreeDeploymentSettings(redis.client, key, {
        values: { ...newer, WEBHOOK_ATTEMPTS: 2 },
        mode: "check",
        by: "newer",
      }),
    ).rejects.toThrow(/WEBHOOK_ATTEMPTS: is 2 here, but 10/);
  });
});
