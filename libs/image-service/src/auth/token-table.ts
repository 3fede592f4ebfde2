import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";

/**
 * The tokens file: `{"tokens": [{"principal": "ci@builds", "sha256": "<hex of the token>"}, …]}`.
 * A plain `"token"` is accepted too, for local use; prefer `sha256` so the file holds no secret.
 */
interface TokensFile {
  tokens: { principal?: unknown; sha256?: unknown; token?: unknown }[];
}

const digest = (token: string) => createHash("sha256").update(token).digest();

/**
 * Bearer tokens and their principals. Lookups hash the presented token and compare it with every
 * entry in constant time, without stopping at a match, so timing reveals nothing about the table.
 */
export class TokenTable {
  private constructor(
    private readonly entries: readonly { readonly digest: Buffer; readonly principal: string }[],
  ) {}

  /** Reads and checks a tokens file; throws an Error naming the file and the bad entry. */
  static load(path: string): TokenTable {
    let parsed: TokensFile;
    try {
      parsed = JSON.parse(readFileSync(path, "utf8")) as TokensFile;
    } catch (e) {
      throw new Error(`tokens file ${path}: ${(e as Error).message}`);
    }
    if (!Array.isArray(parsed.tokens))
      throw new Error(`tokens file ${path}: expected {"tokens": [...]}`);
    return new TokenTable(
      parsed.tokens.map((entry, i) => {
        if (typeof entry.principal !== "string" || entry.principal === "")
          throw new Error(`tokens file ${path}: tokens[${i}] needs a "principal"`);
        if (typeof entry.sha256 === "string" && /^[0-9a-f]{64}$/i.test(entry.sha256)) {
          return { digest: Buffer.from(entry.sha256, "hex"), principal: entry.principal };
        }
        if (typeof entry.token === "string" && entry.token.length >= 16)
          return { digest: digest(entry.token), principal: entry.principal };
        throw new Error(
          `tokens file ${path}: tokens[${i}] needs "sha256" (64 hex digits) or a "token" of at least 16 characters`,
        );
      }),
    );
  }

  principalOf(token: string): string | undefined {
    const presented = digest(token);
    let found: string | undefined;
    for (const entry of this.entries) {
      if (timingSafeEqual(presented, entry.digest) && found === undefined) found = entry.principal;
    }
    return found;
  }

  get size(): number {
    return this.entries.length;
  }
}
