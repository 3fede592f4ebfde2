// @ts-check
import js from "@eslint/js";
import nx from "@nx/eslint-plugin";
import prettier from "eslint-config-prettier";
import { createTypeScriptImportResolver } from "eslint-import-resolver-typescript";
import importX from "eslint-plugin-import-x";
import tseslint from "typescript-eslint";

/**
 * Who may depend on whom in production code. Dependencies point one way: apps → libs →
 * generated code, and among libs, down the layers:
 * - `layer:core`: proto, validation, lifecycle. Pure, browser-safe: they depend on nothing else.
 * - `layer:platform`: config, runtime, telemetry, secrets. What every process has, Redis-free.
 * - `layer:state`: redis, operations, queue. The only code that knows Redis keys and BullMQ.
 * - `layer:compute`: the Compute client, the Cloud Storage pre-flight, the emulator.
 * - `layer:edge`: serving, the one-port RPC edge.
 * - `layer:service`: image-service, the gateway's RPCs over all of the above.
 * State, compute and edge sit beside each other on core and platform; none imports another.
 * The whole-system suites (`type:tests`, tests/system) may use anything but apps.
 * Test helpers (`type:testing`) and the Compute emulator (`scope:emulator`) are out of bounds:
 * production code never falls back to the emulator.
 */
const productionConstraints = [
  { sourceTag: "type:app", onlyDependOnLibsWithTags: ["type:lib", "type:generated"] },
  { sourceTag: "type:lib", onlyDependOnLibsWithTags: ["type:lib", "type:generated"] },
  { sourceTag: "type:generated", onlyDependOnLibsWithTags: ["type:generated"] },
  { sourceTag: "layer:core", onlyDependOnLibsWithTags: ["layer:core"] },
  { sourceTag: "layer:platform", onlyDependOnLibsWithTags: ["layer:platform"] },
  {
    sourceTag: "layer:state",
    onlyDependOnLibsWithTags: ["layer:state", "layer:core", "layer:platform"],
  },
  {
    sourceTag: "layer:compute",
    onlyDependOnLibsWithTags: ["layer:compute", "layer:core", "layer:platform"],
  },
  {
    sourceTag: "layer:edge",
    onlyDependOnLibsWithTags: ["layer:edge", "layer:core", "layer:platform"],
  },
  {
    sourceTag: "layer:service",
    onlyDependOnLibsWithTags: [
      "layer:service",
      "layer:state",
      "layer:compute",
      "layer:edge",
      "layer:core",
      "layer:platform",
    ],
  },
  {
    sourceTag: "type:tests",
    onlyDependOnLibsWithTags: ["type:lib", "type:generated", "type:testing", "scope:emulator"],
  },
  { sourceTag: "type:testing", onlyDependOnLibsWithTags: ["type:lib", "type:generated"] },
  {
    sourceTag: "type:tool",
    onlyDependOnLibsWithTags: ["type:lib", "type:generated", "type:testing"],
  },
  { sourceTag: "scope:shared", onlyDependOnLibsWithTags: ["scope:shared"] },
  { sourceTag: "scope:testing", onlyDependOnLibsWithTags: ["scope:shared"] },
  { sourceTag: "scope:emulator", onlyDependOnLibsWithTags: ["scope:emulator", "scope:shared"] },
  { sourceTag: "scope:gateway", onlyDependOnLibsWithTags: ["scope:gateway", "scope:shared"] },
  { sourceTag: "scope:worker", onlyDependOnLibsWithTags: ["scope:worker", "scope:shared"] },
  { sourceTag: "scope:cli", onlyDependOnLibsWithTags: ["scope:cli", "scope:shared"] },
];

/** Spec files may also use the test helpers and the emulator. */
const specConstraints = productionConstraints.map((c) => ({
  ...c,
  onlyDependOnLibsWithTags: [
    ...c.onlyDependOnLibsWithTags,
    "type:testing",
    "scope:testing",
    "scope:emulator",
  ],
}));

const boundaries = (depConstraints) => [
  "error",
  { enforceBuildableLibDependency: false, allow: [], depConstraints },
];

export default tseslint.config(
  {
    ignores: [
      "**/node_modules/",
      "**/dist/",
      "**/coverage/",
      ".nx/",
      "libs/proto/src/gen/",
      "bench/",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { "@nx": nx, "import-x": importX },
    settings: {
      ...importX.flatConfigs.typescript.settings,
      "import-x/resolver-next": [createTypeScriptImportResolver({ alwaysTryTypes: true })],
    },
    rules: {
      "@nx/enforce-module-boundaries": boundaries(productionConstraints),
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/consistent-type-imports": ["error", { fixStyle: "inline-type-imports" }],
      "@typescript-eslint/restrict-template-expressions": ["error", { allowNumber: true }],
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", ignoreRestSiblings: true },
      ],
      "import-x/no-cycle": "error",
    },
  },
  {
    files: ["**/*.spec.ts", "**/*.test-helper.ts"],
    rules: { "@nx/enforce-module-boundaries": boundaries(specConstraints) },
  },
  {
    // Shared with the browser (apps/console validates as you type with it): Web APIs only.
    files: ["libs/validation/src/**/*.ts", "libs/proto/src/**/*.ts"],
    ignores: ["**/*.spec.ts", "**/*.test-helper.ts"],
    rules: {
      "no-restricted-globals": [
        "error",
        { name: "Buffer", message: "runs in browsers too: use TextEncoder, atob or Uint8Array" },
        { name: "process", message: "runs in browsers too: take values as arguments" },
      ],
      "no-restricted-imports": [
        "error",
        { patterns: [{ group: ["node:*"], message: "runs in browsers too: no Node modules" }] },
      ],
    },
  },
  {
    files: ["**/*.js", "**/*.mjs"],
    ...tseslint.configs.disableTypeChecked,
  },
  prettier,
);
