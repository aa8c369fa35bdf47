import assert from "node:assert/strict";
import { test } from "node:test";
import { validateConfig } from "../../../src/config/load.js";
import { compileRouter, prefixMatches } from "../../../src/gateway/router.js";

function routerFor(routes: Record<string, unknown>[]) {
  const config = validateConfig(
    { upstreams: { app: { targets: ["http://127.0.0.1:9"] } }, routes },
    { source: "test", baseDir: "/tmp", env: {} },
  );
  const router = compileRouter(config.routes);
  return (host: string, path: string) => router.match(host, path)?.name;
}

test("prefixes match on segment boundaries", () => {
  assert.ok(prefixMatches("/api", "/api"));
  assert.ok(prefixMatches("/api", "/api/x"));
  assert.ok(!prefixMatches("/api", "/apix"));
  assert.ok(prefixMatches("/", "/anything"));
});

test("the longest prefix wins, whatever the order in the file", () => {
  const match = routerFor([
    { name: "root", upstream: "app" },
    { name: "api", match: { pathPrefix: "/api" }, upstream: "app" },
    { name: "admin", match: { pathPrefix: "/api/admin/" }, upstream: "app" },
  ]);
  assert.equal(match("a", "/api/admin/users"), "admin");
  assert.equal(match("a", "/api/admin"), "admin");
  assert.equal(match("a", "/api/users"), "api");
  assert.equal(match("a", "/other"), "root");
});

test("exact host beats wildcard host beats any host; longer wildcard suffix wins", () => {
  const match = routerFor([
    { name: "any", upstream: "app" },
    { name: "wild", match: { host: "*.example.com" }, upstream: "app" },
    { name: "wild-api", match: { host: "*.api.example.com" }, upstream: "app" },
    { name: "exact", match: { host: ["www.example.com", "example.com"] }, upstream: "app" },
  ]);
  assert.equal(match("www.example.com", "/"), "exact");
  assert.equal(match("example.com", "/"), "exact");
  assert.equal(match("shop.example.com", "/"), "wild");
  assert.equal(match("v1.api.example.com", "/"), "wild-api");
  assert.equal(match("other.org", "/"), "any");
});

test("no route means undefined, so the gateway answers 404", () => {
  const match = routerFor([
    { name: "api", match: { host: "api.example.com", pathPrefix: "/api" }, upstream: "app" },
  ]);
  assert.equal(match("api.example.com", "/web"), undefined);
  assert.equal(match("other.example.com", "/api"), undefined);
});
