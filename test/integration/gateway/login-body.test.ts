/**
 * Brute-force protection with the account in the request body (a form field, a JSON Pointer),
 * through a real gateway and a real upstream that hashes every body it receives. Client addresses
 * vary through X-Forwarded-For from a trusted proxy (the loopback peer), so the per-account count
 * is shown to work across addresses. The pre-read must forward byte-identical bodies whatever
 * happens: non-ASCII text, slow chunked uploads, bodies over the read limit, garbage.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from "node:http";
import { type ClientHttp2Session, connect as http2Connect } from "node:http2";
import { type AddressInfo, connect } from "node:net";
import { after, before, describe, test } from "node:test";
import { request } from "undici";
import { type Certificate, makeCertificate } from "../../support/certs.js";
import { startGateway, type TestGateway } from "../../support/gateway.js";
import { rawRequest } from "../../support/raw-http.js";

interface Received {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly sha256: string;
  readonly length: number;
  /** Milliseconds after the request head arrived that the first body byte did. */
  readonly firstByteAfter: number | null;
}

interface HashingUpstream {
  readonly url: string;
  readonly received: Received[];
  /** Resolves with the next request's path as soon as its first body byte arrives. */
  firstByte(): Promise<string>;
  close(): Promise<void>;
}

const sha256 = (bytes: Buffer | string) => createHash("sha256").update(bytes).digest("hex");

/** Answers 200 on paths containing "/ok", else 401 (a refused sign-in); records each body's hash. */
async function startHashingUpstream(): Promise<HashingUpstream> {
  const received: Received[] = [];
  let onFirstByte: ((path: string) => void) | undefined;
  const server: Server = createServer((req, res) => {
    const started = Date.now();
    const hash = createHash("sha256");
    let length = 0;
    let firstByteAfter: number | null = null;
    req.on("data", (chunk: Buffer) => {
      if (firstByteAfter === null) {
        firstByteAfter = Date.now() - started;
        onFirstByte?.(req.url ?? "");
        onFirstByte = undefined;
      }
      hash.update(chunk);
      length += chunk.length;
    });
    req.on("end", () => {
      const path = req.url ?? "/";
      received.push({ path, headers: req.headers, sha256: hash.digest("hex"), length, firstByteAfter });
      res.statusCode = path.includes("/ok") ? 200 : 401;
      res.end(res.statusCode === 200 ? "welcome" : "wrong password");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    firstByte: () =>
      new Promise((resolve) => {
        onFirstByte = resolve;
      }),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const FORM = "application/x-www-form-urlencoded";
const JSON_TYPE = "application/json";

describe("brute-force protection with the account in the body", () => {
  let upstream: HashingUpstream;
  let gw: TestGateway;

  async function send(
    path: string,
    body: string | Buffer,
    headers: Record<string, string>,
  ): Promise<{ status: number; code?: string }> {
    const response = await request(`${gw.url}${path}`, { method: "POST", headers, body });
    const text = await response.body.text();
    return {
      status: response.statusCode,
      ...(response.statusCode >= 400 && text.startsWith("{") ? { code: JSON.parse(text).code } : {}),
    };
  }

  /** Sends the body in `pieces` writes `delayMs` apart, chunked unless `declareLength`. */
  function sendSlowly(
    path: string,
    body: Buffer,
    options: { headers: Record<string, string>; pieces: number; delayMs: number; declareLength?: boolean },
  ): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(`${gw.url}${path}`, {
        method: "POST",
        headers: {
          ...options.headers,
          ...(options.declareLength ? { "content-length": String(body.length) } : {}),
        },
      });
      req.on("response", (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      });
      req.on("error", reject);
      const size = Math.ceil(body.length / options.pieces);
      let offset = 0;
      const next = () => {
        if (offset >= body.length) {
          req.end();
          return;
        }
        req.write(body.subarray(offset, offset + size));
        offset += size;
        setTimeout(next, options.delayMs);
      };
      next();
    });
  }

  const from = (ip: string, contentType: string) => ({ "x-forwarded-for": ip, "content-type": contentType });

  async function settle(): Promise<void> {
    // Failures are counted after the response, off the request path.
    await new Promise((resolve) => setTimeout(resolve, 50));
  }

  before(async () => {
    upstream = await startHashingUpstream();
    gw = await startGateway({
      logging: { level: "debug" },
      server: {
        trustedProxies: ["127.0.0.1/32"],
        timeouts: { bodyIdle: "1s" },
        bruteForce: { maxFailures: 3, window: "1m", lockout: "30s", maxLockout: "1m" },
      },
      upstreams: { app: { targets: [upstream.url] } },
      routes: [
        {
          name: "form-login",
          match: { pathPrefix: "/form" },
          upstream: "app",
          loginEndpoint: { account: { form: "username" } },
        },
        {
          name: "json-login",
          match: { pathPrefix: "/json" },
          upstream: "app",
          loginEndpoint: { account: { json: "/user/email" } },
        },
        {
          name: "small-login",
          match: { pathPrefix: "/small" },
          upstream: "app",
          loginEndpoint: { account: { form: "user", json: "/user" }, bodyReadLimit: "1kb" },
          limits: { maxBodySize: "16kb" },
        },
        { name: "upload", match: { pathPrefix: "/upload" }, upstream: "app" },
      ],
    });
    await gw.waitReady();
  });

  after(async () => {
    await gw?.stop();
    await upstream?.close();
  });

  test("a form account is locked out across client addresses; other accounts are not", async () => {
    for (const ip of ["203.0.113.1", "203.0.113.2", "203.0.113.3"]) {
      const result = await send("/form", "username=alice&password=guess", from(ip, FORM));
      assert.equal(result.status, 401);
    }
    await settle();
    // Same account, another address, another case and spacing, more fields around it.
    const lockedBody = "remember=1&username=+ALICE+&password=x";
    const locked = await send("/form", lockedBody, from("203.0.113.4", FORM));
    assert.equal(locked.status, 429);
    assert.equal(locked.code, "locked_out");
    const access = gw.logs().filter((line) => line.type === "access" && line.status === 429);
    assert.equal(access.at(-1)?.bytesIn, lockedBody.length, "the access log counts the bytes read");
    assert.equal(
      (await send("/form", "username=bob&password=guess", from("203.0.113.4", FORM))).status,
      401,
      "the address itself is not locked, nor is another account",
    );
    // Percent-encoding names the same account.
    assert.equal((await send("/form", "username=%61lice&password=x", from("203.0.113.5", FORM))).status, 429);
  });

  test("a JSON account is locked out across client addresses, whatever else the document holds", async () => {
    const bodies = [
      { user: { email: "carol@example.test" }, password: "a" },
      { password: "b", user: { name: "C", email: "carol@example.test" } },
      { user: { email: "Carol@Example.test", extra: [1, 2, 3] }, password: "c" },
    ];
    for (const [index, body] of bodies.entries()) {
      const result = await send("/json", JSON.stringify(body), from(`198.51.100.${index + 1}`, JSON_TYPE));
      assert.equal(result.status, 401);
    }
    await settle();
    const locked = await send(
      "/json",
      JSON.stringify({ user: { email: "carol@example.test" }, password: "d" }),
      from("198.51.100.9", "application/json; charset=utf-8"),
    );
    assert.equal(locked.status, 429);
    assert.equal(locked.code, "locked_out");
    const other = await send(
      "/json",
      JSON.stringify({ user: { email: "dave@example.test" } }),
      from("198.51.100.9", JSON_TYPE),
    );
    assert.equal(other.status, 401);
  });

  test("a repeated form field counts against its first and its last value", async () => {
    for (const ip of ["192.0.2.1", "192.0.2.2", "192.0.2.3"]) {
      const result = await send("/form", `username=decoy-${ip}&username=erin&password=x`, from(ip, FORM));
      assert.equal(result.status, 401);
    }
    await settle();
    assert.equal((await send("/form", "username=erin", from("192.0.2.4", FORM))).status, 429);
  });

  test("the upstream receives byte-identical bodies: non-ASCII, chunked and slow", async () => {
    const cases: { path: string; type: string; body: Buffer }[] = [
      {
        path: "/form/ok",
        type: FORM,
        body: Buffer.from(
          `username=${encodeURIComponent("Zoë Ωmega 😀")}&note=caf%C3%A9+%26+more&password=p%40ss`,
        ),
      },
      {
        path: "/json/ok",
        type: JSON_TYPE,
        body: Buffer.from(JSON.stringify({ user: { email: "émile@exämple.test" }, memo: "日本語 ✓" })),
      },
      { path: "/form/ok", type: FORM, body: Buffer.from("username=plain") },
    ];
    for (const { path, type, body } of cases) {
      const before = upstream.received.length;
      const result = await send(path, body, from("192.0.2.50", type));
      assert.equal(result.status, 200);
      const got = upstream.received[before]!;
      assert.equal(got.sha256, sha256(body), path);
      assert.equal(got.headers["content-length"], String(body.length));
      assert.equal(got.headers["content-type"], type);
    }
    // A body split into many small pieces, 20 ms apart (under the 1 s idle timeout), chunked.
    const slow = Buffer.from(
      `password=${"s3cr3t".repeat(50)}&username=${encodeURIComponent("frank-ü")}&tail=${"x".repeat(400)}`,
    );
    for (const declareLength of [false, true]) {
      const before = upstream.received.length;
      const result = await sendSlowly("/form/ok", slow, {
        headers: from("192.0.2.51", FORM),
        pieces: 40,
        delayMs: 20,
        declareLength,
      });
      assert.equal(result.status, 200, result.text);
      const got = upstream.received[before]!;
      assert.equal(got.sha256, sha256(slow));
      assert.equal(got.length, slow.length);
      // Framing is re-made by undici: a chunked body read whole before forwarding may go out with
      // its now-known length; either way the framing matches the bytes.
      if (declareLength || got.headers["transfer-encoding"] === undefined) {
        assert.equal(got.headers["content-length"], String(slow.length));
      } else {
        assert.equal(got.headers["transfer-encoding"], "chunked");
      }
    }
  });

  test("an account in a slow chunked body is counted too", async () => {
    for (const ip of ["192.0.2.61", "192.0.2.62", "192.0.2.63"]) {
      const result = await sendSlowly("/form", Buffer.from("username=grace&password=nope"), {
        headers: from(ip, FORM),
        pieces: 6,
        delayMs: 15,
      });
      assert.equal(result.status, 401);
    }
    await settle();
    assert.equal((await send("/form", "username=grace", from("192.0.2.64", FORM))).status, 429);
  });

  test("bodies over the read limit are forwarded unchanged and count per address only", async () => {
    const padding = "p".repeat(2000); // over the route's 1kb read limit, under its 16kb maxBodySize
    const big = Buffer.from(`user=heidi&padding=${padding}`);
    for (const declareLength of [true, false]) {
      const before = upstream.received.length;
      const result = await sendSlowly("/small", big, {
        headers: from("192.0.2.70", FORM),
        pieces: 8,
        delayMs: 5,
        declareLength,
      });
      assert.equal(result.status, 401);
      const got = upstream.received[before]!;
      assert.equal(got.sha256, sha256(big), `declared length: ${declareLength}`);
      assert.equal(got.length, big.length);
    }
    const before = upstream.received.length;
    assert.equal((await send("/small", big, from("192.0.2.70", FORM))).status, 401);
    assert.equal(upstream.received[before]!.sha256, sha256(big));
    await settle();
    // Three failures from 192.0.2.70: that address is locked, the account heidi is not.
    assert.equal((await send("/small", "user=heidi", from("192.0.2.70", FORM))).status, 429);
    assert.equal((await send("/small", "user=heidi", from("192.0.2.71", FORM))).status, 401);
  });

  test("bodies over maxBodySize still get 413, declared or chunked", async () => {
    const huge = Buffer.from(`user=ivan&padding=${"q".repeat(20_000)}`);
    assert.equal((await send("/small", huge, from("192.0.2.80", FORM))).status, 413);
    const chunked = await sendSlowly("/small", huge, {
      headers: from("192.0.2.81", FORM),
      pieces: 10,
      delayMs: 5,
    });
    assert.equal(chunked.status, 413);
  });

  test("garbage, other content types and values that are not names are forwarded and name no account", async () => {
    const cases: { type: string; body: Buffer }[] = [
      { type: JSON_TYPE, body: Buffer.from('{"user": {"email": "judy@example.test"') }, // cut short
      { type: JSON_TYPE, body: Buffer.from('{"user": {"email": {"$ne": "judy@example.test"}}}') },
      { type: JSON_TYPE, body: Buffer.from('["judy@example.test"]') },
      { type: "text/plain", body: Buffer.from("username=judy") },
      { type: "application/json; charset=utf-16", body: Buffer.from('{"user":{"email":"judy"}}') },
      { type: FORM, body: Buffer.from([0x75, 0x73, 0x65, 0x72, 0x6e, 0x61, 0x6d, 0x65, 0x3d, 0xff, 0xfe]) },
      { type: FORM, body: Buffer.from("user=judy") }, // not the configured field
      { type: FORM, body: Buffer.from("username=") },
    ];
    for (const [index, { type, body }] of cases.entries()) {
      const path = type.startsWith(JSON_TYPE) ? "/json" : "/form";
      const before = upstream.received.length;
      const result = await send(path, body, from(`192.0.2.${100 + index}`, type));
      assert.equal(result.status, 401, `case ${index}`);
      assert.equal(upstream.received[before]!.sha256, sha256(body), `case ${index}`);
    }
    await settle();
    // None of them named judy: a genuine attempt for judy is judged by the upstream.
    const judy = await send("/json", '{"user":{"email":"judy@example.test"}}', from("192.0.2.99", JSON_TYPE));
    assert.equal(judy.status, 401);
    // Operators see why at debug level, never the account itself.
    const reasons = new Set(
      gw
        .logs()
        .filter(
          (line) => line.msg === "sign-in body names no account; failures count per client address only",
        )
        .map((line) => line.reason),
    );
    for (const reason of ["content type", "no account in the json body", "no account in the form body"]) {
      assert.ok(reasons.has(reason), `logged reason ${reason}: ${[...reasons].join(", ")}`);
    }
    assert.doesNotMatch(gw.logText(), /judy/);
    assert.equal(
      gw.logs().filter((line) => line.level === "error" || line.level === "fatal").length,
      0,
      "no error was logged",
    );
  });

  test("Expect: 100-continue: the client is told to send, and the body is read and forwarded", async () => {
    const body = Buffer.from("username=oscar&password=x");
    const before = upstream.received.length;
    const text = await new Promise<string>((resolve, reject) => {
      const socket = connect(gw.port, "127.0.0.1");
      let received = "";
      let sent = false;
      socket.on("data", (chunk: Buffer) => {
        received += chunk.toString("latin1");
        // Only once the gateway said 100 Continue does the body go out, as curl does.
        if (received.startsWith("HTTP/1.1 100") && !sent) {
          sent = true;
          socket.write(body);
        }
      });
      socket.on("close", () => resolve(received)); // Connection: close
      socket.on("error", reject);
      socket.write(
        "POST /form HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n" +
          `Content-Length: ${body.length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`,
      );
    });
    assert.match(text, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 401 /);
    assert.equal(upstream.received[before]!.sha256, sha256(body));
  });

  test("an upgrade request on a sign-in route is not read as a body", async () => {
    // The tunnel opens at once and the upstream's answer comes back through it (this upstream
    // answers the upgrade as a plain request); a gateway waiting for a body would say nothing
    // for the 1 s idle timeout, and rawRequest gives up after 500 ms of silence.
    const response = await rawRequest(
      gw.port,
      "GET /form HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 14\r\n\r\nusername=frank",
      500,
    );
    assert.equal(response.status, 401, JSON.stringify(response.text));
  });

  test("a body that stalls gets the 408 of the body idle timeout", async () => {
    const head =
      "POST /form HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n" +
      "Content-Length: 100\r\n\r\nusername=ka";
    const started = Date.now();
    const response = await rawRequest(gw.port, head, 5000);
    assert.equal(response.status, 408);
    assert.match(response.body, /"code":"request_timeout"/);
    assert.ok(Date.now() - started < 4500, "answered after the 1 s idle timeout, not at the test's wait");
  });

  test("routes without a body account stream: the upstream sees the first bytes before the last are sent", async () => {
    for (const [path, type] of [
      ["/upload", "application/octet-stream"],
      ["/form", "application/octet-stream"], // a sign-in route, but not a form or JSON body
    ] as const) {
      const firstByte = upstream.firstByte();
      const req = httpRequest(`${gw.url}${path}`, { method: "POST", headers: { "content-type": type } });
      const answered = new Promise<number>((resolve, reject) => {
        req.on("response", (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on("error", reject);
      });
      req.write(Buffer.alloc(1024, 1));
      // The rest is only sent once the upstream saw the start: a buffering gateway would hang here.
      assert.equal(await firstByte, path);
      req.end(Buffer.alloc(1024, 2));
      assert.equal(await answered, 401);
    }
  });

  test("fuzz: random bodies through the gateway never crash it and reach the upstream unchanged", async () => {
    const deadline = Date.now() + 3000;
    let sent = 0;
    const alphabet = [
      "username",
      "=",
      "&",
      "%",
      "%C3",
      "%FF",
      "+",
      "{",
      "}",
      "[",
      "]",
      '"',
      ":",
      ",",
      "user",
      "email",
      "/",
      "~",
      "\u00e9",
      "\ud83d\ude00",
      "\\u0000",
      "a",
      "1",
    ];
    while (Date.now() < deadline) {
      const pieces = Array.from({ length: 1 + Math.floor(Math.random() * 40) }, () => {
        return Math.random() < 0.1
          ? String.fromCharCode(Math.floor(Math.random() * 256))
          : alphabet[Math.floor(Math.random() * alphabet.length)]!;
      });
      const body = Buffer.from(pieces.join(""));
      const [path, type] = Math.random() < 0.5 ? ["/form", FORM] : ["/json", JSON_TYPE];
      const before = upstream.received.length;
      const ip = `10.${sent % 250}.${Math.floor(sent / 250) % 250}.1`;
      const result = await send(path, body, from(ip, type));
      assert.ok(
        result.status === 401 || result.status === 429,
        `status ${result.status} for ${body.toString("hex")}`,
      );
      if (result.status === 401) assert.equal(upstream.received[before]!.sha256, sha256(body));
      sent++;
    }
    assert.ok(sent > 20, `only ${sent} requests in 3 s`);
    const live = await request(`${gw.adminUrl}/live`);
    await live.body.dump();
    assert.equal(live.statusCode, 200);
  });
});

describe("account in the body over HTTP/2", () => {
  let upstream: HashingUpstream;
  let cert: Certificate;
  let gw: TestGateway;
  let session: ClientHttp2Session;

  /** One HTTP/2 request; `pieces` > 1 sends the body in several DATA frames 10 ms apart. */
  function h2Post(path: string, body: Buffer, pieces = 1): Promise<number> {
    return new Promise((resolve, reject) => {
      const stream = session.request({
        ":path": path,
        ":method": "POST",
        "content-type": "application/x-www-form-urlencoded",
      });
      let status = 0;
      stream.on("response", (head) => {
        status = Number(head[":status"]);
      });
      stream.on("data", () => {});
      stream.on("end", () => resolve(status));
      stream.on("error", reject);
      const size = Math.ceil(body.length / pieces);
      let offset = 0;
      const next = () => {
        const piece = body.subarray(offset, offset + size);
        offset += size;
        if (offset >= body.length) stream.end(piece);
        else {
          stream.write(piece);
          setTimeout(next, 10);
        }
      };
      next();
    });
  }

  before(async () => {
    [upstream, cert] = await Promise.all([startHashingUpstream(), makeCertificate()]);
    gw = await startGateway({
      listeners: [{ address: "127.0.0.1:0", tls: { cert: cert.certFile, key: cert.keyFile } }],
      // Four: the reset test's follow-up request and the three bodies below, then the lock-out.
      server: { bruteForce: { maxFailures: 4, window: "1m", lockout: "30s", maxLockout: "1m" } },
      upstreams: { app: { targets: [upstream.url] } },
      routes: [
        {
          name: "login",
          match: { pathPrefix: "/login" },
          upstream: "app",
          loginEndpoint: { account: { form: "username" }, bodyReadLimit: "1kb" },
        },
      ],
    });
    session = http2Connect(gw.url, { ca: cert.certPem, servername: "localhost" });
  });

  after(async () => {
    session?.close();
    await gw?.stop();
    await upstream?.close();
    await cert?.cleanup();
  });

  test("a stream reset in the middle of a body ends the read; the gateway carries on", async () => {
    const stream = session.request({
      ":path": "/login",
      ":method": "POST",
      "content-type": "application/x-www-form-urlencoded",
      "content-length": "100",
    });
    stream.on("error", () => {});
    stream.write("username=trent&pass");
    await new Promise((resolve) => setTimeout(resolve, 100));
    stream.close(0x8); // RST_STREAM CANCEL
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(upstream.received.length, 0, "nothing reached the upstream");
    // The connection is still good for the next request.
    assert.equal(await h2Post("/login", Buffer.from("username=trent&password=x")), 401);
    const live = await request(`${gw.adminUrl}/live`);
    await live.body.dump();
    assert.equal(live.statusCode, 200);
    assert.equal(gw.logs().filter((line) => line.level === "error" || line.level === "fatal").length, 0);
  });

  test("the account is read from HTTP/2 bodies, which reach the upstream unchanged", async () => {
    const big = Buffer.from(`username=mallory&pad=${"z".repeat(3000)}`); // over the 1 KiB read limit
    const bodies = [
      Buffer.from("username=mallory&password=1"),
      Buffer.from("password=2&username=Mallory"),
      big,
    ];
    for (const [index, body] of bodies.entries()) {
      const before = upstream.received.length;
      assert.equal(await h2Post("/login", body, index * 2 + 1), 401);
      assert.equal(upstream.received[before]!.sha256, sha256(body));
      assert.equal(upstream.received[before]!.length, body.length);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Four failures from this address (the big body's counted per address only): locked.
    const before = upstream.received.length;
    assert.equal(await h2Post("/login", Buffer.from("username=someone-else")), 429);
    assert.equal(upstream.received.length, before, "a locked-out request does not reach the upstream");
  });
});
