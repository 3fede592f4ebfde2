import type { connectNodeAdapter } from "@connectrpc/connect-node";
import { existsSync, readFileSync, statSync } from "node:fs";
import { extname, join, normalize, sep } from "node:path";

/** Where the operations console is served. */
export const CONSOLE_PATH = "/console/";

/** The request and response connect-node's fallback hands over. */
type Fallback = NonNullable<Parameters<typeof connectNodeAdapter>[0]["fallback"]>;

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json",
  ".map": "application/json",
};

/**
 * Serves the operations console's built files (apps/console) under /console/: GET and HEAD
 * only, files inside `dir` only, index.html for the directory. Returns false for other paths.
 * The page calls the gateway's own RPCs (Connect over HTTP), so it needs no API of its own.
 */
export function consoleFiles(dir: string) {
  const root = normalize(dir) + sep;
  return (req: Parameters<Fallback>[0], res: Parameters<Fallback>[1], path: string): boolean => {
    // The console is the page a person opening the gateway's URL wants; a browser's default
    // icon request gets the console's icon.
    const redirect =
      path === "/console" || path === "/"
        ? CONSOLE_PATH
        : path === "/favicon.ico"
          ? `${CONSOLE_PATH}favicon.svg`
          : undefined;
    if (redirect !== undefined && (req.method === "GET" || req.method === "HEAD")) {
      res.writeHead(308, { location: redirect });
      res.end();
      return true;
    }
    if (!path.startsWith(CONSOLE_PATH)) return false;
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" });
      res.end();
      return true;
    }
    let relative: string;
    try {
      relative = decodeURIComponent(path.slice(CONSOLE_PATH.length)) || "index.html";
    } catch {
      relative = "\0";
    }
    const file = normalize(join(root, relative));
    if (
      !file.startsWith(root) ||
      relative.includes("\0") ||
      !existsSync(file) ||
      !statSync(file).isFile()
    ) {
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
      res.end("not found\n");
      return true;
    }
    res.writeHead(200, {
      "content-type": TYPES[extname(file)] ?? "application/octet-stream",
      // Hashed assets never change; the page itself is always asked for again.
      "cache-control": relative.startsWith("assets/")
        ? "public, max-age=31536000, immutable"
        : "no-cache",
      "x-content-type-options": "nosniff",
      "content-security-policy":
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
    });
    // The console's files are small (a page, a script, a stylesheet): read whole.
    if (req.method === "HEAD") res.end();
    else res.end(readFileSync(file));
    return true;
  };
}
