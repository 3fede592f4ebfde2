// The Lua scripts' CI gate: every generated module is exactly what tools/lua/generate.mjs makes
// from the .lua files beside it (which also proves each script's header and named locals agree).
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { generatedName, generateModule, root, scriptDirs } from "./generate.mjs";

const failures = [];
for (const dir of scriptDirs) {
  const target = join(root, dir, generatedName);
  try {
    const want = await generateModule(dir);
    if (!existsSync(target) || readFileSync(target, "utf8") !== want)
      failures.push(`${dir}/${generatedName} is stale; run npm run lua:gen`);
  } catch (e) {
    failures.push(e instanceof Error ? e.message : String(e));
  }
}

if (failures.length > 0) {
  for (const failure of failures) console.error(`check:lua: ${failure}`);
  process.exit(1);
}
console.log("check:lua: the generated Lua modules are current");
