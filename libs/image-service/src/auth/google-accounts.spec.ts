import { ConfigError } from "@imagesvc/config";
import { describe, expect, it } from "vitest";
import { hostedDomainRefusal, resolveGoogleAccounts } from "./google-accounts";

describe("resolveGoogleAccounts", () => {
  it("refuses to choose when neither setting is set, naming both and why", () => {
    const error = (() => {
      try {
        resolveGoogleAccounts([], false);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe("AUTH_GOOGLE_DOMAINS");
    expect((error as ConfigError).message).toMatch(
      /AUTH_GOOGLE_DOMAINS: is required with AUTH_MODE=google unless AUTH_GOOGLE_ALLOW_ANY_ACCOUNT=true\. Any Google account in the world can mint an ID token/,
    );
  });

  it("refuses both settings at once", () => {
    expect(() => resolveGoogleAccounts(["example.com"], true)).toThrow(
      /AUTH_GOOGLE_ALLOW_ANY_ACCOUNT: is true and AUTH_GOOGLE_DOMAINS is set too/,
    );
  });

  it("accepts any account only when told so explicitly", () => {
    expect(resolveGoogleAccounts([], true)).toBe("any");
  });

  it("keeps hosted domains in lowercase, and refuses what is not a domain", () => {
    expect(resolveGoogleAccounts(["Example.com", "corp.example.co.uk"], false)).toEqual({
      hostedDomains: ["example.com", "corp.example.co.uk"],
    });
    for (const bad of ["@example.com", "*.example.com", "example", "https://example.com"])
      expect(() => resolveGoogleAccounts([bad], false)).toThrow(/is not a domain name/);
  });
});

describe("hostedDomainRefusal", () => {
  const accounts = { hostedDomains: ["example.com", "corp.example.com"] };

  it("accepts an account of a listed hosted domain, in any case", () => {
    expect(hostedDomainRefusal(accounts, "alice@example.com", "example.com")).toBeUndefined();
    expect(hostedDomainRefusal(accounts, "bob@corp.example.com", "Corp.Example.com")).toBe(
      undefined,
    );
  });

  it("refuses another hosted domain, or none, saying which domain is required", () => {
    expect(hostedDomainRefusal(accounts, "eve@evil.example", "evil.example")).toBe(
      "eve@evil.example belongs to the hosted domain evil.example; this gateway accepts accounts of example.com or corp.example.com only: sign in with an account of example.com or corp.example.com",
    );
    expect(hostedDomainRefusal(accounts, "eve@gmail.com", undefined)).toMatch(
      /^eve@gmail\.com belongs to no hosted domain \(the ID token has no hd claim\); this gateway accepts accounts of example\.com or corp\.example\.com only/,
    );
  });

  it("accepts the service accounts of a listed project's service-account domain, and no one else's", () => {
    const withCi = { hostedDomains: ["example.com", "ci-builds.iam.gserviceaccount.com"] };
    expect(
      hostedDomainRefusal(withCi, "builder@ci-builds.iam.gserviceaccount.com", undefined),
    ).toBeUndefined();
    expect(
      hostedDomainRefusal(withCi, "builder@other-proj.iam.gserviceaccount.com", undefined),
    ).toMatch(/belongs to no hosted domain/);
    // A hosted domain's name is no service-account domain: the hd claim must match it.
    expect(hostedDomainRefusal(withCi, "eve@example.com", undefined)).toMatch(
      /belongs to no hosted domain/,
    );
  });

  it("accepts every account, hosted domain or none, when any account is allowed", () => {
    expect(hostedDomainRefusal("any", "eve@gmail.com", undefined)).toBeUndefined();
  });
});
