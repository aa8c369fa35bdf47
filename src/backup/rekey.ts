/**
 * `bulwark backup rekey`: re-encrypt every artifact of a repository made with one key (OLD) under
 * another (NEW) — logical backups, base backups and archived WAL — streamed (decrypt → encrypt →
 * store), plaintext never on disk, and crash-safe: at every instant, each backup is complete and
 * restorable with OLD or with NEW, never with neither.
 *
 * Backups: the manifest is a backup's only commit point, and its artifact names are fixed (format
 * 1 names `dump.bwenc`, split backups name theirs in `dump`, a base restore opens
 * `base.tar.bwenc`), so a backup cannot point at a renamed artifact. The re-encrypted backup is
 * therefore written as a copy in a new backup directory, its "twin": same time stamp, a suffix
 * derived from the old id and the new key id (so a rerun finds it), an in-progress marker while
 * it is written (so a prune leaves it alone, and removes it if the rekey dies). Every artifact is
 * checked while it is read (SHA-256 and size against the old manifest, every chunk authenticated
 * with OLD), and the copy is read back (size, SHA-256, every chunk authenticated with NEW, the
 * same plaintext SHA-256). Only then is the twin's manifest written (the new key id, MAC under
 * NEW: manifest-mac.ts), and only after that is the original removed (manifest first,
 * repository.ts). A crash leaves: the original and an incomplete twin (removed on the rerun), or
 * both complete (the rerun removes the original), or the twin alone.
 *
 * Archived WAL: the object name is PostgreSQL's segment name, so each segment is replaced in
 * place by one atomic put (local: temp file, fsync, rename; S3: one PUT) after its new
 * ciphertext was checked in memory, and read back after. A segment is always whole, under OLD or
 * NEW; `bulwark wal fetch` and `wal push` take several keys and pick the one a segment names
 * (key-ring.ts), so recovery works across the transition.
 */
import { hostname } from "node:os";
import { pipeline } from "node:stream/promises";
import { BulwarkError, isBulwarkError } from "../errors.js";
import { createDecryptStream, createEncryptStream, DEFAULT_CHUNK_LOG2 } from "./artifact-crypto.js";
import { CHUNK_LOG2_MAX, CHUNK_LOG2_MIN, parseHeader } from "./artifact-header.js";
import type { BackupKey } from "./backup-key.js";
import { IN_PROGRESS_FILE } from "./manifest.js";
import { manifestMac, verifyManifestMac } from "./manifest-mac.js";
import { discardingSink, measuringStream } from "./measuring-stream.js";
import { type ObjectStore, objectKey } from "./object-store.js";
import { withRekeyLock } from "./rekey-lock.js";
import {
  type KeyedManifest,
  planRekey,
  type RekeyPlan,
  type SectionName,
  type SectionPlan,
  sections,
  type WalPlan,
} from "./rekey-plan.js";
import type { BackupRepository } from "./repository.js";
import { decryptToBuffer, encryptToBuffer, walKey } from "./wal-archive.js";

/** Archived WAL files re-encrypted at once (each up to a 16 MiB segment, a few copies in memory). */
const WAL_CONCURRENCY = 4;

export interface ItemFailure {
  readonly id: string;
  readonly code: string;
  readonly message: string;
}

export interface SectionResult {
  readonly converted: { readonly from: string; readonly to: string }[];
  readonly alreadyNew: readonly string[];
  readonly otherKeys: readonly { readonly id: string; readonly keyId: string }[];
  /** Removed by someone else (a prune) while the rekey ran. */
  readonly vanished: string[];
  readonly failed: ItemFailure[];
}

export interface RekeyResult {
  readonly kind: "bulwark-rekey";
  readonly version: 1;
  readonly repository: string;
  readonly oldKeyId: string;
  readonly newKeyId: string;
  readonly dryRun: boolean;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly backups: SectionResult;
  readonly base: SectionResult;
  readonly wal: {
    readonly converted: number;
    readonly alreadyNew: number;
    readonly otherKeys: Readonly<Record<string, number>>;
    readonly failed: ItemFailure[];
  };
  /** Incomplete copies of an earlier, killed rekey that were removed. */
  readonly removedOrphans: string[];
  /** Bytes of backup artifacts and WAL read and re-encrypted (dry run: backup bytes to re-encrypt). */
  readonly bytes: number;
  /** Still under OLD after the run (failed, or made meanwhile with OLD): run again. */
  readonly remaining: { readonly backups: number; readonly base: number; readonly wal: number };
  readonly interrupted: boolean;
  /** Nothing is left under OLD and nothing failed. */
  readonly complete: boolean;
}

export interface RekeyProgress {
  readonly phase: "wal" | SectionName;
  readonly done: number;
  readonly total: number;
  readonly bytes: number;
}

export interface RekeyOptions {
  readonly store: ObjectStore;
  readonly oldKey: BackupKey;
  readonly newKey: BackupKey;
  readonly dryRun?: boolean;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: RekeyProgress) => void;
  /** One line per finished item (backups; WAL in batches). */
  readonly onEvent?: (line: string) => void;
}

function chunkLog2Of(manifest: KeyedManifest): number {
  const log2 = Math.log2(manifest.encryption.chunkSize);
  return Number.isInteger(log2) && log2 >= CHUNK_LOG2_MIN && log2 <= CHUNK_LOG2_MAX
    ? log2
    : DEFAULT_CHUNK_LOG2;
}

/** Errors that stop the whole run: the repository itself is gone, full or refusing us. */
function stopsTheRun(error: unknown): boolean {
  return (
    isBulwarkError(error) &&
    (error.code === "backup_repo_full" ||
      error.code === "backup_repo_unreachable" ||
      error.code === "backup_repo_denied" ||
      error.code === "backup_repo_missing" ||
      error.code === "backup_interrupted")
  );
}

function failure(id: string, error: unknown): ItemFailure {
  if (isBulwarkError(error)) return { id, code: error.code, message: error.message };
  const code = (error as NodeJS.ErrnoException).code;
  return {
    id,
    code: "backup_failed",
    message: `${code ? `${code} ` : ""}${(error as Error).message ?? error}`,
  };
}

class Rekeying {
  bytes = 0;
  readonly removedOrphans: string[] = [];
  constructor(private readonly options: RekeyOptions) {}

  private get signal(): AbortSignal | undefined {
    return this.options.signal;
  }

  private pipelineOptions(): { signal?: AbortSignal } {
    return this.signal ? { signal: this.signal } : {};
  }

  private checkInterrupt(): void {
    if (this.signal?.aborted) {
      throw new BulwarkError(
        "backup_interrupted",
        "rekey interrupted: what was converted stays converted, the rest is still under the old key; run the same command again to finish",
      );
    }
  }

  /** Re-encrypts one artifact into the twin and reads it back; returns its new manifest entry. */
  private async reencrypt(
    repo: BackupRepository<KeyedManifest>,
    manifest: KeyedManifest,
    artifact: KeyedManifest["artifacts"][number],
    twin: string,
    progress: () => void,
  ): Promise<{ name: string; size: number; sha256: string }> {
    const { oldKey, newKey } = this.options;
    const source = measuringStream({
      onBytes: (count) => {
        this.bytes += count;
        progress();
      },
    });
    const plain = measuringStream();
    const written = measuringStream();
    await pipeline(
      await repo.openArtifact(manifest.id, artifact.name),
      source,
      createDecryptStream(oldKey),
      plain,
      await createEncryptStream(newKey, { chunkLog2: chunkLog2Of(manifest) }),
      written,
      repo.artifactWriter(twin, artifact.name),
      this.pipelineOptions(),
    );
    if (source.size() !== artifact.size || source.sha256() !== artifact.sha256) {
      throw new BulwarkError(
        "backup_corrupt",
        `backup ${manifest.id} is corrupt: the SHA-256 or size of ${artifact.name} does not match its manifest; it was not re-encrypted`,
      );
    }
    // Read the copy back: what is stored is what was written, and NEW opens it to the same plaintext.
    const stored = measuringStream();
    const reopened = measuringStream();
    await pipeline(
      await repo.openArtifact(twin, artifact.name),
      stored,
      createDecryptStream(newKey),
      reopened,
      discardingSink(),
      this.pipelineOptions(),
    );
    if (
      stored.size() !== written.size() ||
      stored.sha256() !== written.sha256() ||
      reopened.sha256() !== plain.sha256()
    ) {
      throw new BulwarkError(
        "backup_corrupt",
        `the re-encrypted copy of ${manifest.id}/${artifact.name} does not read back as written; the original is kept`,
      );
    }
    return { name: artifact.name, size: written.size(), sha256: written.sha256() };
  }

  /** Writes the twin of `manifest` under NEW, verified, then its manifest (the commit point). */
  private async writeTwin(
    repo: BackupRepository<KeyedManifest>,
    manifest: KeyedManifest,
    twin: string,
    progress: () => void,
  ): Promise<"written" | "vanished"> {
    const { store } = repo;
    const { newKey } = this.options;
    await store.put(
      objectKey(twin, IN_PROGRESS_FILE),
      `${JSON.stringify({ pid: process.pid, host: hostname(), startedAt: new Date().toISOString(), rekeyOf: manifest.id }, null, 2)}\n`,
    );
    try {
      const artifacts: { name: string; size: number; sha256: string }[] = [];
      for (const artifact of manifest.artifacts) {
        this.checkInterrupt();
        artifacts.push(await this.reencrypt(repo, manifest, artifact, twin, progress));
      }
      // Removed by a prune meanwhile: then its copy is not wanted either.
      if ("problem" in (await repo.readManifest(manifest.id))) {
        await store.deletePrefix(twin);
        return "vanished";
      }
      const sum = (list: readonly { size: number }[]) => list.reduce((total, entry) => total + entry.size, 0);
      const { mac: _oldMac, ...rest } = manifest;
      const unsigned = {
        ...rest,
        id: twin,
        encryption: { ...manifest.encryption, keyId: newKey.id, keyKind: newKey.kind },
        artifacts,
        size: manifest.size - sum(manifest.artifacts) + sum(artifacts),
      };
      const signed = { ...unsigned, mac: await manifestMac(unsigned, newKey) } as KeyedManifest;
      // A passing drill of the original is a drill of the same plaintext: its record carries over,
      // before the manifest, so prune's protection of the newest verified backup never lapses.
      const verified = await repo.readVerified(manifest.id);
      if (verified) await repo.markVerified({ ...verified, id: twin });
      await repo.complete(signed);
      return "written";
    } catch (error) {
      await store.deletePrefix(twin).catch(() => {});
      throw error;
    }
  }

  /**
   * The copy must be whole — its manifest and every artifact it names, at its size — right before
   * the original goes: a prune on another host treats a copy being written as abandoned (its
   * marker names a process it cannot see) and may have removed it, or part of it.
   */
  private async requireCopy(repo: BackupRepository<KeyedManifest>, id: string, twin: string): Promise<void> {
    const copy = await repo.readManifest(twin);
    const stored = new Map((await repo.store.list(`${twin}/`)).map((object) => [object.key, object.size]));
    const whole =
      !("problem" in copy) &&
      copy.artifacts.every((artifact) => stored.get(objectKey(twin, artifact.name)) === artifact.size);
    if (!whole) {
      // Never leave a listed backup with missing files: the next run writes the copy again.
      if (!("problem" in copy)) await repo.remove(twin);
      throw new BulwarkError(
        "backup_failed",
        `the re-encrypted copy ${twin} of backup ${id} is gone or incomplete (removed by a concurrent prune?); ${id} is kept under the old key`,
      );
    }
  }

  private async convertBackup(
    prefix: string,
    repo: BackupRepository<KeyedManifest>,
    manifest: KeyedManifest,
    twin: string,
    progress: () => void,
  ): Promise<"converted" | "vanished"> {
    const { newKey } = this.options;
    const existing = await repo.readManifest(twin);
    if ("problem" in existing) {
      if ((await repo.store.list(`${twin}/`)).length > 0) {
        // Left by a rekey that died before committing it: half-written, never listed.
        await repo.store.deletePrefix(twin);
        this.removedOrphans.push(`${prefix}${twin}`);
      }
      if ((await this.writeTwin(repo, manifest, twin, progress)) === "vanished") return "vanished";
    } else {
      // Committed before a crash: only the original is left to remove.
      if (existing.encryption.keyId !== newKey.id) {
        throw new BulwarkError(
          "backup_failed",
          `backup ${twin} exists under key ${existing.encryption.keyId}; it cannot be the re-encrypted copy of ${manifest.id}`,
        );
      }
      await verifyManifestMac(existing, newKey);
      // A marker left when the process died between writing the manifest and removing it.
      await repo.store.delete([objectKey(twin, IN_PROGRESS_FILE)]);
    }
    await this.requireCopy(repo, manifest.id, twin);
    await repo.remove(manifest.id);
    return "converted";
  }

  async section(
    name: SectionName,
    repo: BackupRepository<KeyedManifest>,
    plan: SectionPlan,
    result: SectionResult,
  ): Promise<void> {
    const label = name === "base" ? "base backup" : "backup";
    const prefix = name === "base" ? "base/" : "";
    for (const orphan of plan.orphans) {
      await repo.store.deletePrefix(orphan);
      this.removedOrphans.push(`${prefix}${orphan}`);
    }
    let done = 0;
    const report = () =>
      this.options.onProgress?.({ phase: name, done, total: plan.convert.length, bytes: this.bytes });
    for (const { manifest, to } of plan.convert) {
      this.checkInterrupt();
      try {
        const outcome = await this.convertBackup(prefix, repo, manifest, to, report);
        if (outcome === "vanished") {
          result.vanished.push(manifest.id);
          this.options.onEvent?.(`${label} ${manifest.id} was removed meanwhile (a prune); nothing to do`);
        } else {
          result.converted.push({ from: manifest.id, to });
          this.options.onEvent?.(`${label} ${manifest.id} re-encrypted: it is now ${label} ${to}`);
        }
      } catch (error) {
        this.checkInterrupt();
        if (stopsTheRun(error)) throw error;
        result.failed.push(failure(manifest.id, error));
        this.options.onEvent?.(`${label} ${manifest.id} NOT re-encrypted: ${(error as Error).message}`);
      }
      done++;
      report();
    }
  }

  /** Replaces one archived WAL file in place; false when it is gone or no longer under OLD. */
  private async convertWal(store: ObjectStore, name: string): Promise<boolean> {
    const { oldKey, newKey } = this.options;
    const key = walKey(name);
    const archived = await store.get(key);
    if (!archived || parseHeader(archived).keyId !== oldKey.id) return false;
    const plain = await decryptToBuffer(archived, oldKey);
    const encrypted = await encryptToBuffer(plain, newKey);
    if (!(await decryptToBuffer(encrypted, newKey)).equals(plain)) {
      throw new BulwarkError("backup_corrupt", `re-encrypting ${name} gave a result NEW does not open`);
    }
    // One atomic put: the name holds the whole old or the whole new segment, never a mix.
    for (let attempt = 0; ; attempt++) {
      await store.put(key, encrypted);
      const back = await store.get(key);
      if (back === null) return false; // pruned right after: nothing to keep
      if (back.equals(encrypted)) break;
      if (attempt > 0)
        throw new BulwarkError("backup_corrupt", `the re-encrypted ${name} does not read back as written`);
    }
    this.bytes += archived.length;
    return true;
  }

  /**
   * Archived WAL, WAL_CONCURRENCY files at a time: each is a small independent read, re-encrypt,
   * durable write (an fsync locally, a request on S3) and read back, so overlapping them keeps the
   * CPU busy while others wait on the disk or the network. The first error that stops the run
   * stops new work; the files in flight finish (each is whole under one key either way).
   */
  async wal(store: ObjectStore, plan: WalPlan, result: { converted: number; failed: ItemFailure[] }) {
    let done = 0;
    let next = 0;
    let stop: unknown;
    let lastLine = Date.now();
    const worker = async () => {
      while (stop === undefined && next < plan.convert.length) {
        const name = plan.convert[next++]!;
        try {
          this.checkInterrupt();
          if (await this.convertWal(store, name)) result.converted++;
        } catch (error) {
          if (stopsTheRun(error) || this.signal?.aborted) {
            stop ??= error;
            return;
          }
          result.failed.push(failure(name, error));
          this.options.onEvent?.(`archived WAL ${name} NOT re-encrypted: ${(error as Error).message}`);
        }
        done++;
        this.options.onProgress?.({ phase: "wal", done, total: plan.convert.length, bytes: this.bytes });
        if (Date.now() - lastLine >= 5000 || done === plan.convert.length) {
          lastLine = Date.now();
          this.options.onEvent?.(`archived WAL: ${done}/${plan.convert.length} re-encrypted`);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(WAL_CONCURRENCY, plan.convert.length) }, worker));
    if (stop !== undefined) {
      this.checkInterrupt();
      throw stop;
    }
  }
}

function emptySection(plan: SectionPlan): SectionResult {
  return { converted: [], alreadyNew: plan.underNew, otherKeys: plan.otherKeys, vanished: [], failed: [] };
}

function nothingUnder(plan: RekeyPlan, which: "old" | "new"): boolean {
  if (which === "old")
    return (
      plan.backups.convert.length === 0 && plan.base.convert.length === 0 && plan.wal.convert.length === 0
    );
  return plan.backups.underNew.length === 0 && plan.base.underNew.length === 0 && plan.wal.underNew === 0;
}

/** Key ids in the repository other than OLD, for the wrong-key message. */
function otherIds(plan: RekeyPlan): string[] {
  const ids = new Set<string>([
    ...plan.backups.otherKeys.map((entry) => entry.keyId),
    ...plan.base.otherKeys.map((entry) => entry.keyId),
    ...Object.keys(plan.wal.otherKeys),
  ]);
  return [...ids].sort();
}

/**
 * Refuses before anything changes: NEW equal to OLD, OLD opening nothing in the repository,
 * OLD failing to authenticate a manifest that claims its key id.
 */
async function preflight(plan: RekeyPlan, oldKey: BackupKey, newKey: BackupKey): Promise<void> {
  if (oldKey.id === newKey.id) {
    throw new BulwarkError(
      "usage",
      `the new key is the old key (key id ${oldKey.id}); create a new one with \`bulwark backup keygen --out FILE\``,
    );
  }
  if (nothingUnder(plan, "old") && nothingUnder(plan, "new")) {
    const others = otherIds(plan);
    throw new BulwarkError(
      "backup_wrong_key",
      `wrong key: nothing in ${plan.repository} is encrypted with key ${oldKey.id}${others.length > 0 ? `; the repository holds key${others.length === 1 ? "" : "s"} ${others.join(", ")}` : " (the repository holds no backups)"}`,
      {
        details: [
          "give the key the backups were made with as --key-file (or backup.keyFile / backup.passphrase)",
        ],
      },
    );
  }
  for (const { manifest } of [...plan.backups.convert, ...plan.base.convert]) {
    try {
      await verifyManifestMac(manifest, oldKey);
    } catch {
      throw new BulwarkError(
        "backup_wrong_key",
        `wrong key: key ${oldKey.id} does not open backup ${manifest.id}, which claims that key id (its manifest fails authentication); nothing was changed`,
        {
          details: [
            "check the key (a passphrase with a different text gives a different id), or whether the manifest was modified: `bulwark restore` or `bulwark drill restore` of that backup says which",
          ],
        },
      );
    }
  }
}

function tally(plan: RekeyPlan): RekeyResult["remaining"] {
  return {
    backups: plan.backups.convert.length,
    base: plan.base.convert.length,
    wal: plan.wal.convert.length,
  };
}

/** Plans, refuses what must be refused, and (unless dryRun) re-encrypts under the rekey lock. */
export async function rekeyRepository(options: RekeyOptions): Promise<RekeyResult> {
  const { store, oldKey, newKey } = options;
  const startedAt = new Date().toISOString();
  const initial = await planRekey(store, oldKey, newKey);
  await preflight(initial, oldKey, newKey);
  const result = {
    kind: "bulwark-rekey" as const,
    version: 1 as const,
    repository: store.location,
    oldKeyId: oldKey.id,
    newKeyId: newKey.id,
    dryRun: options.dryRun === true,
    startedAt,
    backups: emptySection(initial.backups),
    base: emptySection(initial.base),
    wal: { converted: 0, alreadyNew: initial.wal.underNew, otherKeys: initial.wal.otherKeys, failed: [] },
    removedOrphans: [] as string[],
    bytes: 0,
  };
  if (options.dryRun) {
    const planned = (plan: SectionPlan) =>
      plan.convert.map((entry) => ({ from: entry.manifest.id, to: entry.to }));
    result.backups.converted.push(...planned(initial.backups));
    result.base.converted.push(...planned(initial.base));
    result.wal.converted = initial.wal.convert.length;
    result.bytes = initial.bytes;
    result.removedOrphans.push(...initial.backups.orphans, ...initial.base.orphans.map((id) => `base/${id}`));
    return {
      ...result,
      finishedAt: new Date().toISOString(),
      remaining: tally(initial),
      interrupted: false,
      complete: nothingUnder(initial, "old"),
    };
  }
  return withRekeyLock(store, async () => {
    // Planned again under the lock: another rekey may have finished in between.
    const plan = await planRekey(store, oldKey, newKey);
    const work = new Rekeying(options);
    const repos = sections(store);
    let interrupted = false;
    try {
      // WAL first, then base backups, then logical backups: the order does not matter for
      // safety (every item is whole under one key at every instant), only for progress lines.
      await work.wal(store, plan.wal, result.wal);
      await work.section("base", repos.base, plan.base, result.base);
      await work.section("backups", repos.backups, plan.backups, result.backups);
    } catch (error) {
      if (!(isBulwarkError(error) && error.code === "backup_interrupted")) throw error;
      interrupted = true;
    }
    result.removedOrphans.push(...work.removedOrphans);
    result.bytes = work.bytes;
    // What is still under OLD now: failures, and backups or WAL made with OLD during the run.
    const remaining = tally(await planRekey(store, oldKey, newKey));
    const failed = result.backups.failed.length + result.base.failed.length + result.wal.failed.length;
    return {
      ...result,
      finishedAt: new Date().toISOString(),
      remaining,
      interrupted,
      complete: !interrupted && failed === 0 && remaining.backups + remaining.base + remaining.wal === 0,
    };
  });
}
