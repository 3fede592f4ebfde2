import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { healthV1 } from "@imagesvc/proto";
import { OAuth2Client, type TokenPayload } from "google-auth-library";
import { hostedDomainRefusal, type GoogleAccounts } from "./google-accounts";
import { PRINCIPAL } from "./principal";
import { TokenTable } from "./token-table";

/** How callers prove who they are. */
export type AuthConfig =
  | { readonly mode: "none"; readonly user: string }
  | { readonly mode: "tokens"; readonly tokensFile: string }
  | {
      readonly mode: "google";
      /** The audience the ID tokens must be issued for. */
      readonly audience: string;
      /** Where Google's signing certificates (PEM) are fetched from; tests serve their own. */
      readonly certsUrl?: string;
      /** Whose tokens are accepted: hosted domains, or any Google account (`resolveGoogleAccounts`). */
      readonly accounts: GoogleAccounts;
    };

/**
 * Services anyone may call: probes must work without credentials, and health tells only
 * liveness. Reflection is not among them: it lists the whole API, so it needs a credential like
 * every other call where authentication is on.
 */
const OPEN = new Set([healthV1.Health.typeName]);

export interface Authenticator {
  /** Runs before a request body is read: rejects the unauthenticated cheaply, names the rest. */
  gate(ctx: HandlerContext): Promise<void>;
  /** Re-reads the tokens file (SIGHUP); a bad file keeps the old table and throws. */
  reload(): void;
}

export function createAuthenticator(config: AuthConfig): Authenticator {
  if (
    config.mode === "google" &&
    config.accounts !== "any" &&
    config.accounts.hostedDomains.length === 0
  )
    throw new Error(
      'AUTH_MODE=google needs hosted domains or accounts: "any" (resolveGoogleAccounts)',
    );
  let tokens = config.mode === "tokens" ? TokenTable.load(config.tokensFile) : undefined;
  const google =
    config.mode === "google"
      ? new OAuth2Client(
          config.certsUrl === undefined
            ? {}
            : { endpoints: { oauth2FederatedSignonPemCertsUrl: config.certsUrl } },
        )
      : undefined;
  const unauthenticated = (why: string) => new ConnectError(why, Code.Unauthenticated);

  async function principalOf(token: string): Promise<string> {
    if (config.mode === "tokens") {
      const principal = tokens?.principalOf(token);
      if (principal === undefined) throw unauthenticated("the bearer token is not valid");
      return principal;
    }
    if (config.mode === "google" && google !== undefined) {
      let payload: TokenPayload | undefined;
      try {
        const ticket = await google.verifyIdToken({ idToken: token, audience: config.audience });
        payload = ticket.getPayload();
      } catch {
        // Expired, wrong audience, bad signature, malformed: one answer, no detail for probers.
        throw unauthenticated(
          "the ID token is not valid (expired, wrong audience, or bad signature)",
        );
      }
      // The principal is the email, so it must be one Google has verified. A token without one
      // (a service account's token minted without the email claim) names no principal the
      // policy could grant anything to.
      if (payload?.email === undefined)
        throw unauthenticated(
          "the ID token carries no email; mint it with the email claim (gcloud auth print-identity-token --include-email, or includeEmail for a service account)",
        );
      if (payload.email_verified !== true)
        throw unauthenticated(`the ID token's email ${payload.email} is not verified by Google`);
      const refusal = hostedDomainRefusal(config.accounts, payload.email, payload.hd);
      if (refusal !== undefined) throw unauthenticated(refusal);
      return payload.email;
    }
    throw unauthenticated("unsupported authentication mode");
  }

  return {
    async gate(ctx) {
      if (OPEN.has(ctx.service.typeName)) return;
      if (config.mode === "none") {
        ctx.values.set(PRINCIPAL, { name: config.user });
        return;
      }
      const header = ctx.requestHeader.get("authorization") ?? "";
      const match = /^Bearer\s+(\S+)$/i.exec(header);
      if (match?.[1] === undefined)
        throw unauthenticated('missing credentials: send "authorization: Bearer <token>"');
      ctx.values.set(PRINCIPAL, { name: await principalOf(match[1]) });
    },
    reload() {
      if (config.mode === "tokens") tokens = TokenTable.load(config.tokensFile);
    },
  };
}
