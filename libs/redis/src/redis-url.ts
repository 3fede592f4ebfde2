import { ConfigError } from "@imagesvc/config";

/** Where Redis is: one server, or the seed nodes of a Redis Cluster. */
export type RedisTarget =
  | { readonly kind: "single"; readonly url: string }
  | {
      readonly kind: "cluster";
      readonly nodes: readonly { readonly host: string; readonly port: number }[];
      readonly username?: string;
      readonly password?: string;
      readonly tls: boolean;
    };

const CLUSTER_SCHEMES = new Map([
  ["redis+cluster:", false],
  ["rediss+cluster:", true],
]);

/**
 * Parses a Redis URL: `redis://` or `rediss://` for one server, or
 * `redis+cluster://[user:password@]host:port,host:port,...` (`rediss+cluster://` for TLS) for the
 * seed nodes of a Redis Cluster. Throws a ConfigError naming `variable` when it is unusable.
 */
export function parseRedisUrl(url: string, variable = "REDIS_URL"): RedisTarget {
  const scheme = /^[a-z+]+:/i.exec(url)?.[0].toLowerCase();
  if (scheme === "redis:" || scheme === "rediss:") {
    try {
      new URL(url);
    } catch {
      throw new ConfigError(variable, `"${redact(url)}" is not a valid URL`);
    }
    return { kind: "single", url };
  }
  const tls = scheme === undefined ? undefined : CLUSTER_SCHEMES.get(scheme);
  if (tls === undefined) {
    throw new ConfigError(
      variable,
      `"${redact(url)}" must start with redis://, rediss://, redis+cluster:// or rediss+cluster://`,
    );
  }
  const rest = url.slice(`${scheme ?? ""}//`.length).replace(/\/.*$/, "");
  const at = rest.lastIndexOf("@");
  const auth = at < 0 ? undefined : rest.slice(0, at);
  const nodes = parseNodes(at < 0 ? rest : rest.slice(at + 1), variable);
  const colon = auth?.indexOf(":") ?? -1;
  const username =
    auth === undefined ? "" : decodeURIComponent(colon < 0 ? auth : auth.slice(0, colon));
  const password = auth === undefined || colon < 0 ? "" : decodeURIComponent(auth.slice(colon + 1));
  return {
    kind: "cluster",
    nodes,
    tls,
    ...(username !== "" && { username }),
    ...(password !== "" && { password }),
  };
}

/** `host:port,host:port`; IPv6 hosts in brackets. */
export function parseNodes(list: string, variable: string) {
  const nodes = list
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")
    .map((entry) => {
      const match = /^(\[[^\]]+\]|[^:[\]]+):(\d{1,5})$/.exec(entry);
      const port = Number(match?.[2]);
      if (match?.[1] === undefined || !(port >= 1 && port <= 65535)) {
        throw new ConfigError(
          variable,
          `"${entry}" is not host:port (for example 10.0.0.5:6379 or [::1]:7000)`,
        );
      }
      return { host: match[1].replace(/^\[(.*)\]$/, "$1"), port };
    });
  if (nodes.length === 0)
    throw new ConfigError(variable, "lists no cluster nodes; give host:port,host:port,...");
  return nodes;
}

/**
 * The Redis a process uses, from its settings (libs/config): `REDIS_CLUSTER_NODES` (seed nodes
 * of a Redis Cluster, `host:port`; credentials and TLS come from a `redis+cluster://` REDIS_URL,
 * if any) or else `REDIS_URL`.
 */
export function redisTarget(settings: {
  readonly REDIS_URL: string;
  readonly REDIS_CLUSTER_NODES: readonly string[];
}): RedisTarget {
  const url = settings.REDIS_URL;
  if (settings.REDIS_CLUSTER_NODES.length > 0) {
    const fromUrl = url === DEFAULT_REDIS_URL ? undefined : parseRedisUrl(url);
    if (fromUrl?.kind === "single") {
      throw new ConfigError(
        "REDIS_CLUSTER_NODES",
        "is set together with a single-server REDIS_URL; unset REDIS_URL, or make it a redis+cluster:// URL",
      );
    }
    return {
      kind: "cluster",
      nodes: parseNodes(settings.REDIS_CLUSTER_NODES.join(","), "REDIS_CLUSTER_NODES"),
      tls: fromUrl?.tls ?? false,
      ...(fromUrl?.username !== undefined && { username: fromUrl.username }),
      ...(fromUrl?.password !== undefined && { password: fromUrl.password }),
    };
  }
  return parseRedisUrl(url);
}

/** REDIS_URL's default (libs/config): beside REDIS_CLUSTER_NODES it means "not set". */
const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379";

/** The target, fit for logs: passwords are replaced. */
export function describeRedisTarget(target: RedisTarget): string {
  if (target.kind === "single") return redact(target.url);
  const auth =
    target.username === undefined && target.password === undefined
      ? ""
      : `${target.username ?? ""}${target.password === undefined ? "" : ":***"}@`;
  const nodes = target.nodes
    .map((n) => `${n.host.includes(":") ? `[${n.host}]` : n.host}:${String(n.port)}`)
    .join(",");
  return `${target.tls ? "rediss" : "redis"}+cluster://${auth}${nodes}`;
}

function redact(url: string): string {
  return url.replace(/^([a-z+]+:\/\/[^:@/]*:)[^@/]*@/i, "$1***@");
}
