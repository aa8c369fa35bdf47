/**
 * The account name a sign-in request carries in its body: a field of an HTML form post, or the
 * value a JSON Pointer names in a JSON document. HTTP-agnostic: the gateway's brute-force stage
 * reads the body (bounded) and hands the text here.
 *
 * A form may repeat a field (`username=decoy&username=victim`), and applications disagree on
 * which one counts: PHP and Django take the last, Express, Flask, Go and Java servlets the first.
 * Counting only one of them would let an attacker guess the other account's password under a
 * decoy name, so both the first and the last are returned, and failures count against each.
 * JSON objects with a repeated name (RFC 8259 §4 leaves them unpredictable) are read as
 * JSON.parse reads them, the last one wins, as in the JSON parsers of Node, Python, Go, Java
 * (Jackson) and PHP.
 */
import { resolveJsonPointer } from "./json-pointer.js";

/** Non-blank values of `field`: the first and, when it differs, the last. */
export function accountsInForm(text: string, field: string): string[] {
  const values = new URLSearchParams(text).getAll(field).filter((value) => value.trim() !== "");
  const first = values[0];
  const last = values[values.length - 1];
  if (first === undefined || last === undefined) return [];
  return first === last ? [first] : [first, last];
}

/** The string (or finite number) the pointer names; none when the text is not JSON. */
export function accountsInJson(text: string, pointer: readonly string[]): string[] {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    return [];
  }
  const value = resolveJsonPointer(document, pointer);
  if (typeof value === "string") return value.trim() === "" ? [] : [value];
  if (typeof value === "number" && Number.isFinite(value)) return [String(value)];
  return [];
}
