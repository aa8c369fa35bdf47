import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { finding, strength } from "../../../src/check/findings.js";
import { scoreFindings } from "../../../src/check/scoring.js";

const f = (id: string, severity?: "critical" | "high" | "medium" | "low" | "info") =>
  finding(id, { evidence: "e", location: `l${Math.random()}`, ...(severity ? { severity } : {}) });

describe("scoring", () => {
  it("a clean result is 100 and A+", () => {
    assert.deepEqual(scoreFindings([], []), { score: 100, grade: "A+", base: 100, bonus: 0 });
  });

  it("deducts by severity and counts one id at most three times", () => {
    assert.equal(scoreFindings([f("hdr-xcto-missing")], []).score, 97);
    assert.equal(scoreFindings([f("hdr-csp-missing")], []).score, 90);
    const many = Array.from({ length: 10 }, () => f("hdr-csp-missing"));
    assert.equal(scoreFindings(many, []).score, 70);
  });

  it("a critical finding caps the grade at F whatever the score (SSL Labs style)", () => {
    const result = scoreFindings([f("cors-reflect-credentials")], []);
    assert.equal(result.score, 60);
    assert.equal(result.grade, "F");
    assert.deepEqual(result.cappedBy, { severity: "critical", grade: "F" });
  });

  it("a high finding caps at C, a medium at B", () => {
    assert.equal(scoreFindings([f("tls-not-used")], []).grade, "C");
    const medium = scoreFindings([f("hdr-csp-missing")], [strength("bonus-hsts-long", 5)]);
    assert.equal(medium.grade, "B");
    assert.equal(medium.cappedBy?.severity, "medium");
  });

  it("bonuses count only when nothing above low is found (Observatory style), up to 10", () => {
    const bonuses = [
      strength("bonus-csp-strict", 5),
      strength("bonus-hsts-long", 5),
      strength("bonus-cookies-hardened", 5),
    ];
    const clean = scoreFindings([f("hdr-xcto-missing"), f("hdr-coep-missing")], bonuses);
    assert.equal(clean.base, 97);
    assert.equal(clean.bonus, 10);
    assert.equal(clean.score, 100);
    assert.equal(clean.grade, "A+");
    const dirty = scoreFindings([f("hdr-csp-missing")], bonuses);
    assert.equal(dirty.bonus, 0);
    assert.equal(dirty.score, 90);
  });

  it("grades follow score thresholds", () => {
    assert.equal(scoreFindings([f("hdr-xcto-missing"), f("hdr-referrer-missing")], []).grade, "A");
    const lows = [
      "hdr-xcto-missing",
      "hdr-referrer-missing",
      "disc-server-version",
      "disc-powered-by",
      "cookie-no-samesite",
    ];
    assert.equal(
      scoreFindings(
        lows.flatMap((id) => [f(id), f(id)]),
        [],
      ).grade,
      "C",
    );
  });
});
