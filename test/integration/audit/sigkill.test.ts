/**
 * Nothing acknowledged is lost when the writing process is SIGKILLed: a child writes records with
 * recordDurable and prints each acknowledged seq; the test kills it mid-stream, then checks that
 * every acknowledged seq is in the files and that `bulwark audit verify` passes.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { readDirectoryRecords } from "../../../src/audit/query.js";
import { readDirectoryForVerify } from "../../../src/audit/sources.js";
import { verifyChains } from "../../../src/audit/verify.js";
import { runCli } from "../../support/cli.js";
import { type AuditFixture, auditFixture } from "../../unit/audit/audit-fixture.js";

const WRITER = fileURLToPath(new URL("./durable-writer.ts", import.meta.url));

async function killMidStream(
  fixture: AuditFixture,
  durability: "record" | "batch",
  acksBeforeKill: number,
): Promise<{ acked: number[]; writer: string }> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", WRITER, fixture.dir, fixture.privateKeyFile, durability, "16"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8");
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.once("exit", (_code, signal) => resolve(signal)),
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`too few acks within 60s: ${stdout.slice(-500)} ${stderr}`)),
      60_000,
    );
    child.stdout.on("data", (chunk: string) => {
      stdout += chunk;
      if ((stdout.match(/^ack /gm)?.length ?? 0) >= acksBeforeKill) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", () => reject(new Error(`writer exited early: ${stderr}`)));
  });
  child.kill("SIGKILL");
  assert.equal(await exited, "SIGKILL");
  // Everything printed before the kill counts as acknowledged, complete lines only.
  const complete = stdout.slice(0, stdout.lastIndexOf("\n") + 1);
  const acked = [...complete.matchAll(/^ack (\d+)$/gm)].map((match) => Number(match[1]));
  const writer = /^writer (\S+)$/m.exec(complete)![1]!;
  return { acked, writer };
}

for (const durability of ["record", "batch"] as const) {
  describe(`audit SIGKILL durability (${durability})`, () => {
    let fixture: AuditFixture;
    before(() => {
      fixture = auditFixture();
    });
    after(() => fixture.cleanup());

    test("every acknowledged record survives and the chain verifies", async () => {
      const { acked, writer } = await killMidStream(fixture, durability, 600);
      assert.ok(acked.length >= 600, `acks: ${acked.length}`);
      const stored = new Set<number>();
      for await (const record of readDirectoryRecords(fixture.dir)) {
        assert.equal(record.writer, writer);
        stored.add(record.seq);
      }
      const missing = acked.filter((seq) => !stored.has(seq));
      assert.deepEqual(missing, [], `acknowledged but not stored: ${missing.slice(0, 10).join(", ")}`);

      const report = verifyChains(readDirectoryForVerify(fixture.dir), [fixture.publicKey]);
      assert.equal(report.ok, true, JSON.stringify(report.findings));
      assert.ok(report.chains[0]!.signedThrough !== null, "periodic checkpoints were written");
      assert.ok(report.chains[0]!.lastSeq! >= Math.max(...acked));

      // The built CLI agrees (exit 0), as an operator would run it after the crash.
      const cli = await runCli(["audit", "verify", fixture.dir, "--public-key", fixture.publicKeyFile]);
      assert.equal(cli.code, 0, cli.stderr);
      assert.match(cli.stderr, /result: intact/);
    });
  });
}
