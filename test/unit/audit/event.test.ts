/** The secret check on audit events, and the canonical serialisation records are hashed over. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { canonicalJson } from "../../../src/audit/canonical-json.js";
import { type AuditEvent, AuditEventError, sanitizeEvent } from "../../../src/audit/event.js";
import {
  chainHash,
  type DroppedRecord,
  type EventRecord,
  recordLine,
  sealRecord,
} from "../../../src/audit/record.js";

const base: AuditEvent = { action: "request", outcome: "success", time: 0 };

describe("audit event sanitising", () => {
  test("keeps the known fields, fills the absent ones with null", () => {
    const fields = sanitizeEvent({
      ...base,
      subject: "alice@example.com",
      resource: { route: "/api/patients/:id", id: "42" },
      method: "GET",
      status: 200,
      clientIp: "2001:db8::1",
      requestId: "0b6c3c9e-3f3a-4a43-9d0e-5f1f8f3f8d55",
      traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
      reason: "forbidden",
    });
    assert.deepEqual(fields, {
      time: "1970-01-01T00:00:00.000Z",
      action: "request",
      outcome: "success",
      subject: "alice@example.com",
      resource: { route: "/api/patients/:id", id: "42" },
      method: "GET",
      status: 200,
      clientIp: "2001:db8::1",
      requestId: "0b6c3c9e-3f3a-4a43-9d0e-5f1f8f3f8d55",
      traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
      reason: "forbidden",
    });
    assert.deepEqual(sanitizeEvent(base).resource, { route: null, id: null });
  });

  test("drops every field outside the schema (headers, bodies, tokens)", () => {
    const event = {
      ...base,
      headers: { authorization: "Bearer abc" },
      body: "password=hunter2",
      token: "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.sig",
      cookie: "__Host-session=abc",
    } as unknown as AuditEvent;
    const text = JSON.stringify(sanitizeEvent(event));
    for (const secret of [
      "Bearer",
      "hunter2",
      "eyJhbGci",
      "__Host-session",
      "headers",
      "body",
      "token",
      "cookie",
    ]) {
      assert.ok(!text.includes(secret), `${secret} leaked: ${text}`);
    }
  });

  test("refuses values that look like credentials or have the wrong shape, and names the field", () => {
    const fields = sanitizeEvent({
      ...base,
      subject: "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl",
      resource: { route: "/login", id: "Bearer abcdef" },
      reason: "user typed a wrong password",
      clientIp: "not-an-ip",
      requestId: "x".repeat(200),
      status: 42,
      method: "get",
      traceId: "A".repeat(64),
    });
    assert.equal(fields.subject, null);
    assert.equal(fields.resource.id, null);
    assert.equal(fields.reason, null);
    assert.equal(fields.clientIp, null);
    assert.equal(fields.requestId, null);
    assert.equal(fields.status, null);
    assert.equal(fields.method, null);
    assert.equal(fields.traceId, null);
    assert.equal(fields.resource.route, "/login");
    assert.deepEqual(
      [...(fields.refused ?? [])].sort(),
      ["clientIp", "method", "reason", "requestId", "resource.id", "status", "subject", "traceId"].sort(),
    );
    assert.equal(sanitizeEvent({ ...base, subject: "password=abc" }).subject, null);
    assert.equal(sanitizeEvent({ ...base, subject: "line\nbreak" }).subject, null);
  });

  test("refuses events it cannot record at all", () => {
    assert.throws(() => sanitizeEvent({ ...base, action: "Auth Signin" }), AuditEventError);
    assert.throws(() => sanitizeEvent({ ...base, action: "made.up" }), AuditEventError);
    assert.throws(() => sanitizeEvent({ ...base, outcome: "maybe" as "success" }), AuditEventError);
    assert.throws(() => sanitizeEvent({ ...base, time: "yesterday" }), AuditEventError);
    assert.throws(() => sanitizeEvent(null as unknown as AuditEvent), AuditEventError);
    assert.equal(sanitizeEvent({ ...base, action: "admin.keys.revoke" }).action, "admin.keys.revoke");
  });
});

describe("canonical JSON", () => {
  test("sorts keys at every level, no whitespace, omits undefined", () => {
    assert.equal(
      canonicalJson({ b: 1, a: { d: [3, { z: null, y: "é\n" }], c: true }, u: undefined }),
      '{"a":{"c":true,"d":[3,{"y":"é\\n","z":null}]},"b":1}',
    );
  });

  test("refuses numbers that are not safe integers and non-JSON values", () => {
    assert.throws(() => canonicalJson({ a: 1.5 }), TypeError);
    assert.throws(() => canonicalJson(Number.NaN), TypeError);
    assert.throws(() => canonicalJson(2 ** 60), TypeError);
    assert.throws(() => canonicalJson({ a: () => 1 }), TypeError);
    assert.throws(() => canonicalJson(BigInt(1)), TypeError);
  });
});

describe("sealed records", () => {
  test("the stored line is the canonical JSON of the record, and the hash covers all but itself", () => {
    const fields = sanitizeEvent({ ...base, subject: "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", status: 204 });
    const event = sealRecord<EventRecord>({
      v: 1,
      kind: "event",
      ...fields,
      writer: "w-1-a",
      seq: 7,
      prev: "a".repeat(64),
    });
    const dropped = sealRecord<DroppedRecord>({
      v: 1,
      kind: "dropped",
      time: "2026-01-01T00:00:00.000Z",
      count: 3,
      since: "2026-01-01T00:00:00.000Z",
      writer: "w-1-a",
      seq: 8,
      prev: event.hash,
    });
    for (const record of [event, dropped]) {
      assert.equal(recordLine(record), canonicalJson(record));
      assert.equal(record.hash, chainHash(record));
      assert.match(record.hash, /^[0-9a-f]{64}$/);
    }
    assert.deepEqual(event.refused, ["subject"]);
  });
});
