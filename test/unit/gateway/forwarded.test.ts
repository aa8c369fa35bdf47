import assert from "node:assert/strict";
import { test } from "node:test";
import { quoteIfNeeded } from "../../../src/gateway/upstream/forwarded.js";

test("Forwarded host values: tokens as they are, anything else quoted (RFC 7239 §4), whatever came before", () => {
  const cases: [string, string][] = [
    ["example.com", "example.com"],
    ["example.com:8443", '"example.com:8443"'],
    ["[::1]:8080", '"[::1]:8080"'],
    ["", '""'],
    ['we"ird\\host', '"we\\"ird\\\\host"'],
    ["api.example.com", "api.example.com"],
  ];
  // The last answer is cached: repeated, alternating and first-seen values must all be right.
  for (let round = 0; round < 3; round++) {
    for (const [value, quoted] of cases) {
      assert.equal(quoteIfNeeded(value), quoted, value);
      assert.equal(quoteIfNeeded(value), quoted, `${value} again`);
    }
    for (const [value, quoted] of [...cases].reverse()) assert.equal(quoteIfNeeded(value), quoted, value);
  }
});
