/**
 * JSON Pointer (RFC 6901), read-only: compiled once from config, evaluated against parsed JSON.
 * Only own properties are followed, so "/__proto__" or "/constructor" never reach Object.prototype.
 */

/** The reference tokens of a pointer the config schema accepted ("" or "/a/b~1c"). */
export function compileJsonPointer(pointer: string): readonly string[] {
  if (pointer === "") return [];
  // §4: "~1" becomes "/" before "~0" becomes "~", so "~01" is "~1", not "/".
  return pointer
    .slice(1)
    .split("/")
    .map((token) => token.replaceAll("~1", "/").replaceAll("~0", "~"));
}

// §4: an array index is "0" or digits without a leading zero ("-" names no element when reading).
const ARRAY_INDEX = /^(?:0|[1-9][0-9]*)$/;

/** The value the pointer names in `document`, or undefined when it names nothing. */
export function resolveJsonPointer(document: unknown, tokens: readonly string[]): unknown {
  let current = document;
  for (const token of tokens) {
    if (Array.isArray(current)) {
      if (!ARRAY_INDEX.test(token)) return undefined;
      const index = Number(token);
      if (index >= current.length) return undefined;
      current = current[index];
    } else if (typeof current === "object" && current !== null) {
      if (!Object.hasOwn(current, token)) return undefined;
      current = (current as Record<string, unknown>)[token];
    } else {
      return undefined;
    }
  }
  return current;
}
