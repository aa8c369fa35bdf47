/**
 * CSRF tokens in form bodies: urlencoded fields, and multipart/form-data parts (RFC 7578) found
 * in the start of a body, with the part shapes browsers and libraries write, and a bounded fuzz.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError, validateConfig } from "../../../src/config/load.js";
import { formToken, multipartToken } from "../../../src/security/csrf.js";

const B = "----WebKitFormBoundary7MA4YWxkTrZu0gW";

function multipart(
  parts: { headers: string[]; value: string | Buffer }[],
  boundary = B,
  preamble = "",
): Buffer {
  const pieces: Buffer[] = [Buffer.from(preamble)];
  for (const [index, part] of parts.entries()) {
    pieces.push(Buffer.from(`${index === 0 && preamble === "" ? "" : "\r\n"}--${boundary}\r\n`));
    pieces.push(Buffer.from(part.headers.map((line) => `${line}\r\n`).join("")));
    pieces.push(Buffer.from("\r\n"), Buffer.isBuffer(part.value) ? part.value : Buffer.from(part.value));
  }
  pieces.push(Buffer.from(`\r\n--${boundary}--\r\n`));
  return Buffer.concat(pieces);
}

const field = (name: string, value: string) => ({
  headers: [`Content-Disposition: form-data; name="${name}"`],
  value,
});

test("urlencoded: the first value of the field, decoded", () => {
  assert.equal(formToken("a=1&_csrf=abc%2Bdef&_csrf=other", "_csrf"), "abc+def");
  assert.equal(formToken("a=1", "_csrf"), undefined);
  assert.equal(formToken("_csrf=", "_csrf"), "");
});

test("multipart: the field's part, wherever it is among complete parts", () => {
  const body = multipart([field("title", "hello"), field("_csrf", "tok-123"), field("note", "x")]);
  assert.equal(multipartToken(body, B, "_csrf"), "tok-123");
  assert.equal(multipartToken(body, B, "title"), "hello");
  assert.equal(multipartToken(body, B, "missing"), undefined);
  // With a preamble, a quoted name with spaces, header case and extra parameters.
  const varied = multipart(
    [
      {
        headers: ["content-type: text/plain; charset=utf-8", "CONTENT-DISPOSITION: form-data;name=_csrf"],
        value: "t1",
      },
    ],
    B,
    "this is a preamble",
  );
  assert.equal(multipartToken(varied, B, "_csrf"), "t1");
  const repeated = multipart([field("_csrf", "first"), field("_csrf", "second")]);
  assert.equal(multipartToken(repeated, B, "_csrf"), "first");
  assert.equal(multipartToken(multipart([field("_csrf", "")]), B, "_csrf"), "");
});

test("multipart: only the start of the body is needed; a part cut off is not read", () => {
  const file = Buffer.alloc(100_000, 0x5a);
  const body = multipart([
    field("_csrf", "tok-early"),
    { headers: ['Content-Disposition: form-data; name="upload"; filename="a.bin"'], value: file },
  ]);
  assert.equal(multipartToken(body.subarray(0, 500), B, "_csrf"), "tok-early");
  const late = multipart([
    { headers: ['Content-Disposition: form-data; name="upload"; filename="a.bin"'], value: file },
    field("_csrf", "tok-late"),
  ]);
  assert.equal(multipartToken(late.subarray(0, 64 * 1024), B, "_csrf"), undefined);
  assert.equal(multipartToken(late, B, "_csrf"), "tok-late");
  const cut = multipart([field("_csrf", "tok-cut")]);
  assert.equal(multipartToken(cut.subarray(0, cut.indexOf("tok-cut") + 4), B, "_csrf"), undefined);
});

test("multipart: file parts, fields after the close delimiter and other boundaries never count", () => {
  const asFile = multipart([
    { headers: ['Content-Disposition: form-data; name="_csrf"; filename="t.txt"'], value: "tok" },
  ]);
  assert.equal(multipartToken(asFile, B, "_csrf"), undefined);
  const asFileFirst = multipart([
    { headers: ['Content-Disposition: form-data; filename="t.txt"; name="_csrf"'], value: "tok" },
  ]);
  assert.equal(multipartToken(asFileFirst, B, "_csrf"), undefined);
  const closed = Buffer.concat([
    multipart([field("a", "1")]),
    Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="_csrf"\r\n\r\ntok\r\n--${B}--`),
  ]);
  assert.equal(multipartToken(closed, B, "_csrf"), undefined);
  const body = multipart([field("_csrf", "tok")]);
  assert.equal(multipartToken(body, "other-boundary", "_csrf"), undefined);
  // "filename" is not "name".
  const filenameOnly = multipart([
    { headers: ['Content-Disposition: form-data; filename="_csrf"'], value: "tok" },
  ]);
  assert.equal(multipartToken(filenameOnly, B, "_csrf"), undefined);
});

test("fuzz: multipart and urlencoded token reads never throw (3 s)", () => {
  const alphabet = [
    `--${B}`,
    "\r\n",
    "\r\n\r\n",
    "--",
    "Content-Disposition: form-data; ",
    'name="_csrf"',
    "name=_csrf",
    "filename=x",
    ";",
    '"',
    "tok",
    "=",
    "&",
    "%",
    "é",
    "\u0000",
  ];
  const pick = () => alphabet[Math.floor(Math.random() * alphabet.length)]!;
  const wellFormed = multipart([field("a", "1"), field("_csrf", "tok"), field("b", "2")]);
  const mutated = () => {
    const copy = Buffer.from(wellFormed);
    for (let n = Math.floor(Math.random() * 3); n > 0; n--) {
      copy[Math.floor(Math.random() * copy.length)] = Math.floor(Math.random() * 256);
    }
    return copy.subarray(0, Math.random() < 0.5 ? copy.length : Math.floor(Math.random() * copy.length));
  };
  const deadline = Date.now() + 3000;
  let runs = 0;
  let found = 0;
  while (Date.now() < deadline) {
    const text = Array.from({ length: Math.floor(Math.random() * 30) }, () =>
      Math.random() < 0.1 ? String.fromCharCode(Math.floor(Math.random() * 256)) : pick(),
    ).join("");
    // Half the runs: a well-formed body with a few random bytes changed and a random cut.
    const bytes = runs % 2 === 0 ? Buffer.from(text, Math.random() < 0.5 ? "utf8" : "latin1") : mutated();
    const token = multipartToken(bytes, B, "_csrf");
    assert.ok(token === undefined || typeof token === "string");
    if (token !== undefined) found++;
    const form = formToken(text, "_csrf");
    assert.ok(form === undefined || typeof form === "string");
    runs++;
  }
  assert.ok(runs > 1000, `only ${runs} runs`);
  assert.ok(found > 0, "some generated bodies carried a token part");
});

function sessionRoute(csrf: Record<string, unknown> | undefined) {
  return {
    upstreams: { app: { targets: ["http://127.0.0.1:3000"] } },
    server: { sessions: { secret: "${env:SESSION_SECRET}" } },
    routes: [
      {
        upstream: "app",
        auth: {
          session: {
            issuer: "https://idp.example.com",
            clientId: "app",
            clientSecret: "${env:CLIENT_SECRET}",
            redirectUrl: "https://app.example.com/.bulwark/auth/callback",
            ...(csrf ? { csrf } : {}),
          },
        },
      },
    ],
  };
}

const ENV = { SESSION_SECRET: "0123456789abcdef0123456789abcdef", CLIENT_SECRET: "client-secret" };

test("config: formField defaults to _csrf and bodyReadLimit to 64kb; bad values are refused", () => {
  const config = validateConfig(sessionRoute(undefined), { source: "test", baseDir: "/", env: ENV });
  const csrf = config.routes[0]!.auth!.session!.csrf;
  assert.equal(csrf.formField, "_csrf");
  assert.equal(csrf.bodyReadLimit, 64 * 1024);
  const custom = validateConfig(sessionRoute({ formField: "authenticity_token", bodyReadLimit: "8kb" }), {
    source: "test",
    baseDir: "/",
    env: ENV,
  });
  assert.equal(custom.routes[0]!.auth!.session!.csrf.bodyReadLimit, 8 * 1024);
  for (const [csrfConfig, path, message] of [
    [{ bodyReadLimit: "2mb" }, "bodyReadLimit", /1b to 1mb/],
    [{ formField: "" }, "formField", /./],
  ] as const) {
    try {
      validateConfig(sessionRoute(csrfConfig), { source: "test", baseDir: "/", env: ENV });
      assert.fail(`accepted ${JSON.stringify(csrfConfig)}`);
    } catch (error) {
      assert.ok(error instanceof ConfigError, String(error));
      assert.ok(
        error.problems.some((p) => p.path.endsWith(`csrf.${path}`) && message.test(p.message)),
        JSON.stringify(error.problems),
      );
    }
  }
});
