/**
 * The key reference in docs/configuration.md, generated from the zod schema and the RULES table
 * so the documentation cannot drift from what the loader accepts (a test compares the two).
 *
 * It walks the zod schema rather than its JSON Schema: JSON Schema in input mode drops the
 * defaults of transformed values (every duration and size), and cannot tell a duration from any
 * other union of number and string.
 */
import { z } from "zod";
import { RULES } from "./rules.js";
import { address, configSchema } from "./schema.js";
import { duration, formatDuration, formatSize, size } from "./units.js";

export interface ConfigKeyReference {
  /** Top-level key the row belongs to ("routes"). */
  readonly section: string;
  /** Key path: `[]` is every item of a list, `<name>` any key of a map ("routes[].match.pathPrefix"). */
  readonly path: string;
  readonly type: string;
  /** Default as written in YAML; undefined when there is none. */
  readonly default: string | undefined;
  /** True when the key must be given whenever its parent is. */
  readonly required: boolean;
  readonly description: string;
  /** False for keys that hold further documented keys. */
  readonly leaf: boolean;
}

export const BEGIN_MARKER = "<!-- BEGIN GENERATED REFERENCE -->";
export const END_MARKER = "<!-- END GENERATED REFERENCE -->";

type Schema = z.core.$ZodType;
type Unit = "duration" | "size" | "address";

/** Formats are recognised by the regex their builder uses, so a new duration key needs no registration. */
const UNIT_PATTERNS: ReadonlyMap<string, Unit> = new Map([
  [unitPattern(duration("probe")), "duration"],
  [unitPattern(size("probe")), "size"],
  [unitPattern(address("probe")), "address"],
]);

function defOf(schema: Schema): z.core.$ZodTypes["_zod"]["def"] {
  return (schema as z.core.$ZodTypes)._zod.def;
}

function regexOf(schema: Schema): string | undefined {
  const def = defOf(schema);
  for (const check of def.checks ?? []) {
    const checkDef = check._zod.def as { check: string; format?: string; pattern?: RegExp };
    if (checkDef.check === "string_format" && checkDef.format === "regex" && checkDef.pattern) {
      return checkDef.pattern.source;
    }
  }
  return undefined;
}

function unitPattern(schema: Schema): string {
  const def = defOf(schema);
  if (def.type === "string") return regexOf(schema) ?? "";
  if (def.type === "pipe" && defOf(def.in).type === "union") {
    const options = (defOf(def.in) as z.core.$ZodUnionDef).options;
    const text = options.find((option) => defOf(option).type === "string");
    return text ? (regexOf(text) ?? "") : "";
  }
  return "";
}

function unitOf(schema: Schema): Unit | undefined {
  return UNIT_PATTERNS.get(unitPattern(schema));
}

interface Unwrapped {
  readonly core: Schema;
  readonly description: string | undefined;
  readonly optional: boolean;
  readonly defaultValue: unknown;
  readonly hasDefault: boolean;
}

/** Peels optional/default/prefault wrappers; the outermost description wins (`.describe()` last). */
function unwrap(schema: Schema): Unwrapped {
  let core = schema;
  let description: string | undefined;
  let optional = false;
  let hasDefault = false;
  let defaultValue: unknown;
  for (;;) {
    description ??= z.globalRegistry.get(core)?.description;
    const def = defOf(core);
    if (def.type === "optional") {
      optional = true;
      core = def.innerType;
    } else if (def.type === "default" || def.type === "prefault") {
      if (!hasDefault) {
        hasDefault = true;
        defaultValue = def.defaultValue;
      }
      core = def.innerType;
    } else {
      break;
    }
  }
  if (description === undefined && defOf(core).type === "union") {
    // `cors: corsSchema | false`: the object alternative carries the description.
    for (const option of (defOf(core) as z.core.$ZodUnionDef).options) {
      description ??= unwrap(option).description;
    }
  }
  return { core, description, optional: optional || hasDefault, defaultValue, hasDefault };
}

function typeName(schema: Schema): string {
  const unit = unitOf(schema);
  if (unit === "duration") return "duration";
  if (unit === "size") return "size";
  if (unit === "address") return "HOST:PORT";
  const def = defOf(schema);
  switch (def.type) {
    case "optional":
    case "default":
    case "prefault":
      return typeName(def.innerType);
    case "pipe":
      return typeName(def.in);
    case "string":
      return (schema as z.ZodString).format === "url" ? "URL" : "string";
    case "boolean":
      return "boolean";
    case "number":
      return numberType(schema as z.ZodNumber);
    case "literal":
      return def.values.map((value) => JSON.stringify(value)).join(" | ");
    case "enum":
      return Object.values(def.entries)
        .map((value) => JSON.stringify(value))
        .join(" | ");
    case "nullable":
      return `${typeName(def.innerType)} | null`;
    case "union":
      return def.options.map(typeName).join(" | ");
    case "array": {
      const item = typeName(def.element);
      return item.includes(" ") ? `(${item})[]` : `${item}[]`;
    }
    case "object":
      return "object";
    case "record":
      return `map<${typeName(def.keyType)}, ${typeName(def.valueType)}>`;
    default:
      throw new Error(`reference-docs: no type name for zod type ${def.type}`);
  }
}

function numberType(schema: z.ZodNumber): string {
  const base = schema.isInt ? "integer" : "number";
  const safe = Number.MAX_SAFE_INTEGER;
  const min = schema.minValue !== null && Math.abs(schema.minValue) < safe ? schema.minValue : undefined;
  const max = schema.maxValue !== null && Math.abs(schema.maxValue) < safe ? schema.maxValue : undefined;
  if (min !== undefined && max !== undefined) return `${base} ${min}–${max}`;
  if (min !== undefined) return `${base} ≥ ${min}`;
  if (max !== undefined) return `${base} ≤ ${max}`;
  return base;
}

function formatDefault(schema: Schema, value: unknown): string {
  const unit = unitOf(schema);
  if (unit === "duration" && typeof value === "number") return formatDuration(value);
  if (unit === "size" && typeof value === "number") return formatSize(value);
  return JSON.stringify(value);
}

/** Object-valued alternatives whose keys are documented under the same path. */
function objectShapes(core: Schema): z.core.$ZodShape[] {
  const def = defOf(core);
  if (def.type === "object") return [def.shape];
  if (def.type === "union") return def.options.flatMap((option) => objectShapes(unwrap(option).core));
  return [];
}

/** Every documented key, in schema order. */
export function configKeyReference(): ConfigKeyReference[] {
  const rows: ConfigKeyReference[] = [];
  const visit = (section: string, path: string, schema: Schema, requiredInParent: boolean): void => {
    const { core, description, optional, defaultValue, hasDefault } = unwrap(schema);
    const children: [string, Schema][] = [];
    const addShapes = (base: string, target: Schema) => {
      for (const shape of objectShapes(target)) {
        for (const [key, child] of Object.entries(shape)) children.push([`${base}.${key}`, child]);
      }
    };
    const def = defOf(core);
    addShapes(path, core);
    if (def.type === "array") addShapes(`${path}[]`, unwrap(def.element).core);
    if (def.type === "record") addShapes(`${path}.<name>`, unwrap(def.valueType).core);
    rows.push({
      section,
      path,
      type: typeName(core),
      default: hasDefault ? formatDefault(core, defaultValue) : undefined,
      required: requiredInParent && !optional,
      description: description ?? "",
      leaf: children.length === 0,
    });
    for (const [childPath, child] of children) visit(section, childPath, child, true);
  };
  for (const [key, schema] of Object.entries(configSchema.shape)) visit(key, key, schema, true);
  return rows;
}

/** Text of a quoted example becomes a code span; the rest is escaped so `*` or `<` stay literal. */
function markdownText(text: string): string {
  return text
    .split(/("[^"]*")/)
    .map((part, index) => (index % 2 === 1 ? code(part) : part.replace(/[\\`*_<>|[\]]/g, "\\$&")))
    .join("");
}

function code(text: string): string {
  // In a GFM table a pipe ends the cell even inside a code span unless escaped.
  return `\`${text.replaceAll("|", "\\|")}\``;
}

function defaultCell(row: ConfigKeyReference): string {
  if (row.default !== undefined) return code(row.default);
  return row.required ? "**required**" : "—";
}

/** The generated part of docs/configuration.md (between the markers), ending with a newline. */
export function configReferenceMarkdown(): string {
  const rows = configKeyReference();
  const lines: string[] = [
    "## Reference",
    "",
    "_Generated from `src/config/schema.ts` and `src/config/rules.ts` by `npx tsx scripts/gen-config-docs.ts`;",
    "change those files and rerun it rather than editing this part by hand._",
    "",
    "In key paths, `[]` stands for every item of a list and `<name>` for any key of a map.",
    "**required** marks a key that must be given whenever its parent is; — marks an optional key",
    "without a default. Durations and sizes are shown as they are written in YAML.",
  ];
  for (const section of Object.keys(configSchema.shape)) {
    const sectionRows = rows.filter((row) => row.section === section);
    lines.push("", `### ${code(section)}`, "");
    lines.push("| Key | Type | Default | Description |", "|---|---|---|---|");
    for (const row of sectionRows) {
      lines.push(
        `| ${code(row.path)} | ${code(row.type)} | ${defaultCell(row)} | ${markdownText(row.description)} |`,
      );
    }
  }
  lines.push(
    "",
    "## Fail-closed rules",
    "",
    "A config that breaks one of these rules is refused at start (and by `bulwark config check`), with",
    "the rule id, the key's file:line:column, the reason and a fix.",
    "",
    "| Rule | Refused when |",
    "|---|---|",
  );
  for (const [rule, reason] of Object.entries(RULES))
    lines.push(`| ${code(rule)} | ${markdownText(reason)} |`);
  return `${lines.join("\n")}\n`;
}

/** The text between the markers; undefined when the markers are missing or out of order. */
export function generatedReferenceOf(document: string): string | undefined {
  const begin = document.indexOf(BEGIN_MARKER);
  const end = document.indexOf(END_MARKER);
  if (begin < 0 || end < begin) return undefined;
  return document.slice(begin + BEGIN_MARKER.length, end).replace(/^\n/, "");
}

/** The document with the text between the markers replaced by `reference`. */
export function withGeneratedReference(document: string, reference: string): string {
  const begin = document.indexOf(BEGIN_MARKER);
  const end = document.indexOf(END_MARKER);
  if (begin < 0 || end < begin) {
    throw new Error(`expected ${BEGIN_MARKER} followed by ${END_MARKER}`);
  }
  return `${document.slice(0, begin + BEGIN_MARKER.length)}\n${reference}${document.slice(end)}`;
}
