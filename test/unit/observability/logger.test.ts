import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { createLoggers, flushLogger } from "../../../src/observability/logger.js";

const dir = mkdtempSync(join(tmpdir(), "bulwark-logger-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const LOGGER = fileURLToPath(new URL("../../../src/observability/logger.ts", import.meta.url));

function linesOf(file: string): Record<string, unknown>[] {
  const text = readFileSync(file, "utf8");
  assert.ok(text.endsWith("\n"), "the file ends with a whole line");
  return text
    .slice(0, -1)
    .split("\n")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test("batched access and operational lines reach the file whole, in order, multi-byte text and huge lines included", async () => {
  const file = join(dir, "batched.log");
  const { logger, access } = createLoggers({ level: "info", destination: file });
  // Multi-byte characters land on every offset of the 64 KiB batch boundaries; one line is larger
  // than a batch.
  const texts = ["plain", "é", "€uro", "𝄞 clef", "日本語のテキスト"];
  const count = 3000;
  for (let index = 0; index < count; index++) {
    if (index === 1500) logger.info({ marker: "operational" }, "in between");
    const agent = index === 2000 ? "x".repeat(200_000) : texts[index % texts.length]!.repeat(1 + (index % 7));
    access.write({ type: "access", n: index, userAgent: agent, msg: "request" });
  }
  flushLogger(logger);
  const expected = count + 1;
  await until(() => {
    try {
      return readFileSync(file, "utf8").split("\n").length - 1 === expected;
    } catch {
      return false;
    }
  }, `${expected} lines`);
  const lines = linesOf(file);
  const access_ = lines.filter((line) => line.type === "access");
  assert.deepEqual(
    access_.map((line) => line.n),
    Array.from({ length: count }, (_, index) => index),
  );
  for (const line of access_) {
    const index = line.n as number;
    const agent = index === 2000 ? "x".repeat(200_000) : texts[index % texts.length]!.repeat(1 + (index % 7));
    assert.equal(line.userAgent, agent, `line ${index}`);
    assert.equal(line.level, "info");
    assert.equal(line.pid, process.pid);
    assert.match(String(line.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  }
  const markerAt = lines.findIndex((line) => line.marker === "operational");
  assert.equal(lines[markerAt - 1]?.n, 1499, "the operational line keeps its place between access lines");
  assert.equal(lines[markerAt + 1]?.n, 1500);
});

test("lines still in the batch are written when the process exits at once", () => {
  const file = join(dir, "exit.log");
  // process.exit() right after writing: no event-loop turn, no timer, no flush call. A file
  // descriptor, as the gateway's stdout is (a path is opened asynchronously).
  const script = `
    const { openSync } = await import("node:fs");
    const { createLoggers } = await import(${JSON.stringify(LOGGER)});
    const fd = openSync(${JSON.stringify(file)}, "a");
    const { logger, access } = createLoggers({ level: "info", destination: fd });
    for (let n = 0; n < 500; n++) access.write({ type: "access", n, msg: "request" });
    logger.info({ last: true }, "exiting");
    process.exit(0);
  `;
  const result = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.equal(result.status, 0, result.stderr);
  const lines = linesOf(file);
  assert.equal(lines.length, 501);
  assert.deepEqual(
    lines.slice(0, 500).map((line) => line.n),
    Array.from({ length: 500 }, (_, index) => index),
  );
  assert.equal(lines[500]?.last, true);
});

test("the timestamp of each line is its own millisecond", async () => {
  const file = join(dir, "time.log");
  const { logger, access } = createLoggers({ level: "info", destination: file });
  const before = Date.now();
  access.write({ type: "access", n: 0, msg: "request" });
  await new Promise((resolve) => setTimeout(resolve, 15));
  const middle = Date.now();
  access.write({ type: "access", n: 1, msg: "request" });
  const end = Date.now();
  flushLogger(logger);
  await until(() => {
    try {
      return readFileSync(file, "utf8").split("\n").length - 1 === 2;
    } catch {
      return false;
    }
  }, "2 lines");
  const [first, second] = linesOf(file).map((line) => Date.parse(String(line.time)));
  assert.ok(first! >= before && first! < middle, "first line stamped when written");
  assert.ok(
    second! >= middle && second! <= end,
    "second line stamped 15 ms later, not with the cached stamp",
  );
});
