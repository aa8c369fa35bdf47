/**
 * Audit records as stored: one canonical JSON line each (see canonical-json.ts).
 *
 * Chain records (kind `event`, or `dropped` when the in-memory queue overflowed) carry
 * `writer`, `seq` (1, 2, 3 … per writer), `prev` (the `hash` of the writer's previous record;
 * 64 zeros before seq 1) and `hash`, the SHA-256 (hex) of the canonical JSON of the record
 * without its `hash` member. Changing any byte of a record changes its hash; the next record's
 * `prev` then no longer matches, so an edit shows even when the editor recomputes `hash`.
 *
 * Signed records (kind `checkpoint` and `prune`) are kept beside the chain, not in it: an Ed25519
 * signature (RFC 8032) over the canonical JSON of the record without `sig`.
 */
import { createHash } from "node:crypto";
import { canonicalJson, canonicalMembers } from "./canonical-json.js";
import type { AuditEventFields } from "./event.js";

export const RECORD_VERSION = 1;
export const GENESIS_HASH = "0".repeat(64);

export interface ChainLink {
  readonly v: 1;
  readonly writer: string;
  readonly seq: number;
  readonly prev: string;
  readonly hash: string;
}

export interface EventRecord extends ChainLink, AuditEventFields {
  readonly kind: "event";
}

/** Written when the in-memory queue overflowed: the chain says how many events were lost. */
export interface DroppedRecord extends ChainLink {
  readonly kind: "dropped";
  readonly time: string;
  readonly count: number;
  readonly since: string;
}

export type ChainRecord = EventRecord | DroppedRecord;

export interface CheckpointRecord {
  readonly v: 1;
  readonly kind: "checkpoint";
  readonly writer: string;
  /** Seq and hash of the last chain record this checkpoint covers. */
  readonly seq: number;
  readonly hash: string;
  readonly time: string;
  /** Which key signed: the first 16 hex digits of SHA-256 over the public key (SPKI DER). */
  readonly keyId: string;
  readonly sig: string;
}

/** Written by `bulwark audit prune`: the chain of `writer` now starts at `seq` after `prev`. */
export interface PruneRecord {
  readonly v: 1;
  readonly kind: "prune";
  readonly writer: string;
  /** First seq kept. */
  readonly seq: number;
  /** Hash of the last pruned record (the kept chain continues from it). */
  readonly prev: string;
  readonly records: number;
  readonly olderThan: string;
  readonly segments: readonly string[];
  readonly time: string;
  readonly keyId: string;
  readonly sig: string;
}

export type SignedRecord = CheckpointRecord | PruneRecord;

export function sha256Hex(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/** The hash a chain record must carry: over every member but `hash`. */
export function chainHash(record: Omit<ChainRecord, "hash"> | ChainRecord): string {
  const { hash: _ignored, ...rest } = record as ChainRecord;
  return sha256Hex(canonicalJson(rest));
}

/** The bytes a signed record's signature covers: every member but `sig`. */
export function signedPayload(record: Omit<SignedRecord, "sig"> | SignedRecord): string {
  const { sig: _ignored, ...rest } = record as SignedRecord;
  return canonicalJson(rest);
}

// Lines of records sealed in this process, so a record is serialised once, not again to store it.
const sealedLines = new WeakMap<object, string>();

/** One stored line, without the newline. */
export function recordLine(record: ChainRecord | SignedRecord): string {
  return sealedLines.get(record) ?? canonicalJson(record);
}

/**
 * Adds `hash` to a chain record: the canonical members are serialised once, hashed, and the
 * hash member inserted at its sorted place for the stored line (identical to canonicalJson of the
 * sealed record).
 */
export function sealRecord<T extends ChainRecord>(unhashed: Omit<T, "hash">): T {
  const members = canonicalMembers(unhashed as Record<string, unknown>);
  const hash = sha256Hex(`{${members.join(",")}}`);
  const record = { ...unhashed, hash } as T;
  const hashMember = `"hash":${JSON.stringify(hash)}`;
  let at = members.findIndex((member) => member > hashMember);
  if (at < 0) at = members.length;
  members.splice(at, 0, hashMember);
  sealedLines.set(record, `{${members.join(",")}}`);
  return record;
}

const HEX64 = /^[0-9a-f]{64}$/;
const WRITER = /^[A-Za-z0-9_.-]{1,128}$/;

export function isHash(value: unknown): value is string {
  return typeof value === "string" && HEX64.test(value);
}

export function isWriterId(value: unknown): value is string {
  return typeof value === "string" && WRITER.test(value);
}

/** Why a parsed line is not a well-formed record of the expected family, or undefined when it is. */
export function chainRecordProblem(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "not a JSON object";
  const record = value as Record<string, unknown>;
  if (record.v !== RECORD_VERSION) return `unknown record version ${JSON.stringify(record.v)}`;
  if (record.kind !== "event" && record.kind !== "dropped") return "not a chain record (kind)";
  if (!isWriterId(record.writer)) return "writer missing or malformed";
  if (!Number.isSafeInteger(record.seq) || (record.seq as number) < 1) return "seq missing or malformed";
  if (!isHash(record.prev)) return "prev missing or malformed";
  if (!isHash(record.hash)) return "hash missing or malformed";
  return undefined;
}

export function signedRecordProblem(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "not a JSON object";
  const record = value as Record<string, unknown>;
  if (record.v !== RECORD_VERSION) return `unknown record version ${JSON.stringify(record.v)}`;
  if (record.kind !== "checkpoint" && record.kind !== "prune") return "not a checkpoint or prune record";
  if (!isWriterId(record.writer)) return "writer missing or malformed";
  if (!Number.isSafeInteger(record.seq) || (record.seq as number) < 0) return "seq missing or malformed";
  if (record.kind === "checkpoint" && !isHash(record.hash)) return "hash missing or malformed";
  if (record.kind === "prune" && !isHash(record.prev)) return "prev missing or malformed";
  if (typeof record.keyId !== "string" || typeof record.sig !== "string") return "keyId or sig missing";
  return undefined;
}
