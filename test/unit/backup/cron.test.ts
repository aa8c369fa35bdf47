import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseCron } from "../../../src/backup/cron.js";
import { BulwarkError } from "../../../src/errors.js";

const at = (iso: string) => new Date(iso);
function nexts(expression: string, from: string, count: number): string[] {
  const schedule = parseCron(expression);
  const out: string[] = [];
  let time = at(from);
  for (let i = 0; i < count; i++) {
    time = schedule.next(time);
    out.push(time.toISOString());
  }
  return out;
}

describe("cron schedules (UTC)", () => {
  it("daily at 02:00, strictly after the given time", () => {
    assert.deepEqual(nexts("0 2 * * *", "2026-11-26T01:59:59Z", 2), [
      "2026-11-26T02:00:00.000Z",
      "2026-11-27T02:00:00.000Z",
    ]);
    assert.deepEqual(nexts("0 2 * * *", "2026-11-26T02:00:00Z", 1), ["2026-11-27T02:00:00.000Z"]);
    assert.deepEqual(nexts("@daily", "2026-12-31T12:00:00Z", 1), ["2027-01-01T00:00:00.000Z"]);
  });

  it("steps, ranges, lists and names", () => {
    assert.deepEqual(nexts("*/15 9-10 * * mon-fri", "2026-11-27T10:50:00Z", 3), [
      "2026-11-30T09:00:00.000Z",
      "2026-11-30T09:15:00.000Z",
      "2026-11-30T09:30:00.000Z",
    ]);
    assert.deepEqual(nexts("30 4 1,15 jan,jul *", "2026-11-26T00:00:00Z", 3), [
      "2027-01-01T04:30:00.000Z",
      "2027-01-15T04:30:00.000Z",
      "2027-07-01T04:30:00.000Z",
    ]);
    assert.deepEqual(nexts("0 0 * * 7", "2026-11-26T00:00:00Z", 1), ["2026-11-29T00:00:00.000Z"]);
  });

  it("day of month OR day of week when both are restricted (Vixie cron)", () => {
    assert.deepEqual(nexts("0 0 13 * fri", "2026-11-26T00:00:00Z", 3), [
      "2026-11-27T00:00:00.000Z",
      "2026-12-04T00:00:00.000Z",
      "2026-12-11T00:00:00.000Z",
    ]);
  });

  it("six fields put seconds first; leap days are found", () => {
    assert.deepEqual(nexts("*/20 * * * * *", "2026-11-26T00:00:05Z", 3), [
      "2026-11-26T00:00:20.000Z",
      "2026-11-26T00:00:40.000Z",
      "2026-11-26T00:01:00.000Z",
    ]);
    assert.deepEqual(nexts("0 12 29 2 *", "2026-11-26T00:00:00Z", 1), ["2028-02-29T12:00:00.000Z"]);
  });

  it("refuses bad expressions with a clear message, never hangs or crashes (fuzz)", () => {
    for (const [expression, pattern] of [
      ["0 2 * *", /5 fields|4 fields/],
      ["61 * * * *", /minute 61 is outside 0-59/],
      ["0 0 30 2 *", /never matches/],
      ["*/0 * * * *", /bad step/],
      ["5-1 * * * *", /runs backwards/],
      ["0 0 * * funday", /not a valid day of week/],
    ] as const) {
      assert.throws(
        () => parseCron(expression),
        (error: BulwarkError) => error.code === "usage" && pattern.test(error.message),
        expression,
      );
    }
    const alphabet = [
      "*",
      "/",
      "-",
      ",",
      " ",
      "0",
      "1",
      "5",
      "7",
      "12",
      "31",
      "59",
      "60",
      "jan",
      "sun",
      "@daily",
      "x",
    ];
    const deadline = Date.now() + 1500;
    let runs = 0;
    while (Date.now() < deadline) {
      const length = 1 + Math.floor(Math.random() * 14);
      const text = Array.from({ length }, () => alphabet[Math.floor(Math.random() * alphabet.length)]).join(
        "",
      );
      try {
        const schedule = parseCron(text);
        const next = schedule.next(new Date());
        assert.ok(next.getTime() > Date.now() - 1000);
      } catch (error) {
        assert.ok(
          error instanceof BulwarkError && error.code === "usage",
          `${JSON.stringify(text)}: ${String(error)}`,
        );
      }
      runs++;
    }
    assert.ok(runs > 100);
  });
});
