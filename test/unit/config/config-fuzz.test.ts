/**
 * Bounded fuzz of config loading: random mutations of a valid file must either load or fail
 * with a ConfigError listing positioned problems — never another exception, never a hang.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError, loadConfigText } from "../../../src/config/load.js";

const VALID = `listeners:
  - address: 127.0.0.1:8080
upstreams:
  app:
    targets: [http://127.0.0.1:3000, http://127.0.0.1:3001]
    timeouts: { connect: 2s, responseHeaders: 30s }
routes:
  - name: api
    match: { host: "*.example.com", pathPrefix: /api }
    upstream: app
    stripPrefix: true
    cors: { origins: [https://app.example.com], credentials: true, maxAge: 10m }
    limits: { maxBodySize: 2mb }
  - upstream: app
    headers: { profile: webapp, set: { x-team: web }, keepUpstream: [content-security-policy] }
server:
  trustedProxies: [10.0.0.0/8]
  timeouts: { clientHeader: 5s }
logging: { level: info, redact: [pin] }
`;

const NOISE = [
  "{",
  "}",
  "[",
  "]",
  ":",
  "-",
  "\n",
  "  ",
  "'",
  '"',
  "*",
  "&a",
  "*a",
  "!!binary",
  "${env:X}",
  "${file:/nope}",
  "0",
  "-1",
  "1e999",
  "null",
  "~",
  "\t",
  "\u0000",
  "é",
  "#",
  "|",
  ">",
  "?",
  "%",
];

function xorshift(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 0x1_0000_0000;
  };
}

test("mutated configs load or fail with a ConfigError (bounded)", () => {
  const seed = Number(process.env.BULWARK_FUZZ_SEED ?? Date.now() % 1_000_000);
  const random = xorshift(seed);
  const deadline = Date.now() + 3000;
  let runs = 0;
  let rejected = 0;
  while (Date.now() < deadline) {
    let text = VALID;
    const edits = 1 + Math.floor(random() * 4);
    for (let edit = 0; edit < edits; edit++) {
      const at = Math.floor(random() * text.length);
      const choice = random();
      if (choice < 0.4)
        text = text.slice(0, at) + NOISE[Math.floor(random() * NOISE.length)] + text.slice(at);
      else if (choice < 0.7) text = text.slice(0, at) + text.slice(at + 1 + Math.floor(random() * 8));
      else text = text.slice(0, at) + String.fromCharCode(Math.floor(random() * 128)) + text.slice(at + 1);
    }
    runs++;
    try {
      loadConfigText(text, { source: "fuzz.yaml", baseDir: "/tmp", env: {} });
    } catch (error) {
      rejected++;
      assert.ok(error instanceof ConfigError, `seed ${seed} run ${runs}: ${String(error)}\n---\n${text}`);
      assert.ok(error.problems.length > 0);
      for (const problem of error.problems)
        assert.match(problem.where, /^fuzz\.yaml(:\d+:\d+)?$/, `seed ${seed}`);
    }
  }
  assert.ok(runs > 100, `only ${runs} runs`);
  assert.ok(rejected > 0);
});
