import assert from "node:assert/strict";
import { test } from "node:test";
import { normalizePath, parseRequestTarget, rewritePath } from "../../../src/gateway/request-target.js";

test("plain paths pass through unchanged", () => {
  assert.deepEqual(parseRequestTarget("/api/users?id=1"), { path: "/api/users", query: "?id=1" });
  assert.deepEqual(parseRequestTarget("/"), { path: "/", query: "" });
});

test("dot segments are resolved, including percent-encoded ones", () => {
  assert.equal(normalizePath("/public/../admin"), "/admin");
  assert.equal(normalizePath("/public/%2e%2e/admin"), "/admin");
  assert.equal(normalizePath("/public/%2E%2e/admin"), "/admin");
  assert.equal(normalizePath("/a/./b/."), "/a/b/");
  assert.equal(normalizePath("/a/b/.."), "/a/");
});

test("repeated slashes are merged so //admin cannot dodge a /admin route", () => {
  assert.equal(normalizePath("//admin"), "/admin");
  assert.equal(normalizePath("/a//b///c"), "/a/b/c");
});

test("escaping the root, backslashes and broken percent-encoding are refused", () => {
  for (const bad of ["/..", "/a/../..", "/%2e%2e/etc", "/a\\b", "/a%5cb", "/a%zz", "/a%2"]) {
    const result = parseRequestTarget(bad);
    assert.ok("error" in result, `${bad} must be refused`);
  }
});

test("absolute-form targets give their host and path; other forms are refused", () => {
  assert.deepEqual(parseRequestTarget("http://example.com/x?y=1"), {
    path: "/x",
    query: "?y=1",
    host: "example.com",
  });
  assert.ok("error" in parseRequestTarget("*"));
  assert.ok("error" in parseRequestTarget("example.com:443"));
  assert.ok("error" in parseRequestTarget("/a#frag"));
});

test("prefix rewriting", () => {
  assert.equal(rewritePath("/api/users", "/api", "/"), "/users");
  assert.equal(rewritePath("/api", "/api", "/"), "/");
  assert.equal(rewritePath("/api/users", "/api", "/v1"), "/v1/users");
  assert.equal(rewritePath("/api/users", "/api", "/v1/"), "/v1/users");
  assert.equal(rewritePath("/users", "/", "/v1"), "/v1/users");
});
