/**
 * Secrets sent in every place a request can carry them must never reach the logs, even at
 * trace level and on error paths.
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { request } from "undici";
import { startGateway } from "../../support/gateway.js";
import { rawRequest } from "../../support/raw-http.js";

test("no secret from headers, cookies, query strings or referers appears in any log line", async () => {
  const secrets = {
    authorization: "Bearer eyJhbGciOiJIUzI1NiJ9.SECRET-AUTH-1.sig",
    proxyAuth: "Basic U0VDUkVULVBST1hZLTI=",
    cookie: "SECRET-COOKIE-3",
    setCookie: "SECRET-SETCOOKIE-4",
    queryToken: "SECRET-QUERY-5",
    queryPassword: "SECRET-PASSWORD-6",
    apiKey: "SECRET-APIKEY-7",
    refererToken: "SECRET-REFERER-8",
    custom: "SECRET-CUSTOM-9",
    customParam: "SECRET-PIN-10",
  };
  const upstream = createServer((req, res) => {
    res.setHeader("set-cookie", `session=${secrets.setCookie}; HttpOnly`);
    if (req.url?.startsWith("/fail")) {
      req.socket.destroy();
      return;
    }
    res.end("ok");
  });
  await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  const gw = await startGateway({
    upstreams: { app: { targets: [url] } },
    routes: [{ upstream: "app" }],
    logging: { level: "trace", redact: ["x-tenant-secret", "pin"] },
  });
  try {
    const headers = {
      authorization: secrets.authorization,
      "proxy-authorization": secrets.proxyAuth,
      cookie: `sid=${secrets.cookie}`,
      "x-api-key": secrets.apiKey,
      "x-tenant-secret": secrets.custom,
      referer: `https://app.example.com/cb?access_token=${secrets.refererToken}&page=1`,
    };
    const query = `?token=${secrets.queryToken}&password=${secrets.queryPassword}&api_key=${secrets.apiKey}&pin=${secrets.customParam}&q=visible`;
    for (const path of ["/ok", "/fail"]) {
      const response = await request(`${gw.url}${path}${query}`, { headers });
      await response.body.dump();
    }
    // a malformed request and a 404-free oversize one, on the error paths
    await rawRequest(
      gw.port,
      `GET /x${query} HTTP/1.1\r\nHost: a\r\nAuthorization: ${secrets.authorization}\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n`,
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    const text = gw.logText();
    assert.ok(text.includes('"type":"access"'), "access lines were written");
    assert.ok(text.includes("q=visible"), "non-secret parameters stay readable");
    for (const [name, secret] of Object.entries(secrets)) {
      assert.ok(!text.includes(secret), `${name} leaked into the log`);
    }
    assert.ok(!text.includes("U0VDUkVULVBST1hZLTI"), "no encoded credential either");
  } finally {
    await gw.stop();
    upstream.close();
  }
});
