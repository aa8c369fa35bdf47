/**
 * Child process of the SIGKILL test: writes audit records with recordDurable, CONCURRENCY at a
 * time, and prints "ack <seq>" for each one the trail acknowledged, until it is killed.
 *
 *   node --import tsx durable-writer.ts DIR KEY_FILE DURABILITY CONCURRENCY
 */
import { auditSchema } from "../../../src/audit/schema.js";
import { createAuditTrail } from "../../../src/audit/trail.js";

const [dir, keyFile, durability, concurrency] = process.argv.slice(2);
const trail = createAuditTrail(
  auditSchema.parse({
    store: { type: "jsonl", dir, durability, rotateSize: 64 * 1024 },
    signingKey: keyFile,
    checkpointEvery: 50,
  }),
);

let next = 0;
async function lane(): Promise<void> {
  for (;;) {
    const index = next++;
    const receipt = await trail.recordDurable({
      action: "request",
      outcome: "success",
      subject: `user-${index % 7}`,
      resource: { route: "/api/records/:id", id: String(index) },
      method: "POST",
      status: 201,
      clientIp: "198.51.100.7",
      requestId: `r${index}`,
    });
    process.stdout.write(`ack ${receipt.seq}\n`);
  }
}

process.stdout.write(`writer ${trail.writer}\n`);
for (let i = 0; i < Number(concurrency); i++) void lane();
