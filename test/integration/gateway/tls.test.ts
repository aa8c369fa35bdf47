/**
 * HTTPS through the gateway: HTTP/1.1 and HTTP/2 over TLS, HSTS, the 308 redirect listener,
 * certificate reload without dropping connections, and bad handshakes doing no harm.
 */
import assert from "node:assert/strict";
import { copyFileSync, renameSync } from "node:fs";
import { connect as http2Connect } from "node:http2";
import { after, before, describe, test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { Agent, request } from "undici";
import { type Certificate, makeCertificate } from "../../support/certs.js";
import { startGateway, type TestGateway } from "../../support/gateway.js";
import { rawRequest } from "../../support/raw-http.js";
import { startUpstream, type TestUpstream } from "../../support/upstream.js";

function fingerprintOf(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect(
      { port, host: "127.0.0.1", servername: "localhost", rejectUnauthorized: false },
      () => {
        resolve(socket.getPeerCertificate().fingerprint256);
        socket.end();
      },
    );
    socket.once("error", reject);
  });
}

describe("TLS listeners", () => {
  let upstream: TestUpstream;
  let cert: Certificate;
  let gw: TestGateway;
  let agent: Agent;

  before(async () => {
    upstream = await startUpstream();
    cert = await makeCertificate();
    gw = await startGateway({
      listeners: [
        { address: "127.0.0.1:0", tls: { cert: cert.certFile, key: cert.keyFile } },
        { address: "127.0.0.1:0", redirectToHttps: { port: 8443 } },
      ],
      upstreams: { app: { targets: [upstream.url] } },
      routes: [{ upstream: "app" }],
    });
    agent = new Agent({ connect: { ca: cert.certPem, servername: "localhost" } });
  });

  after(async () => {
    await agent.close();
    await gw.stop();
    await upstream.close();
    await cert.cleanup();
  });

  test("HTTPS over HTTP/1.1 proxies, with HSTS and X-Forwarded-Proto https", async () => {
    const response = await request(`${gw.url}/echo`, { dispatcher: agent });
    assert.equal(response.statusCode, 200);
    assert.match(String(response.headers["strict-transport-security"]), /^max-age=\d{8,}; includeSubDomains/);
    const echo = (await response.body.json()) as { headers: Record<string, string> };
    assert.equal(echo.headers["x-forwarded-proto"], "https");
    assert.match(echo.headers.forwarded!, /proto=https/);
  });

  test("HTTP/2 is negotiated by ALPN and proxied", async () => {
    const session = http2Connect(gw.url, { ca: cert.certPem, servername: "localhost" });
    try {
      const { status, body, headers } = await new Promise<{
        status: number;
        body: string;
        headers: Record<string, unknown>;
      }>((resolve, reject) => {
        const stream = session.request({
          ":path": "/echo?h2=1",
          ":method": "GET",
          ":authority": "api.example.test",
        });
        let text = "";
        let head: Record<string, unknown> = {};
        stream.on("response", (received) => {
          head = received;
        });
        stream.on("data", (chunk: Buffer) => {
          text += chunk.toString();
        });
        stream.on("end", () => resolve({ status: Number(head[":status"]), body: text, headers: head }));
        stream.on("error", reject);
      });
      assert.equal(session.alpnProtocol, "h2");
      assert.equal(status, 200);
      const echo = JSON.parse(body) as { url: string; headers: Record<string, string> };
      assert.equal(echo.url, "/echo?h2=1");
      assert.equal(echo.headers.host, "api.example.test", ":authority becomes the upstream Host");
      assert.equal(echo.headers[":path"], undefined, "no pseudo-headers reach the upstream");
      assert.ok(headers["strict-transport-security"]);
      assert.equal(typeof headers["x-request-id"], "string");
    } finally {
      session.close();
    }
  });

  test("HTTP/2 request bodies stream to the upstream", async () => {
    const session = http2Connect(gw.url, { ca: cert.certPem, servername: "localhost" });
    try {
      const body = await new Promise<string>((resolve, reject) => {
        const stream = session.request({ ":path": "/echo", ":method": "POST", "content-type": "text/plain" });
        let text = "";
        stream.on("data", (chunk: Buffer) => {
          text += chunk.toString();
        });
        stream.on("end", () => resolve(text));
        stream.on("error", reject);
        stream.end("x".repeat(100_000));
      });
      assert.equal((JSON.parse(body) as { bytes: number }).bytes, 100_000);
    } finally {
      session.close();
    }
  });

  test("the plaintext listener redirects to HTTPS with 308, keeping host, path and query", async () => {
    const raw = await rawRequest(
      gw.ports[1]!,
      "GET /a/b?c=d&e=f HTTP/1.1\r\nHost: shop.example.com:8080\r\nConnection: close\r\n\r\n",
    );
    assert.equal(raw.status, 308);
    assert.equal(raw.headers.location, "https://shop.example.com:8443/a/b?c=d&e=f");
  });

  test("old protocol versions and plaintext on the TLS port fail without harming the listener", async () => {
    await assert.rejects(
      new Promise((resolve, reject) => {
        const socket = tlsConnect(
          {
            port: gw.port,
            host: "127.0.0.1",
            maxVersion: "TLSv1.1",
            minVersion: "TLSv1",
            rejectUnauthorized: false,
          },
          () => resolve(socket.getProtocol()),
        );
        socket.once("error", reject);
      }),
    );
    const plaintext = await rawRequest(gw.port, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 500);
    assert.equal(plaintext.status, 0, "no HTTP answer to plaintext on a TLS port");
    const after = await request(`${gw.url}/`, { dispatcher: agent });
    assert.equal(after.statusCode, 200);
    await after.body.dump();
  });

  test("a new certificate is picked up by new connections while an open one keeps working", async () => {
    const before = await fingerprintOf(gw.port);
    // an open keep-alive connection across the swap
    const keepAlive = new Agent({
      connect: { ca: cert.certPem, servername: "localhost" },
      pipelining: 1,
      connections: 1,
    });
    const first = await request(`${gw.url}/`, { dispatcher: keepAlive });
    await first.body.dump();

    const next = await makeCertificate();
    try {
      // replace both files by rename, as cert-manager and certbot do
      copyFileSync(next.keyFile, `${cert.keyFile}.new`);
      copyFileSync(next.certFile, `${cert.certFile}.new`);
      renameSync(`${cert.keyFile}.new`, cert.keyFile);
      renameSync(`${cert.certFile}.new`, cert.certFile);
      const deadline = Date.now() + 5000;
      let after = before;
      while (after === before && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        after = await fingerprintOf(gw.port);
      }
      assert.notEqual(after, before, "new handshakes see the new certificate");
      const again = await request(`${gw.url}/`, { dispatcher: keepAlive });
      assert.equal(again.statusCode, 200, "the connection opened before the swap still works");
      await again.body.dump();
      assert.ok(gw.logs().some((line) => line.msg === "tls certificate reloaded"));
    } finally {
      await keepAlive.close();
      await next.cleanup();
    }
  });
});
