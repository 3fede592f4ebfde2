// The drift guard: every writable field of Compute's v1 Image resource, as Google's own Node
// client declares it (@googleapis/compute's `compute_v1.Schema$Image` and the types it uses), is
// in the proto under Compute's JSON name, and the proto has nothing Compute lacks.
import type { DescMessage } from "@bufbuild/protobuf";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { ImageSchema } from "./index";
import { OUTPUT_ONLY } from "./image-fields";

const declarations = readFileSync(
  join(dirname(createRequire(import.meta.url).resolve("@googleapis/compute")), "v1.d.ts"),
  "utf8",
);

interface SchemaField {
  readonly name: string;
  /** The `Schema$X` a field holds (alone or in an array), or the inline object's own fields. */
  readonly nested?: string | SchemaField[];
}

/** The members of `export interface Schema$<type>`, read from the client's declarations. */
function schemaFields(type: string): SchemaField[] {
  const start = declarations.indexOf(`export interface Schema$${type} {`);
  if (start < 0) throw new Error(`@googleapis/compute declares no Schema$${type}`);
  const lines = declarations.slice(start).split("\n");
  const end = lines.findIndex((l) => l === "    }");
  return members(lines.slice(1, end), 8);
}

function members(lines: string[], indent: number): SchemaField[] {
  const out: SchemaField[] = [];
  const member = new RegExp(`^ {${indent}}(\\w+)\\?: (.*)$`);
  lines.forEach((line, i) => {
    const match = member.exec(line);
    if (match === null) return;
    const [, name = "", type = ""] = match;
    const schema = /^Schema\$(\w+)(?:\[\])?;$/.exec(type)?.[1];
    if (schema !== undefined) out.push({ name, nested: schema });
    else if (type === "{" && !lines[i + 1]?.includes("[key: string]")) {
      const close = lines.findIndex((l, j) => j > i && l.startsWith(`${" ".repeat(indent)}}`));
      out.push({ name, nested: members(lines.slice(i + 1, close), indent + 4) });
    } else out.push({ name });
  });
  return out;
}

/** Every mismatch between a Compute type and a proto message, as `path: problem`. */
function drift(
  fields: SchemaField[],
  outputOnly: readonly string[],
  message: DescMessage,
  at: string,
) {
  const problems: string[] = [];
  const writable = fields.filter((f) => !outputOnly.includes(f.name));
  const proto = new Map(message.fields.map((f) => [f.jsonName, f]));
  for (const field of writable) {
    const mine = proto.get(field.name);
    if (mine === undefined) {
      problems.push(`${at}${field.name}: Compute has it, ${message.typeName} lacks it`);
      continue;
    }
    if (field.nested === undefined) continue;
    const nestedMessage = mine.message;
    if (nestedMessage === undefined) {
      problems.push(`${at}${field.name}: Compute's is a message, ${message.typeName}'s is not`);
      continue;
    }
    const nested = typeof field.nested === "string" ? schemaFields(field.nested) : field.nested;
    const nestedOutputOnly =
      typeof field.nested === "string" ? (OUTPUT_ONLY[field.nested] ?? []) : [];
    problems.push(...drift(nested, nestedOutputOnly, nestedMessage, `${at}${field.name}.`));
  }
  for (const name of proto.keys())
    if (!writable.some((f) => f.name === name))
      problems.push(`${at}${name}: ${message.typeName} has it, Compute's writable fields do not`);
  return problems;
}

describe("Image, against Google's own client", () => {
  it("has every writable field of Compute's v1 Image resource under Compute's JSON name, and no other", () => {
    expect(drift(schemaFields("Image"), OUTPUT_ONLY["Image"] ?? [], ImageSchema, "")).toEqual([]);
  });

  it("reads the client's declarations: it sees the fields it must, and the guard can fail", () => {
    const names = schemaFields("Image").map((f) => f.name);
    expect(names).toEqual(
      expect.arrayContaining(["name", "rawDisk", "shieldedInstanceInitialState"]),
    );
    expect(names.length).toBeGreaterThan(30);
    const rawDisk = schemaFields("Image").find((f) => f.name === "rawDisk")?.nested;
    expect(rawDisk).toEqual([
      { name: "containerType" },
      { name: "sha1Checksum" },
      { name: "source" },
    ]);
    // A Compute field the proto does not have is reported, by path.
    expect(drift([{ name: "futureField" }, { name: "name" }], [], ImageSchema, "")).toContain(
      "futureField: Compute has it, computeimages.v1.Image lacks it",
    );
  });

  it("lists as output only only fields Compute has", () => {
    for (const [type, names] of Object.entries(OUTPUT_ONLY)) {
      const fields = schemaFields(type).map((f) => f.name);
      for (const name of names) expect(fields, `${type}.${name}`).toContain(name);
    }
  });
});
