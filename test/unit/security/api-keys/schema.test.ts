/**
 * The `server.apiKeys` config section: defaults, store variants, refusals, and reading it from a
 * bulwark.yaml with secret references (as `bulwark keys -c` does).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { z } from "zod";
import { isBulwarkError } from "../../../../src/errors.js";
import { loadApiKeysSection } from "../../../../src/security/api-keys/config-section.js";
import { apiKeyAuthSchema, apiKeysSchema } from "../../../../src/security/api-keys/schema.js";

const PEPPER = "0123456789abcdef0123456789abcdef";
const dir = mkdtempSync(join(tmpdir(), "bulwark-keys-schema-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function problems(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    if (isBulwarkError(error)) return [...error.details];
    throw error;
  }
  assert.fail("expected a config error");
}

describe("api keys config", () => {
  test("defaults: file store, 30 s cache TTL, 10 000 entries, last-used written every minute", () => {
    assert.deepEqual(apiKeysSchema.parse({ pepper: PEPPER }), {
      pepper: PEPPER,
      store: { type: "file", path: "api-keys.json", pollInterval: 2000 },
      cacheTtl: 30_000,
      cacheMaxEntries: 10_000,
      lastUsedInterval: 60_000,
    });
    assert.deepEqual(
      apiKeysSchema.parse({ pepper: PEPPER, store: { type: "redis", url: "redis://r:6379" } }).store,
      {
        type: "redis",
        url: "redis://r:6379",
        keyPrefix: "bulwark:apikeys",
        timeout: 1000,
      },
    );
    assert.deepEqual(
      apiKeysSchema.parse({
        pepper: PEPPER,
        store: { type: "postgres", url: "postgres://db/keys", timeout: "5s" },
      }).store,
      { type: "postgres", url: "postgres://db/keys", table: "bulwark_api_keys", timeout: 5000 },
    );
  });

  test("refuses a short pepper, unknown keys, a bad table name, braces in a Redis prefix, a sub-second flush", () => {
    const failing = [
      { pepper: "short" },
      { pepper: PEPPER, cache: 1 },
      { pepper: PEPPER, store: { type: "postgres", url: "postgres://x", table: "Robert'); drop" } },
      { pepper: PEPPER, store: { type: "redis", url: "redis://x", keyPrefix: "{x}" } },
      { pepper: PEPPER, lastUsedInterval: "10ms" },
      { pepper: PEPPER, store: { type: "s3" } },
    ];
    for (const input of failing)
      assert.equal(apiKeysSchema.safeParse(input).success, false, JSON.stringify(input));
  });

  test("every key has a description (for `bulwark config schema` and the docs)", () => {
    // As configJsonSchema() renders it for `bulwark config schema`.
    const json = JSON.stringify(z.toJSONSchema(apiKeysSchema, { io: "input", unrepresentable: "any" }));
    for (const key of [
      "pepper",
      "store",
      "cacheTtl",
      "cacheMaxEntries",
      "lastUsedInterval",
      "keyPrefix",
      "table",
    ]) {
      assert.ok(json.includes(`"${key}"`), key);
    }
    const undescribed = (node: unknown, path: string): string[] => {
      if (node === null || typeof node !== "object") return [];
      const record = node as Record<string, unknown>;
      const own = record.properties
        ? Object.entries(record.properties as Record<string, Record<string, unknown>>).flatMap(
            ([key, value]) => (typeof value.description === "string" ? [] : [`${path}.${key}`]),
          )
        : [];
      return [
        ...own,
        ...Object.entries(record).flatMap(([key, value]) => undescribed(value, `${path}/${key}`)),
      ];
    };
    assert.deepEqual(undescribed(JSON.parse(json), ""), []);
  });

  test("route-level auth: header defaults to x-api-key, scopes to none", () => {
    assert.deepEqual(apiKeyAuthSchema.parse({}), { header: "x-api-key", scopes: [] });
    assert.equal(apiKeyAuthSchema.safeParse({ scopes: ["bad scope"] }).success, false);
  });

  test("loadApiKeysSection resolves ${file:} relative to the config and the store path against its directory", () => {
    writeFileSync(join(dir, "pepper"), `${PEPPER}\n`);
    const file = join(dir, "bulwark.yaml");
    writeFileSync(
      file,
      "server:\n  apiKeys:\n    pepper: ${file:pepper}\n    store: { type: file, path: keys/k.json }\n",
    );
    const config = loadApiKeysSection(file);
    assert.equal(config.pepper, PEPPER);
    assert.deepEqual(config.store, { type: "file", path: join(dir, "keys/k.json"), pollInterval: 2000 });
  });

  test("loadApiKeysSection reports unset references and bad values with file:line:column", () => {
    const file = join(dir, "bad.yaml");
    writeFileSync(
      file,
      "server:\n  apiKeys:\n    pepper: ${env:BULWARK_TEST_NO_PEPPER}\n    store:\n      type: redis\n      timeout: soon\n",
    );
    const found = problems(() => loadApiKeysSection(file, {}));
    assert.ok(
      found.some((line) =>
        /bad\.yaml:3:\d+ server\.apiKeys\.pepper: \$\{env:BULWARK_TEST_NO_PEPPER\} is not set/.test(line),
      ),
      found.join("\n"),
    );
    assert.ok(
      found.some((line) => /bad\.yaml:\d+:\d+ server\.apiKeys\.store\.url: /.test(line)),
      found.join("\n"),
    );
    assert.ok(
      found.some((line) => /bad\.yaml:6:\d+ server\.apiKeys\.store\.timeout: expected a duration/.test(line)),
      found.join("\n"),
    );
    assert.equal(
      found.filter((line) => line.includes("apiKeys.pepper")).length,
      1,
      "an unresolved reference is reported once",
    );
  });
});
