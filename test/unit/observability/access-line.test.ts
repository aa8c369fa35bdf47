import assert from "node:assert/strict";
import { test } from "node:test";
import { type RequestAccessRecord, requestAccessMembers } from "../../../src/observability/access-line.js";

function record(overrides: Partial<RequestAccessRecord> = {}): RequestAccessRecord {
  // Built in line order, as server.ts builds it: JSON.stringify follows insertion order.
  const base: RequestAccessRecord = {
    type: "access",
    route: "default",
    upstream: "app",
    target: "http://127.0.0.1:8080",
    method: "GET",
    path: "/api/items",
    status: 200,
    durationMs: 1.234,
    bytesIn: 0,
    bytesOut: 912,
    protocol: "1.1",
    requestId: "0b7c5f0e-2d7a-4c69-9a8e-5a1f3b1f0000",
    traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
    clientIp: "127.0.0.1",
    userAgent: "wrk",
    referer: undefined,
    error: undefined,
    aborted: undefined,
    msg: "request",
  };
  return { ...base, ...overrides };
}

function expected(r: RequestAccessRecord): string {
  return JSON.stringify(r).slice(1);
}

test("a plain request's members are exactly JSON.stringify's", () => {
  const r = record();
  assert.equal(requestAccessMembers(r), expected(r));
  assert.deepEqual(JSON.parse(`{${requestAccessMembers(r)}`), JSON.parse(JSON.stringify(r)));
});

test("optional fields, errors, aborts, arrays and odd numbers serialize as JSON.stringify does", () => {
  const cases: Partial<RequestAccessRecord>[] = [
    { upstream: undefined, target: undefined, userAgent: undefined },
    { referer: "https://example.com/a?token=[REDACTED]", error: "upstream_timeout", aborted: true },
    { userAgent: ["first", 'second "quoted"'] },
    { status: 499, durationMs: 0, bytesOut: Number.NaN, bytesIn: Number.POSITIVE_INFINITY },
    { durationMs: 1e21, bytesOut: -0, status: 0.1 + 0.2 },
    { path: '/quote"and\\backslash', userAgent: "tab\tnew\nline\u0000nul\u007fdel" },
    { path: "/caf\u00e9/\u65e5\u672c/\u{1d11e}", clientIp: "::ffff:127.0.0.1", method: "PROPFIND" },
    { path: "/lone\ud800surrogate\udc00x", userAgent: "\u2028\u2029" },
    { route: 'route "quoted"', upstream: "back\\slash", requestId: "", traceId: "" },
  ];
  for (const overrides of cases) {
    const r = record(overrides);
    assert.equal(requestAccessMembers(r), expected(r), JSON.stringify(overrides));
  }
});

test("fuzzed strings in every string field give JSON.stringify's output (bounded run)", () => {
  let seed = 0x2545f491;
  const next = () => {
    // xorshift32: reproducible without a dependency
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 0x100000000;
  };
  const alphabet = [
    '"',
    "\\",
    "\n",
    "\u0000",
    "\u001f",
    " ",
    "~",
    "\u007f",
    "é",
    "\ud83d",
    "\ude00",
    "a",
    "/",
  ];
  const text = () => {
    let out = "";
    const length = Math.floor(next() * 12);
    for (let index = 0; index < length; index++) {
      out +=
        next() < 0.5
          ? alphabet[Math.floor(next() * alphabet.length)]
          : String.fromCharCode(Math.floor(next() * 0x10000));
    }
    return out;
  };
  const deadline = Date.now() + 2000;
  let checked = 0;
  while (Date.now() < deadline && checked < 50_000) {
    const r = record({
      route: text(),
      upstream: next() < 0.3 ? undefined : text(),
      target: next() < 0.3 ? undefined : text(),
      method: text(),
      path: text(),
      status: Math.floor(next() * 600),
      durationMs: Math.round(next() * 1e6) / 1000,
      bytesOut: Math.floor(next() * 1e9),
      protocol: text(),
      requestId: text(),
      traceId: text(),
      clientIp: text(),
      userAgent: next() < 0.2 ? undefined : next() < 0.1 ? [text(), text()] : text(),
      referer: next() < 0.5 ? undefined : text(),
      error: next() < 0.5 ? undefined : text(),
      aborted: next() < 0.5 ? undefined : true,
    });
    assert.equal(requestAccessMembers(r), expected(r), JSON.stringify(r));
    checked++;
  }
  assert.ok(checked > 1000, `only ${checked} records checked`);
});
