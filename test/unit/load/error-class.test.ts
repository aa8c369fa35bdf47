import assert from "node:assert/strict";
import { test } from "node:test";
import { classifyError } from "../../../src/load/error-class.js";

const withCode = (code: string, cause?: unknown) => Object.assign(new Error("x"), { code, cause });

test("classifies by code, following the cause chain", () => {
  assert.equal(classifyError(withCode("ECONNREFUSED")), "connect");
  assert.equal(classifyError(withCode("ENOTFOUND")), "connect");
  assert.equal(classifyError(withCode("UND_ERR_CONNECT_TIMEOUT")), "timeout");
  assert.equal(classifyError(withCode("UND_ERR_HEADERS_TIMEOUT")), "timeout");
  assert.equal(classifyError(withCode("UND_ERR_BODY_TIMEOUT")), "timeout");
  assert.equal(classifyError(withCode("ECONNRESET")), "reset");
  assert.equal(classifyError(withCode("UND_ERR_SOCKET")), "reset");
  assert.equal(classifyError(withCode("DEPTH_ZERO_SELF_SIGNED_CERT")), "tls");
  assert.equal(classifyError(withCode("ERR_TLS_CERT_ALTNAME_INVALID")), "tls");
  assert.equal(classifyError(withCode("ERR_SSL_WRONG_VERSION_NUMBER")), "tls");
  assert.equal(classifyError(withCode("UND_ERR_WHATEVER", withCode("ECONNREFUSED"))), "connect");
  assert.equal(classifyError(new Error("no code")), "other");
  assert.equal(classifyError("a string"), "other");
});
