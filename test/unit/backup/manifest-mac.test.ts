import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { keyFromBytes, keyFromPassphrase } from "../../../src/backup/backup-key.js";
import { manifestMac, verifyManifestMac } from "../../../src/backup/manifest-mac.js";
import type { BulwarkError } from "../../../src/errors.js";

const base = {
  id: "20261126T020000Z-3f9a1c",
  startedAt: "2026-11-26T02:00:00.000Z",
  size: 1234,
  tables: [{ schema: "public", name: "users", rows: 10, checksum: "-42" }],
};

describe("manifest authentication", () => {
  it("accepts the manifest it signed, in any key order, and refuses any change or another key", async () => {
    for (const key of [
      keyFromBytes(randomBytes(32)),
      await keyFromPassphrase("correct horse battery staple"),
    ]) {
      const signed = { ...base, mac: await manifestMac(base, key) };
      await verifyManifestMac(signed, key);
      const reordered = JSON.parse(
        JSON.stringify({
          tables: signed.tables,
          mac: signed.mac,
          size: signed.size,
          startedAt: signed.startedAt,
          id: signed.id,
        }),
      );
      await verifyManifestMac(reordered, key);
      for (const changed of [
        { ...signed, startedAt: "2026-11-27T02:00:00.000Z" },
        { ...signed, size: 1235 },
        { ...signed, tables: [{ ...base.tables[0]!, rows: 11 }] },
        { ...signed, extra: true },
        { ...signed, mac: "0".repeat(64) },
        { ...signed, mac: "zz" },
      ]) {
        await assert.rejects(
          verifyManifestMac(changed, key),
          (error: BulwarkError) =>
            error.code === "backup_corrupt" && /failed authentication/.test(error.message),
        );
      }
      await assert.rejects(verifyManifestMac(signed, keyFromBytes(randomBytes(32))), /failed authentication/);
    }
  });
});
