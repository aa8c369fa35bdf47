/**
 * What `bulwark backup rekey` would do (rekey.ts does it): which complete backups, base backups
 * and archived WAL files are under the old key, under the new one, or under other keys; the id
 * of each backup's re-encrypted copy; and the incomplete copies an earlier, killed rekey left.
 * Reads manifests and WAL headers only.
 */
import { createHash } from "node:crypto";
import { HEADER_LENGTH, parseHeader } from "./artifact-header.js";
import type { BackupKey } from "./backup-key.js";
import { baseRepository } from "./base-backup.js";
import type { ObjectStore } from "./object-store.js";
import { BackupRepository, type RepositoryManifest } from "./repository.js";
import { listArchivedWal, walKey } from "./wal-archive.js";

/** What rekey reads and rewrites in a manifest, logical or base; the rest is carried over. */
export interface KeyedManifest extends RepositoryManifest {
  readonly encryption: {
    readonly algorithm: string;
    readonly keyId: string;
    readonly keyKind: "file" | "passphrase";
    readonly chunkSize: number;
  };
  readonly artifacts: readonly { readonly name: string; readonly size: number; readonly sha256: string }[];
  readonly size: number;
  readonly mac: string;
}

export type SectionName = "backups" | "base";

/** The id of the re-encrypted copy of backup `id` under key `newKeyId`: same time stamp. */
export function rekeyedId(id: string, newKeyId: string): string {
  for (let attempt = 0; ; attempt++) {
    const suffix = createHash("sha256")
      .update(`bulwark rekey ${id} ${newKeyId} ${attempt}`)
      .digest("hex")
      .slice(0, 6);
    const twin = `${id.slice(0, -6)}${suffix}`;
    if (twin !== id) return twin;
  }
}

export interface SectionPlan {
  /** Complete backups under OLD, each with the id of its re-encrypted copy. */
  readonly convert: readonly { readonly manifest: KeyedManifest; readonly to: string }[];
  /** Complete backups already under NEW. */
  readonly underNew: readonly string[];
  /** Complete backups under other keys: left alone. */
  readonly otherKeys: readonly { readonly id: string; readonly keyId: string }[];
  /** Incomplete copies left by a rekey that died (their writer is gone): removed first. */
  readonly orphans: readonly string[];
}

export interface WalPlan {
  readonly convert: readonly string[];
  readonly underNew: number;
  /** Key id → number of archived WAL files under it. */
  readonly otherKeys: Readonly<Record<string, number>>;
}

export interface RekeyPlan {
  readonly repository: string;
  readonly oldKeyId: string;
  readonly newKeyId: string;
  readonly backups: SectionPlan;
  readonly base: SectionPlan;
  readonly wal: WalPlan;
  /** Bytes of backup artifacts to re-encrypt (archived WAL not counted). */
  readonly bytes: number;
}

export function sections(store: ObjectStore): Record<SectionName, BackupRepository<KeyedManifest>> {
  return {
    backups: new BackupRepository(store) as unknown as BackupRepository<KeyedManifest>,
    base: baseRepository(store) as unknown as BackupRepository<KeyedManifest>,
  };
}

async function planSection(
  repo: BackupRepository<KeyedManifest>,
  oldKey: BackupKey,
  newKey: BackupKey,
): Promise<SectionPlan> {
  const { backups, incomplete } = await repo.list();
  const convert: { manifest: KeyedManifest; to: string }[] = [];
  const underNew: string[] = [];
  const otherKeys: { id: string; keyId: string }[] = [];
  for (const manifest of backups) {
    const keyId = manifest.encryption.keyId;
    if (keyId === oldKey.id) convert.push({ manifest, to: rekeyedId(manifest.id, newKey.id) });
    else if (keyId === newKey.id) underNew.push(manifest.id);
    else otherKeys.push({ id: manifest.id, keyId });
  }
  const twins = new Set(convert.map((entry) => entry.to));
  const orphans = incomplete.filter((entry) => !entry.live && twins.has(entry.id)).map((entry) => entry.id);
  return { convert, underNew, otherKeys, orphans };
}

/** The first bytes of an object (its artifact header), without downloading the rest. */
async function readHead(store: ObjectStore, key: string): Promise<Buffer | null> {
  const stream = await store.open(key);
  if (!stream) return null;
  const parts: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of stream) {
      parts.push(chunk as Buffer);
      length += (chunk as Buffer).length;
      if (length >= HEADER_LENGTH) break;
    }
  } finally {
    stream.destroy();
  }
  return Buffer.concat(parts, length);
}

async function planWal(store: ObjectStore, oldKey: BackupKey, newKey: BackupKey): Promise<WalPlan> {
  const convert: string[] = [];
  const otherKeys: Record<string, number> = {};
  let underNew = 0;
  for (const { name } of await listArchivedWal(store)) {
    const head = await readHead(store, walKey(name));
    if (!head) continue; // removed meanwhile (a prune)
    let keyId: string;
    try {
      keyId = parseHeader(head).keyId;
    } catch {
      keyId = "unreadable";
    }
    if (keyId === oldKey.id) convert.push(name);
    else if (keyId === newKey.id) underNew++;
    else otherKeys[keyId] = (otherKeys[keyId] ?? 0) + 1;
  }
  return { convert, underNew, otherKeys };
}

/** What a rekey of `store` from OLD to NEW would do; reads manifests and WAL headers only. */
export async function planRekey(
  store: ObjectStore,
  oldKey: BackupKey,
  newKey: BackupKey,
): Promise<RekeyPlan> {
  const repos = sections(store);
  const backups = await planSection(repos.backups, oldKey, newKey);
  const base = await planSection(repos.base, oldKey, newKey);
  const wal = await planWal(store, oldKey, newKey);
  const bytes = [...backups.convert, ...base.convert].reduce(
    (sum, entry) => sum + entry.manifest.artifacts.reduce((total, artifact) => total + artifact.size, 0),
    0,
  );
  return { repository: store.location, oldKeyId: oldKey.id, newKeyId: newKey.id, backups, base, wal, bytes };
}
