/**
 * Where a key path sits in a YAML document, for errors that say file:line:column. Shared by
 * bulwark.yaml loading and load-test scenario files.
 */
import { type Document, isMap, isNode, isPair, isScalar } from "yaml";

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
