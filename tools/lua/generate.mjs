// Turns the Lua scripts of each directory below into one TypeScript module beside them,
// scripts.generated.ts: every script's source, verbatim, and for its KEYS and its ARGV an interface
// and a function that puts values given by name in the order the script's header lists them.
//
// The header is the one place that order is written down. This generator checks that the script's
// named locals (`local recordKey = KEYS[1]`) declare exactly what the header lists, in its order,
// and that the rest of the script reads KEYS and ARGV only through them; so adding, removing or
// moving an argument is one edit to the .lua file, and TypeScript callers that do not follow it
// fail to typecheck.
//
// A module rather than a `.lua` import: the apps are bundled by esbuild, the bench by its own
// esbuild build, the tests run the sources under vitest, and tsc and eslint read them too; plain
// TypeScript needs no loader, plugin or module declaration in any of them.
//
// Usage: node tools/lua/generate.mjs (npm run lua:gen). tools/lua/check.mjs (npm run check:lua,
// part of npm test) fails while a generated module differs from what this would write.
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { format, resolveConfig } from "prettier";

export const root = fileURLToPath(new URL("../..", import.meta.url));
/** Directories of Lua scripts (from the repository root); each gets a generated module. */
export const scriptDirs = ["libs/operations/src/lua"];
/** The generated module's name, in each directory of `scriptDirs`. */
export const generatedName = "scripts.generated.ts";

/** The line width comments are wrapped to, as .prettierrc.json sets it for code. */
const WIDTH = 100;
const IDENTIFIER = "[A-Za-z_][A-Za-z0-9_]*";
const HEADER_ENTRY = new RegExp(`^(\\s*)(KEYS|ARGV)\\[(\\d+)\\]\\s+(${IDENTIFIER})\\s*(.*)$`);
const NAMED_LOCAL = new RegExp(`^local (${IDENTIFIER}) = (KEYS|ARGV)\\[(\\d+)\\]$`);

/**
 * A script's header: its first paragraph, and its KEYS and ARGV as `{ name, doc }`, in order.
 * Throws, naming the file and line, when the header and the named locals disagree.
 */
export function parseScript(file, source) {
  const lines = source.split("\n");
  const fail = (line, message) => {
    throw new Error(`${file}${line === undefined ? "" : `:${line + 1}`}: ${message}`);
  };
  if (lines[0] !== "--[[") fail(0, "a script starts with its header, a --[[ ]] comment");
  const end = lines.findIndex((line) => line.trim() === "]]");
  if (end < 0) fail(0, "the header comment is not closed by a ]] line");

  const header = lines.slice(1, end);
  const blank = header.findIndex((line) => line.trim() === "");
  const summary = (blank < 0 ? header : header.slice(0, blank))
    .map((line) => line.trim())
    .join(" ");
  const listed = { KEYS: [], ARGV: [] };
  /** The entry whose description the next, further indented lines continue. */
  let open;
  for (const [i, line] of header.entries()) {
    const entry = HEADER_ENTRY.exec(line);
    if (entry !== null) {
      const [, indent, kind, index, name, doc] = entry;
      const list = listed[kind];
      if (Number(index) !== list.length + 1)
        fail(i + 1, `${kind}[${index}] is out of order: expected ${kind}[${list.length + 1}]`);
      open = { name, doc: doc.trim(), indent: indent.length };
      list.push(open);
    } else if (
      open !== undefined &&
      line.trim() !== "" &&
      /^\s*/.exec(line)[0].length > open.indent
    ) {
      open.doc = `${open.doc} ${line.trim()}`.trim();
    } else {
      open = undefined;
    }
  }

  const declared = { KEYS: [], ARGV: [] };
  for (const [i, line] of lines.entries()) {
    if (i <= end) continue;
    const local = NAMED_LOCAL.exec(line);
    if (local !== null) {
      const [, name, kind, index] = local;
      const list = declared[kind];
      if (Number(index) !== list.length + 1)
        fail(i, `${kind}[${index}] is out of order: expected ${kind}[${list.length + 1}]`);
      list.push(name);
    } else if (/\b(KEYS|ARGV)\s*\[/.test(line)) {
      fail(i, "read KEYS and ARGV through the named locals at the top of the script");
    }
  }
  for (const kind of ["KEYS", "ARGV"]) {
    const want = listed[kind].map((entry) => entry.name).join(", ");
    const have = declared[kind].join(", ");
    if (want !== have)
      fail(undefined, `the header lists ${kind} [${want}] but the locals declare [${have}]`);
  }
  const names = [...declared.KEYS, ...declared.ARGV];
  const twice = names.find((name, i) => names.indexOf(name) !== i);
  if (twice !== undefined) fail(undefined, `${twice} names two arguments`);
  return { summary, keys: listed.KEYS, argv: listed.ARGV };
}

const camel = (file) =>
  file.replace(/\.lua$/, "").replace(/-([a-z0-9])/g, (_, c) => c.toUpperCase());
const pascal = (file) => camel(file).replace(/^./, (c) => c.toUpperCase());
/** A JSDoc comment holding `text`, wrapped to the repository's line width. */
function jsdoc(text, indent = "") {
  const safe = text.replaceAll("*/", "*\\/");
  if (indent.length + safe.length + 7 <= WIDTH) return `${indent}/** ${safe} */\n`;
  const lines = [];
  for (const word of safe.split(/\s+/)) {
    const last = lines.length - 1;
    if (last >= 0 && indent.length + 3 + lines[last].length + 1 + word.length <= WIDTH)
      lines[last] = `${lines[last]} ${word}`;
    else lines.push(word);
  }
  return `${indent}/**\n${lines.map((line) => `${indent} * ${line}\n`).join("")}${indent} */\n`;
}
const templateLiteral = (text) =>
  `\`${text.replaceAll("\\", "\\\\").replaceAll("`", "\\`").replaceAll("${", "\\${")}\``;

/** One script's part of the module; `path` names it in errors. */
function scriptModule(path, file, source) {
  const { summary, keys, argv } = parseScript(path, source);
  const [lower, upper] = [camel(file), pascal(file)];
  /** The interface of KEYS or ARGV by name, and the function that puts them in order. */
  const part = (kind, entries, suffix, param, type) => {
    const fields = entries
      .map(({ name, doc }) => `${jsdoc(doc || name, "  ")}  readonly ${name}: ${type};\n`)
      .join("");
    const values = entries.map(({ name }) => `${param}.${name}`).join(", ");
    return (
      jsdoc(`The ${kind} of ${file}, by name.`) +
      `export interface ${upper}${suffix} {\n${fields}}\n\n` +
      jsdoc(`The ${kind} of ${file}, in the order its header lists them.`) +
      `export function ${lower}${suffix}(${param}: ${upper}${suffix}): (${type})[] {\n` +
      `  return [${values}];\n}\n\n`
    );
  };
  return (
    jsdoc(`${file}: ${summary}`) +
    `export const ${lower}Script: LuaScript = {\n` +
    `  file: ${JSON.stringify(file)},\n` +
    `  numberOfKeys: ${keys.length},\n` +
    `  lua: ${templateLiteral(source)},\n};\n\n` +
    part("KEYS", keys, "Keys", "keys", "string") +
    part("ARGV", argv, "Args", "args", "string | number")
  );
}

/** The generated module of one directory of `scriptDirs`, formatted as the repository formats. */
export async function generateModule(dir) {
  const absolute = join(root, dir);
  const files = readdirSync(absolute)
    .filter((f) => f.endsWith(".lua"))
    .sort();
  const text =
    `// Generated by tools/lua/generate.mjs from the .lua files beside it: do not edit. After\n` +
    `// changing a script run \`npm run lua:gen\`; \`npm run check:lua\` (in \`npm test\`) fails while\n` +
    `// this module is stale.\n\n` +
    jsdoc("A Lua script, as ioredis's `defineCommand` takes it.") +
    `export interface LuaScript {\n` +
    jsdoc("The file it is generated from, in this directory.", "  ") +
    `  readonly file: string;\n` +
    jsdoc("How many of its arguments are KEYS; the rest are ARGV.", "  ") +
    `  readonly numberOfKeys: number;\n` +
    jsdoc("Its source, verbatim.", "  ") +
    `  readonly lua: string;\n}\n\n` +
    files
      .map((file) =>
        scriptModule(join(dir, file), file, readFileSync(join(absolute, file), "utf8")),
      )
      .join("");
  const filepath = join(absolute, generatedName);
  return format(text, { ...(await resolveConfig(filepath)), filepath });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const dir of scriptDirs) {
    const target = join(root, dir, generatedName);
    writeFileSync(target, await generateModule(dir));
    console.log(`lua:gen: wrote ${relative(root, target)}`);
  }
}
