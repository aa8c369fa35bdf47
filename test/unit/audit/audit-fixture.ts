/** Writes real audit directories for the tests: a key pair, a trail, records. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AuditEvent } from "../../../src/audit/event.js";
import { type AuditConfigInput, auditSchema } from "../../../src/audit/schema.js";
import { generateSigningKeyPair, loadVerifyingKey, type VerifyingKey } from "../../../src/audit/signing.js";
import { type AuditTrail, type AuditTrailOptions, createAuditTrail } from "../../../src/audit/trail.js";

export interface AuditFixture {
  readonly root: string;
  readonly dir: string;
  readonly privateKeyFile: string;
  readonly publicKeyFile: string;
  readonly publicKey: VerifyingKey;
  trail(overrides?: Partial<AuditConfigInput>, writer?: string, options?: AuditTrailOptions): AuditTrail;
  cleanup(): void;
}

export function auditFixture(): AuditFixture {
  const root = mkdtempSync(join(tmpdir(), "bulwark-audit-"));
  const dir = join(root, "audit");
  const pair = generateSigningKeyPair();
  const privateKeyFile = join(root, "audit.key");
  const publicKeyFile = join(root, "audit.pub");
  writeFileSync(privateKeyFile, pair.privatePem, { mode: 0o600 });
  writeFileSync(publicKeyFile, pair.publicPem);
  return {
    root,
    dir,
    privateKeyFile,
    publicKeyFile,
    publicKey: loadVerifyingKey(publicKeyFile),
    trail(overrides = {}, writer, options = {}) {
      const config = auditSchema.parse({
        store: { type: "jsonl", dir },
        signingKey: privateKeyFile,
        ...overrides,
      });
      return createAuditTrail(config, { ...options, ...(writer ? { writer } : {}) });
    },
    cleanup() {
      rmSync(root, { recursive: true, force: true });
    },
  };
}

export function sampleEvent(index: number): AuditEvent {
  return {
    time: Date.UTC(2026, 0, 1, 0, 0, index),
    action: index % 3 === 0 ? "token.rejected" : "request",
    outcome: index % 3 === 0 ? "failure" : "success",
    subject: `user-${index % 5}`,
    resource: { route: "/api/patients/:id", id: String(index) },
    method: "GET",
    status: index % 3 === 0 ? 401 : 200,
    clientIp: "192.0.2.10",
    requestId: `req-${index}`,
    traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
    reason: index % 3 === 0 ? "unauthorized" : null,
  };
}

/** Writes `count` records durably, then closes (final checkpoint). */
export async function writeRecords(trail: AuditTrail, count: number, start = 0): Promise<number[]> {
  const seqs: number[] = [];
  for (let i = start; i < start + count; i++) seqs.push((await trail.recordDurable(sampleEvent(i))).seq);
  return seqs;
}
