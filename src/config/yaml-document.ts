/**
 * YAML documents whose errors say file:line:column: parsing (syntax errors and alias expansion
 * reported as ConfigErrors) and locating a key path in the source. Shared by bulwark.yaml loading
 * and load-test scenario files.
 */
import { type Document, isMap, isNode, isPair, isScalar, LineCounter, parseDocument } from "yaml";
import { ConfigError } from "./config-error.js";

export interface YamlMapping {
  /** The document as plain data; a mapping at the top level. */
  readonly raw: Record<string, unknown>;
  /** "file:line:column" of a key path (or of `key` inside it), else the file name. */
  locate(path: readonly PropertyKey[], key?: string): string;
}

/** Parses a YAML document that must be a mapping; throws ConfigError with every syntax problem. */
export function parseYamlMapping(text: string, source: string): YamlMapping {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number | undefined): string => {
    if (offset === undefined) return source;
    const { line, col } = lineCounter.linePos(offset);
    return `${source}:${line}:${col}`;
  };
  if (doc.errors.length > 0) {
    throw new ConfigError(
      source,
      doc.errors.map((error) => ({
        where: at(error.pos[0]),
        path: "",
        message: `YAML syntax: ${lowerFirst(error.message.split("\n")[0]!.replace(/\.$/, ""))}`,
      })),
    );
  }
  let raw: unknown;
  try {
    // maxAliasCount bounds alias expansion ("billion laughs").
    raw = doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (error) {
    // Unresolved aliases and alias bombs surface here, after parsing.
    throw new ConfigError(source, [
      { where: source, path: "", message: `YAML: ${lowerFirst((error as Error).message.split("\n")[0]!)}` },
    ]);
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new ConfigError(source, [
      { where: at(0), path: "", message: "expected a mapping of settings at the top level" },
    ]);
  }
  return { raw: raw as Record<string, unknown>, locate: (path, key) => at(offsetOf(doc, path, key)) };
}

/** The source offset of a key path (or of `key` inside it), walking up to the nearest node that exists. */
export function offsetOf(doc: Document, path: readonly PropertyKey[], key?: string): number | undefined {
  const keys = path.map((part) => (typeof part === "symbol" ? String(part) : part));
  if (key !== undefined) {
    const map = doc.getIn(keys, true);
    if (isMap(map)) {
      const pair = map.items.find((item) => isPair(item) && isScalar(item.key) && item.key.value === key);
      if (pair && isNode(pair.key)) return pair.key.range?.[0];
    }
  }
  for (let length = keys.length; length >= 0; length--) {
    const node = length === 0 ? doc.contents : doc.getIn(keys.slice(0, length), true);
    if (isNode(node) && node.range) return node.range[0];
  }
  return undefined;
}

/** Error messages start lower-case (house style); acronyms such as "URL" are left alone. */
export function lowerFirst(text: string): string {
  return text.replace(/^[A-Z](?![A-Z])/, (c) => c.toLowerCase());
}
