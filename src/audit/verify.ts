/**
 * Verification of audit chains, independent of where the lines came from (sources.ts reads the
 * JSONL directory and the PostgreSQL tables).
 *
 * For each writer, the records are walked in stored order. The first record must be seq 1 after
 * 64 zeros, or the first kept seq of a signed prune record. Each next record must have the next
 * seq, a `prev` equal to the hash of the record before it, and a `hash` equal to the hash of its
 * own content. The first departure is named, with file:line and seq, and classified:
 *
 *   altered    a record's content does not match its hash, or its hash was recomputed so the
 *              next record no longer points at it, or a checkpoint signs a different hash
 *   removed    seqs are missing (a deleted line or segment); the first missing seq is named
 *   inserted   a record that does not belong: a duplicate seq, or a forged record whose
 *              successor points past it
 *   reordered  a seq appears before a smaller one that exists later
 *   malformed  a line that is not a record (garbage, a cut line in the middle)
 *   truncated  a signed checkpoint covers a seq beyond the chain's end (a cut tail or a deleted
 *              last segment)
 *
 * Checkpoints and prune records must carry a valid Ed25519 signature from one of the given
 * public keys. Records after the last checkpoint are chain-checked but cannot be proven by a
 * signature: they are reported as an `unsigned-tail` warning (a crash leaves one; a clean close
 * writes a final checkpoint). Warnings do not fail verification; tampering does.
 */
import {
  type ChainRecord,
  type CheckpointRecord,
  chainHash,
  chainRecordProblem,
  GENESIS_HASH,
  type PruneRecord,
  type SignedRecord,
  signedRecordProblem,
} from "./record.js";
import { checkSignature, type VerifyingKey } from "./signing.js";

export interface Location {
  readonly file: string;
  readonly line: number;
}

export interface SourceLine {
  readonly at: Location;
  readonly text: string;
  /** False for a last line without its newline (a write cut short by a crash). */
  readonly complete: boolean;
}

export interface VerifyInput {
  /** Each writer's chain lines, in stored order (segment order, then line order). */
  readonly chains: ReadonlyMap<string, readonly SourceLine[]>;
  /** Checkpoint and prune lines. */
  readonly signed: readonly SourceLine[];
  /**
   * Checkpoints copied elsewhere (the gateway logs each one): unsigned, but kept outside the
   * audit directory, so a cut that took the checkpoint file's tail too still shows.
   */
  readonly anchors?: readonly CheckpointAnchor[];
}

export interface CheckpointAnchor {
  readonly writer: string;
  readonly seq: number;
  readonly hash: string;
  readonly at: Location;
}

export type FindingKind =
  | "altered"
  | "removed"
  | "inserted"
  | "reordered"
  | "malformed"
  | "truncated"
  | "signature"
  | "unknown-key"
  | "unsigned-tail"
  | "torn-line";

export interface Finding {
  readonly severity: "tamper" | "warning";
  readonly kind: FindingKind;
  readonly writer?: string;
  readonly seq?: number;
  /** "file:line" */
  readonly at?: string;
  readonly message: string;
}

export interface ChainSummary {
  readonly writer: string;
  readonly records: number;
  readonly firstSeq: number | null;
  readonly lastSeq: number | null;
  /** Highest seq a valid checkpoint covers (null: none). */
  readonly signedThrough: number | null;
  readonly checkpoints: number;
  /** Seqs before this one were pruned under a valid prune record. */
  readonly prunedBefore: number | null;
  readonly intact: boolean;
}

export interface VerifyReport {
  /** True when no tampering was found (warnings allowed). */
  readonly ok: boolean;
  readonly chains: readonly ChainSummary[];
  readonly findings: readonly Finding[];
}

interface Entry {
  readonly record: ChainRecord;
  readonly at: Location;
  readonly hashOk: boolean;
}

const where = (at: Location) => `${at.file}:${at.line}`;

function parseJson(text: string): { value?: unknown; problem?: string } {
  if (text.length === 0) return { problem: "empty line" };
  try {
    return { value: JSON.parse(text) };
  } catch {
    return { problem: "not JSON" };
  }
}

function hashOf(record: ChainRecord): string | undefined {
  try {
    return chainHash(record);
  } catch {
    return undefined;
  }
}

export function verifyChains(input: VerifyInput, keys: readonly VerifyingKey[]): VerifyReport {
  const findings: Finding[] = [];
  const { checkpoints, prunes } = readSigned(input.signed, keys, findings);
  const chains: ChainSummary[] = [];
  const anchors = new Map<string, CheckpointAnchor[]>();
  for (const anchor of input.anchors ?? []) {
    anchors.set(anchor.writer, [...(anchors.get(anchor.writer) ?? []), anchor]);
  }
  const writers = new Set([...input.chains.keys(), ...checkpoints.keys(), ...anchors.keys()]);
  for (const writer of [...writers].sort()) {
    const covering: Covering[] = [
      ...(checkpoints.get(writer) ?? []).map(({ record, at }) => ({ ...record, at, signed: true })),
      ...(anchors.get(writer) ?? []).map((anchor) => ({ ...anchor, signed: false })),
    ];
    chains.push(
      verifyChain(writer, input.chains.get(writer) ?? [], covering, prunes.get(writer) ?? [], findings),
    );
  }
  return { ok: !findings.some((finding) => finding.severity === "tamper"), chains, findings };
}

function readSigned(
  lines: readonly SourceLine[],
  keys: readonly VerifyingKey[],
  findings: Finding[],
): {
  checkpoints: Map<string, { record: CheckpointRecord; at: Location }[]>;
  prunes: Map<string, { record: PruneRecord; at: Location }[]>;
} {
  const checkpoints = new Map<string, { record: CheckpointRecord; at: Location }[]>();
  const prunes = new Map<string, { record: PruneRecord; at: Location }[]>();
  for (const line of lines) {
    if (line.text.length === 0 && !line.complete) continue;
    const parsed = parseJson(line.text);
    const problem = parsed.problem ?? signedRecordProblem(parsed.value);
    if (problem) {
      findings.push({
        severity: line.complete ? "tamper" : "warning",
        kind: line.complete ? "malformed" : "torn-line",
        at: where(line.at),
        message: line.complete
          ? `not a checkpoint or prune record: ${problem}`
          : "incomplete last line (a write cut short)",
      });
      continue;
    }
    const record = parsed.value as SignedRecord;
    let verdict: ReturnType<typeof checkSignature>;
    try {
      verdict = checkSignature(record, keys);
    } catch {
      verdict = "bad";
    }
    if (verdict === "unknown-key") {
      findings.push({
        severity: "tamper",
        kind: "unknown-key",
        writer: record.writer,
        seq: record.seq,
        at: where(line.at),
        message: `${record.kind} signed by key ${String(record.keyId)}, which none of the given public keys matches (pass the old key too after a rotation)`,
      });
      continue;
    }
    if (verdict === "bad") {
      findings.push({
        severity: "tamper",
        kind: "signature",
        writer: record.writer,
        seq: record.seq,
        at: where(line.at),
        message: `${record.kind} signature does not verify: the line was altered or forged`,
      });
      continue;
    }
    if (record.kind === "checkpoint") {
      const list = checkpoints.get(record.writer) ?? [];
      list.push({ record, at: line.at });
      checkpoints.set(record.writer, list);
    } else {
      const list = prunes.get(record.writer) ?? [];
      list.push({ record, at: line.at });
      prunes.set(record.writer, list);
    }
  }
  return { checkpoints, prunes };
}

/** A seq and hash that must be in the chain: a signed checkpoint, or a logged copy of one. */
interface Covering {
  readonly seq: number;
  readonly hash: string;
  readonly at: Location;
  readonly signed: boolean;
}

function verifyChain(
  writer: string,
  lines: readonly SourceLine[],
  checkpoints: readonly Covering[],
  prunes: readonly { record: PruneRecord; at: Location }[],
  findings: Finding[],
): ChainSummary {
  const tamper = (kind: FindingKind, at: Location | undefined, seq: number | undefined, message: string) => {
    findings.push({
      severity: "tamper",
      kind,
      writer,
      ...(seq === undefined ? {} : { seq }),
      ...(at ? { at: where(at) } : {}),
      message,
    });
  };
  const entries: Entry[] = [];
  let intact = true;
  lines.forEach((line, index) => {
    if (!intact) return;
    if (!line.complete && index === lines.length - 1) {
      if (line.text.length > 0) {
        findings.push({
          severity: "warning",
          kind: "torn-line",
          writer,
          at: where(line.at),
          message: "incomplete last line (a write cut short by a crash; it was never acknowledged)",
        });
      }
      return;
    }
    const parsed = parseJson(line.text);
    const problem = parsed.problem ?? chainRecordProblem(parsed.value);
    if (problem) {
      tamper("malformed", line.at, undefined, `not an audit record: ${problem}`);
      intact = false;
      return;
    }
    const record = parsed.value as ChainRecord;
    if (record.writer !== writer) {
      tamper(
        "inserted",
        line.at,
        record.seq,
        `a record of writer ${record.writer} in the chain of ${writer}`,
      );
      intact = false;
      return;
    }
    const hash = hashOf(record);
    if (hash === undefined) {
      tamper("malformed", line.at, record.seq, "not an audit record: a value that canonical JSON refuses");
      intact = false;
      return;
    }
    entries.push({ record, at: line.at, hashOk: hash === record.hash });
  });

  // Where the chain must start: seq 1 after the genesis hash, or a signed prune record's seq.
  const first = entries[0];
  let expectedSeq = 1;
  let expectedPrev = GENESIS_HASH;
  let prunedBefore: number | null = null;
  const prune = first ? prunes.find((candidate) => candidate.record.seq === first.record.seq) : undefined;
  if (first && first.record.seq !== 1 && prune) {
    expectedSeq = prune.record.seq;
    expectedPrev = prune.record.prev;
    prunedBefore = prune.record.seq;
  }

  if (intact) intact = walk(entries, expectedSeq, expectedPrev, tamper);

  const last = entries[entries.length - 1];
  const lastSeq = last?.record.seq ?? null;
  let signedThrough: number | null = null;
  if (intact) {
    const bySeq = new Map(entries.map((entry) => [entry.record.seq, entry]));
    const chainStart = first?.record.seq ?? Math.max(0, ...prunes.map((p) => p.record.seq));
    for (const record of [...checkpoints].sort((a, b) => a.seq - b.seq)) {
      if (record.seq < chainStart) continue;
      const what = record.signed
        ? `the checkpoint at ${where(record.at)} signs`
        : `the checkpoint logged at ${where(record.at)} names`;
      const entry = bySeq.get(record.seq);
      if (entry) {
        if (entry.record.hash !== record.hash) {
          tamper(
            "altered",
            entry.at,
            record.seq,
            `${what} a different hash for seq ${record.seq}: the chain was rewritten from here or earlier`,
          );
          intact = false;
          break;
        }
        if (record.signed) signedThrough = record.seq;
        continue;
      }
      if (lastSeq === null || record.seq > lastSeq) {
        tamper(
          "truncated",
          last?.at,
          lastSeq ?? undefined,
          lastSeq === null
            ? `no records, but ${what} seq ${record.seq}: the chain's segments were deleted`
            : `the chain ends at seq ${lastSeq}, but ${what} seq ${record.seq}: records ${lastSeq + 1}..${record.seq} were cut`,
        );
        intact = false;
        break;
      }
    }
  }
  if (intact && lastSeq !== null && (signedThrough === null || signedThrough < lastSeq)) {
    const from = signedThrough === null ? (first?.record.seq ?? 1) : signedThrough + 1;
    findings.push({
      severity: "warning",
      kind: "unsigned-tail",
      writer,
      seq: from,
      at: where(entries.find((entry) => entry.record.seq === from)?.at ?? last!.at),
      message: `seq ${from}..${lastSeq} are chain-checked but no signed checkpoint covers them (written after the last checkpoint, as after a crash); a cut there cannot be detected`,
    });
  }
  return {
    writer,
    records: entries.length,
    firstSeq: first?.record.seq ?? null,
    lastSeq,
    signedThrough,
    checkpoints: checkpoints.filter((checkpoint) => checkpoint.signed).length,
    prunedBefore,
    intact,
  };
}

/** Walks the chain; reports the first departure and returns false, or true when it holds. */
function walk(
  entries: readonly Entry[],
  startSeq: number,
  startPrev: string,
  tamper: (kind: FindingKind, at: Location | undefined, seq: number | undefined, message: string) => void,
): boolean {
  const laterIndex = new Map<number, number>();
  entries.forEach((entry, index) => {
    if (!laterIndex.has(entry.record.seq)) laterIndex.set(entry.record.seq, index);
  });
  const seen = new Map<number, number>();
  let expectedSeq = startSeq;
  let expectedPrev = startPrev;
  for (let index = 0; index < entries.length; index++) {
    const entry = entries[index]!;
    const { record } = entry;
    if (!entry.hashOk) {
      tamper(
        "altered",
        entry.at,
        record.seq,
        `seq ${record.seq} does not match its hash: the record was edited`,
      );
      return false;
    }
    if (record.seq === expectedSeq) {
      if (record.prev === expectedPrev) {
        seen.set(record.seq, index);
        expectedSeq += 1;
        expectedPrev = record.hash;
        continue;
      }
      const next = entries[index + 1];
      if (next && next.record.seq === expectedSeq && next.record.prev === expectedPrev) {
        tamper(
          "inserted",
          entry.at,
          record.seq,
          `seq ${record.seq} does not follow the chain, and the next record does: an inserted record`,
        );
      } else if (index > 0) {
        const previous = entries[index - 1]!;
        tamper(
          "altered",
          previous.at,
          previous.record.seq,
          `seq ${previous.record.seq} was edited and its hash recomputed: seq ${record.seq} (${where(entry.at)}) names a different predecessor`,
        );
      } else {
        tamper(
          "altered",
          entry.at,
          record.seq,
          `seq ${record.seq} does not follow the chain's start (prev mismatch)`,
        );
      }
      return false;
    }
    if (record.seq > expectedSeq) {
      const missing = laterIndex.get(expectedSeq);
      if (missing !== undefined && missing > index) {
        tamper(
          "reordered",
          entry.at,
          record.seq,
          `seq ${record.seq} appears before seq ${expectedSeq} (${where(entries[missing]!.at)}): records were reordered`,
        );
      } else {
        const range =
          record.seq - 1 === expectedSeq
            ? `seq ${expectedSeq} is`
            : `seq ${expectedSeq}..${record.seq - 1} are`;
        tamper(
          "removed",
          entry.at,
          expectedSeq,
          `${range} missing before seq ${record.seq}: records were removed`,
        );
      }
      return false;
    }
    // record.seq < expectedSeq: a seq that was already passed.
    const earlier = seen.get(record.seq);
    if (earlier !== undefined) {
      const original = entries[earlier]!;
      const next = entries[index + 1];
      // A forged record may have taken the real one's place in the chain; the real one's
      // successor still points at the real one.
      if (
        record.hash !== original.record.hash &&
        next &&
        next.record.prev === record.hash &&
        next.record.seq === record.seq + 1
      ) {
        tamper(
          "inserted",
          original.at,
          original.record.seq,
          `seq ${record.seq} appears twice; this one is not the one the chain continues from: an inserted record`,
        );
      } else {
        tamper(
          "inserted",
          entry.at,
          record.seq,
          `seq ${record.seq} appears twice (first at ${where(original.at)}): an inserted record`,
        );
      }
    } else {
      tamper(
        "reordered",
        entry.at,
        record.seq,
        `seq ${record.seq} appears after seq ${expectedSeq - 1}: records were reordered`,
      );
    }
    return false;
  }
  return true;
}
