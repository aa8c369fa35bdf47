/**
 * `bulwark backup prune`: apply the retention policy to a repository. The newest verified
 * backup — the newest with a passing drill, or if none has one, the newest whose artifacts still
 * match their SHA-256 — is never removed. Incomplete backups whose writer is gone are removed
 * too. Removal is crash-safe (BackupRepository.remove deletes the manifest first). A prune that
 * removes holds the repository's `rekey.lock` (rekey-lock.ts): it is refused while a rekey runs.
 */
import { pipeline } from "node:stream/promises";
import { BulwarkError, isBulwarkError } from "../errors.js";
import { baseRepository } from "./base-backup.js";
import type { Manifest } from "./manifest.js";
import { discardingSink, measuringStream } from "./measuring-stream.js";
import type { ObjectStore } from "./object-store.js";
import { withRepositoryLock } from "./rekey-lock.js";
import type { BackupRepository } from "./repository.js";
import { decideRetention, hasRules, type RetentionDecision, type RetentionPolicy } from "./retention.js";
import { listArchivedWal, removeArchivedWal, walBefore } from "./wal-archive.js";

export interface PrunePlan {
  readonly decision: RetentionDecision;
  readonly protectedId: string | undefined;
  readonly protectedBy: "drill" | "checksum" | undefined;
  /** Incomplete backups (no manifest) whose writer is no longer running. */
  readonly abandoned: readonly string[];
}

export async function artifactsIntact(repo: BackupRepository, manifest: Manifest): Promise<boolean> {
  for (const artifact of manifest.artifacts) {
    const measure = measuringStream();
    try {
      await pipeline(await repo.openArtifact(manifest.id, artifact.name), measure, discardingSink());
    } catch (error) {
      // A repository that cannot be read (S3 unreachable, denied) stops the prune: deciding
      // which backup is intact without reading it could leave none protected.
      if (isBulwarkError(error) && error.code !== "backup_corrupt") throw error;
      return false;
    }
    if (measure.size() !== artifact.size || measure.sha256() !== artifact.sha256) return false;
  }
  return true;
}

export async function planPrune(
  repo: BackupRepository,
  policy: RetentionPolicy,
  now = new Date(),
): Promise<PrunePlan> {
  if (!hasRules(policy)) {
    throw new BulwarkError(
      "usage",
      "no retention rule: pass --keep-last, --keep-daily, --keep-weekly, --keep-monthly or --max-age (or set backup.retention)",
    );
  }
  const { backups, incomplete } = await repo.list();
  const newestFirst = [...backups].reverse();
  let protectedId: string | undefined;
  for (const manifest of newestFirst) {
    if (await repo.readVerified(manifest.id)) {
      protectedId = manifest.id;
      break;
    }
  }
  let protectedBy: PrunePlan["protectedBy"] = protectedId ? "drill" : undefined;
  if (!protectedId) {
    for (const manifest of newestFirst) {
      if (await artifactsIntact(repo, manifest)) {
        protectedId = manifest.id;
        protectedBy = "checksum";
        break;
      }
    }
  }
  const decision = decideRetention(
    backups.map((manifest) => ({ id: manifest.id, time: new Date(manifest.snapshot.takenAt) })),
    policy,
    { now, protectedId },
  );
  return {
    decision,
    protectedId,
    protectedBy,
    abandoned: incomplete.filter((entry) => !entry.live).map((entry) => entry.id),
  };
}

export async function executePrune(repo: BackupRepository, plan: PrunePlan): Promise<void> {
  for (const id of [...plan.decision.remove, ...plan.abandoned]) await repo.remove(id);
}

export interface BasePrunePlan {
  readonly decision: RetentionDecision;
  /** Archived WAL no kept base backup needs. */
  readonly wal: readonly string[];
  readonly abandoned: readonly string[];
}

/**
 * Retention for point-in-time recovery: the same rules over base backups (the newest is always
 * kept: without it, no archived WAL after it can be replayed), then the archived WAL older than
 * the oldest kept base backup's start. Undefined when the repository holds no base backups.
 */
export async function planBasePrune(
  store: ObjectStore,
  policy: RetentionPolicy,
  now = new Date(),
): Promise<BasePrunePlan | undefined> {
  const repo = baseRepository(store);
  const { backups, incomplete } = await repo.list();
  if (backups.length === 0) return undefined;
  const decision = decideRetention(
    backups.map((manifest) => ({ id: manifest.id, time: new Date(manifest.startedAt) })),
    policy,
    { now, protectedId: backups.at(-1)!.id },
  );
  const kept = new Set(decision.keep.map((entry) => entry.id));
  const oldestStart = backups
    .filter((manifest) => kept.has(manifest.id))
    .map((manifest) => manifest.walStartSegment.slice(8))
    .sort()[0]!;
  return {
    decision,
    wal: walBefore(
      (await listArchivedWal(store)).map((wal) => wal.name),
      `00000000${oldestStart}`,
    ),
    abandoned: incomplete.filter((entry) => !entry.live).map((entry) => entry.id),
  };
}

/** Base backups first, then WAL: a crash in between leaves extra WAL, never a gap. */
export async function executeBasePrune(store: ObjectStore, plan: BasePrunePlan): Promise<void> {
  const repo = baseRepository(store);
  for (const id of [...plan.decision.remove, ...plan.abandoned]) await repo.remove(id);
  await removeArchivedWal(store, plan.wal);
}

export interface PruneResult {
  readonly plan: PrunePlan;
  /** Undefined when the repository holds no base backups. */
  readonly basePlan: BasePrunePlan | undefined;
}

/**
 * `bulwark backup prune` and a scheduled run's retention: plans, and unless `dryRun` removes,
 * holding the repository lock from planning to the last removal, so nothing is removed while
 * `bulwark backup rekey` runs (backup_rekey_busy) and no rekey starts meanwhile. A dry run
 * removes nothing and takes no lock.
 */
export async function pruneRepository(
  repo: BackupRepository,
  policy: RetentionPolicy,
  options: { readonly dryRun?: boolean; readonly now?: Date } = {},
): Promise<PruneResult> {
  const plan = async (): Promise<PruneResult> => ({
    plan: await planPrune(repo, policy, options.now),
    basePlan: await planBasePrune(repo.store, policy, options.now),
  });
  if (options.dryRun) return plan();
  return withRepositoryLock(repo.store, "prune", async () => {
    const result = await plan();
    await executePrune(repo, result.plan);
    if (result.basePlan) await executeBasePrune(repo.store, result.basePlan);
    return result;
  });
}
