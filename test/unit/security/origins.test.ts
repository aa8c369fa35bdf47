import assert from "node:assert/strict";
import { test } from "node:test";
import { compileOriginMatcher, validOriginPattern } from "../../../src/security/origins.js";

test("origin patterns", () => {
  for (const good of [
    "https://app.example.com",
    "http://localhost:3000",
    "https://*.example.com",
    "https://[::1]:8443",
  ]) {
    assert.ok(validOriginPattern(good), good);
  }
  for (const bad of [
    "https://app.example.com/",
    "app.example.com",
    "https://*.com",
    "https://a.*.com",
    "ftp://x.com",
    "https://x.com:99999",
    "null",
  ]) {
    assert.ok(!validOriginPattern(bad), bad);
  }
});

test("subdomain patterns match subdomains only, on the same scheme and port", () => {
  const matcher = compileOriginMatcher(["https://*.example.com", "http://localhost:3000"]);
  assert.ok(matcher.matches("https://a.example.com"));
  assert.ok(matcher.matches("https://a.b.example.com"));
  assert.ok(!matcher.matches("https://example.com"));
  assert.ok(!matcher.matches("https://evil-example.com"));
  assert.ok(!matcher.matches("https://a.example.com.evil.org"));
  assert.ok(!matcher.matches("http://a.example.com"));
  assert.ok(!matcher.matches("https://a.example.com:8443"));
  assert.ok(matcher.matches("http://localhost:3000"));
  assert.ok(!matcher.matches("http://localhost:3001"));
  assert.ok(!matcher.matches("null"));
});
