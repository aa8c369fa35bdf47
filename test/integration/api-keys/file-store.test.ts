/**
 * The store contract against the file store (a real file in a temp directory), plus what only
 * the file store has: mode 0600, atomic replacement, a clear error for a corrupt file, and
 * lock-protected writes from racing processes.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { FileStore } from "../../../src/security/api-keys/file-store.js";
import { createKey, listKeys } from "../../../src/security/api-keys/operations.js";
import { eventually, pepper, storeContract } from "./store-contract.js";

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "bulwark-keys-"));
  dirs.push(dir);
  return dir;
}
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

storeContract("file", async () => {
  const path = join(tempDir(), "nested", "api-keys.json");
  return {
    config: { type: "file", path, pollInterval: 200 },
    open: async () => new FileStore({ path, pollInterval: 200 }),
    close: async () => {},
  };
});

describe("file store specifics", () => {
  let dir: string;
  let path: string;
  before(() => {
    dir = tempDir();
    path = join(dir, "keys.json");
  });

  test("the file is mode 0600, replaced atomically, with no temp or lock file left behind", async () => {
    const store = new FileStore({ path });
    await createKey(store, pepper, { name: "a", scopes: [], expiresAt: null });
    const inode = statSync(path).ino;
    await createKey(store, pepper, { name: "b", scopes: [], expiresAt: null });
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.notEqual(statSync(path).ino, inode, "a new file was renamed over the old one");
    assert.deepEqual(readdirSync(dir).sort(), ["keys.json"]);
    const document = JSON.parse(readFileSync(path, "utf8"));
    assert.equal(document.format, "bulwark-api-keys");
    assert.match(document.keys[0].createdAt, /^\d{4}-\d\d-\d\dT/);
  });

  test("a corrupt file is a clear error naming the file and the entry, and a watcher keeps the last good keys", async () => {
    const store = new FileStore({ path, pollInterval: 100 });
    await store.open();
    const before = await store.list();
    const warnings: string[] = [];
    const watched = new FileStore({
      path,
      pollInterval: 100,
      onWarning: (message) => warnings.push(message),
    });
    await watched.open();
    watched.watch(() => {});
    const good = readFileSync(path, "utf8");
    try {
      const document = JSON.parse(good);
      document.keys[0].hash = "nope";
      writeFileSync(path, JSON.stringify(document));
      await assert.rejects(new FileStore({ path }).list(), (error: Error & { code?: string }) => {
        assert.equal(error.code, "api_key_store_corrupt");
        assert.match(error.message, /keys\.json is not valid: keys\[0\]\.hash: expected a digest/);
        return true;
      });
      writeFileSync(path, "{not json");
      await assert.rejects(new FileStore({ path }).list(), /is not valid: not JSON/);
      await eventually(() => warnings.some((line) => line.includes("not reloaded")), "a reload warning");
      assert.equal(watched.peek(before[0]!.id)?.id, before[0]!.id, "last good records still served");
    } finally {
      writeFileSync(path, good, { mode: 0o600 });
      await watched.close();
    }
  });

  test("a world-readable file gets a warning", async () => {
    chmodSync(path, 0o644);
    const warnings: string[] = [];
    await new FileStore({ path, onWarning: (message) => warnings.push(message) }).open();
    chmodSync(path, 0o600);
    assert.ok(
      warnings.some((line) => /readable by other users \(mode 644\); run chmod 600/.test(line)),
      warnings.join(),
    );
  });

  test("eight processes creating keys at once lose none (lock file)", async () => {
    const racePath = join(tempDir(), "race.json");
    const script = `
      import { FileStore } from ${JSON.stringify(new URL("../../../src/security/api-keys/file-store.ts", import.meta.url).href)};
      import { createKey } from ${JSON.stringify(new URL("../../../src/security/api-keys/operations.ts", import.meta.url).href)};
      import { pepperFrom } from ${JSON.stringify(new URL("../../../src/security/api-keys/key-hash.ts", import.meta.url).href)};
      const store = new FileStore({ path: process.argv[1] });
      for (let i = 0; i < 5; i++) await createKey(store, pepperFrom("r".repeat(32)), { name: "p" + process.pid + "-" + i, scopes: [], expiresAt: null });
    `;
    const runs = Array.from(
      { length: 8 },
      () =>
        new Promise<number | null>((resolve) => {
          const child = spawn(
            process.execPath,
            ["--import", "tsx", "--input-type=module", "-e", script, racePath],
            {
              stdio: ["ignore", "ignore", "inherit"],
            },
          );
          child.on("exit", (code) => resolve(code));
        }),
    );
    assert.deepEqual(await Promise.all(runs), Array(8).fill(0));
    const keys = await listKeys(new FileStore({ path: racePath }));
    assert.equal(keys.length, 40);
    assert.equal(new Set(keys.map((key) => key.name)).size, 40);
  });
});
