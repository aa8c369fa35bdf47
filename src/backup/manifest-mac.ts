/**
 * Manifests are authenticated: `mac` is HMAC-SHA256 (RFC 2104), under a key derived from the
 * backup key, of the manifest's canonical JSON (RFC 8785 subset, src/audit/canonical-json.ts)
 * without the `mac` member. Without it, someone with write access to the repository could change a
 * manifest's times, table statistics or artifact hashes unnoticed; with it, restore and drill
 * refuse a modified manifest before reading the artifact.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { canonicalJson } from "../audit/canonical-json.js";
import { BulwarkError, isBulwarkError } from "../errors.js";
import type { BackupKey } from "./backup-key.js";

export async function manifestMac(manifest: object, key: BackupKey): Promise<string> {
  const bytes = canonicalJson({ ...manifest, mac: undefined });
  return createHmac("sha256", await key.manifestKey())
    .update(bytes)
    .digest("hex");
}

/** Throws backup_corrupt when the manifest was changed (or signed with another key). */
export async function verifyManifestMac(
  manifest: { readonly id: string; readonly mac: string },
  key: BackupKey,
): Promise<void> {
  const expected = Buffer.from(await manifestMac(manifest, key), "hex");
  const actual = Buffer.from(manifest.mac, "hex");
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) {
    throw new BulwarkError(
      "backup_corrupt",
      `the manifest of backup ${manifest.id} failed authentication: it was modified after the backup`,
      { details: ["restore another backup (`bulwark backup list`)"] },
    );
  }
}

/** What `backup list/show --key-file` says of a manifest's MAC under the key given. */
export type MacStatus = "ok" | "invalid" | "other key";

export async function macStatus(
  manifest: { readonly id: string; readonly mac: string; readonly encryption: { readonly keyId: string } },
  key: BackupKey,
): Promise<MacStatus> {
  if (manifest.encryption.keyId !== key.id) return "other key";
  try {
    await verifyManifestMac(manifest, key);
    return "ok";
  } catch (error) {
    if (isBulwarkError(error) && error.code === "backup_corrupt") return "invalid";
    throw error;
  }
}
