// Runs a command on a Node the project supports (24 or 26), whatever Node started it: npm's
// scripts go through here, so `npm ci && npm start` and `npm ci && npm test` work on any machine
// with npm. On an older (or newer) Node, it fetches Node 24 from the npm registry once (the
// `node@24` package), caches it, and runs the command with that Node first on PATH. If it cannot,
// it stops at once with one line saying what to install.
// Usage: node tools/node/with-node.mjs <command> [args...]
// Written for old Nodes too: no syntax or API newer than Node 14.
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";

const SUPPORTED = [24, 26];
const PROVISIONED = 24;
const major = Number(process.versions.node.split(".")[0]);
const [command, ...args] = process.argv.slice(2);
if (command === undefined) {
  process.stderr.write("usage: node tools/node/with-node.mjs <command> [args...]\n");
  process.exit(2);
}

function run(path) {
  const env = Object.assign({}, process.env, path === undefined ? {} : { PATH: path });
  const child = spawn(command, args, {
    stdio: "inherit",
    env,
    shell: process.platform === "win32",
  });
  // Ctrl-C reaches the child through the terminal's process group; a signal sent to this
  // process alone (a supervisor's SIGTERM) is passed on.
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
    process.on(signal, () => {
      child.kill(signal);
    });
  }
  child.on("exit", (code, signal) => {
    if (signal !== null) process.kill(process.pid, signal);
    process.exit(code === null ? 1 : code);
  });
}

if (SUPPORTED.includes(major)) {
  run(undefined);
} else {
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
  const prefix = process.env.NODE24_PREFIX || join(cache, "imagesvc", `node${PROVISIONED}`);
  const bin = join(prefix, "node_modules", ".bin");
  const node = join(bin, process.platform === "win32" ? "node.cmd" : "node");
  const works = () =>
    existsSync(node) &&
    spawnSync(node, ["-p", "process.versions.node.split('.')[0]"], {
      encoding: "utf8",
    }).stdout.trim() === String(PROVISIONED);
  if (!works()) {
    process.stderr.write(
      `image-service runs on Node ${SUPPORTED.join(" or ")}; this is Node ${process.versions.node}. Fetching Node ${PROVISIONED} from the npm registry into ${prefix} (once)…\n`,
    );
    const npm = process.platform === "win32" ? "npm.cmd" : "npm";
    const install = spawnSync(
      npm,
      [
        "install",
        "--prefix",
        prefix,
        "--no-save",
        "--no-audit",
        "--no-fund",
        `node@${PROVISIONED}`,
      ],
      { stdio: "ignore" },
    );
    if (install.status !== 0 || !works()) {
      process.stderr.write(
        `image-service needs Node ${SUPPORTED.join(" or ")} and could not fetch it; install it (for example \`nvm install ${PROVISIONED}\`, or https://nodejs.org) and run the command again.\n`,
      );
      process.exit(1);
    }
  }
  run(`${bin}${delimiter}${process.env.PATH || ""}`);
}
