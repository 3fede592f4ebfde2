import { describe, expect, it } from "vitest";
import { webhookUrlRefusal } from "./webhook-policy";

const policy = { allowedHosts: ["hooks.example.com", "*.ci.example.com"], allowLocalHttp: false };

describe("webhookUrlRefusal", () => {
  it.each([
    "https://hooks.example.com/images",
    "https://HOOKS.example.com:8443/x",
    "https://a.ci.example.com/x",
    "https://a.b.ci.example.com/x",
  ])("calls %s", (url) => {
    expect(webhookUrlRefusal(url, policy)).toBeUndefined();
  });

  it.each([
    ["http://hooks.example.com/images", /must be https/],
    ["https://ci.example.com/x", /does not call/],
    ["https://evil.example.com/x", /names evil\.example\.com, which this service does not call/],
    ["https://hooks.example.com.evil.net/x", /does not call/],
    ["https://169.254.169.254/computeMetadata/v1/", /does not call/],
    ["http://127.0.0.1:9000/x", /must be https/],
  ])("refuses %s", (url, reason) => {
    expect(webhookUrlRefusal(url, policy)).toMatch(reason);
  });

  it("calls plain http on this machine in local mode only", () => {
    const local = { allowedHosts: [], allowLocalHttp: true };
    expect(webhookUrlRefusal("http://127.0.0.1:9000/x", local)).toBeUndefined();
    expect(webhookUrlRefusal("http://10.0.0.1/x", local)).toMatch(
      /plain http only to 127\.0\.0\.1/,
    );
    expect(webhookUrlRefusal("https://hooks.example.com/x", local)).toMatch(
      /allows no webhook host/,
    );
  });
});
