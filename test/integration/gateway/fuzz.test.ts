/**
 * Bounded fuzzing of the HTTP/1.1 front door: random and mutated requests over many concurrent
 * raw sockets. Whatever arrives, the gateway answers with a well-formed HTTP/1.1 response (or
 * closes), never shows internals, keeps serving a well-behaved client during the storm, and is
 * healthy afterwards (DESIGN.md principle 6: bad input never crashes, hangs or harms others).
 *
 * The run is deterministic for a seed. A failure prints the seed and case number; replay with
 *   BULWARK_FUZZ_SEED=<seed> node --import tsx --test test/integration/gateway/fuzz.test.ts
 * BULWARK_FUZZ_CASES changes the number of cases (default 800); BULWARK_FUZZ_ONLY=12,345 runs only
 * those cases of the seed and prints what they sent and received.
 */
import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, describe, test } from "node:test";
import { Pool, request } from "undici";
import { startGateway, type TestGateway } from "../../support/gateway.js";
import { startUpstream, type TestUpstream } from "../../support/upstream.js";

const SEED = Number(process.env.BULWARK_FUZZ_SEED ?? 0x5eed_b17e) >>> 0;
const CASES = Number(process.env.BULWARK_FUZZ_CASES ?? 800);
const ONLY = process.env.BULWARK_FUZZ_ONLY?.split(",").map(Number);
const CONCURRENCY = 48;
/** A socket is given up this long after its last byte arrived, or after sending if nothing came. */
const IDLE_MS = 200;
const FIRST_BYTE_MS = 800;
/** Hard cap per case, whatever keeps arriving. */
const CASE_CAP_MS = 3000;

/** xorshift32: tiny, fast and reproducible across platforms. */
class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state;
  }
  int(max: number): number {
    return this.next() % max;
  }
  range(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }
  chance(p: number): boolean {
    return this.next() / 0x1_0000_0000 < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  string(length: number, alphabet: string): string {
    let out = "";
    for (let i = 0; i < length; i++) out += alphabet[this.int(alphabet.length)];
    return out;
  }
  bytes(length: number): Buffer {
    const out = Buffer.alloc(length);
    for (let i = 0; i < length; i++) out[i] = this.int(256);
    return out;
  }
}

/** One seed per case, so a single case can be rebuilt from the run seed and its number. */
function caseSeed(seed: number, index: number): number {
  let h = (seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

const TOKEN = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const SEPARATORS = '()<>@,;:\\"/[]?={} \t';
const PATH_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-._~/%?&=+;,:@!$'()*";
const PRINTABLE =
  " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~";
const METHODS = [
  "GET",
  "POST",
  "PUT",
  "DELETE",
  "PATCH",
  "OPTIONS",
  "TRACE",
  "CONNECT",
  "PRI",
  "FOO",
  "G ET",
  "get",
  "",
];
const SPECIAL_BYTES = [
  "\r",
  "\n",
  "\r\n",
  "\0",
  "\x7f",
  "\x0b",
  "\t",
  " ",
  ":",
  ";",
  ",",
  '"',
  "\xff",
  "\x80",
];

function randomChunkedBody(rng: Rng): string {
  let body = "";
  const chunks = rng.range(0, 5);
  for (let i = 0; i < chunks; i++) {
    const data = rng.string(rng.range(1, 300), PRINTABLE);
    let size = Buffer.byteLength(data, "latin1").toString(16);
    if (rng.chance(0.15))
      size = rng.pick(["zz", "-1", "0x10", "ffffffffffffffffff", `${size} `, size.toUpperCase(), ""]);
    else if (rng.chance(0.1)) size = (Buffer.byteLength(data, "latin1") + rng.range(-3, 3)).toString(16);
    const extension = rng.chance(0.2) ? `;${rng.string(rng.range(0, 40), TOKEN + SEPARATORS)}` : "";
    body += `${size}${extension}\r\n${data}${rng.chance(0.95) ? "\r\n" : ""}`;
  }
  if (rng.chance(0.9)) body += "0\r\n";
  if (rng.chance(0.2))
    body += `${rng.string(rng.range(1, 10), TOKEN)}: ${rng.string(rng.range(0, 20), PRINTABLE)}\r\n`;
  if (rng.chance(0.9)) body += "\r\n";
  return body;
}

function validRequest(rng: Rng): string {
  const query = rng.chance(0.5) ? `?q=${rng.string(rng.range(1, 12), "abcdef0123456789")}` : "";
  const extra = rng.chance(0.5) ? `User-Agent: fuzz/${rng.int(100)}\r\nAccept: */*\r\n` : "";
  switch (rng.int(6)) {
    case 0:
      return `GET /echo${query} HTTP/1.1\r\nHost: a\r\n${extra}\r\n`;
    case 1: {
      const body = rng.string(rng.range(0, 400), PRINTABLE);
      return `POST /echo${query} HTTP/1.1\r\nHost: a\r\n${extra}Content-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    }
    case 2:
      return `POST /echo${query} HTTP/1.1\r\nHost: a\r\n${extra}Transfer-Encoding: chunked\r\n\r\n${randomChunkedBody(rng)}`;
    case 3:
      return `PUT /echo/x${query} HTTP/1.1\r\nHost: a:8080\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`;
    case 4:
      return `DELETE /other${query} HTTP/1.0\r\nHost: b.example\r\n${extra}\r\n`;
    default:
      return `GET http://a/echo${query} HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc`;
  }
}

function randomPath(rng: Rng): string {
  const kind = rng.int(5);
  if (kind === 0) return `/f${rng.string(rng.range(0, 60), PATH_CHARS)}`;
  if (kind === 1)
    return `/f/${rng.pick(["..", "%2e%2e", "%2E.", ".", "//", "\\", "%5c", "%00", "%", "%zz", "#frag"])}/${rng.string(3, "abc")}`;
  if (kind === 2) return `/f${"a".repeat(rng.range(1000, 12_000))}`;
  if (kind === 3)
    return rng.pick(["*", "", "http://", "http://[::1", "https://a:99999/", "//a/b", "a/b", "/\u00ff"]);
  return `/f${rng.string(rng.range(1, 30), PRINTABLE)}`;
}

function headerLines(text: string): { start: number; end: number }[] {
  const headEnd = text.indexOf("\r\n\r\n");
  const lines: { start: number; end: number }[] = [];
  let at = text.indexOf("\r\n");
  while (at !== -1 && at < headEnd) {
    const next = text.indexOf("\r\n", at + 2);
    if (next === -1) break;
    lines.push({ start: at + 2, end: next + 2 });
    at = next;
  }
  return lines;
}

function mutate(rng: Rng, input: string): string {
  const text = input;
  const at = (length: number) => rng.int(Math.max(1, length));
  switch (rng.int(11)) {
    case 0: {
      // flip bits in a few bytes
      const bytes = Buffer.from(text, "latin1");
      for (let i = rng.range(1, 4); i > 0 && bytes.length > 0; i--)
        bytes[at(bytes.length)]! ^= 1 << rng.int(8);
      return bytes.toString("latin1");
    }
    case 1: {
      const position = at(text.length);
      return text.slice(0, position) + rng.pick(SPECIAL_BYTES) + text.slice(position);
    }
    case 2: {
      const lines = headerLines(text);
      if (lines.length === 0) return text;
      const line = rng.pick(lines);
      const copy = rng.chance(0.5)
        ? text.slice(line.start, line.end)
        : text.slice(line.start, line.end).replace(/: .*/, `: ${rng.int(1000)}`);
      return text.slice(0, line.end) + copy + text.slice(line.end);
    }
    case 3:
      return text.slice(0, at(text.length));
    case 4:
      return rng.pick(METHODS) + text.slice(text.indexOf(" ") === -1 ? 0 : text.indexOf(" "));
    case 5: {
      const first = text.indexOf(" ");
      const second = text.indexOf(" ", first + 1);
      if (first === -1 || second === -1) return text;
      return `${text.slice(0, first + 1)}${randomPath(rng)}${text.slice(second)}`;
    }
    case 6: {
      const name = rng.chance(0.5)
        ? rng.string(rng.range(1, 20), TOKEN + SEPARATORS)
        : rng.string(rng.range(1, 20), TOKEN);
      const value = rng.string(rng.range(0, 40), `${PRINTABLE}\t\x80\xff`);
      const line = headerLines(text)[0];
      const position = line ? line.start : text.indexOf("\r\n") + 2;
      return `${text.slice(0, position)}${name}: ${value}\r\n${text.slice(position)}`;
    }
    case 7: {
      const line = headerLines(text)[0];
      const position = line ? line.start : text.indexOf("\r\n") + 2;
      const value = "v".repeat(rng.pick([1024, 8000, 15_000, 17_000, 40_000]));
      return `${text.slice(0, position)}X-Huge: ${value}\r\n${text.slice(position)}`;
    }
    case 8: {
      const headEnd = text.indexOf("\r\n\r\n");
      if (headEnd === -1) return text;
      const head = text.slice(0, headEnd).replace(/\r\n(Content-Length|Transfer-Encoding):[^\r]*/gi, "");
      const te = rng.pick([
        "chunked",
        "chunked",
        "gzip, chunked",
        "chunked, gzip",
        "identity",
        "Chunked",
        " chunked",
      ]);
      const cl = rng.chance(0.2) ? `\r\nContent-Length: ${rng.int(50)}` : "";
      return `${head}\r\nTransfer-Encoding: ${te}${cl}\r\n\r\n${randomChunkedBody(rng)}`;
    }
    case 9: {
      // many headers
      const line = headerLines(text)[0];
      const position = line ? line.start : text.indexOf("\r\n") + 2;
      let block = "";
      for (let i = rng.range(50, 400); i > 0; i--) block += `X-H${i}: ${rng.string(8, TOKEN)}\r\n`;
      return text.slice(0, position) + block + text.slice(position);
    }
    default: {
      const start = at(text.length);
      return text.slice(0, start) + text.slice(Math.min(text.length, start + rng.range(1, 8)));
    }
  }
}

interface Case {
  readonly index: number;
  readonly payload: Buffer;
  /** Where to split the payload into separate writes (partial parsing). */
  readonly splits: readonly number[];
}

function buildCase(index: number): Case {
  const rng = new Rng(caseSeed(SEED, index));
  let payload: Buffer;
  const kind = rng.int(10);
  if (kind === 0) {
    payload = rng.bytes(rng.range(1, 2000));
  } else if (kind === 1) {
    payload = Buffer.from(validRequest(rng), "latin1");
  } else {
    let text = validRequest(rng);
    for (let i = rng.range(1, 3); i > 0; i--) text = mutate(rng, text);
    if (rng.chance(0.15)) text += rng.chance(0.5) ? validRequest(rng) : mutate(rng, validRequest(rng));
    payload = Buffer.from(text, "latin1");
  }
  const splits: number[] = [];
  if (payload.length > 2 && rng.chance(0.3)) {
    for (let i = rng.range(1, 3); i > 0; i--) splits.push(rng.range(1, payload.length - 1));
    splits.sort((a, b) => a - b);
  }
  return { index, payload, splits };
}

function sendCase(port: number, fuzzCase: Case): Promise<Buffer> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    let idle: NodeJS.Timeout | undefined;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(idle);
      clearTimeout(cap);
      socket.destroy();
      resolve(Buffer.concat(chunks));
    };
    const cap = setTimeout(finish, CASE_CAP_MS);
    const armIdle = () => {
      clearTimeout(idle);
      idle = setTimeout(finish, chunks.length === 0 ? FIRST_BYTE_MS : IDLE_MS);
    };
    socket.on("connect", async () => {
      let from = 0;
      for (const split of [...fuzzCase.splits, fuzzCase.payload.length]) {
        if (socket.destroyed) break;
        socket.write(fuzzCase.payload.subarray(from, split));
        from = split;
        if (split < fuzzCase.payload.length) await new Promise((r) => setTimeout(r, 5));
      }
      armIdle();
    });
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      armIdle();
    });
    socket.on("close", finish);
    socket.on("error", () => finish());
  });
}

const FIELD_LINE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[ \t]*[^\r\n]*$/;

/** Returns what is wrong with the bytes a client received, or undefined when all is well-formed. */
function responseProblem(bytes: Buffer, forbidden: readonly RegExp[]): string | undefined {
  const text = bytes.toString("latin1");
  for (const pattern of forbidden) if (pattern.test(text)) return `response contains ${pattern}`;
  let rest = text;
  let responses = 0;
  while (rest.length > 0) {
    const statusLine = /^HTTP\/1\.1 (\d{3}) [^\r\n]*\r\n/.exec(rest);
    if (!statusLine) return `response ${responses + 1} does not start with an HTTP/1.1 status line`;
    const status = Number(statusLine[1]);
    if (status < 100 || status >= 600) return `status ${status} out of range`;
    const headEnd = rest.indexOf("\r\n\r\n");
    if (headEnd === -1) return `response ${responses + 1} has an unterminated header section`;
    const headers = new Map<string, string>();
    for (const line of rest.slice(statusLine[0].length, headEnd).split("\r\n")) {
      if (line === "") continue;
      if (!FIELD_LINE.test(line)) return `malformed header line ${JSON.stringify(line.slice(0, 80))}`;
      const colon = line.indexOf(":");
      headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
    }
    rest = rest.slice(headEnd + 4);
    responses++;
    if (status < 200 || status === 204 || status === 304) continue;
    if (headers.get("transfer-encoding")?.toLowerCase() === "chunked") {
      for (;;) {
        const size = /^([0-9a-fA-F]+)(?:;[^\r\n]*)?\r\n/.exec(rest);
        if (!size)
          return rest.length === 0 ? undefined : `bad chunk-size line ${JSON.stringify(rest.slice(0, 40))}`;
        const length = Number.parseInt(size[1]!, 16);
        rest = rest.slice(size[0].length);
        if (length === 0) {
          const end = rest.indexOf("\r\n");
          if (end === -1) return undefined;
          rest = rest.slice(end + 2);
          break;
        }
        if (rest.length < length + 2) return undefined; // cut short by the close: allowed
        if (rest.slice(length, length + 2) !== "\r\n") return "chunk data not followed by CRLF";
        rest = rest.slice(length + 2);
      }
    } else if (headers.has("content-length")) {
      const length = headers.get("content-length")!;
      if (!/^\d+$/.test(length)) return `bad content-length ${length}`;
      rest = rest.slice(Math.min(rest.length, Number(length)));
    } else {
      rest = ""; // delimited by the close
    }
  }
  return undefined;
}

describe("fuzzing the HTTP/1.1 front door", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  let forbidden: RegExp[];

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway({
      upstreams: { app: { targets: [upstream.url] } },
      routes: [
        { name: "other", match: { host: "b.example" }, upstream: "app", rewritePrefix: "/echo/b" },
        { name: "root", upstream: "app" },
      ],
      logging: { level: "info", accessLog: false },
    });
    forbidden = [
      /Error:/,
      /\bat (?:\S+ \()?(?:file:\/\/|node:|\/)\S*:\d+:\d+/, // a stack frame
      /node_modules|node:internal/,
      new RegExp(`(?:127\\.0\\.0\\.1|localhost|\\[::1\\]):${upstream.port}\\b`),
    ];
  });

  after(async () => {
    await gw.stop();
    await upstream.close();
  });

  test(`${CASES} random and mutated requests over ${CONCURRENCY} sockets (seed ${SEED})`, async (t) => {
    const replay = `replay with BULWARK_FUZZ_SEED=${SEED}`;
    t.diagnostic(`fuzz seed ${SEED}`);

    // A well-behaved client doing sequential GETs on its own keep-alive connection throughout.
    const bystander = new Pool(gw.url, { connections: 1 });
    const bystanderFailures: string[] = [];
    let bystanderRequests = 0;
    let fuzzing = true;
    const bystanderLoop = (async () => {
      while (fuzzing) {
        const n = bystanderRequests++;
        try {
          const response = await bystander.request({ path: `/echo?bystander=${n}`, method: "GET" });
          const text = await response.body.text();
          if (response.statusCode !== 200) bystanderFailures.push(`#${n}: status ${response.statusCode}`);
          else if ((JSON.parse(text) as { url: string }).url !== `/echo?bystander=${n}`)
            bystanderFailures.push(`#${n}: wrong body ${text.slice(0, 80)}`);
        } catch (error) {
          bystanderFailures.push(`#${n}: ${(error as Error).message}`);
        }
      }
    })();

    const failures: string[] = [];
    const statuses = new Map<number, number>();
    let silent = 0;
    let next = 0;
    const startedAt = Date.now();
    const indexes = ONLY ?? Array.from({ length: CASES }, (_, index) => index);
    const worker = async () => {
      while (next < indexes.length) {
        const fuzzCase = buildCase(indexes[next++]!);
        const payloadText = fuzzCase.payload.toString("latin1");
        // Payloads that could be reflected by the echo upstream must not trip the leak checks.
        if (forbidden.some((pattern) => pattern.test(payloadText))) continue;
        const received = await sendCase(gw.port, fuzzCase);
        if (ONLY)
          t.diagnostic(
            `case ${fuzzCase.index}\n  sent ${JSON.stringify(payloadText)}\n  got  ${JSON.stringify(received.toString("latin1"))}`,
          );
        if (received.length === 0) {
          silent++;
          continue;
        }
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(received.toString("latin1"))?.[1] ?? 0);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        const problem = responseProblem(received, forbidden);
        if (problem) {
          failures.push(
            `case ${fuzzCase.index} (${replay}): ${problem}\n  sent ${JSON.stringify(payloadText.slice(0, 300))}\n  got  ${JSON.stringify(received.toString("latin1").slice(0, 300))}`,
          );
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    fuzzing = false;
    await bystanderLoop;
    await bystander.close();
    t.diagnostic(
      `${CASES} cases in ${Date.now() - startedAt} ms; no answer: ${silent}; first statuses: ${JSON.stringify(Object.fromEntries(statuses))}`,
    );

    assert.deepEqual(
      failures.slice(0, 5),
      [],
      `${failures.length} malformed or leaking responses (${replay})`,
    );
    if (ONLY) return;
    assert.ok(statuses.get(200)! > 0, "some fuzz requests were valid and answered 200");
    assert.ok(statuses.get(400)! > 0, "some fuzz requests were refused with 400");
    assert.equal(statuses.get(500) ?? 0, 0, `no 500 internal errors (${replay})`);
    assert.deepEqual(bystanderFailures, [], `the concurrent well-formed client only got 200s (${replay})`);
    assert.ok(bystanderRequests > 10, `the bystander ran during the fuzz (${bystanderRequests} requests)`);
  });

  test("found by fuzzing: a 100 Continue for a pipelined request never lands inside its final response", async () => {
    // The second request waits in Node's queue behind the first; Node buffers its automatic
    // "100 Continue", then puts the final response's head in front of it when the body is a Buffer.
    const response = await new Promise<Buffer>((resolve) => {
      const socket = connect(gw.port, "127.0.0.1");
      const chunks: Buffer[] = [];
      socket.on("data", (chunk: Buffer) => chunks.push(chunk));
      socket.on("error", () => {});
      socket.on("close", () => resolve(Buffer.concat(chunks)));
      socket.write(
        "GET /delay/100 HTTP/1.1\r\nHost: a\r\n\r\n" +
          "POST /echo?second HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
      );
    });
    const text = response.toString("latin1");
    assert.equal(
      responseProblem(response, forbidden),
      undefined,
      `well-formed responses, got ${JSON.stringify(text)}`,
    );
    const heads = [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((match) => match[1]);
    assert.deepEqual(
      heads.filter((status) => status !== "100"),
      ["200", "200"],
    );
    assert.match(text, /"url":"\/echo\?second"/);
  });

  test("afterwards the gateway answers a valid request and its admin /live", async () => {
    const response = await request(`${gw.url}/echo?after=fuzz`, { headers: { "x-after": "1" } });
    assert.equal(response.statusCode, 200);
    const echo = (await response.body.json()) as { url: string; headers: Record<string, string> };
    assert.equal(echo.url, "/echo?after=fuzz");
    assert.equal(echo.headers["x-after"], "1");
    const plain = await request(`${gw.url}/plain`);
    assert.equal(plain.statusCode, 200);
    assert.equal(await plain.body.text(), "ok");

    const live = await request(`${gw.adminUrl}/live`);
    assert.equal(live.statusCode, 200);
    assert.deepEqual(await live.body.json(), { status: "live" });
  });

  // Pipelined requests queued behind another response must complete (be counted and logged)
  // even when their client leaves, or bulwark_requests_in_flight would stay above 0.
  test("afterwards nothing is left in flight and nothing failed inside the gateway", async () => {
    let inFlight = Number.NaN;
    for (let attempt = 0; attempt < 40; attempt++) {
      const metrics = await (await request(`${gw.adminUrl}/metrics`)).body.text();
      inFlight = Number(/^bulwark_requests_in_flight (\S+)$/m.exec(metrics)?.[1]);
      if (inFlight === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(inFlight, 0, "every fuzzed request finished (no hung request)");
    const internal = gw.logs().filter((line) => line.msg === "request failed inside the gateway");
    assert.deepEqual(internal, [], "no request failed inside the gateway");
  });
});
