/**
 * CSRF tokens in HTML form posts (a form field instead of the header), against a real provider,
 * gateway and upstream: the field is accepted when the header is absent, refused when wrong or
 * missing, read from slow chunked bodies, and left in the body the upstream receives.
 */
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { after, before, describe, test } from "node:test";
import { request } from "undici";
import { HttpBrowser, type SignInStack, startSignInStack } from "../../support/browser.js";

const HOST = "127.0.0.1";
const FORM = "application/x-www-form-urlencoded";

interface Echo {
  readonly body: string;
  readonly bytes: number;
  readonly headers: Record<string, string>;
}

async function signedIn(stack: SignInStack, user: string): Promise<{ cookie: string; token: string }> {
  const browser = new HttpBrowser();
  await browser.signIn(`${stack.url()}/echo`, user);
  const cookie = browser.cookieHeader(HOST);
  const token = browser.cookie(HOST, "__Host-bulwark-csrf");
  assert.ok(cookie && token);
  return { cookie, token };
}

async function post(
  stack: SignInStack,
  body: string,
  headers: Record<string, string>,
): Promise<{ status: number; code?: string; echo?: Echo }> {
  const response = await request(`${stack.url()}/echo`, { method: "POST", headers, body });
  const text = await response.body.text();
  if (response.statusCode === 200) return { status: 200, echo: JSON.parse(text) as Echo };
  return { status: response.statusCode, code: (JSON.parse(text) as { code: string }).code };
}

describe("csrf token in a form field", () => {
  let stack: SignInStack;
  let cookie: string;
  let token: string;

  before(async () => {
    stack = await startSignInStack({ logLevel: "info" });
    ({ cookie, token } = await signedIn(stack, "alice"));
  });

  after(async () => {
    await stack?.close();
  });

  test("a form post with the token in _csrf and no header reaches the upstream, field and all", async () => {
    const body = `amount=100&_csrf=${encodeURIComponent(token)}&note=${encodeURIComponent("für Zoë ✓")}`;
    const result = await post(stack, body, { cookie, origin: stack.url(), "content-type": FORM });
    assert.equal(result.status, 200, result.code);
    assert.equal(result.echo!.body, body);
    assert.equal(result.echo!.bytes, Buffer.byteLength(body));
    assert.equal(result.echo!.headers["content-length"], String(Buffer.byteLength(body)));
    assert.equal(result.echo!.headers["x-user"], "alice");
  });

  test("a missing or wrong form token is refused with 403; nothing reaches the upstream", async () => {
    const seen = stack.upstream.seen.length;
    const headers = { cookie, origin: stack.url(), "content-type": FORM };
    const missing = await post(stack, "amount=100", headers);
    assert.equal(missing.status, 403);
    assert.equal(missing.code, "csrf_token_missing");
    assert.equal((await post(stack, "amount=100&_csrf=", headers)).code, "csrf_token_missing");
    const wrong = await post(stack, `amount=100&_csrf=${"A".repeat(43)}`, headers);
    assert.equal(wrong.status, 403);
    assert.equal(wrong.code, "csrf_token_invalid");
    // Another session's token is not this session's.
    const bob = await signedIn(stack, "bob");
    const seenAfterBob = stack.upstream.seen.length;
    assert.equal(
      (await post(stack, `_csrf=${encodeURIComponent(bob.token)}`, headers)).code,
      "csrf_token_invalid",
    );
    assert.equal(stack.upstream.seen.length, seenAfterBob);
    assert.equal(stack.upstream.seen.length, seen + 1, "only bob's sign-in navigation reached the upstream");
  });

  test("only form bodies are looked in, and a header present is what counts", async () => {
    const base = { cookie, origin: stack.url() };
    const json = await post(stack, JSON.stringify({ _csrf: token }), {
      ...base,
      "content-type": "application/json",
    });
    assert.equal(json.code, "csrf_token_missing");
    // enctype="text/plain" is what a cross-site form can send without a preflight.
    const plain = await post(stack, `_csrf=${token}`, { ...base, "content-type": "text/plain" });
    assert.equal(plain.code, "csrf_token_missing");
    const wrongHeader = await post(stack, `_csrf=${token}`, {
      ...base,
      "content-type": FORM,
      "x-csrf-token": "wrong",
    });
    assert.equal(wrongHeader.code, "csrf_token_invalid");
    const rightHeader = await post(stack, "_csrf=wrong", {
      ...base,
      "content-type": FORM,
      "x-csrf-token": token,
    });
    assert.equal(rightHeader.status, 200);
    assert.equal(rightHeader.echo!.body, "_csrf=wrong");
  });

  test("a cross-site form post is refused even with the right token in the field", async () => {
    const result = await post(stack, `_csrf=${token}`, {
      cookie,
      origin: "https://evil.example",
      "content-type": FORM,
    });
    assert.equal(result.status, 403);
    assert.equal(result.code, "csrf_origin_rejected");
  });

  test("the token is found in a slow chunked form body, which the upstream receives unchanged", async () => {
    const body = Buffer.from(`comment=${"ü".repeat(300)}&_csrf=${encodeURIComponent(token)}&end=1`);
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = httpRequest(`${stack.url()}/echo`, {
        method: "POST",
        headers: { cookie, origin: stack.url(), "content-type": FORM },
      });
      req.on("response", (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      });
      req.on("error", reject);
      let offset = 0;
      const next = () => {
        if (offset >= body.length) return void req.end();
        req.write(body.subarray(offset, offset + 37));
        offset += 37;
        setTimeout(next, 5);
      };
      next();
    });
    assert.equal(status, 200, text);
    const echo = JSON.parse(text) as Echo;
    assert.equal(echo.bytes, body.length);
    assert.equal(echo.body, body.toString("utf8"));
  });
  test("multipart forms: a token before the files is read from the start of the body", async () => {
    const boundary = "----bulwarkBoundary0123456789";
    const letters = "abcdefghijklmnopqrstuvwxyz";
    // 200 KiB of file, well over the 64 KiB read limit; ASCII so the echo shows it exactly.
    const file = Array.from({ length: 200 * 1024 }, (_, i) => letters[(i * 7) % 26]).join("");
    const part = (name: string, value: string, filename?: string) =>
      `--${boundary}\r\nContent-Disposition: form-data; name="${name}"${filename ? `; filename="${filename}"` : ""}\r\n\r\n${value}\r\n`;
    const headers = {
      cookie,
      origin: stack.url(),
      "content-type": `multipart/form-data; boundary=${boundary}`,
    };
    const first = `${part("_csrf", token)}${part("upload", file, "notes.txt")}--${boundary}--\r\n`;
    const accepted = await post(stack, first, headers);
    assert.equal(accepted.status, 200, accepted.code);
    assert.equal(accepted.echo!.bytes, Buffer.byteLength(first));
    assert.equal(accepted.echo!.body, first, "the upstream receives the whole multipart body unchanged");
    // The same token after the file: beyond what is read, so refused (send the header instead).
    const last = `${part("upload", file, "notes.txt")}${part("_csrf", token)}--${boundary}--\r\n`;
    const refused = await post(stack, last, headers);
    assert.equal(refused.status, 403);
    assert.equal(refused.code, "csrf_token_missing");
    const wrong = await post(stack, `${part("_csrf", "nope")}--${boundary}--\r\n`, headers);
    assert.equal(wrong.code, "csrf_token_invalid");
  });
});

describe("csrf form field: configured name and read limit", () => {
  let stack: SignInStack;
  let cookie: string;
  let token: string;

  before(async () => {
    stack = await startSignInStack({
      logLevel: "info",
      session: { csrf: { formField: "authenticity_token", bodyReadLimit: "1kb" } },
    });
    ({ cookie, token } = await signedIn(stack, "carol"));
  });

  after(async () => {
    await stack?.close();
  });

  test("the configured field carries the token; the default name no longer does", async () => {
    const headers = { cookie, origin: stack.url(), "content-type": FORM };
    const ok = await post(stack, `authenticity_token=${encodeURIComponent(token)}&x=1`, headers);
    assert.equal(ok.status, 200, ok.code);
    assert.equal(
      (await post(stack, `_csrf=${encodeURIComponent(token)}`, headers)).code,
      "csrf_token_missing",
    );
  });

  test("a form larger than bodyReadLimit is not read: without the header it is refused, with it it passes", async () => {
    const big = `authenticity_token=${encodeURIComponent(token)}&file=${"z".repeat(2000)}`;
    const headers = { cookie, origin: stack.url(), "content-type": FORM };
    const refused = await post(stack, big, headers);
    assert.equal(refused.status, 403);
    assert.equal(refused.code, "csrf_token_missing");
    const withHeader = await post(stack, big, { ...headers, "x-csrf-token": token });
    assert.equal(withHeader.status, 200);
    assert.equal(withHeader.echo!.body, big);
  });
});
