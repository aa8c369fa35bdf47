/**
 * Local copies of repository objects (restore and drill read each artifact several times), over a
 * real directory store: which reads are served from the copy, which are not, and what is cleaned.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { after, before, test } from "node:test";
import { LocalCopyStore, withLocalCopies } from "../../../src/backup/local-copy-store.js";
import { LocalObjectStore } from "../../../src/backup/local-object-store.js";

let root: string;

before(() => {
  root = mkdtempSync(join(tmpdir(), "bulwark-copies-"));
});

after(() => rmSync(root, { recursive: true, force: true }));

async function readAll(stream: Readable | null): Promise<string> {
  assert.ok(stream, "the object exists");
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts).toString();
}

/** A fresh repository directory with one 3 MiB object (several chunks) and its copy store. */
async function setup(warnings: string[] = []) {
  const dir = mkdtempSync(join(root, "repo-"));
  const copyParent = mkdtempSync(join(root, "tmp-"));
  const inner = new LocalObjectStore(dir);
  const body = "a".repeat(3 * 1024 * 1024);
  await inner.put("b1/dump.bwenc", body);
  const store = new LocalCopyStore(inner, {
    parent: copyParent,
    onWarning: (message) => warnings.push(message),
  });
  return { dir, copyParent, inner, store, body };
}

test("an object read to the end is served from the local copy afterwards", async () => {
  const { inner, store, body, copyParent } = await setup();
  assert.equal(await readAll(await store.open("b1/dump.bwenc")), body);
  // The repository's object changes behind the store's back: the copy is what a second read sees.
  await inner.put("b1/dump.bwenc", "changed");
  assert.equal(await readAll(await store.open("b1/dump.bwenc")), body);
  const [copyDir] = readdirSync(copyParent);
  assert.deepEqual(readdirSync(join(copyParent, copyDir!)).length, 1, "one complete copy, no partial file");
  store.dispose();
  assert.deepEqual(readdirSync(copyParent), [], "dispose removes the copies");
});

test("a read that stops early keeps no copy: the next read goes to the repository", async () => {
  const { inner, store } = await setup();
  const stream = await store.open("b1/dump.bwenc");
  assert.ok(stream);
  await new Promise<void>((resolve) => {
    stream.once("data", () => {
      stream.destroy();
      resolve();
    });
  });
  await inner.put("b1/dump.bwenc", "changed");
  assert.equal(await readAll(await store.open("b1/dump.bwenc")), "changed");
  store.dispose();
});

test("writes and removals through the store drop the copy; missing keys stay null", async () => {
  const { store, body } = await setup();
  assert.equal(await readAll(await store.open("b1/dump.bwenc")), body);
  await store.put("b1/dump.bwenc", "rewritten");
  assert.equal(await readAll(await store.open("b1/dump.bwenc")), "rewritten");
  await store.delete(["b1/dump.bwenc"]);
  assert.equal(await store.open("b1/dump.bwenc"), null);
  await store.put("b2/dump.bwenc", "second");
  assert.equal(await readAll(await store.open("b2/dump.bwenc")), "second");
  await store.deletePrefix("b2");
  assert.equal(await store.open("b2/dump.bwenc"), null);
  store.dispose();
});

test("a child store (base backups) keeps its copies apart from the parent's keys", async () => {
  const { inner, store } = await setup();
  await inner.put("base/b1/dump.bwenc", "base artifact");
  const child = store.child("base");
  assert.equal(await readAll(await child.open("b1/dump.bwenc")), "base artifact");
  assert.equal((await readAll(await store.open("b1/dump.bwenc"))).length, 3 * 1024 * 1024);
  await inner.put("base/b1/dump.bwenc", "changed");
  assert.equal(
    await readAll(await child.open("b1/dump.bwenc")),
    "base artifact",
    "served from the child's copy",
  );
  store.dispose();
});

test("when copies cannot be written, reads go on from the repository with one warning", async () => {
  const warnings: string[] = [];
  const { store, body, copyParent } = await setup(warnings);
  const [copyDir] = readdirSync(copyParent);
  rmSync(join(copyParent, copyDir!), { recursive: true });
  assert.equal(await readAll(await store.open("b1/dump.bwenc")), body);
  assert.equal(await readAll(await store.open("b1/dump.bwenc")), body);
  assert.equal(warnings.length, 1, warnings.join("\n"));
  assert.match(
    warnings[0]!,
    /cannot keep a local copy .*ENOENT.*reading them from the repository each time instead/,
  );
  store.dispose();
});

test("withLocalCopies reads a local directory in place and removes a remote store's copies when done", async () => {
  const inner = new LocalObjectStore(mkdtempSync(join(root, "in-place-")));
  const seen = await withLocalCopies(inner, {}, async (store) => store);
  assert.equal(seen, inner);
  const copyParent = mkdtempSync(join(root, "tmp-"));
  // Any store that is not a local directory gets copies: a child of one stands in for a remote one here.
  const remote = new LocalCopyStore(inner, { parent: mkdtempSync(join(root, "unused-")) }).child("x");
  await assert.rejects(
    withLocalCopies(remote, { parent: copyParent }, async (store) => {
      assert.ok(store instanceof LocalCopyStore);
      assert.equal(readdirSync(copyParent).length, 1);
      throw new Error("the restore failed");
    }),
    /the restore failed/,
  );
  assert.deepEqual(readdirSync(copyParent), [], "removed even when the work fails");

  const warnings: string[] = [];
  const missingParent = join(root, "no-such-dir");
  const used = await withLocalCopies(
    remote,
    { parent: missingParent, onWarning: (message) => warnings.push(message) },
    async (store) => store,
  );
  assert.equal(used, remote, "no copy directory: the repository is read directly");
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /cannot make a directory for local copies in .*no-such-dir/);
  assert.ok(!existsSync(missingParent));
});

test("withLocalCopies makes no copies that would leave the file system nearly full", async () => {
  const inner = new LocalObjectStore(mkdtempSync(join(root, "roomy-")));
  const remote = new LocalCopyStore(inner, { parent: mkdtempSync(join(root, "unused-")) }).child("x");
  const copyParent = mkdtempSync(join(root, "tmp-"));
  const warnings: string[] = [];
  const onWarning = (message: string) => warnings.push(message);
  const huge = await withLocalCopies(
    remote,
    { parent: copyParent, bytes: 2 ** 60, onWarning },
    async (store) => {
      assert.deepEqual(readdirSync(copyParent), [], "no copy directory was made");
      return store;
    },
  );
  assert.equal(huge, remote);
  assert.equal(warnings.length, 1);
  assert.match(
    warnings[0]!,
    /not enough free space in .* for local copies of the backup \(.* free, 1048576 TiB needed, .* kept free\); .*set TMPDIR/,
  );
  const small = await withLocalCopies(
    remote,
    { parent: copyParent, bytes: 1024, onWarning },
    async (store) => store,
  );
  assert.ok(small instanceof LocalCopyStore, "a backup that fits is copied");
  assert.equal(warnings.length, 1);
});
