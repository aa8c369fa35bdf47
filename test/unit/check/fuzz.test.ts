/**
 * Bounded fuzzing of every parser `check` feeds with outside input: random and mutated inputs
 * must produce results or the documented errors, never another exception or a hang.
 */
import assert from "node:assert/strict";
import { randomInt } from "node:crypto";
import { describe, it } from "node:test";
import { judgeCsp, parseCsp } from "../../../src/check/probes/csp.js";
import { parseSetCookie } from "../../../src/check/probes/header-rules.js";
import { affects, compareVersions, cvss3BaseScore } from "../../../src/check/scanners/advisories.js";
import { scanCompose } from "../../../src/check/scanners/compose.js";
import { contentSmells } from "../../../src/check/scanners/config-smells.js";
import { scanDockerfile } from "../../../src/check/scanners/dockerfile.js";
import { LockfileError, lockfileReader } from "../../../src/check/scanners/lockfiles/lockfiles.js";
import { EMPTY_ALLOW, scanSecrets } from "../../../src/check/scanners/secrets.js";
import { parseWaivers } from "../../../src/check/waivers.js";
import { isBulwarkError } from "../../../src/errors.js";

const SEEDS = [
  "FROM node:20\nUSER app\nENV A=1 B=2\nHEALTHCHECK CMD true\n",
  "services:\n  web:\n    image: x\n    privileged: true\n    volumes: [/var/run/docker.sock:/s]\n",
  '{"lockfileVersion":3,"packages":{"node_modules/a":{"version":"1.0.0"}}}',
  'a@^1:\n  version "1.0.0"\n',
  "packages:\n  /a@1.0.0:\n    resolution: {}\n",
  '[[package]]\nname = "a"\nversion = "1.0.0"\n',
  "golang.org/x/net v0.1.0 h1:abc=\n",
  "GEM\n  specs:\n    a (1.0.0)\n",
  "default-src 'self'; script-src 'nonce-x' 'unsafe-inline'; object-src 'none'",
  "sid=1; Secure; HttpOnly; SameSite=Lax; Path=/",
  'password = "Q1w2e3r4t5y6u7i8o9p0"\npostgres://u:p4ssw0rdXYZ@h/db sslmode=disable\n',
];
const ALPHABET = "ab=:;\"'{}[]\n\t \\`#-_.,/@*()<>0123456789AKIAghp_xoxb-sk_live_eyJ";

function mutate(seed: string): string {
  let text = seed;
  const edits = randomInt(1, 8);
  for (let i = 0; i < edits; i++) {
    const at = randomInt(0, text.length + 1);
    const op = randomInt(3);
    const chunk = Array.from({ length: randomInt(1, 12) }, () => ALPHABET[randomInt(ALPHABET.length)]).join(
      "",
    );
    if (op === 0) text = text.slice(0, at) + chunk + text.slice(at);
    else if (op === 1) text = text.slice(0, at) + text.slice(at + randomInt(1, 10));
    else text = text.slice(0, at) + chunk.repeat(randomInt(1, 50)) + text.slice(at);
  }
  return text;
}

const LOCKFILES = [
  "package-lock.json",
  "yarn.lock",
  "pnpm-lock.yaml",
  "Cargo.lock",
  "poetry.lock",
  "requirements.txt",
  "go.sum",
  "Gemfile.lock",
];

describe("fuzzing check parsers", () => {
  it("random and mutated inputs never throw unexpected errors (2 s)", () => {
    const deadline = Date.now() + 2000;
    let rounds = 0;
    while (Date.now() < deadline) {
      rounds += 1;
      const input = mutate(SEEDS[randomInt(SEEDS.length)]!);
      scanDockerfile(input, "Dockerfile");
      scanCompose(input, "compose.yml");
      contentSmells(input, "app/settings.py");
      scanSecrets(input, "x.env", EMPTY_ALLOW);
      judgeCsp(parseCsp(input));
      parseSetCookie(input);
      for (const name of LOCKFILES) {
        try {
          lockfileReader(name)!.read(input);
        } catch (error) {
          assert.ok(error instanceof LockfileError, `${name}: ${(error as Error).stack}`);
        }
      }
      try {
        parseWaivers({ waivers: [{ id: input, reason: input, expires: input, location: input }] }, "w");
      } catch (error) {
        assert.ok(isBulwarkError(error));
      }
      compareVersions(input.slice(0, 20), input.slice(-20));
      cvss3BaseScore(input);
      affects(
        {
          ranges: [
            { type: "SEMVER", events: [{ introduced: input.slice(0, 8) }, { fixed: input.slice(-8) }] },
          ],
        },
        input.slice(3, 12),
        "npm",
      );
    }
    // A floor, not a speed test: the CPU may be shared with many other test processes.
    assert.ok(rounds > 10, `only ${rounds} rounds`);
  });

  it("long adversarial lines finish (no catastrophic backtracking)", () => {
    const lines = [
      `token${"_token".repeat(20_000)}= x`,
      `password ${"a".repeat(100_000)}`,
      `-----BEGIN PRIVATE KEY----- ${"A ".repeat(50_000)}`,
      `postgres://${"u".repeat(50_000)}:${"p".repeat(50_000)}`,
      `${"eyJ".repeat(30_000)}.eyJ`,
      `FROM ${"\\\n".repeat(20_000)}node`,
    ];
    for (const line of lines) {
      scanSecrets(line, "big.txt", EMPTY_ALLOW);
      contentSmells(line, "big.ts");
      scanDockerfile(line, "Dockerfile");
    }
  });
});
