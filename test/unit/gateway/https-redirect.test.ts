import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { connect } from "node:net";
import { after, before, test } from "node:test";
import { httpsRedirectHandler } from "../../../src/gateway/https-redirect.js";

interface RawResponse {
  status: number;
  headers: Map<string, string>;
  body: string;
}

let server443: Server;
let server8443: Server;

function listen(httpsPort: number): Promise<Server> {
  const server = createServer(httpsRedirectHandler(httpsPort));
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

function portOf(server: Server): number {
  const address = server.address();
  assert.ok(address !== null && typeof address === "object");
  return address.port;
}

/** Sends bytes exactly as given (Node's client would refuse the hostile ones) and parses one response. */
function rawRequest(server: Server, request: string | Buffer): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(portOf(server), "127.0.0.1");
    const chunks: Buffer[] = [];
    socket.setTimeout(5000, () => socket.destroy(new Error("no response within 5 s")));
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      const text = Buffer.concat(chunks).toString("latin1");
      const end = text.indexOf("\r\n\r\n");
      if (end === -1) return;
      const [statusLine, ...lines] = text.slice(0, end).split("\r\n");
      const headers = new Map<string, string>();
      for (const line of lines) {
        const colon = line.indexOf(":");
        headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
      }
      const length = Number(headers.get("content-length") ?? 0);
      const body = text.slice(end + 4);
      if (Buffer.byteLength(body, "latin1") < length) return;
      socket.destroy();
      resolve({ status: Number(statusLine?.split(" ")[1]), headers, body });
    });
    socket.on("error", reject);
    socket.write(request);
  });
}

/** Calls the handler with stand-in objects, for inputs that Node's HTTP parser never lets through. */
function callDirectly(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  url: string,
  host: string,
): { status: number; headers: Record<string, unknown> } {
  const result = { status: 0, headers: {} as Record<string, unknown> };
  const res = {
    writeHead(status: number, headers: Record<string, unknown>) {
      result.status = status;
      result.headers = headers;
      return this;
    },
    end() {
      return this;
    },
  } as unknown as ServerResponse;
  handler({ url, headers: { host }, method: "GET" } as unknown as IncomingMessage, res);
  return result;
}

function get(server: Server, target: string, host: string | undefined): Promise<RawResponse> {
  const hostLine = host === undefined ? "" : `Host: ${host}\r\n`;
  return rawRequest(server, `GET ${target} HTTP/1.1\r\n${hostLine}\r\n`);
}

before(async () => {
  server443 = await listen(443);
  server8443 = await listen(8443);
});

after(() => {
  server443.close();
  server8443.close();
  server443.closeAllConnections();
  server8443.closeAllConnections();
});

test("answers with 308 to the same host, path and query over https, without the default port", async () => {
  const response = await get(server443, "/a/b%20c/./d?x=1&y=%2F&z", "example.com:8080");
  assert.equal(response.status, 308);
  assert.equal(response.headers.get("location"), "https://example.com/a/b%20c/./d?x=1&y=%2F&z");
  assert.equal(response.headers.get("content-length"), "0");
});

test("includes a non-default https port and keeps an empty query marker", async () => {
  const response = await get(server8443, "/path?", "example.com");
  assert.equal(response.status, 308);
  assert.equal(response.headers.get("location"), "https://example.com:8443/path?");
});

test("keeps the root path, IPv4 and IPv6 literals, and a trailing dot", async () => {
  assert.equal((await get(server443, "/", "Example.COM")).headers.get("location"), "https://Example.COM/");
  assert.equal(
    (await get(server8443, "/x", "192.0.2.7:80")).headers.get("location"),
    "https://192.0.2.7:8443/x",
  );
  assert.equal(
    (await get(server8443, "/x?q", "[2001:db8::1]:8080")).headers.get("location"),
    "https://[2001:db8::1]:8443/x?q",
  );
  assert.equal((await get(server443, "/x", "[::1]")).headers.get("location"), "https://[::1]/x");
  assert.equal((await get(server443, "/", "example.com.")).headers.get("location"), "https://example.com./");
});

test("keeps a path that looks like another authority on the same host", async () => {
  // "//evil.example/x" after the host is a path, not a new authority.
  const response = await get(server443, "//evil.example/x", "example.com");
  assert.equal(response.headers.get("location"), "https://example.com//evil.example/x");
});

test("percent-encodes bytes a header cannot carry instead of failing", () => {
  // llhttp refuses such targets on the wire (HPE_INVALID_URL); the handler must still be safe with them.
  // Node hands target bytes over as latin1 characters: "é" in UTF-8 arrives as "\u00c3\u00a9".
  const result = callDirectly(httpsRedirectHandler(443), "/caf\u00c3\u00a9?q=a b\r\n", "example.com");
  assert.equal(result.status, 308);
  assert.equal(result.headers.location, "https://example.com/caf%C3%A9?q=a%20b%0D%0A");
  assert.equal(callDirectly(httpsRedirectHandler(443), "/\u2028", "example.com").status, 400);
});

test("uses the host of an absolute-form request target, not the Host header", async () => {
  const response = await get(server8443, "http://example.org:8080/p?q=1", "ignored.example");
  assert.equal(response.status, 308);
  assert.equal(response.headers.get("location"), "https://example.org:8443/p?q=1");
  const noPath = await get(server443, "http://example.org?q", "ignored.example");
  assert.equal(noPath.headers.get("location"), "https://example.org/?q");
});

test("keeps the method (308) and closes instead of reading an uploaded body", async () => {
  const response = await rawRequest(
    server443,
    "POST /form HTTP/1.1\r\nHost: example.com\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
  );
  assert.equal(response.status, 308);
  assert.equal(response.headers.get("location"), "https://example.com/form");
  assert.equal(response.headers.get("connection"), "close");
});

const hostile = [
  "evil.example/x",
  "evil.example?x",
  "evil.example#x",
  "user@evil.example",
  "evil.example\\x",
  "https://evil.example",
  "evil.example:80:80",
  "evil.example:",
  "evil.example:99999",
  "evil.example:8o",
  "exa mple.com",
  "-evil.example",
  "evil-.example",
  "evil..example",
  "999.1.1.1",
  "0x7f.1",
  "1.2.3",
  "[::1",
  "[::1]x",
  "[not-an-ip]",
  "[fe80::1%25eth0]",
  "::1",
  "a".repeat(64),
  `${"a.".repeat(127)}aa`,
  "ex\u00e4mple.com",
];

test("refuses hostile or malformed Host values with a 400 problem", async () => {
  for (const host of hostile) {
    const response = await rawRequest(
      server443,
      Buffer.from(`GET /x HTTP/1.1\r\nHost: ${host}\r\n\r\n`, "latin1"),
    );
    assert.equal(response.status, 400, `Host: ${JSON.stringify(host)}`);
    assert.equal(response.headers.get("location"), undefined, `Host: ${JSON.stringify(host)}`);
    assert.equal(response.headers.get("content-type"), "application/problem+json");
    assert.deepEqual(JSON.parse(response.body), {
      type: "urn:bulwark:error:bad_request",
      title: "bad request",
      status: 400,
      code: "bad_request",
    });
  }
});

test("refuses a request without a Host header and targets that name no host", async () => {
  // HTTP/1.0 may omit Host; Node only enforces it for HTTP/1.1.
  const noHost = await rawRequest(server443, "GET /x HTTP/1.0\r\n\r\n");
  assert.equal(noHost.status, 400);
  assert.equal(noHost.headers.get("location"), undefined);
  assert.equal((await get(server443, "*", "example.com")).status, 400);
  // "@" in the path is not userinfo
  assert.equal(
    (await get(server443, "http://example.org/x/y@evil.example", "example.com")).headers.get("location"),
    "https://example.org/x/y@evil.example",
  );
  assert.equal((await get(server443, "http://user@evil.example/", "example.com")).status, 400);
  assert.equal((await get(server443, "ftp://evil.example/", "example.com")).status, 400);
});

test("a Host value with CR/LF never reaches the Location header", () => {
  // llhttp refuses these on the wire; the handler must not depend on that.
  const handler = httpsRedirectHandler(443);
  for (const host of ["example.com\r\nSet-Cookie: a=b", "example.com\nx", "example.com\u0000"]) {
    const result = callDirectly(handler, "/x", host);
    assert.equal(result.status, 400, JSON.stringify(host));
    assert.equal(result.headers.location, undefined);
  }
});

test("refuses an invalid https port when the handler is made", () => {
  for (const port of [0, 65536, 1.5, Number.NaN]) {
    assert.throws(() => httpsRedirectHandler(port), { code: "config_invalid" });
  }
});
