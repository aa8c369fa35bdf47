/**
 * The canonical serialisation every audit hash and signature is computed over. It is the subset of
 * RFC 8785 (JSON Canonicalization Scheme) that audit records need:
 *
 * - object keys sorted by UTF-16 code units (JavaScript's default sort, as RFC 8785 §3.2.3);
 * - no whitespace; members with the value `undefined` are left out;
 * - strings escaped as JSON.stringify does (ES2019 well-formed output, identical to RFC 8785 §3.2.2.2);
 * - numbers only as safe integers (no floats, so no number-formatting ambiguity), booleans, null,
 *   arrays in their order.
 *
 * Anything else (a float, NaN, a bigint, a function) is refused, so two implementations cannot
 * disagree about the bytes of a record.
 */
export function canonicalJson(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "boolean":
      return value ? "true" : "false";
    case "number":
      if (!Number.isSafeInteger(value)) throw new TypeError(`canonical json: ${value} is not a safe integer`);
      return String(value);
    case "object": {
      if (Array.isArray(value)) {
        let out = "[";
        for (let i = 0; i < value.length; i++) out += (i === 0 ? "" : ",") + canonicalJson(value[i]);
        return `${out}]`;
      }
      return `{${canonicalMembers(value as Record<string, unknown>).join(",")}}`;
    }
    default:
      throw new TypeError(`canonical json: cannot serialise a ${typeof value}`);
  }
}

/**
 * The serialised members (`"key":value`) of an object, in canonical order: `{` + join(",") + `}`
 * is its canonical JSON. Lets a caller add one member (a record's hash) without serialising the
 * rest twice.
 */
export function canonicalMembers(record: Readonly<Record<string, unknown>>): string[] {
  const members: string[] = [];
  for (const key of Object.keys(record).sort()) {
    const member = record[key];
    if (member === undefined) continue;
    members.push(`${JSON.stringify(key)}:${canonicalJson(member)}`);
  }
  return members;
}
