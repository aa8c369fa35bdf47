/**
 * The bounded pre-read (src/gateway/request-body.ts) on real HTTP/1.1 and HTTP/2 servers: what it
 * reads, what it leaves unread, that forwarding gives back the exact bytes, and that stalls,
 * disconnects and stream resets end the read instead of hanging it or passing a partial body as
 * whole.
 */
import assert from "node:assert/strict";
import { createServer, request as httpRequest, type IncomingMessage } from "node:http";
import {
  createServer as createHttp2Server,
  type Http2ServerRequest,
  connect as http2Connect,
} from "node:http2";
import type { AddressInfo } from "node:net";
import { PassThrough } from "node:stream";
import { test } from "node:test";
import type { RequestContext } from "../../../src/gateway/context.js";
import {
  type BodyRead,
  bodyFormat,
  bodyText,
  forwardPreReadBody,
  multipartBoundary,
  readRequestBody,
} from "../../../src/gateway/request-body.js";

type AnyRequest = IncomingMessage | Http2ServerRequest;

/** The part of a request context the pre-read uses. */
function contextOf(req: AnyRequest, maxBodySize = 1024 * 1024): RequestContext {
  return { req, route: { limits: { maxBodySize } } } as unknown as RequestContext;
}

/** What `forwardPreReadBody` sends on, collected. */
function forwarded(ctx: RequestContext): Promise<Buffer> {
  const sink = new PassThrough();
  const chunks: Buffer[] = [];
  sink.on("data", (chunk: Buffer) => chunks.push(chunk));
  const done = new Promise<Buffer>((resolve, reject) => {
    sink.on("end", () => resolve(Buffer.concat(chunks)));
    sink.on("error", reject);
  });
  forwardPreReadBody(ctx.req, ctx.preReadBody!, sink);
  return done;
}

/**
 * Runs `handler` on the first request an HTTP/1.1 server receives while `client` sends one; gives
 * the handler's result.
 */
async function onHttp1<T>(
  handler: (req: IncomingMessage) => Promise<T>,
  client: (port: number) => void,
): Promise<T> {
  let result!: Promise<T>;
  const server = createServer((req, res) => {
    result = handler(req);
    void result.finally(() => res.end("done"));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const arrived = new Promise<void>((resolve) => server.once("request", () => resolve()));
  client((server.address() as AddressInfo).port);
  await arrived;
  try {
    return await result;
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

function post(port: number, headers: Record<string, string>, pieces: Buffer[], gapMs = 0) {
  const req = httpRequest({ port, host: "127.0.0.1", method: "POST", headers });
  req.on("error", () => {});
  req.on("response", (res) => res.resume());
  let index = 0;
  const next = () => {
    if (index >= pieces.length) return void req.end();
    req.write(pieces[index++]);
    setTimeout(next, gapMs);
  };
  next();
  return req;
}

test("a whole body within the limit is read, and forwarded as the same bytes", async () => {
  const body = Buffer.from("username=J%C3%BCrgen&password=%F0%9F%98%80");
  const { read, again } = await onHttp1(
    async (req) => {
      const ctx = contextOf(req);
      const read = await readRequestBody(ctx, 1024, 1000);
      return { read, again: await forwarded(ctx) };
    },
    (port) =>
      post(
        port,
        { "content-type": "application/x-www-form-urlencoded" },
        [body.subarray(0, 10), body.subarray(10)],
        10,
      ),
  );
  assert.equal(read.kind, "read");
  assert.deepEqual((read as Extract<BodyRead, { kind: "read" }>).body, body);
  assert.deepEqual(again, body);
});

test("a chunked body over the limit is left mostly unread, and forwarded whole", async () => {
  const pieces = Array.from({ length: 20 }, (_, index) => Buffer.alloc(500, 65 + index));
  const { read, taken, again } = await onHttp1(
    async (req) => {
      const ctx = contextOf(req);
      const read = await readRequestBody(ctx, 2000, 1000);
      const taken = ctx.preReadBody!.length;
      return { read, taken, again: await forwarded(ctx) };
    },
    (port) => post(port, {}, pieces, 5),
  );
  assert.equal(read.kind, "too-large");
  assert.ok(taken > 2000 && taken < 10_000, `took ${taken} bytes`);
  assert.deepEqual(again, Buffer.concat(pieces));
});

test("a prefix read gives the start of a longer body, declared or chunked, and forwards it whole", async () => {
  const body = Buffer.concat(Array.from({ length: 10 }, (_, index) => Buffer.alloc(1000, 97 + index)));
  for (const declare of [true, false]) {
    const { read, again } = await onHttp1(
      async (req) => {
        const ctx = contextOf(req);
        const read = await readRequestBody(ctx, 2500, 1000, true);
        return { read, again: await forwarded(ctx) };
      },
      (port) =>
        post(
          port,
          declare ? { "content-length": String(body.length) } : {},
          [body.subarray(0, 3000), body.subarray(3000)],
          20,
        ),
    );
    assert.equal(read.kind, "partial", `declared: ${declare}`);
    const head = (read as Extract<BodyRead, { kind: "partial" }>).head;
    // At least the limit; how much more depends on how the socket delivered the pieces.
    assert.ok(head.length > 2500 && head.length <= body.length, `head of ${head.length} bytes`);
    assert.deepEqual(head, body.subarray(0, head.length));
    assert.deepEqual(again, body);
  }
  // Declared over maxBodySize: not read even as a prefix (the limits stage answers 413).
  const outcome = await onHttp1(
    async (req) => {
      const ctx = contextOf(req, 5000);
      const read = await readRequestBody(ctx, 2500, 1000, true);
      req.resume();
      return { read, state: ctx.preReadBody };
    },
    (port) => post(port, { "content-length": String(body.length) }, [body]),
  );
  assert.equal(outcome.read.kind, "too-large");
  assert.equal(outcome.state, undefined);
});

test("a body declared over the limit is not touched; maxBodySize caps the limit", async () => {
  for (const [limit, maxBodySize] of [
    [100, 1024 * 1024],
    [1024 * 1024, 100],
  ] as const) {
    const outcome = await onHttp1(
      async (req) => {
        const ctx = contextOf(req, maxBodySize);
        const read = await readRequestBody(ctx, limit, 1000);
        req.resume();
        return { read, state: ctx.preReadBody };
      },
      (port) => post(port, { "content-length": "200" }, [Buffer.alloc(200, 1)]),
    );
    assert.equal(outcome.read.kind, "too-large");
    assert.equal(outcome.state, undefined, "nothing was read");
  }
});

test("a later read with a larger limit reads on from where the first stopped", async () => {
  const body = Buffer.alloc(3000, 7);
  const { first, second, again } = await onHttp1(
    async (req) => {
      const ctx = contextOf(req);
      const first = await readRequestBody(ctx, 1000, 1000);
      const second = await readRequestBody(ctx, 8000, 1000);
      return { first, second, again: await forwarded(ctx) };
    },
    (port) => post(port, {}, [body.subarray(0, 1500), body.subarray(1500)], 20),
  );
  assert.equal(first.kind, "too-large");
  assert.equal(second.kind, "read");
  assert.deepEqual(again, body);
});

test("no body: an empty read, without waiting", async () => {
  const read = await onHttp1(
    async (req) => readRequestBody(contextOf(req), 1000, 1000),
    (port) => post(port, { "content-length": "0" }, []),
  );
  assert.deepEqual(read, { kind: "read", body: Buffer.alloc(0) });
});

test("a stalled body ends the read after the idle timeout", async () => {
  const started = Date.now();
  let client: ReturnType<typeof httpRequest> | undefined;
  const read = await onHttp1(
    async (req) => readRequestBody(contextOf(req), 1000, 300),
    (port) => {
      client = httpRequest({ port, host: "127.0.0.1", method: "POST", headers: { "content-length": "50" } });
      client.on("error", () => {});
      client.write("username=");
    },
  );
  client?.destroy();
  assert.equal(read.kind, "stalled");
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 250 && elapsed < 5000, `after ${elapsed} ms`);
});

test("a client that disconnects mid-body ends the read as aborted", async () => {
  const read = await onHttp1(
    async (req) => readRequestBody(contextOf(req), 1000, 10_000),
    (port) => {
      const client = httpRequest({
        port,
        host: "127.0.0.1",
        method: "POST",
        headers: { "content-length": "50" },
      });
      client.on("error", () => {});
      client.write("username=");
      setTimeout(() => client.destroy(), 50);
    },
  );
  assert.equal(read.kind, "aborted");
});

test("HTTP/2: a body is read whole; a stream reset is an abort, not a short body", async () => {
  const results: BodyRead[] = [];
  const server = createHttp2Server();
  server.on("request", (req: Http2ServerRequest, res) => {
    void (async () => {
      results.push(await readRequestBody(contextOf(req), 1000, 5000));
      if (!res.closed) res.end();
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const session = http2Connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  try {
    const whole = session.request({ ":method": "POST", ":path": "/", "content-length": "6" });
    whole.resume();
    whole.write("abc");
    setTimeout(() => whole.end("def"), 20);
    await new Promise((resolve) => whole.on("close", resolve));
    const reset = session.request({ ":method": "POST", ":path": "/", "content-length": "100" });
    reset.on("error", () => {});
    reset.write("username=");
    await new Promise((resolve) => setTimeout(resolve, 50));
    reset.close(0x8);
    for (let i = 0; i < 50 && results.length < 2; i++)
      await new Promise((resolve) => setTimeout(resolve, 20));
  } finally {
    session.close();
    server.close();
  }
  assert.equal(results[0]?.kind, "read");
  assert.deepEqual((results[0] as Extract<BodyRead, { kind: "read" }>).body, Buffer.from("abcdef"));
  assert.equal(results[1]?.kind, "aborted");
});

test("body formats: forms and JSON in UTF-8, nothing else", () => {
  const format = (contentType: string | undefined) =>
    bodyFormat({
      headers: contentType === undefined ? {} : { "content-type": contentType },
    } as IncomingMessage);
  assert.equal(format("application/x-www-form-urlencoded"), "form");
  assert.equal(format("Application/X-WWW-Form-URLEncoded; charset=UTF-8"), "form");
  assert.equal(format("application/json"), "json");
  assert.equal(format('application/json; charset="utf-8"'), "json");
  assert.equal(format("application/vnd.api+json"), "json");
  for (const other of [
    undefined,
    "",
    "text/plain",
    "multipart/form-data; boundary=x",
    "application/json; charset=utf-16",
    "application/x-www-form-urlencoded; charset=iso-8859-1",
    "text/json+x",
    "application/jsonx",
  ]) {
    assert.equal(format(other), undefined, String(other));
  }
  assert.equal(bodyText(Buffer.from("Zoë")), "Zoë");
  assert.equal(bodyText(Buffer.from([0x61, 0xff])), undefined);
});

test("multipart boundaries: form-data only, quoted or not, RFC 2046 characters", () => {
  const boundaryOf = (contentType: string) =>
    multipartBoundary({ headers: { "content-type": contentType } } as IncomingMessage);
  assert.equal(boundaryOf("multipart/form-data; boundary=----abc123"), "----abc123");
  assert.equal(boundaryOf('Multipart/Form-Data; charset=utf-8; boundary="a b:c?"'), "a b:c?");
  for (const other of [
    "multipart/mixed; boundary=abc",
    "multipart/form-data",
    "multipart/form-data; boundary=",
    `multipart/form-data; boundary=${"x".repeat(71)}`,
    'multipart/form-data; boundary="trailing "',
    "multipart/form-data; boundary=a{b}",
  ]) {
    assert.equal(boundaryOf(other), undefined, other);
  }
});
