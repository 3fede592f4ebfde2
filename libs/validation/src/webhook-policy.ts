/** Which webhook URLs a deployment calls: the defence against server-side request forgery. */
export interface WebhookPolicy {
  /** Hosts deliveries may go to: `hooks.example.com`, or `*.example.com` for its subdomains. */
  readonly allowedHosts: readonly string[];
  /** Local mode: plain `http://127.0.0.1` (and `localhost`) too, for `npm start` and tests. */
  readonly allowLocalHttp: boolean;
}

const LOCAL = new Set(["127.0.0.1", "localhost", "[::1]"]);

/**
 * Why the deployment will not call `url`, or undefined when it will: only HTTPS, only to hosts
 * on the allowlist (plain HTTP to this machine in local mode). Checked when the request comes in
 * and again at each delivery.
 */
export function webhookUrlRefusal(url: string, policy: WebhookPolicy): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "is not a URL";
  }
  const host = parsed.hostname.toLowerCase();
  if (parsed.protocol === "http:" && policy.allowLocalHttp && LOCAL.has(host)) return undefined;
  if (parsed.protocol !== "https:")
    return policy.allowLocalHttp
      ? "must be https:// (plain http only to 127.0.0.1, in local mode)"
      : "must be https://";
  const allowed = policy.allowedHosts.some((entry) => {
    const rule = entry.toLowerCase();
    return rule.startsWith("*.")
      ? host.endsWith(rule.slice(1)) && host !== rule.slice(2)
      : host === rule;
  });
  if (!allowed)
    return policy.allowedHosts.length === 0
      ? "cannot be called: this service allows no webhook host (its operators set WEBHOOK_ALLOWED_HOSTS)"
      : `names ${host}, which this service does not call; ask its operators to add it to WEBHOOK_ALLOWED_HOSTS`;
  return undefined;
}
