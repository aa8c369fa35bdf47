/**
 * Request smuggling and malformed framing, as raw bytes over TCP to a real gateway in front of a
 * real upstream. Every ambiguous shape must be refused with a 400 problem, the connection closed
 * (its framing can no longer be trusted), and nothing — above all no smuggled second request —
 * may reach the upstream. RFC 9112 §6.3 (message body length), §11.2 (request smuggling).
 */
import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, describe, test } from "node:test";
import { request } from "undici";
import { startGateway, type TestGateway } from "../../support/gateway.js";
import { type RawResponse, rawRequest } from "../../support/raw-http.js";
import { startUpstream, type TestUpstream } from "../../support/upstream.js";

type Echo = { method: string; url: string; headers: Record<string, string>; body: string; bytes: number };

/** A complete second request hidden in the first one's body: it must never reach the upstream. */
const SMUGGLED = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function post(headers: string, body: string): string {
  return `POST /echo HTTP/1.1\r\nHost: a\r\n${headers}\r\n${body}`;
}

function chunk(data: string): string {
  return `${Buffer.byteLength(data).toString(16)}\r\n${data}\r\n`;
}

function statusLines(text: string): number {
  return text.match(/HTTP\/1\.[01] \d{3} /g)?.length ?? 0;
}

/** The shapes that must be refused: [name, raw request bytes]. */
const REFUSED: readonly (readonly [string, string])[] = [
  // Both Content-Length and Transfer-Encoding (RFC 9112 §6.1: "ought to be handled as an error").
  [
    "CL.TE: Content-Length covers a smuggled request after the terminating chunk",
    post(
      `Content-Length: ${Buffer.byteLength(`0\r\n\r\n${SMUGGLED}`)}\r\nTransfer-Encoding: chunked\r\n`,
      `0\r\n\r\n${SMUGGLED}`,
    ),
  ],
  [
    "TE.CL: a chunk carries a smuggled request that a Content-Length reader would see",
    post("Transfer-Encoding: chunked\r\nContent-Length: 4\r\n", `${chunk(SMUGGLED)}0\r\n\r\n`),
  ],
  [
    "TE.CL with Content-Length first and Transfer-Encoding last",
    post("Content-Length: 0\r\nTransfer-Encoding: chunked\r\n", `${chunk(SMUGGLED)}0\r\n\r\n`),
  ],
  // Content-Length ambiguity.
  [
    "duplicate Content-Length with different values",
    post(`Content-Length: 0\r\nContent-Length: ${Buffer.byteLength(SMUGGLED)}\r\n`, SMUGGLED),
  ],
  [
    "duplicate Content-Length with the same value (llhttp refuses any repeat; safe)",
    post(`Content-Length: 5\r\nContent-Length: 5\r\n`, `hello${SMUGGLED}`),
  ],
  ["Content-Length as a list of equal values", post("Content-Length: 5, 5\r\n", `hello${SMUGGLED}`)],
  ["Content-Length: -1", post("Content-Length: -1\r\n", SMUGGLED)],
  ["Content-Length: 1e3", post("Content-Length: 1e3\r\n", SMUGGLED)],
  ["Content-Length: 0x10", post("Content-Length: 0x10\r\n", SMUGGLED)],
  ["Content-Length: +5", post("Content-Length: +5\r\n", `hello${SMUGGLED}`)],
  ["Content-Length with a space inside (1 0)", post("Content-Length: 1 0\r\n", `helloworld${SMUGGLED}`)],
  [
    "Content-Length with a trailing tab inside the value",
    post("Content-Length: 5\t\r\n", `hello${SMUGGLED}`),
  ],
  ["Content-Length: (empty)", post("Content-Length: \r\n", SMUGGLED)],
  ["Content-Length beyond 2^64", post("Content-Length: 99999999999999999999999\r\n", SMUGGLED)],
  ["Content-Length folded onto the next line", post("Content-Length:\r\n 5\r\n", `hello${SMUGGLED}`)],
  // Transfer-Encoding other than (final) chunked.
  ["Transfer-Encoding: gzip", post("Transfer-Encoding: gzip\r\n", SMUGGLED)],
  [
    "Transfer-Encoding: chunked, identity (chunked not last)",
    post("Transfer-Encoding: chunked, identity\r\n", `0\r\n\r\n${SMUGGLED}`),
  ],
  [
    "Transfer-Encoding: identity with Content-Length",
    post("Transfer-Encoding: identity\r\nContent-Length: 5\r\n", `hello${SMUGGLED}`),
  ],
  ["Transfer-Encoding: xchunked", post("Transfer-Encoding: xchunked\r\n", `0\r\n\r\n${SMUGGLED}`)],
  [
    "Transfer-Encoding: chunked<TAB> (trailing tab)",
    post("Transfer-Encoding: chunked\t\r\n", `0\r\n\r\n${SMUGGLED}`),
  ],
  ["Transfer-Encoding: chunked<VT>", post("Transfer-Encoding: chunked\x0b\r\n", `0\r\n\r\n${SMUGGLED}`)],
  ["Transfer-Encoding: <VT>chunked", post("Transfer-Encoding: \x0bchunked\r\n", `0\r\n\r\n${SMUGGLED}`)],
  [
    "Transfer-Encoding : chunked (space before the colon)",
    post("Transfer-Encoding : chunked\r\n", `0\r\n\r\n${SMUGGLED}`),
  ],
  [
    "Transfer-Encoding: chunked, chunked",
    post("Transfer-Encoding: chunked, chunked\r\n", `0\r\n\r\n${SMUGGLED}`),
  ],
  [
    "Transfer-Encoding twice (chunked, then chunked)",
    post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", `0\r\n\r\n${SMUGGLED}`),
  ],
  [
    "Transfer-Encoding with obs-fold (value on the next line)",
    post("Transfer-Encoding:\r\n chunked\r\n", `0\r\n\r\n${SMUGGLED}`),
  ],
  [
    "Transfer-Encoding with obs-fold (gzip, folded chunked)",
    post("Transfer-Encoding: gzip\r\n ,chunked\r\n", `0\r\n\r\n${SMUGGLED}`),
  ],
  ["Transfer-Encoding: , (empty list element only)", post("Transfer-Encoding: ,\r\n", SMUGGLED)],
  // Bad chunk framing.
  [
    "chunk size that is not hex (zz)",
    post("Transfer-Encoding: chunked\r\n", `zz\r\nhello\r\n0\r\n\r\n${SMUGGLED}`),
  ],
  [
    "chunk size that overflows (ffffffffffffffffff)",
    post("Transfer-Encoding: chunked\r\n", `ffffffffffffffffff\r\nhello\r\n0\r\n\r\n${SMUGGLED}`),
  ],
  [
    "chunk size with a 0x prefix",
    post("Transfer-Encoding: chunked\r\n", `0x5\r\nhello\r\n0\r\n\r\n${SMUGGLED}`),
  ],
  ["negative chunk size", post("Transfer-Encoding: chunked\r\n", `-5\r\nhello\r\n0\r\n\r\n${SMUGGLED}`)],
  [
    "chunk size with trailing space",
    post("Transfer-Encoding: chunked\r\n", `5 \r\nhello\r\n0\r\n\r\n${SMUGGLED}`),
  ],
  [
    "last chunk without its final CRLF, a request where the trailer section should be",
    post("Transfer-Encoding: chunked\r\n", `5\r\nhello\r\n0\r\n${SMUGGLED}`),
  ],
  [
    "chunk data without its CRLF, a request right after",
    post("Transfer-Encoding: chunked\r\n", `3\r\nabc${SMUGGLED}`),
  ],
  ["chunk lines ended by bare LF", post("Transfer-Encoding: chunked\r\n", `5\nhello\n0\n\n${SMUGGLED}`)],
  [
    "chunk extension containing a bare LF",
    post("Transfer-Encoding: chunked\r\n", `5;a=b\nc\r\nhello\r\n0\r\n\r\n${SMUGGLED}`),
  ],
  [
    "chunk extension containing a bare CR",
    post("Transfer-Encoding: chunked\r\n", `2;\r\rxx\r\n${chunk(SMUGGLED)}0\r\n\r\n`),
  ],
  [
    "chunk extension quoted string spanning CRLF",
    post("Transfer-Encoding: chunked\r\n", `5;a="b\r\n"\r\nhello\r\n0\r\n\r\n${SMUGGLED}`),
  ],
  [
    "chunk extension of 20 KiB (extension flooding)",
    post("Transfer-Encoding: chunked\r\n", `5;${"a".repeat(20_000)}\r\nhello\r\n0\r\n\r\n${SMUGGLED}`),
  ],
  // Malformed header section.
  [
    "obs-fold in an ordinary header (X-A: a CRLF SP b)",
    `GET /echo HTTP/1.1\r\nHost: a\r\nX-A: a\r\n b\r\n\r\n${SMUGGLED}`,
  ],
  ["request line and headers ended by bare LF", `GET /echo HTTP/1.1\nHost: a\n\n${SMUGGLED}`],
  ["one header line ended by bare LF", `GET /echo HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n${SMUGGLED}`],
  ["bare CR inside a header value", `GET /echo HTTP/1.1\r\nHost: a\r\nX-A: a\rb\r\n\r\n${SMUGGLED}`],
  ["NUL byte in a header value", `GET /echo HTTP/1.1\r\nHost: a\r\nX-A: a\u0000b\r\n\r\n${SMUGGLED}`],
  ["space before the colon (Host : a)", `GET /echo HTTP/1.1\r\nHost : a\r\n\r\n${SMUGGLED}`],
  ["space before the colon in another header", `GET /echo HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n${SMUGGLED}`],
  ["unknown HTTP version (HTTP/1.2)", `GET /echo HTTP/1.2\r\nHost: a\r\n\r\n${SMUGGLED}`],
  ["lower-case method", `get /echo HTTP/1.1\r\nHost: a\r\n\r\n${SMUGGLED}`],
  ["space inside the request target", `GET /a b HTTP/1.1\r\nHost: a\r\n\r\n${SMUGGLED}`],
];

describe("request smuggling shapes", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway({
      upstreams: { app: { targets: [upstream.url] } },
      routes: [
        { name: "other", match: { host: "other.example" }, upstream: "app", rewritePrefix: "/echo/other" },
        { name: "root", upstream: "app" },
      ],
    });
  });

  after(async () => {
    await gw.stop();
    await upstream.close();
  });

  /** A fresh connection gets a normal answer: a refused request harms nobody else. */
  async function assertStillServing(label: string): Promise<void> {
    const response = await request(`${gw.url}/echo?after=${encodeURIComponent(label.slice(0, 20))}`);
    assert.equal(response.statusCode, 200, `a new connection after "${label}" gets 200`);
    const echo = (await response.body.json()) as Echo;
    assert.equal(echo.url.split("?")[0], "/echo");
  }

  /** Sends the bytes and checks the full refusal contract; returns the raw response. */
  async function assertRefused(label: string, payload: string | Buffer): Promise<RawResponse> {
    const seenBefore = upstream.seen.length;
    const response = await rawRequest(gw.port, payload, 1000);
    // Let anything the gateway might have forwarded arrive before judging the upstream's view.
    await sleep(100);
    const forwarded = upstream.seen.slice(seenBefore);
    assert.equal(
      forwarded.some((seen) => seen.url.includes("smuggled")),
      false,
      `${label}: a smuggled request reached the upstream (${forwarded.map((s) => `${s.method} ${s.url}`).join(", ")})`,
    );
    assert.equal(
      response.status,
      400,
      `${label}: status (got ${JSON.stringify(response.text.slice(0, 80))})`,
    );
    assert.match(
      response.headers["content-type"] ?? "",
      /^application\/problem\+json/,
      `${label}: the 400 is a problem document (got ${JSON.stringify(response.text.slice(0, 120))})`,
    );
    const problem = JSON.parse(response.body) as { code: string; status: number };
    assert.equal(problem.code, "bad_request", label);
    assert.equal(problem.status, 400, label);
    assert.equal(response.closed, true, `${label}: the connection is closed`);
    assert.equal(statusLines(response.text), 1, `${label}: exactly one response on the connection`);
    assert.deepEqual(
      forwarded.map((seen) => `${seen.method} ${seen.url}`),
      [],
      `${label}: nothing reached the upstream`,
    );
    assert.doesNotMatch(response.text, /at \S+ \(|Error:|127\.0\.0\.1:\d+/, `${label}: no internals`);
    await assertStillServing(label);
    return response;
  }

  for (const [label, payload] of REFUSED) {
    test(label, async () => {
      await assertRefused(label, payload);
    });
  }

  test("HTTP/1.0 with Transfer-Encoding is refused (RFC 9112 §6.1: faulty framing)", async () => {
    // An HTTP/1.0 hop does not know Transfer-Encoding: it would read "0\r\n\r\nGET /smuggled..." as
    // the start of the next request while the gateway reads it as the end of this one.
    await assertRefused(
      "HTTP/1.0 + Transfer-Encoding",
      `POST /echo HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
    );
  });

  test("HTTP/1.0 with both Transfer-Encoding and Content-Length is refused", async () => {
    await assertRefused(
      "HTTP/1.0 + TE + CL",
      `POST /echo HTTP/1.0\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
    );
  });

  test("an empty Transfer-Encoding value is refused (RFC 9112 §6.3: chunked is not final)", async () => {
    await assertRefused("Transfer-Encoding: (empty)", post("Transfer-Encoding: \r\n", SMUGGLED));
  });

  test("a whitespace-only Transfer-Encoding value is refused", async () => {
    await assertRefused("Transfer-Encoding: (spaces)", post("Transfer-Encoding:   \r\n", SMUGGLED));
  });

  test("an HTTP/1.1 request without Host gets a 400 problem (RFC 9112 §3.2)", async () => {
    await assertRefused("no Host", "GET /echo HTTP/1.1\r\nX-A: b\r\n\r\n");
  });

  test("an HTTP/1.1 request with two Host lines gets a 400 problem (RFC 9112 §3.2)", async () => {
    // Components that take the first and the last Host would route and authorize differently.
    await assertRefused("two Host lines", "GET /echo HTTP/1.1\r\nHost: a\r\nHost: other.example\r\n\r\n");
  });

  test("an empty Host or one with a space gets a 400 problem", async () => {
    for (const host of ["", "a b", "a/b", "a@b"]) {
      const seenBefore = upstream.seen.length;
      const response = await rawRequest(
        gw.port,
        `GET /echo HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
        1000,
      );
      assert.equal(response.status, 400, `Host: ${JSON.stringify(host)}`);
      assert.match(response.headers["content-type"] ?? "", /^application\/problem\+json/);
      assert.equal((JSON.parse(response.body) as { code: string }).code, "bad_request");
      assert.equal(upstream.seen.length, seenBefore, "nothing reached the upstream");
    }
  });

  test("a malformed request pipelined behind a valid one does not replace or corrupt its response", async () => {
    // RFC 9112 §9.3.2: responses go out in request order. The valid GET must get its 200 first;
    // the gateway may then answer the garbage with a 400 and close.
    const seenBefore = upstream.seen.length;
    const response = await rawRequest(
      gw.port,
      "GET /echo?first HTTP/1.1\r\nHost: a\r\n\r\nGARBAGE\r\n\r\n",
      1000,
    );
    assert.equal(upstream.seen.slice(seenBefore).length, 1, "the valid request was forwarded once");
    assert.equal(response.status, 200, `first response (got ${JSON.stringify(response.text.slice(0, 60))})`);
    const length = Number(response.headers["content-length"]);
    const echo = JSON.parse(response.body.slice(0, length)) as Echo;
    assert.equal(echo.url, "/echo?first");
    assert.equal(response.closed, true);
  });

  test("garbage sent while a response streams never lands inside that response's body", async () => {
    const socket = connect(gw.port, "127.0.0.1");
    const chunks: Buffer[] = [];
    socket.on("data", (data: Buffer) => chunks.push(data));
    const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
    socket.on("error", () => {});
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    socket.write("GET /stream/30 HTTP/1.1\r\nHost: a\r\n\r\n");
    // Wait for the response to be under way, then send bytes no parser accepts.
    const deadline = Date.now() + 2000;
    while (Buffer.concat(chunks).length < 2048 && Date.now() < deadline) await sleep(5);
    assert.ok(Buffer.concat(chunks).length >= 2048, "the response started streaming");
    socket.write("GARBAGE\r\n\r\n");
    await Promise.race([closed, sleep(3000)]);
    socket.destroy();
    const text = Buffer.concat(chunks).toString("latin1");
    assert.match(text, /^HTTP\/1\.1 200 /);
    const body = text.slice(text.indexOf("\r\n\r\n") + 4);
    assert.doesNotMatch(body, /HTTP\/1\.1 400/, "no 400 written into the middle of the chunked body");
    // Whatever arrived of the chunked body is valid chunked framing (possibly cut short).
    let rest = body;
    while (rest.length > 0) {
      const line = /^([0-9a-fA-F]+)\r\n/.exec(rest);
      assert.ok(line, `a chunk-size line, got ${JSON.stringify(rest.slice(0, 40))}`);
      const size = Number.parseInt(line[1]!, 16);
      rest = rest.slice(line[0].length);
      if (size === 0) {
        assert.ok(rest === "" || rest === "\r\n", "nothing after the last chunk");
        break;
      }
      if (rest.length < size + 2) break;
      assert.equal(rest.slice(size, size + 2), "\r\n");
      rest = rest.slice(size + 2);
    }
  });

  describe("shapes that are valid stay framed exactly once", () => {
    const ACCEPTED: readonly (readonly [string, string])[] = [
      ["Transfer-Encoding:<TAB>chunked (leading OWS is allowed)", "Transfer-Encoding:\tchunked\r\n"],
      ["Transfer-Encoding: CHUNKED (codings are case-insensitive)", "Transfer-Encoding: CHUNKED\r\n"],
    ];
    for (const [label, header] of ACCEPTED) {
      test(label, async () => {
        const seenBefore = upstream.seen.length;
        const response = await rawRequest(
          gw.port,
          post(`${header}Connection: close\r\n`, `${chunk("hello")}0\r\n\r\n`),
          1000,
        );
        await sleep(50);
        assert.equal(response.status, 200);
        const forwarded = upstream.seen.slice(seenBefore);
        assert.equal(forwarded.length, 1, "exactly one request forwarded");
        assert.equal(forwarded[0]!.body, "hello", "with the de-chunked body");
        assert.equal(statusLines(response.text), 1);
      });
    }

    test("Content-Length with leading zeros (1*DIGIT) frames the body by its value", async () => {
      const seenBefore = upstream.seen.length;
      const response = await rawRequest(
        gw.port,
        post("Content-Length: 005\r\nConnection: close\r\n", "hello"),
        1000,
      );
      await sleep(50);
      assert.equal(response.status, 200);
      assert.deepEqual(
        upstream.seen.slice(seenBefore).map((seen) => seen.body),
        ["hello"],
      );
    });

    test("control: a legitimately pipelined request after a chunked body is seen as its own request", async () => {
      // Shows that upstream.seen would reveal a smuggled request if the gateway ever parsed one.
      const seenBefore = upstream.seen.length;
      const response = await rawRequest(
        gw.port,
        post("Transfer-Encoding: chunked\r\n", `${chunk("hello")}0\r\n\r\n`) +
          "GET /echo?second HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        1000,
      );
      await sleep(50);
      assert.equal(statusLines(response.text), 2, "two responses, in order");
      assert.deepEqual(
        upstream.seen.slice(seenBefore).map((seen) => `${seen.method} ${seen.url} ${seen.body}`),
        ["POST /echo hello", "GET /echo?second "],
      );
    });
  });

  describe("absolute-form request targets (RFC 9112 §3.2.2)", () => {
    test("the target's host wins over the Host header and the upstream gets the origin-form path", async () => {
      const seenBefore = upstream.seen.length;
      const response = await rawRequest(
        gw.port,
        "GET http://other.example/a/../x?y=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        1000,
      );
      assert.equal(response.status, 200);
      const forwarded = upstream.seen.slice(seenBefore);
      assert.equal(forwarded.length, 1);
      assert.equal(forwarded[0]!.url, "/echo/other/x?y=1", "routed by the URI's host, dot segments resolved");
      assert.equal(forwarded[0]!.headers.host, "other.example", "the upstream's Host is the URI's authority");
      assert.equal(forwarded[0]!.headers["x-forwarded-host"], "other.example");
    });

    test("a Host header naming a host route does not win over the URI's host", async () => {
      const seenBefore = upstream.seen.length;
      const response = await rawRequest(
        gw.port,
        "GET http://a/echo?z=1 HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n",
        1000,
      );
      assert.equal(response.status, 200);
      const forwarded = upstream.seen.slice(seenBefore);
      assert.deepEqual(
        forwarded.map((seen) => [seen.url, seen.headers.host]),
        [["/echo?z=1", "a"]],
      );
    });

    test("user info in the URI is dropped and never forwarded", async () => {
      const seenBefore = upstream.seen.length;
      const response = await rawRequest(
        gw.port,
        "GET http://user:secret@other.example/p HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        1000,
      );
      assert.equal(response.status, 200);
      const forwarded = upstream.seen.slice(seenBefore);
      assert.equal(forwarded.length, 1);
      assert.equal(forwarded[0]!.url, "/echo/other/p");
      assert.doesNotMatch(JSON.stringify(forwarded[0]), /secret/);
    });

    test("an absolute target with a scheme other than http(s) is refused", async () => {
      const seenBefore = upstream.seen.length;
      const response = await rawRequest(
        gw.port,
        "GET ftp://other.example/p HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        1000,
      );
      assert.equal(response.status, 400);
      assert.match(response.headers["content-type"] ?? "", /^application\/problem\+json/);
      assert.equal(upstream.seen.length, seenBefore);
    });
  });
});
