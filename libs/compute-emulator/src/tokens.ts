import { randomBytes } from "node:crypto";

/**
 * Access tokens the emulator accepts: those its metadata server issued (until they expire or are
 * revoked) and any configured static ones.
 */
export class Tokens {
  private readonly issued = new Map<string, number>();

  constructor(
    private readonly staticTokens: readonly string[],
    private readonly ttlSeconds: number,
  ) {}

  issue(now: number): {
    readonly access_token: string;
    readonly expires_in: number;
    readonly token_type: "Bearer";
  } {
    const token = `ya29.emulator-${randomBytes(24).toString("base64url")}`;
    this.issued.set(token, now + this.ttlSeconds * 1000);
    for (const [t, expiry] of this.issued) if (expiry <= now) this.issued.delete(t);
    return { access_token: token, expires_in: this.ttlSeconds, token_type: "Bearer" };
  }

  accepts(token: string, now: number): boolean {
    if (this.staticTokens.includes(token)) return true;
    const expiry = this.issued.get(token);
    return expiry !== undefined && expiry > now;
  }

  /** Invalidates every issued token, so the next call with one gets 401 (tests of refresh). */
  revokeAll(): void {
    this.issued.clear();
  }
}
