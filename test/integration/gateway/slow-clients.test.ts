/**
 * Slow and vanishing peers, with short timeouts: slowloris headers, stalled request bodies,
 * silent connections, clients that leave mid-response and upstreams that stall mid-body. Each
 * must be cut off in bounded time without harming other clients (DESIGN.md principle 6).
 */
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { connect, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { request } from "undici";
import { startGateway, type TestGateway } from "../../support/gateway.js";
import { parseRawResponse, type RawResponse } from "../../support/raw-http.js";
import { startUpstream, type TestUpstream } from "../../support/upstream.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Upper bound for "cut off in about 2 s" with 500 ms timeouts (Node checks every 500 ms). */
const CUT_OFF_MS = 2000;

interface Exchange {
  readonly socket: Socket;
  /** Resolves when the gateway closed the connection (or after `capMs`). */
  readonly done: Promise<{ response: RawResponse; elapsedMs: number; closedByServer: boolean }>;
  received(): Buffer;
}

/** Opens a raw connection, lets `drive` write to it, and records what comes back until it closes. */
function exchange(port: number, drive: (socket: Socket) => void, capMs = 5000): Exchange {
  const socket = connect(port, "127.0.0.1");
  const chunks: Buffer[] = [];
  const startedAt = performance.now();
  socket.on("data", (chunk: Buffer) => chunks.push(chunk));
  socket.on("error", () => {});
  socket.once("connect", () => drive(socket));
  const done = new Promise<{ response: RawResponse; elapsedMs: number; closedByServer: boolean }>(
    (resolve) => {
      const finish = (closedByServer: boolean) => {
        clearTimeout(cap);
        const elapsedMs = performance.now() - startedAt;
        socket.destroy();
        resolve({
          response: parseRawResponse(Buffer.concat(chunks).toString("latin1"), closedByServer),
          elapsedMs,
          closedByServer,
        });
      };
      const cap = setTimeout(() => finish(false), capMs);
      socket.once("close", () => finish(true));
    },
  );
  return { socket, done, received: () => Buffer.concat(chunks) };
}

async function metricsText(gw: TestGateway): Promise<string> {
  const response = await request(`${gw.adminUrl}/metrics`);
  assert.equal(response.statusCode, 200);
  return response.body.text();
}

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return true;
    await sleep(25);
  }
  return check();
}

function assertProblem(response: RawResponse, status: number, code: string, label: string): void {
  assert.equal(response.status, status, `${label}: got ${JSON.stringify(response.text.slice(0, 100))}`);
  assert.match(response.headers["content-type"] ?? "", /^application\/problem\+json/, label);
  assert.equal((JSON.parse(response.body) as { code: string }).code, code, label);
}

describe("slow and vanishing clients", () => {
  let upstream: TestUpstream;
  let staller: Server;
  let gw: TestGateway;
  /** Upstream-side view of requests, by x-test-id: did the request body complete, did the response finish. */
  const upstreamView = new Map<
    string,
    { req: IncomingMessage; res: ServerResponse; closed: Promise<void> }
  >();

  before(async () => {
    upstream = await startUpstream();
    upstream.server.prependListener("request", (req: IncomingMessage, res: ServerResponse) => {
      const id = req.headers["x-test-id"];
      if (typeof id !== "string") return;
      const closed = new Promise<void>((resolve) => res.once("close", () => resolve()));
      upstreamView.set(id, { req, res, closed });
    });
    // Sends a head announcing 100000 bytes and the first 1000, then nothing more.
    staller = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/plain", "content-length": "100000" });
      res.write(Buffer.alloc(1000, 120));
    });
    await new Promise<void>((resolve) => staller.listen(0, "127.0.0.1", resolve));
    const stallerPort = (staller.address() as { port: number }).port;
    gw = await startGateway({
      server: { timeouts: { clientHeader: "500ms", bodyIdle: "500ms" } },
      upstreams: {
        app: { targets: [upstream.url] },
        x: { targets: [`http://127.0.0.1:${stallerPort}`], timeouts: { body: "300ms" } },
      },
      routes: [
        { name: "root", upstream: "app" },
        { name: "stall", match: { pathPrefix: "/stall" }, upstream: "x" },
      ],
    });
  });

  after(async () => {
    await gw.stop();
    await upstream.close();
    staller.closeAllConnections();
    await new Promise<void>((resolve) => staller.close(() => resolve()));
  });

  test("a slowloris client (one header byte every 100 ms) gets 408 and is cut off, while others get 200", async () => {
    let trickled = 0;
    const slow = exchange(gw.port, (socket) => {
      socket.write("GET /echo HTTP/1.1\r\nHost: a\r\nX-Slow: ");
      const timer = setInterval(() => {
        if (socket.destroyed) return clearInterval(timer);
        socket.write("a");
        trickled++;
      }, 100);
      socket.once("close", () => clearInterval(timer));
    });

    // A normal client keeps working while the slowloris connection is open.
    const normal: number[] = [];
    for (let index = 0; index < 5; index++) {
      const response = await request(`${gw.url}/echo?normal=${index}`);
      const echo = (await response.body.json()) as { url: string };
      normal.push(response.statusCode);
      assert.equal(echo.url, `/echo?normal=${index}`);
      await sleep(60);
    }
    assert.deepEqual(normal, [200, 200, 200, 200, 200]);

    const { response, elapsedMs, closedByServer } = await slow.done;
    assert.equal(closedByServer, true, "the gateway closed the slowloris connection");
    assert.ok(elapsedMs <= CUT_OFF_MS, `cut off after ${Math.round(elapsedMs)} ms`);
    assert.ok(elapsedMs >= 400, `not before the header timeout (${Math.round(elapsedMs)} ms)`);
    assert.ok(trickled >= 3, `the client was trickling header bytes (${trickled} sent)`);
    assertProblem(response, 408, "request_timeout", "slowloris");
  });

  test("a slowloris request on a reused keep-alive connection is cut off too", async () => {
    const slow = exchange(gw.port, (socket) => {
      socket.write("GET /echo?first HTTP/1.1\r\nHost: a\r\n\r\n");
      socket.once("data", () => {
        socket.write("GET /echo?second HTTP/1.1\r\nHost: a\r\nX-Slow: ");
        const timer = setInterval(() => {
          if (socket.destroyed) return clearInterval(timer);
          socket.write("a");
        }, 100);
        socket.once("close", () => clearInterval(timer));
      });
    });
    const { response, elapsedMs, closedByServer } = await slow.done;
    assert.equal(closedByServer, true);
    assert.ok(elapsedMs <= CUT_OFF_MS + 200, `cut off after ${Math.round(elapsedMs)} ms`);
    assert.equal(response.status, 200, "the first request was answered");
    const second = response.text.slice(response.text.indexOf("HTTP/1.1 ", 10));
    assert.match(second, /^HTTP\/1\.1 408 /, "the trickled second request got 408");
    assert.match(second, /application\/problem\+json/);
  });

  test("a client that sends half of its declared body and stops gets 408, and the upstream request is aborted", async () => {
    const id = "half-body";
    const seenBefore = upstream.seen.length;
    const half = exchange(gw.port, (socket) => {
      socket.write(
        `POST /echo HTTP/1.1\r\nHost: a\r\nX-Test-Id: ${id}\r\nContent-Length: 100\r\n\r\n${"b".repeat(50)}`,
      );
    });
    const { response, elapsedMs, closedByServer } = await half.done;
    assert.equal(closedByServer, true, "the connection is closed: the rest of the body will never be read");
    assert.ok(elapsedMs <= CUT_OFF_MS, `cut off after ${Math.round(elapsedMs)} ms`);
    if (response.text.length > 0) assertProblem(response, 408, "request_timeout", "half body");

    assert.ok(
      await waitFor(() => upstreamView.has(id), 1000),
      "the request had reached the upstream (its body streams)",
    );
    const view = upstreamView.get(id)!;
    await Promise.race([view.closed, sleep(1000)]);
    assert.equal(view.res.closed || view.req.destroyed, true, "the upstream request was torn down");
    assert.equal(view.req.complete, false, "the upstream never got a complete body");
    assert.deepEqual(
      upstream.seen.slice(seenBefore).filter((seen) => seen.headers["x-test-id"] === id),
      [],
      "the upstream never handled a truncated body as a complete request",
    );
  });

  test("a connection that sends nothing is closed within about 2 s", async () => {
    const silent = exchange(gw.port, () => {});
    const { response, elapsedMs, closedByServer } = await silent.done;
    assert.equal(closedByServer, true, "the gateway closed the silent connection");
    assert.ok(elapsedMs <= CUT_OFF_MS, `closed after ${Math.round(elapsedMs)} ms`);
    // Node answers the header timeout with a 408 even when no byte arrived; silence is fine too.
    if (response.text.length > 0) assertProblem(response, 408, "request_timeout", "silent connection");
  });

  test("a client that disconnects mid-response stops the upstream stream and harms nothing", async () => {
    const id = "leaves-mid-stream";
    const leaver = exchange(gw.port, (socket) => {
      socket.write(`GET /stream/100 HTTP/1.1\r\nHost: a\r\nX-Test-Id: ${id}\r\nX-Request-Id: ${id}\r\n\r\n`);
    });
    assert.ok(await waitFor(() => leaver.received().length > 2048, 2000), "the response started streaming");
    leaver.socket.destroy();
    await leaver.done;

    assert.ok(await waitFor(() => upstreamView.has(id), 1000));
    const view = upstreamView.get(id)!;
    await Promise.race([view.closed, sleep(1500)]);
    assert.equal(view.res.writableFinished, false, "the upstream response was aborted before its end");

    const next = await request(`${gw.url}/stream/5`);
    assert.equal(next.statusCode, 200);
    assert.equal(Buffer.from(await next.body.arrayBuffer()).length, 5 * 1024, "the next request works");

    assert.ok(
      await waitFor(() => gw.logs().some((line) => line.requestId === id), 1000),
      "the abandoned request is logged",
    );
    const line = gw.logs().find((entry) => entry.requestId === id)!;
    assert.equal(line.aborted, true, "its access line says it was aborted");
  });

  test("a client that leaves with a pipelined request queued behind a slow one leaves nothing in flight", async () => {
    const leaver = exchange(gw.port, (socket) => {
      socket.write(
        "GET /delay/300 HTTP/1.1\r\nHost: a\r\n\r\nGET /echo?queued HTTP/1.1\r\nHost: a\r\nX-Request-Id: queued-behind-slow\r\n\r\n",
      );
    });
    await sleep(100);
    leaver.socket.destroy();
    await leaver.done;
    let inFlight = "";
    const drained = await waitFor(async () => {
      inFlight = /^bulwark_requests_in_flight (\S+)$/m.exec(await metricsText(gw))?.[1] ?? "";
      return inFlight === "0";
    }, 2000);
    assert.equal(drained, true, `bulwark_requests_in_flight is back to 0 (still ${inFlight})`);
  });

  test("an upstream that stalls mid-body gets the client connection closed with the response incomplete", async () => {
    const stalled = exchange(gw.port, (socket) => socket.write("GET /stall HTTP/1.1\r\nHost: a\r\n\r\n"));
    const { response, elapsedMs, closedByServer } = await stalled.done;
    assert.equal(response.status, 200, "the head had already been sent");
    assert.equal(response.headers["content-length"], "100000");
    assert.equal(closedByServer, true, "the gateway closed the client connection");
    assert.ok(elapsedMs <= CUT_OFF_MS, `closed after ${Math.round(elapsedMs)} ms`);
    assert.ok(response.body.length >= 1000, "the bytes the upstream sent were passed on");
    assert.ok(response.body.length < 100_000, "the response is visibly incomplete (short of its length)");
    assert.doesNotMatch(response.body, /HTTP\/1\.1|problem/, "no error document appended to the body");

    const after = await request(`${gw.url}/echo?after-stall`);
    assert.equal(after.statusCode, 200, "other requests are unaffected");
    await after.body.dump();
  });

  test('an upstream body stall counts as bulwark_upstream_errors_total{kind="body_timeout"}', async () => {
    const pattern =
      /^bulwark_upstream_errors_total\{(?=[^}]*upstream="x")(?=[^}]*kind="body_timeout")[^}]*\} (\d+)$/m;
    const before = Number(pattern.exec(await metricsText(gw))?.[1] ?? 0);
    const stalled = exchange(gw.port, (socket) => socket.write("GET /stall HTTP/1.1\r\nHost: a\r\n\r\n"));
    const { closedByServer } = await stalled.done;
    assert.equal(closedByServer, true);
    let count = before;
    await waitFor(async () => {
      count = Number(pattern.exec(await metricsText(gw))?.[1] ?? 0);
      return count > before;
    }, 1000);
    assert.equal(count, before + 1, "one body_timeout counted for upstream x");
  });
});
