/**
 * Classic HTML forms in headless Chromium (Debian's chromium, driven by playwright-core): after a
 * real sign-in, a page of the site submits a plain form and a multipart form with a file, each
 * with the CSRF token in a hidden `_csrf` field and no script-set header. The browser sets Origin,
 * Sec-Fetch-Site and the body encoding itself, so this is what users' forms really send (Origin
 * included: "null" under the strict profile's Referrer-Policy).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Page } from "playwright-core";
import {
  launchChromium,
  type SignInStack,
  startSignInStack,
  type TestChromium,
} from "../../support/browser.js";

interface Echo {
  readonly method: string;
  readonly body: string;
  readonly bytes: number;
  readonly headers: Record<string, string | undefined>;
}

describe("csrf tokens in HTML forms, in Chromium", () => {
  let stack: SignInStack;
  let chromium: TestChromium;
  let page: Page;
  let submissions = 0;

  /** Replaces the page with a form posting to /echo and submits it; gives the page it lands on. */
  async function submit(enctype: string, fields: string, file?: { name: string; size: number }) {
    // Each form posts to its own URL: the page already sits on /echo, and waiting for a URL the
    // page is already at returns before the browser has even sent the form.
    const action = `/echo?submission=${++submissions}`;
    await page.evaluate(
      ({ enctype, fields, action }) => {
        document.body.innerHTML = `<form id="f" method="post" action="${action}" enctype="${enctype}">${fields}</form>`;
      },
      { enctype, fields, action },
    );
    if (file) {
      await page.setInputFiles('input[type="file"]', {
        name: file.name,
        mimeType: "text/plain",
        buffer: Buffer.from("abcdefghij".repeat(file.size / 10)),
      });
    }
    await Promise.all([
      page.waitForURL(`${stack.url()}${action}`),
      page.evaluate(() => (document.getElementById("f") as HTMLFormElement).submit()),
    ]);
    return JSON.parse((await page.textContent("body")) ?? "{}") as Echo & { code?: string };
  }

  const token = async () =>
    (await chromium.context.cookies(stack.url())).find((cookie) => cookie.name === "__Host-bulwark-csrf")!
      .value;

  before(async () => {
    stack = await startSignInStack({ logLevel: "warn" });
    chromium = await launchChromium();
    page = await chromium.context.newPage();
    await page.goto(`${stack.url()}/echo`);
    await page.fill('input[name="login"]', "alice");
    await page.fill('input[name="password"]', "correct horse");
    await Promise.all([page.waitForURL(`${stack.url()}/echo`), page.click('button[type="submit"]')]);
  });

  after(async () => {
    await page?.close();
    await chromium?.close();
    await stack?.close();
  });

  test("a plain form with the token in a hidden field is accepted; the field reaches the upstream", async () => {
    const csrf = await token();
    const echo = await submit(
      "application/x-www-form-urlencoded",
      `<input name="_csrf" value="${csrf}"><input name="note" value="Grüße ✓">`,
    );
    assert.equal(echo.method, "POST");
    assert.equal(echo.headers["x-user"], "alice");
    // The strict header profile's Referrer-Policy: no-referrer makes Chromium send "Origin: null"
    // on form posts (Fetch §3.1); Sec-Fetch-Site, which pages cannot set, says same-origin.
    assert.equal(echo.headers.origin, "null");
    assert.equal(echo.headers["sec-fetch-site"], "same-origin");
    assert.equal(echo.body, `_csrf=${csrf}&note=${encodeURIComponent("Grüße ✓").replaceAll("%20", "+")}`);
  });

  test("the same form without the field, or with another value, is refused with 403", async () => {
    const missing = await submit("application/x-www-form-urlencoded", '<input name="note" value="x">');
    assert.equal(missing.code, "csrf_token_missing");
    const wrong = await submit("application/x-www-form-urlencoded", '<input name="_csrf" value="forged">');
    assert.equal(wrong.code, "csrf_token_invalid");
  });

  test("a multipart form with a file, the token field first, is accepted and forwarded whole", async () => {
    const csrf = await token();
    const echo = await submit(
      "multipart/form-data",
      `<input name="_csrf" value="${csrf}"><input type="file" name="upload">`,
      { name: "notes.txt", size: 150_000 },
    );
    assert.equal(echo.headers["x-user"], "alice", JSON.stringify(echo).slice(0, 300));
    assert.match(echo.headers["content-type"] ?? "", /^multipart\/form-data; boundary=/);
    assert.equal(echo.bytes, Number(echo.headers["content-length"]));
    assert.ok(echo.bytes > 150_000);
    assert.ok(echo.body.includes(`name="_csrf"\r\n\r\n${csrf}\r\n`));
    assert.ok(echo.body.includes("abcdefghij".repeat(15_000)), "the whole file reached the upstream");
  });
});
