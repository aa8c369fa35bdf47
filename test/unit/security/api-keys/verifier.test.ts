/**
 * The verifier on the file store (a real file in a temp dir): synchronous answers, a bounded
 * cache under a spray of made-up ids, last-used times in batches, changes picked up from the
 * file, and "unavailable" (not "refused") while the store cannot be read.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { createLogger } from "../../../../src/observability/logger.js";
import { FileStore } from "../../../../src/security/api-keys/file-store.js";
import { newKey, newKeyId } from "../../../../src/security/api-keys/key-format.js";
import { createKey, revokeKey } from "../../../../src/security/api-keys/operations.js";
import type { ApiKeysConfig } from "../../../../src/security/api-keys/schema.js";
import { createApiKeyVerifier } from "../../../../src/security/api-keys/verifier.js";
import {
  counting,
  eventually,
  PEPPER_TEXT,
  pepper,
  silentLog,
} from "../../../integration/api-keys/store-contract.js";

const dir = mkdtempSync(join(tmpdir(), "bulwark-verifier-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function config(path: string, overrides: Partial<ApiKeysConfig> = {}): ApiKeysConfig {
  return {
    pepper: PEPPER_TEXT,
    store: { type: "file", path, pollInterval: 100 },
    cacheTtl: 60_000,
    cacheMaxEntries: 100,
    lastUsedInterval: 60_000,
    ...overrides,
  };
}

describe("api key verifier", () => {
  test("on the file store every answer is synchronous once the file is loaded", async () => {
    const path = join(dir, "sync.json");
    const store = new FileStore({ path });
    const { key, record } = await createKey(store, pepper, { name: "s", scopes: ["a"], expiresAt: null });
    const verifier = createApiKeyVerifier(config(path), { log: silentLog() });
    try {
      await eventually(() => verifier.ready, "ready");
      const answers = [key, newKey(record.id), newKey(newKeyId()), "garbage"].map((presented) =>
        verifier.verify(presented),
      );
      assert.ok(answers.every((answer) => !(answer instanceof Promise)));
      assert.deepEqual(answers, [
        { id: record.id, name: "s", scopes: ["a"], expiresAt: null },
        null,
        null,
        null,
      ]);
    } finally {
      await verifier.close();
    }
  });

  test("a spray of well-formed unknown ids keeps the cache bounded and asks the store once per id", async () => {
    const path = join(dir, "spray.json");
    const store = new FileStore({ path });
    const { key } = await createKey(store, pepper, { name: "real", scopes: [], expiresAt: null });
    // Without peek, so every miss is a real lookup the counter sees.
    const backend = counting(new FileStore({ path }));
    backend.peek = undefined;
    const verifier = createApiKeyVerifier(config(path, { cacheMaxEntries: 50 }), {
      log: silentLog(),
      store: backend,
    });
    try {
      await eventually(() => verifier.ready, "ready");
      const sprayed = Array.from({ length: 500 }, () => newKey(newKeyId()));
      for (const presented of sprayed) assert.equal(await verifier.verify(presented), null);
      assert.equal(backend.gets, 500);
      // The same made-up id again, while still cached: no lookup.
      assert.equal(await verifier.verify(sprayed[499]!), null);
      assert.equal(backend.gets, 500);
      // The real key still verifies (its entry was evicted or never cached; a lookup brings it back).
      assert.ok(await verifier.verify(key));
      // Concurrent misses for one id share one lookup.
      const id = newKeyId();
      const before = backend.gets;
      await Promise.all(Array.from({ length: 20 }, () => verifier.verify(newKey(id))));
      assert.equal(backend.gets, before + 1);
    } finally {
      await verifier.close();
    }
  });

  test("last-used times are written once per interval per key, and on close", async () => {
    const path = join(dir, "touch.json");
    const store = new FileStore({ path });
    const a = await createKey(store, pepper, { name: "a", scopes: [], expiresAt: null });
    const b = await createKey(store, pepper, { name: "b", scopes: [], expiresAt: null });
    const backend = counting(new FileStore({ path }));
    const verifier = createApiKeyVerifier(config(path, { lastUsedInterval: 300 }), {
      log: silentLog(),
      store: backend,
    });
    try {
      await eventually(() => verifier.ready, "ready");
      for (let i = 0; i < 200; i++) {
        verifier.verify(a.key);
        verifier.verify(b.key);
      }
      await eventually(() => backend.touches.length >= 1, "a flush");
      assert.deepEqual([...backend.touches[0]!.keys()].sort(), [a.record.id, b.record.id].sort());
      assert.equal(backend.touches.length, 1, "400 verifications, one batch");
      verifier.verify(a.key);
    } finally {
      await verifier.close();
    }
    assert.equal(backend.touches.length, 2, "close flushes what is pending");
    assert.deepEqual([...backend.touches[1]!.keys()], [a.record.id]);
    const stored = await new FileStore({ path }).get(a.record.id);
    assert.ok(stored!.lastUsedAt! >= a.record.createdAt);
  });

  test("a revocation by another process (the CLI) is picked up from the file", async () => {
    const path = join(dir, "revoke.json");
    const cli = new FileStore({ path });
    const { key, record } = await createKey(cli, pepper, { name: "r", scopes: [], expiresAt: null });
    const verifier = createApiKeyVerifier(config(path), { log: silentLog() });
    try {
      await eventually(() => verifier.ready, "ready");
      assert.ok(verifier.verify(key));
      await revokeKey(cli, record.id);
      await eventually(() => verifier.verify(key) === null, "revocation picked up");
    } finally {
      await verifier.close();
    }
  });

  test("expiry applies without any store change", async () => {
    const path = join(dir, "expiry.json");
    const { key } = await createKey(new FileStore({ path }), pepper, {
      name: "e",
      scopes: [],
      expiresAt: Date.now() + 400,
    });
    const verifier = createApiKeyVerifier(config(path), { log: silentLog() });
    try {
      await eventually(() => verifier.ready, "ready");
      assert.ok(verifier.verify(key));
      await eventually(() => verifier.verify(key) === null, "expired");
      assert.deepEqual(await verifier.check(key), { ok: false, reason: "expired", id: key.slice(4, 16) });
    } finally {
      await verifier.close();
    }
  });

  test("an unreadable store is 'unavailable' (503), not 'refused', and is not ready", async () => {
    const path = join(dir, "corrupt.json");
    writeFileSync(path, "{broken", { mode: 0o600 });
    const log = silentLog();
    const verifier = createApiKeyVerifier(config(path), { log });
    try {
      await eventually(() => log.lines.some((line) => line.includes("api key store unreachable")), "warning");
      assert.equal(verifier.ready, false);
      const key = newKey(newKeyId());
      await assert.rejects(Promise.resolve(verifier.verify(key)), {
        code: "api_key_store_unavailable",
        status: 503,
      });
      assert.equal((await verifier.check(key)).ok, false);
    } finally {
      await verifier.close();
    }
  });

  test("takes the project's pino logger and logs refusals at debug level with the id, never the key", async () => {
    const path = join(dir, "pino.json");
    const { key, record } = await createKey(new FileStore({ path }), pepper, {
      name: "p",
      scopes: [],
      expiresAt: null,
    });
    const logFile = join(dir, "log.jsonl");
    const log = createLogger({ level: "debug", sync: true, destination: logFile });
    const verifier = createApiKeyVerifier(config(path), { log });
    try {
      await eventually(() => verifier.ready, "ready");
      const wrong = newKey(record.id);
      assert.equal(verifier.verify(wrong), null);
      const lines = readFileSync(logFile, "utf8")
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line));
      assert.ok(
        lines.some(
          (line) =>
            line.msg === "api key refused" && line.reason === "wrong_secret" && line.keyId === record.id,
        ),
      );
      const text = readFileSync(logFile, "utf8");
      assert.ok(!text.includes(wrong.slice(17)) && !text.includes(key.slice(17)));
    } finally {
      await verifier.close();
    }
  });

  test("a keys file that does not exist yet: ready, one warning, every key unknown until it appears", async () => {
    const path = join(dir, "later.json");
    const log = silentLog();
    const verifier = createApiKeyVerifier(config(path), { log });
    try {
      await eventually(() => verifier.ready, "ready");
      assert.ok(
        log.lines.some((line) => line.includes("does not exist yet")),
        log.lines.join("\n"),
      );
      const { key } = await createKey(new FileStore({ path }), pepper, {
        name: "late",
        scopes: [],
        expiresAt: null,
      });
      await eventually(() => verifier.verify(key) !== null, "the new file picked up");
    } finally {
      await verifier.close();
    }
  });

  test("a pepper under 32 bytes is refused when the verifier is built", () => {
    assert.throws(
      () => createApiKeyVerifier(config(join(dir, "x.json"), { pepper: "short" }), { log: silentLog() }),
      {
        code: "api_key_pepper_invalid",
      },
    );
  });
});
