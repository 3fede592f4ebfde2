import { ConfigError } from "@imagesvc/config";

/**
 * Which Google accounts AUTH_MODE=google accepts. Any Google account in the world can mint an ID
 * token for any audience, so a verified signature and audience prove only that *someone* signed
 * in: without a hosted domain, a grant to principal `"*"` is a grant to the whole internet.
 * Hence no default: the deployment names its hosted domains (Workspace or Cloud Identity, the
 * token's `hd` claim) and the service-account domains of its projects
 * (`PROJECT.iam.gserviceaccount.com`, matched against the verified email), or says `"any"`
 * knowingly.
 */
export type GoogleAccounts =
  /** Accounts of these hosted domains only, lowercase; never empty. */
  | { readonly hostedDomains: readonly string[] }
  /** Every Google account, consumer ones included. */
  | "any";

const DOMAIN =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/;

/**
 * AUTH_GOOGLE_DOMAINS and AUTH_GOOGLE_ALLOW_ANY_ACCOUNT, resolved once at start: exactly one of
 * them must be set, else a ConfigError naming both and why, so a gateway never opens to every
 * Google account by omission.
 */
export function resolveGoogleAccounts(
  domains: readonly string[],
  allowAnyAccount: boolean,
): GoogleAccounts {
  if (domains.length > 0 && allowAnyAccount) {
    throw new ConfigError(
      "AUTH_GOOGLE_ALLOW_ANY_ACCOUNT",
      "is true and AUTH_GOOGLE_DOMAINS is set too; set one of them: AUTH_GOOGLE_DOMAINS to accept only its domains' accounts, or AUTH_GOOGLE_ALLOW_ANY_ACCOUNT=true to accept every Google account",
    );
  }
  if (allowAnyAccount) return "any";
  if (domains.length === 0) {
    throw new ConfigError(
      "AUTH_GOOGLE_DOMAINS",
      'is required with AUTH_MODE=google unless AUTH_GOOGLE_ALLOW_ANY_ACCOUNT=true. Any Google account in the world can mint an ID token for AUTH_AUDIENCE, so without a hosted domain a grant to principal "*" admits the whole internet. Set AUTH_GOOGLE_DOMAINS to the hosted domains (Workspace or Cloud Identity) whose accounts may call, comma-separated (e.g. example.com), or AUTH_GOOGLE_ALLOW_ANY_ACCOUNT=true to accept every Google account',
    );
  }
  const hostedDomains = domains.map((d) => d.toLowerCase());
  const bad = hostedDomains.find((d) => !DOMAIN.test(d));
  if (bad !== undefined) {
    throw new ConfigError(
      "AUTH_GOOGLE_DOMAINS",
      `${JSON.stringify(bad)} is not a domain name; list hosted domains as they appear in the ID token's hd claim, comma-separated, e.g. example.com,corp.example.com`,
    );
  }
  return { hostedDomains };
}

/** The domain of a project's user-managed service accounts. */
const SERVICE_ACCOUNT_DOMAIN = /^[a-z][-a-z0-9]{4,28}[a-z0-9]\.iam\.gserviceaccount\.com$/;

/**
 * Why a verified token of `email` with hosted domain `hd` (the `hd` claim; absent for consumer
 * accounts) is not accepted, or undefined when it is. Says which domain is required.
 */
export function hostedDomainRefusal(
  accounts: GoogleAccounts,
  email: string,
  hd: string | undefined,
): string | undefined {
  if (accounts === "any") return undefined;
  if (hd !== undefined && accounts.hostedDomains.includes(hd.toLowerCase())) return undefined;
  // Service accounts' tokens carry no hd claim: their (verified) email's domain,
  // PROJECT.iam.gserviceaccount.com, is Google's to issue, so listing it admits that project's
  // service accounts and nobody else's.
  const emailDomain = email.slice(email.lastIndexOf("@") + 1).toLowerCase();
  if (SERVICE_ACCOUNT_DOMAIN.test(emailDomain) && accounts.hostedDomains.includes(emailDomain))
    return undefined;
  const required = accounts.hostedDomains.join(" or ");
  const found =
    hd === undefined
      ? `${email} belongs to no hosted domain (the ID token has no hd claim)`
      : `${email} belongs to the hosted domain ${hd}`;
  return `${found}; this gateway accepts accounts of ${required} only: sign in with an account of ${required}`;
}
