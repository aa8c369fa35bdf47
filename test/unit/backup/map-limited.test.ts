import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { mapLimited } from "../../../src/backup/map-limited.js";

const tick = () => new Promise((resolve) => setTimeout(resolve, 1));

describe("mapLimited", () => {
  it("keeps input order and never runs more than the limit at once", async () => {
    let running = 0;
    let peak = 0;
    const out = await mapLimited([5, 1, 4, 2, 3, 6, 7], 3, async (value, index) => {
      running++;
      peak = Math.max(peak, running);
      for (let wait = 0; wait < value; wait++) await tick();
      running--;
      return `${index}:${value * 10}`;
    });
    assert.deepEqual(out, ["0:50", "1:10", "2:40", "3:20", "4:30", "5:60", "6:70"]);
    assert.equal(peak, 3);
    assert.deepEqual(await mapLimited([], 4, async () => 1), []);
  });

  it("starts nothing after a failure and throws the first one", async () => {
    const started: number[] = [];
    await assert.rejects(
      mapLimited([0, 1, 2, 3, 4, 5], 2, async (value) => {
        started.push(value);
        await tick();
        if (value === 1) throw new Error("task 1 failed");
        return value;
      }),
      /task 1 failed/,
    );
    // 0 and 1 run together; 1 fails, so at most the task 0's worker picked up one more (2).
    assert.ok(started.length <= 3, started.join(","));
  });
});
