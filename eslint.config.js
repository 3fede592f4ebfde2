// @ts-check
import js from "@eslint/js";
import nx from "@nx/eslint-plugin";
import prettier from "eslint-config-prettier";
import { createTypeScriptImportResolver } from "eslint-import-resolver-typescript";
import importX from "eslint-plugin-import-x";
import tseslint from "typescript-eslint";

/**
 * Who may depend on whom. Dependencies point one way: apps → libs → generated code.
 * `type:testing` holds test helpers: anything may use it, but only from spec files (see the
 * no-restricted-imports rule below).
 */
const depConstraints = [
  {
    sourceTag: "type:app",
    onlyDependOnLibsWithTags: ["type:lib", "type:generated", "type:testing"],
  },
  {
    sourceTag: "type:lib",
    onlyDependOnLibsWithTags: ["type:lib", "type:generated", "type:testing"],
  },
  { sourceTag: "type:testing", onlyDependOnLibsWithTags: ["type:lib", "type:generated"] },
  { sourceTag: "type:generated", onlyDependOnLibsWithTags: ["type:generated"] },
  {
    sourceTag: "type:tool",
    onlyDependOnLibsWithTags: ["type:lib", "type:generated", "type:testing"],
  },
  // A lib that serves one app only may not be used by the others.
  { sourceTag: "scope:shared", onlyDependOnLibsWithTags: ["scope:shared"] },
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
      "@nx/enforce-module-boundaries": [
        "error",
        { enforceBuildableLibDependency: false, allow: [], depConstraints },
      ],
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/consistent-type-imports": ["error", { fixStyle: "inline-type-imports" }],
      "@typescript-eslint/restrict-template-expressions": ["error", { allowNumber: true }],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
      "import-x/no-cycle": "error",
      "no-restricted-imports": [
        "error",
        {
          paths: [
            { name: "@imagesvc/testing", message: "Test helpers belong in spec files only." },
          ],
        },
      ],
    },
  },
  {
    files: ["**/*.spec.ts", "**/testing/src/**/*.ts"],
    rules: { "no-restricted-imports": "off" },
  },
  {
    files: ["**/*.js", "**/*.mjs"],
    ...tseslint.configs.disableTypeChecked,
  },
  prettier,
);
