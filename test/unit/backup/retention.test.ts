import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decideRetention, hasRules, isoWeek } from "../../../src/backup/retention.js";

const now = new Date("2026-11-26T12:00:00Z");
/** One backup a day at 02:00 for `days` days up to today, plus an extra one today at 14:00 yesterday. */
function daily(days: number) {
  return Array.from({ length: days }, (_, index) => {
    const time = new Date(now.getTime() - index * 86_400_000);
    time.setUTCHours(2, 0, 0, 0);
    return { id: `b${String(days - index).padStart(3, "0")}`, time };
  });
}

describe("retention", () => {
  it("keep-last keeps the N newest and removes the rest", () => {
    const decision = decideRetention(daily(5), { keepLast: 2 }, { now });
    assert.deepEqual(
      decision.keep.map((k) => k.id),
      ["b005", "b004"],
    );
    assert.deepEqual(decision.remove, ["b003", "b002", "b001"]);
  });

  it("max age keeps what is younger, by snapshot time", () => {
    const decision = decideRetention(daily(10), { maxAgeMs: 3 * 86_400_000 }, { now });
    assert.deepEqual(
      decision.keep.map((k) => k.id),
      ["b010", "b009", "b008"],
    );
  });

  it("daily, weekly and monthly generations keep the newest backup of each period", () => {
    const backups = daily(70);
    // A second backup on the newest day: only the newer of the two is that day's generation.
    backups.push({ id: "b070-early", time: new Date("2026-11-26T01:00:00Z") });
    const decision = decideRetention(backups, { keepDaily: 3, keepWeekly: 2, keepMonthly: 3 }, { now });
    const kept = new Map(decision.keep.map((k) => [k.id, k.reasons]));
    assert.ok(decision.remove.includes("b070-early"));
    assert.deepEqual(kept.get("b070"), ["daily 2026-11-26", "weekly 2026-W48", "monthly 2026-11"]);
    assert.deepEqual(kept.get("b068"), ["daily 2026-11-24"]);
    // Sunday 2026-11-22 is the newest backup of ISO week 47.
    assert.deepEqual(kept.get("b066"), ["weekly 2026-W47"]);
    assert.deepEqual(kept.get("b044"), ["monthly 2026-10"]);
    assert.deepEqual(kept.get("b013"), ["monthly 2026-09"]);
    assert.equal(decision.keep.length, 6);
    assert.equal(decision.keep.length + decision.remove.length, backups.length);
  });

  it("always keeps the protected (newest verified) backup", () => {
    const decision = decideRetention(daily(5), { keepLast: 1 }, { now, protectedId: "b002" });
    assert.deepEqual(
      decision.keep.map((k) => [k.id, k.reasons]),
      [
        ["b005", ["last 1"]],
        ["b002", ["newest verified"]],
      ],
    );
  });

  it("knows ISO weeks across a year boundary and whether any rule is set", () => {
    assert.equal(isoWeek(new Date("2021-01-03T00:00:00Z")), "2020-W53");
    assert.equal(isoWeek(new Date("2024-12-30T00:00:00Z")), "2025-W01");
    assert.equal(isoWeek(new Date("2026-11-26T00:00:00Z")), "2026-W48");
    assert.equal(hasRules({}), false);
    assert.equal(hasRules({ keepLast: 0 }), true);
  });
});
