/**
 * Bounded fuzz of the verifier (a few seconds): a valid directory's lines are mutated at random
 * (bytes flipped, lines cut, duplicated, dropped, swapped, replaced by garbage or random JSON).
 * Verify must never throw, and whenever the records' content changed it must report tampering.
 * Reproduce a failure with BULWARK_FUZZ_SEED=<seed>.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { canonicalJson } from "../../../src/audit/canonical-json.js";
import { readDirectoryForVerify } from "../../../src/audit/sources.js";
import { type SourceLine, verifyChains } from "../../../src/audit/verify.js";
import { type AuditFixture, auditFixture, writeRecords } from "./audit-fixture.js";

function prng(seed: number): () => number {
  // mulberry32
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const GARBAGE = [
  "",
  "{",
  "null",
  "[]",
  '{"v":1}',
  '{"v":1,"kind":"event","seq":1.5}',
  "\u0000\u00ff",
  '"string"',
  "1e400",
];

function normalise(text: string): string {
  try {
    return canonicalJson(JSON.parse(text));
  } catch {
    return `!${text}`;
  }
}

let fixture: AuditFixture;
let original: { segment: string; lines: string[]; checkpoints: SourceLine[] };

before(async () => {
  fixture = auditFixture();
  const trail = fixture.trail({ checkpointEvery: 8 });
  await writeRecords(trail, 40);
  await trail.close();
  const segment = readdirSync(fixture.dir).find((name) => name.startsWith("seg-"))!;
  const input = readDirectoryForVerify(fixture.dir);
  original = {
    segment,
    lines: readFileSync(join(fixture.dir, segment), "utf8").trimEnd().split("\n"),
    checkpoints: [...input.signed],
  };
  assert.equal(verifyChains(input, [fixture.publicKey]).ok, true);
});
after(() => fixture.cleanup());

test("verify never crashes on mutated input and flags every content change", () => {
  const seed = Number(process.env.BULWARK_FUZZ_SEED ?? Date.now() % 1_000_000);
  const random = prng(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const writer = original.segment.replace(/^seg-/, "").replace(/-\d{12}\.jsonl$/, "");
  const deadline = Date.now() + 3000;
  let runs = 0;
  while (Date.now() < deadline) {
    runs += 1;
    const lines = [...original.lines];
    const mutations = 1 + Math.floor(random() * 3);
    for (let m = 0; m < mutations; m++) {
      const at = Math.floor(random() * lines.length);
      switch (Math.floor(random() * 7)) {
        case 0: {
          const line = lines[at] ?? "";
          const position = Math.floor(random() * Math.max(1, line.length));
          lines[at] =
            line.slice(0, position) +
            String.fromCharCode(32 + Math.floor(random() * 95)) +
            line.slice(position + 1);
          break;
        }
        case 1:
          lines.splice(at, 1);
          break;
        case 2:
          lines.splice(Math.floor(random() * lines.length), 0, lines[at] ?? "");
          break;
        case 3: {
          const other = Math.floor(random() * lines.length);
          [lines[at], lines[other]] = [lines[other]!, lines[at]!];
          break;
        }
        case 4:
          lines.splice(at, 0, pick(GARBAGE));
          break;
        case 5:
          lines[at] = (lines[at] ?? "").slice(0, Math.floor(random() * (lines[at]?.length ?? 0)));
          break;
        default:
          lines.length = Math.max(0, lines.length - 1 - Math.floor(random() * 5));
      }
    }
    // Now and then, a checkpoint line is changed too: its signature must catch it.
    const signed = [...original.checkpoints];
    if (random() < 0.2) {
      const at = Math.floor(random() * signed.length);
      const line = signed[at]!;
      const position = Math.floor(random() * line.text.length);
      const text =
        line.text.slice(0, position) +
        String.fromCharCode(32 + Math.floor(random() * 95)) +
        line.text.slice(position + 1);
      signed[at] = { ...line, text };
    }
    const signedChanged = signed.some(
      (line, index) => normalise(line.text) !== normalise(original.checkpoints[index]!.text),
    );
    const input = {
      chains: new Map([
        [
          writer,
          lines.map((text, index) => ({
            at: { file: original.segment, line: index + 1 },
            text,
            complete: true,
          })),
        ],
      ]),
      signed,
    };
    let report: ReturnType<typeof verifyChains>;
    try {
      report = verifyChains(input, [fixture.publicKey]);
    } catch (error) {
      assert.fail(`verify threw (BULWARK_FUZZ_SEED=${seed}, run ${runs}): ${(error as Error).stack}`);
    }
    const changed = lines.map(normalise).join("\n") !== original.lines.map(normalise).join("\n");
    if (changed || signedChanged) {
      assert.equal(
        report.ok,
        false,
        `content changed but verify passed (BULWARK_FUZZ_SEED=${seed}, run ${runs})`,
      );
      const first = report.findings.find((finding) => finding.severity === "tamper")!;
      assert.ok(first.message.length > 0 && first.kind.length > 0);
    }
  }
  assert.ok(runs > 50, `only ${runs} runs`);
});
