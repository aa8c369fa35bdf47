import assert from "node:assert/strict";
import { test } from "node:test";
import { parseCidr, TrustedProxies } from "../../../src/security/trusted-proxies.js";

test("CIDR parsing", () => {
  assert.deepEqual(parseCidr("10.0.0.0/8"), { address: "10.0.0.0", prefix: 8, family: "ipv4" });
  assert.deepEqual(parseCidr("::1"), { address: "::1", prefix: 128, family: "ipv6" });
  for (const bad of ["10.0.0.0/33", "10.0.0/8", "abc", "10.0.0.0/8/1", "::1/129", "10.0.0.0/x", ""]) {
    assert.equal(parseCidr(bad), undefined, bad);
  }
});

test("without trusted proxies the peer is the client, whatever X-Forwarded-For says", () => {
  const proxies = new TrustedProxies([]);
  assert.equal(proxies.clientAddress("198.51.100.7", "6.6.6.6"), "198.51.100.7");
});

test("X-Forwarded-For is walked from the right, skipping trusted hops only", () => {
  const proxies = new TrustedProxies(["10.0.0.0/8"]);
  // client 203.0.113.5 -> proxy 10.1.1.1 -> proxy 10.2.2.2 -> bulwark
  assert.equal(proxies.clientAddress("10.2.2.2", "203.0.113.5, 10.1.1.1"), "203.0.113.5");
  // a spoofed leftmost entry does not win over the first untrusted hop
  assert.equal(proxies.clientAddress("10.2.2.2", "6.6.6.6, 203.0.113.5, 10.1.1.1"), "203.0.113.5");
  // an untrusted peer's header is ignored entirely
  assert.equal(proxies.clientAddress("198.51.100.7", "6.6.6.6"), "198.51.100.7");
  // garbage in the chain stops the walk at the peer
  assert.equal(proxies.clientAddress("10.2.2.2", "not-an-ip"), "10.2.2.2");
});

test("IPv4-mapped IPv6 peers match IPv4 ranges", () => {
  const proxies = new TrustedProxies(["127.0.0.1"]);
  assert.ok(proxies.trusts("::ffff:127.0.0.1"));
  assert.equal(proxies.clientAddress("::ffff:127.0.0.1", "203.0.113.5"), "203.0.113.5");
});
