/**
 * The whole browser sign-in in headless Chromium (Debian's chromium, driven by playwright-core):
 * a navigation is sent to the provider's login form, the form is filled and submitted, the
 * browser lands back on the page it asked for with the identity passed upstream, the session
 * cookie has the __Host- attributes, a script's POST with the CSRF token works, and sign-out ends
 * the session at the gateway and at the provider.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  launchChromium,
  type SignInStack,
  startSignInStack,
  type TestChromium,
} from "../../support/browser.js";

describe("browser sign-in in Chromium", () => {
  let stack: SignInStack;
  let chromium: TestChromium;

  before(async () => {
    stack = await startSignInStack({ logLevel: "warn" });
    chromium = await launchChromium();
  });

  after(async () => {
    await chromium?.close();
    await stack?.close();
  });

  test("sign in through the provider's form, reach the upstream, post with the token, sign out", async () => {
    const page = await chromium.context.newPage();
    await page.goto(`${stack.url()}/echo?from=browser`);
    // The provider's devInteractions login form.
    assert.equal(new URL(page.url()).origin, stack.idp.issuer, page.url());
    await page.fill('input[name="login"]', "alice");
    await page.fill('input[name="password"]', "correct horse");
    await Promise.all([
      page.waitForURL(`${stack.url()}/echo?from=browser`),
      page.click('button[type="submit"]'),
    ]);

    const echo = JSON.parse((await page.textContent("body")) ?? "{}") as {
      url: string;
      headers: Record<string, string | undefined>;
    };
    assert.equal(echo.url, "/echo?from=browser");
    assert.equal(echo.headers["x-user"], "alice");
    assert.equal(echo.headers["x-roles"], "clinician,admin");
    assert.doesNotMatch(
      echo.headers.cookie ?? "",
      /__Host-bulwark/,
      "the upstream never sees the gateway's cookies",
    );

    const cookies = await chromium.context.cookies(stack.url());
    const session = cookies.find((cookie) => cookie.name === "__Host-bulwark-session");
    assert.ok(session, JSON.stringify(cookies.map((cookie) => cookie.name)));
    assert.equal(session.httpOnly, true);
    assert.equal(session.secure, true);
    assert.equal(session.sameSite, "Lax");
    assert.equal(session.path, "/");
    assert.equal(session.domain, "127.0.0.1", "host-only: no Domain attribute");
    const csrf = cookies.find((cookie) => cookie.name === "__Host-bulwark-csrf");
    assert.ok(csrf);
    assert.equal(csrf.httpOnly, false, "scripts can read the csrf token");

    // A script on the page: without the token the POST is refused, with it the POST passes.
    const results = await page.evaluate(async () => {
      const token = document.cookie
        .split("; ")
        .find((pair) => pair.startsWith("__Host-bulwark-csrf="))
        ?.slice("__Host-bulwark-csrf=".length);
      const without = await fetch("/echo", { method: "POST", body: "x" });
      const withToken = await fetch("/echo", {
        method: "POST",
        body: "x",
        headers: { "X-CSRF-Token": token ?? "" },
      });
      return {
        without: without.status,
        withoutCode: ((await without.json()) as { code: string }).code,
        withToken: withToken.status,
        user: ((await withToken.json()) as { headers: Record<string, string> }).headers["x-user"],
        readable: document.cookie.includes("__Host-bulwark-session"),
      };
    });
    assert.deepEqual(results, {
      without: 403,
      withoutCode: "csrf_token_missing",
      withToken: 200,
      user: "alice",
      readable: false,
    });

    // Sign out by navigating to the endpoint (Sec-Fetch-Site: none); the provider asks to confirm.
    await page.goto(`${stack.url()}/.bulwark/auth/signout`);
    assert.equal(new URL(page.url()).origin, stack.idp.issuer, "RP-initiated logout at the provider");
    await Promise.all([page.waitForURL(`${stack.url()}/**`), page.click('button[value="yes"]')]);
    assert.equal(new URL(page.url()).pathname, "/public/signed-out", "the provider sends the browser back");
    const after = await chromium.context.cookies(stack.url());
    assert.equal(
      after.find((cookie) => cookie.name === "__Host-bulwark-session"),
      undefined,
    );

    // Signed out at the provider too: a new visit shows the login form again.
    await page.goto(`${stack.url()}/echo`);
    assert.equal(new URL(page.url()).origin, stack.idp.issuer);
    assert.ok(await page.isVisible('input[name="login"]'));
    await page.close();
  });
});

describe("browser sign-in in Chromium over HTTPS and HTTP/2", () => {
  let stack: SignInStack;
  let chromium: TestChromium;

  before(async () => {
    stack = await startSignInStack({ logLevel: "warn", tls: true });
    chromium = await launchChromium({ ignoreHttpsErrors: true });
  });

  after(async () => {
    await chromium?.close();
    await stack?.close();
  });

  test("over HTTP/2 (one cookie field per cookie), the upstream gets the other cookies and none of the gateway's", async () => {
    assert.match(stack.url(), /^https:/);
    await chromium.context.addCookies([{ name: "theme", value: "dark", url: stack.url() }]);
    const page = await chromium.context.newPage();
    await page.goto(`${stack.url()}/echo`);
    assert.equal(new URL(page.url()).origin, stack.idp.issuer);
    await page.fill('input[name="login"]', "bob");
    await page.fill('input[name="password"]', "any");
    await Promise.all([page.waitForURL(`${stack.url()}/echo`), page.click('button[type="submit"]')]);
    const protocol = await page.evaluate(
      () => (performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming).nextHopProtocol,
    );
    assert.equal(protocol, "h2", "the page came over HTTP/2");
    const echo = JSON.parse((await page.textContent("body")) ?? "{}") as {
      headers: Record<string, string | undefined>;
    };
    assert.equal(echo.headers["x-user"], "bob");
    assert.match(echo.headers.cookie ?? "", /(^|; )theme=dark(;|$)/);
    assert.doesNotMatch(echo.headers.cookie ?? "", /__Host-bulwark/);
    const session = (await chromium.context.cookies(stack.url())).find(
      (c) => c.name === "__Host-bulwark-session",
    );
    assert.equal(session?.secure, true);
    await page.close();
  });
});
