import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  BEGIN_MARKER,
  configKeyReference,
  configReferenceMarkdown,
  END_MARKER,
  generatedReferenceOf,
  withGeneratedReference,
} from "../../../src/config/reference-docs.js";
import { RULES } from "../../../src/config/rules.js";
import { configJsonSchema } from "../../../src/config/schema.js";

const DOC = fileURLToPath(new URL("../../../docs/configuration.md", import.meta.url));
const REGENERATE = "docs/configuration.md is out of date; run: npx tsx scripts/gen-config-docs.ts";

function documentText(): string {
  return readFileSync(DOC, "utf8");
}

interface JsonSchemaNode {
  type?: string | string[];
  properties?: Record<string, JsonSchemaNode>;
  items?: JsonSchemaNode;
  additionalProperties?: JsonSchemaNode | boolean;
  anyOf?: JsonSchemaNode[];
}

/**
 * Leaf key paths of the JSON Schema, walked independently of the generator (which walks the zod
 * schema), so a key the generator skips is caught here.
 */
function leafPaths(node: JsonSchemaNode, path: string, out: string[]): string[] {
  const children: [string, JsonSchemaNode][] = [];
  const collect = (base: string, target: JsonSchemaNode) => {
    for (const [key, child] of Object.entries(target.properties ?? {}))
      children.push([`${base}.${key}`, child]);
    for (const option of target.anyOf ?? []) collect(base, option);
  };
  collect(path, node);
  if (node.items?.properties || node.items?.anyOf) collect(`${path}[]`, node.items);
  if (typeof node.additionalProperties === "object" && node.additionalProperties.properties) {
    collect(`${path}.<name>`, node.additionalProperties);
  }
  if (children.length === 0) out.push(path);
  for (const [childPath, child] of children) leafPaths(child, childPath, out);
  return out;
}

function schemaLeafPaths(): string[] {
  const root = configJsonSchema() as JsonSchemaNode;
  return Object.entries(root.properties ?? {}).flatMap(([key, node]) => leafPaths(node, key, []));
}

test("the generated reference in docs/configuration.md matches the schema and the rules", () => {
  const generated = generatedReferenceOf(documentText());
  assert.ok(generated !== undefined, `docs/configuration.md lacks ${BEGIN_MARKER} ... ${END_MARKER}`);
  assert.equal(generated, configReferenceMarkdown(), REGENERATE);
});

test("the reference is deterministic", () => {
  assert.equal(configReferenceMarkdown(), configReferenceMarkdown());
});

test("every fail-closed rule id appears in the doc's rule table", () => {
  const generated = generatedReferenceOf(documentText()) ?? "";
  const missing = Object.keys(RULES).filter((rule) => !generated.includes(`| \`${rule}\` |`));
  assert.deepEqual(missing, [], `rules missing from docs/configuration.md; ${REGENERATE}`);
});

test("every leaf key of the schema appears in the doc", () => {
  const leaves = schemaLeafPaths();
  // A sample of leaves at each kind of nesting, so a broken walk cannot pass with an empty list.
  for (const expected of [
    "version",
    "listeners[].tls.cert",
    "listeners[].redirectToHttps.port",
    "upstreams.<name>.timeouts.connect",
    "routes[].match.pathPrefix",
    "routes[].cors.origins",
    "defaults.headers.set",
    "server.limits.maxHeaderSize",
    "logging.level",
  ]) {
    assert.ok(leaves.includes(expected), `schema walk should find ${expected}; found ${leaves.join(", ")}`);
  }
  const generated = generatedReferenceOf(documentText()) ?? "";
  const missing = leaves.filter((path) => !generated.includes(`| \`${path}\` |`));
  assert.deepEqual(missing, [], `keys missing from docs/configuration.md; ${REGENERATE}`);
});

test("every key in the reference has a type and a description", () => {
  const undocumented = configKeyReference().filter((row) => row.description.trim() === "" || row.type === "");
  assert.deepEqual(
    undocumented.map((row) => row.path),
    [],
    "give these keys a .describe() in src/config/schema.ts",
  );
});

test("durations and sizes show their defaults as written in YAML", () => {
  const rows = new Map(configKeyReference().map((row) => [row.path, row]));
  assert.deepEqual(
    {
      type: rows.get("upstreams.<name>.timeouts.connect")?.type,
      default: rows.get("upstreams.<name>.timeouts.connect")?.default,
    },
    { type: "duration", default: "5s" },
  );
  assert.deepEqual(
    {
      type: rows.get("server.limits.maxHeaderSize")?.type,
      default: rows.get("server.limits.maxHeaderSize")?.default,
    },
    { type: "size", default: "16kb" },
  );
  assert.equal(rows.get("listeners[].address")?.type, "HOST:PORT");
  assert.equal(rows.get("upstreams")?.required, true);
  assert.equal(rows.get("admin.token")?.required, false);
  assert.equal(rows.get("admin.token")?.default, undefined);
  assert.equal(rows.get("listeners[].tls.cert")?.required, true);
});

test("table cells escape pipes and markdown so the tables render", () => {
  const markdown = configReferenceMarkdown();
  // The union type `string | string[]` must not split its cell.
  assert.match(markdown, /\| `routes\[\]\.match\.host` \| `string \\\| string\[\]` \|/);
  // A bare * in prose would start emphasis.
  assert.match(markdown, /any origin \(\\\*\) together with credentials/);
  for (const line of markdown.split("\n").filter((text) => text.startsWith("| `"))) {
    const cells = line.replaceAll("\\|", "").split("|").length - 2;
    assert.ok(cells === 4 || cells === 2, `row has ${cells} cells: ${line}`);
  }
});

test("withGeneratedReference replaces only the text between the markers", () => {
  const doc = `intro\n${BEGIN_MARKER}\nold\n${END_MARKER}\noutro\n`;
  const next = withGeneratedReference(doc, "new\n");
  assert.equal(next, `intro\n${BEGIN_MARKER}\nnew\n${END_MARKER}\noutro\n`);
  assert.equal(generatedReferenceOf(next), "new\n");
  assert.throws(() => withGeneratedReference("no markers", "x"), /BEGIN GENERATED REFERENCE/);
});
