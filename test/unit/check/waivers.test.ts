import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { finding } from "../../../src/check/findings.js";
import { applyWaivers, parseWaivers } from "../../../src/check/waivers.js";
import { isBulwarkError } from "../../../src/errors.js";

const root = finding("docker-user-root", { evidence: "no USER", location: "deploy/Dockerfile:1" });
const other = finding("docker-user-root", { evidence: "no USER", location: "tools/Dockerfile:1" });

describe("waivers", () => {
  const waivers = parseWaivers(
    {
      waivers: [
        {
          id: "docker-user-root",
          location: "deploy/*",
          reason: "drops privileges in entrypoint",
          expires: "2030-01-31",
        },
      ],
    },
    "w.yaml",
  );

  it("waives matching id and location until the end of the expiry day", () => {
    const outcome = applyWaivers([root, other], waivers, new Date("2030-01-31T23:59:00Z"));
    assert.deepEqual(
      outcome.findings.map((item) => item.location),
      ["tools/Dockerfile:1"],
    );
    assert.equal(outcome.waived[0]!.waiver.reason, "drops privileges in entrypoint");
    assert.deepEqual(outcome.warnings, []);
  });

  it("an expired waiver fails again and says so", () => {
    const outcome = applyWaivers([root], waivers, new Date("2030-02-01T00:00:01Z"));
    assert.equal(outcome.waived.length, 0);
    assert.equal(outcome.findings[0]!.waiverExpired, "2030-01-31");
    assert.match(outcome.warnings[0]!, /expired on 2030-01-31/);
  });

  it("accepts YAML dates and reports every problem at once", () => {
    assert.equal(
      parseWaivers({ waivers: [{ id: "secret-jwt", reason: "r", expires: new Date("2031-05-01") }] }, "w")[0]!
        .expires,
      "2031-05-01",
    );
    try {
      parseWaivers({ waivers: [{ id: "nope", expires: "tomorrow" }, "x"] }, "w.yaml");
      assert.fail("expected an error");
    } catch (error) {
      assert.ok(isBulwarkError(error));
      assert.equal(error.code, "check_waivers_invalid");
      assert.equal(error.details.length, 4);
      assert.match(error.details.join("\n"), /"nope" is not a finding id/);
      assert.match(error.details.join("\n"), /expected a date YYYY-MM-DD/);
    }
    assert.throws(() => parseWaivers({}, "w.yaml"), /top-level `waivers:` list/);
  });
});
