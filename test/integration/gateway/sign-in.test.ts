/**
 * Browser sign-in at the HTTP level: a real OpenID provider (oidc-provider, devInteractions login
 * form), a real gateway and a real upstream, driven by a cookie-keeping HTTP client. The Chromium
 * run is in sign-in-browser.test.ts; Redis-shared sessions in sign-in-redis.test.ts.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { request } from "undici";
import { generateSigningKeyPair } from "../../../src/audit/signing.js";
import {
  HttpBrowser,
  type HttpResponse,
  SESSION_SECRET,
  type SignInStack,
  startSignInStack,
} from "../../support/browser.js";
import { BROWSER_CLIENT_SECRET } from "../../support/oidc.js";

type Echo = { url: string; headers: Record<string, string | undefined> };

const SESSION = "__Host-bulwark-session";
const CSRF = "__Host-bulwark-csrf";
const SIGN_IN = "__Host-bulwark-signin";
const HOST = "127.0.0.1";

function problemCode(response: { text: string }): string {
  return (JSON.parse(response.text) as { code: string }).code;
}

function setCookie(response: HttpResponse, name: string): string | undefined {
  return response.setCookies.find((line) => line.startsWith(`${name}=`));
}

async function api(url: string, cookie?: string, extra: Record<string, string> = {}) {
  const response = await request(url, { headers: { ...(cookie ? { cookie } : {}), ...extra } });
  return { status: response.statusCode, headers: response.headers, text: await response.body.text() };
}

describe("browser sign-in", () => {
  let stack: SignInStack;

  before(async () => {
    stack = await startSignInStack();
  });

  after(async () => {
    await stack?.close();
  });

  test("without a session: API calls get 401, navigations are sent to sign in with their path", async () => {
    const apiCall = await api(`${stack.url()}/echo`);
    assert.equal(apiCall.status, 401);
    assert.equal(problemCode(apiCall), "unauthorized");
    const browser = new HttpBrowser();
    const navigation = await browser.fetch(`${stack.url()}/echo?x=1`, {
      headers: { accept: "text/html", "sec-fetch-mode": "navigate" },
      follow: false,
    });
    assert.equal(navigation.status, 302);
    assert.equal(navigation.headers.location, "/.bulwark/auth/signin?rd=%2Fecho%3Fx%3D1");
    const fetchCall = await api(`${stack.url()}/echo`, undefined, {
      accept: "text/html",
      "sec-fetch-mode": "cors",
    });
    assert.equal(fetchCall.status, 401, "a script's fetch is not a navigation");
  });

  test("sign-in: PKCE S256, state and nonce; the upstream gets the identity and none of the gateway's cookies", async () => {
    const browser = new HttpBrowser();
    browser.setCookie(HOST, "theme", "dark");
    const start = await browser.fetch(`${stack.url()}/.bulwark/auth/signin?rd=%2Fecho%3Fx%3D1`, {
      follow: false,
    });
    assert.equal(start.status, 302);
    const authorize = new URL(start.headers.location as string);
    assert.equal(authorize.origin, stack.idp.issuer);
    assert.equal(authorize.searchParams.get("code_challenge_method"), "S256");
    assert.match(authorize.searchParams.get("code_challenge") ?? "", /^[A-Za-z0-9_-]{43}$/);
    assert.match(authorize.searchParams.get("state") ?? "", /^[A-Za-z0-9_-]{43}$/);
    assert.ok(authorize.searchParams.get("nonce"));
    assert.equal(authorize.searchParams.get("redirect_uri"), `${stack.url()}/.bulwark/auth/callback`);
    const startState = authorize.searchParams.get("state")!;
    const preAuth = setCookie(start, `${SIGN_IN}-${startState.slice(0, 12)}`);
    assert.match(preAuth ?? "", /; Path=\/; Secure; HttpOnly; SameSite=Lax; Max-Age=600$/);

    const final = await browser.signIn(`${stack.url()}/echo?x=1`, "alice");
    assert.equal(final.status, 200, final.text);
    const echo = JSON.parse(final.text) as Echo;
    assert.equal(echo.url, "/echo?x=1", "back where the browser started");
    assert.equal(echo.headers["x-user"], "alice");
    assert.equal(echo.headers["x-roles"], "clinician,admin");
    // The provider's cookies (same host, another port) pass too; the gateway's own never do.
    assert.match(echo.headers.cookie ?? "", /^theme=dark(; |$)/, "other cookies are kept as they were");
    assert.doesNotMatch(echo.headers.cookie ?? "", /__Host-bulwark/, "the gateway's cookies are removed");

    const callback = browser.history.find((response) => response.url.includes("/.bulwark/auth/callback"));
    assert.ok(callback, "the provider sent the browser to the callback");
    assert.equal(callback.status, 303);
    const sessionCookie = setCookie(callback, SESSION) ?? "";
    assert.match(
      sessionCookie,
      /^__Host-bulwark-session=[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}; Path=\/; Secure; HttpOnly; SameSite=Lax; Max-Age=43200$/,
    );
    const csrfCookie = setCookie(callback, CSRF) ?? "";
    assert.match(
      csrfCookie,
      /^__Host-bulwark-csrf=[A-Za-z0-9_-]{43}; Path=\/; Secure; SameSite=Strict; Max-Age=43200$/,
    );
    const callbackState = new URL(callback.url).searchParams.get("state")!;
    assert.match(
      setCookie(callback, `${SIGN_IN}-${callbackState.slice(0, 12)}`) ?? "",
      /Max-Age=0/,
      "the pre-auth cookie is cleared",
    );

    // The open route also never sees the gateway's cookies.
    const open = await browser.fetch(`${stack.url()}/public`);
    assert.match((JSON.parse(open.text) as Echo).headers.cookie ?? "", /^theme=dark(; |$)/);
    assert.doesNotMatch((JSON.parse(open.text) as Echo).headers.cookie ?? "", /__Host-bulwark/);
    // Client-sent identity headers are replaced.
    const spoof = await browser.fetch(`${stack.url()}/echo`, {
      headers: { "x-user": "mallory", "x-roles": "root" },
    });
    assert.equal((JSON.parse(spoof.text) as Echo).headers["x-user"], "alice");
    assert.equal((JSON.parse(spoof.text) as Echo).headers["x-roles"], "clinician,admin");
  });

  test("sessions and the provider's discovery survive a config reload", async () => {
    const browser = new HttpBrowser();
    await browser.signIn(`${stack.url()}/echo`, "bob");
    const cookie = `${SESSION}=${browser.cookie(HOST, SESSION)}`;
    const gateway = stack.gateways[0]!.instance.gateway;
    gateway.reload(gateway.config);
    const result = await api(`${stack.url()}/echo`, cookie);
    assert.equal(result.status, 200, result.text);
    assert.equal((JSON.parse(result.text) as Echo).headers["x-user"], "bob");
    const again = await new HttpBrowser().signIn(`${stack.url()}/echo`, "alice");
    assert.equal(again.status, 200);
  });

  test("a forged session cookie (bad signature) is refused and cleared", async () => {
    const browser = new HttpBrowser();
    await browser.signIn(`${stack.url()}/echo`, "bob");
    const genuine = browser.cookie(HOST, SESSION)!;
    const [id, mac] = genuine.split(".");
    const forgeries = [
      `${id}.${mac!.slice(0, -1)}${mac!.endsWith("A") ? "B" : "A"}`,
      `${"A".repeat(43)}.${mac}`,
      id!,
      "garbage",
    ];
    for (const forged of forgeries) {
      const result = await api(`${stack.url()}/echo`, `${SESSION}=${forged}`);
      assert.equal(result.status, 401, forged);
      assert.equal(problemCode(result), "unauthorized");
      const cleared = [result.headers["set-cookie"]].flat().join("\n");
      assert.match(cleared, /__Host-bulwark-session=; Path=\/; Secure; HttpOnly; SameSite=Lax; Max-Age=0/);
    }
    assert.equal((await api(`${stack.url()}/echo`, `${SESSION}=${genuine}`)).status, 200);
  });

  test("sign-out ends the session here and at the provider; the old cookie is refused afterwards", async () => {
    const browser = new HttpBrowser();
    await browser.signIn(`${stack.url()}/echo`, "alice");
    const cookie = `${SESSION}=${browser.cookie(HOST, SESSION)}`;
    const token = browser.cookie(HOST, CSRF)!;
    assert.equal((await api(`${stack.url()}/echo`, cookie)).status, 200);

    // A cross-site link cannot sign the user out, nor a POST without the token.
    const crossSite = await browser.fetch(`${stack.url()}/.bulwark/auth/signout`, {
      headers: { "sec-fetch-site": "cross-site" },
      follow: false,
    });
    assert.equal(crossSite.status, 403);
    assert.equal(problemCode(crossSite), "csrf_origin_rejected");
    const noToken = await browser.fetch(`${stack.url()}/.bulwark/auth/signout`, {
      method: "POST",
      headers: { origin: stack.url() },
      follow: false,
    });
    assert.equal(noToken.status, 403);
    assert.equal(problemCode(noToken), "csrf_token_missing");
    const wrongField = await browser.fetch(`${stack.url()}/.bulwark/auth/signout`, {
      method: "POST",
      headers: { origin: stack.url(), "content-type": "application/x-www-form-urlencoded" },
      body: "_csrf=not-the-token",
      follow: false,
    });
    assert.equal(wrongField.status, 403);
    assert.equal(problemCode(wrongField), "csrf_token_invalid");
    assert.equal((await api(`${stack.url()}/echo`, cookie)).status, 200, "still signed in");

    // A classic HTML "Sign out" form: the token in the _csrf field.
    const out = await browser.fetch(`${stack.url()}/.bulwark/auth/signout`, {
      method: "POST",
      headers: { origin: stack.url(), "content-type": "application/x-www-form-urlencoded" },
      body: `_csrf=${encodeURIComponent(token)}`,
      follow: false,
    });
    assert.equal(out.status, 303);
    const endSession = new URL(out.headers.location as string);
    assert.equal(endSession.origin, stack.idp.issuer, "RP-initiated logout at the provider");
    assert.ok(endSession.searchParams.get("id_token_hint"));
    assert.equal(endSession.searchParams.get("post_logout_redirect_uri"), `${stack.url()}/public/signed-out`);
    assert.match(setCookie(out, SESSION) ?? "", /Max-Age=0/);
    assert.match(setCookie(out, CSRF) ?? "", /Max-Age=0/);

    const replay = await api(`${stack.url()}/echo`, cookie);
    assert.equal(replay.status, 401, "the session is gone from the store");
    const navigation = await api(`${stack.url()}/echo`, cookie, { accept: "text/html" });
    assert.equal(navigation.status, 302, "a browser with the old cookie is sent to sign in again");
  });

  test("a replayed state, or a state from another browser, is refused with sign_in_state_invalid", async () => {
    const browser = new HttpBrowser();
    await browser.signIn(`${stack.url()}/echo`, "alice");
    const callback = browser.history.find((response) => response.url.includes("/.bulwark/auth/callback"))!;
    const state = new URL(callback.url).searchParams.get("state")!;
    const signInCookie = browser.log
      .flatMap((response) => response.setCookies)
      .find((line) => line.startsWith(`${SIGN_IN}-`) && !line.includes("Max-Age=0"))!
      .split(";")[0]!;
    assert.ok(state && signInCookie);

    // Same URL (code and state), same pre-auth cookie: the state was used once already.
    const replay = await api(callback.url, signInCookie);
    assert.equal(replay.status, 400);
    assert.equal(problemCode(replay), "sign_in_state_invalid");
    assert.match(JSON.parse(replay.text).detail, /already used or has expired/);

    // A callback without this browser's pre-auth cookie (login CSRF) is refused before the state is used.
    const other = new HttpBrowser();
    const started = await other.fetch(`${stack.url()}/.bulwark/auth/signin`, { follow: false });
    const otherState = new URL(started.headers.location as string).searchParams.get("state")!;
    const foreign = await api(`${stack.url()}/.bulwark/auth/callback?code=x&state=${otherState}`);
    assert.equal(foreign.status, 400);
    assert.equal(problemCode(foreign), "sign_in_state_invalid");
    assert.match(JSON.parse(foreign.text).detail, /not started in this browser/);
    const noState = await api(`${stack.url()}/.bulwark/auth/callback?code=x`);
    assert.equal(problemCode(noState), "sign_in_state_invalid");
  });

  test("two tabs signing in at once both get back where they started; at most 4 sign-ins are kept pending", async () => {
    const browser = new HttpBrowser();
    const start = async (tab: string) => {
      const started = await browser.fetch(`${stack.url()}/.bulwark/auth/signin?rd=%2Fecho%3Ftab%3D${tab}`, {
        follow: false,
      });
      assert.equal(started.status, 302);
      return started.headers.location as string;
    };
    const first = await start("a");
    const second = await start("b");
    const pending = () =>
      (browser.cookieHeader(HOST) ?? "").split("; ").filter((pair) => pair.startsWith(`${SIGN_IN}-`));
    assert.equal(pending().length, 2, "one pre-auth cookie per sign-in");
    // The first tab finishes first (the provider's login form), then the second (the provider
    // remembers the login by then, or asks again).
    const finish = async (authorizeUrl: string) => {
      const page = await browser.fetch(authorizeUrl, { headers: { accept: "text/html" } });
      const action = /<form[^>]*action="([^"]+)"[^>]*method="post"/.exec(page.text)?.[1];
      if (!action) return page;
      return browser.fetch(new URL(action.replaceAll("&amp;", "&"), page.url).href, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", accept: "text/html" },
        body: new URLSearchParams({ prompt: "login", login: "alice", password: "any" }).toString(),
      });
    };
    const a = await finish(first);
    assert.equal(a.status, 200, a.text);
    assert.equal((JSON.parse(a.text) as Echo).url, "/echo?tab=a");
    const b = await finish(second);
    assert.equal(b.status, 200, b.text);
    assert.equal((JSON.parse(b.text) as Echo).url, "/echo?tab=b");
    assert.equal(pending().length, 0, "each callback clears its own pre-auth cookie");

    // Abandoned sign-ins do not pile up: the fifth clears the four before it.
    for (const tab of ["1", "2", "3", "4"]) await start(tab);
    assert.equal(pending().length, 4);
    await start("5");
    assert.equal(pending().length, 1);
    const fifth = browser.history[0]!;
    assert.equal(
      fifth.setCookies.filter((line) => line.startsWith(`${SIGN_IN}-`) && /Max-Age=0/.test(line)).length,
      4,
    );

    // Whatever a client sends in the gateway's cookie namespace never reaches an upstream.
    const open = await api(`${stack.url()}/public`, `${SIGN_IN}-forged1234=x; theme=dark; ${SIGN_IN}=old`);
    assert.equal((JSON.parse(open.text) as Echo).headers.cookie, "theme=dark");
  });

  test("the return path is same-origin only (no open redirect) and never a sign-in endpoint (no loop)", async () => {
    for (const rd of [
      "https://evil.example/x",
      "//evil.example/x",
      "/\\evil.example",
      "/.bulwark/auth/signin",
    ]) {
      const browser = new HttpBrowser();
      await browser.fetch(`${stack.url()}/.bulwark/auth/signin?rd=${encodeURIComponent(rd)}`, {
        follow: false,
      });
      // Sign in from the login form the provider shows.
      const final = await browser.signIn(
        `${stack.url()}/.bulwark/auth/signin?rd=${encodeURIComponent(rd)}`,
        "bob",
      );
      const callback = browser.history.find((response) => response.url.includes("/.bulwark/auth/callback"))!;
      assert.equal(callback.headers.location, "/", rd);
      assert.equal(new URL(final.url).origin, stack.url());
    }
  });

  test("fuzz (bounded): random and oversized cookies get 401 or a sign-in redirect, never a 5xx", async () => {
    const alphabet = 'Aa0_-.=;, "\\%\t';
    const deadline = Date.now() + 3000;
    let rounds = 0;
    while (Date.now() < deadline) {
      rounds++;
      const length = rounds % 7 === 0 ? 4000 : Math.floor(Math.random() * 200);
      const value = Array.from({ length }, () => alphabet[Math.floor(Math.random() * alphabet.length)]).join(
        "",
      );
      const navigation = rounds % 2 === 0;
      const result = await api(
        `${stack.url()}/echo`,
        `a=1; ${SESSION}=${value}; ${CSRF}=${value}`,
        navigation ? { accept: "text/html" } : {},
      );
      assert.ok(
        result.status === 401 || result.status === 302,
        `${result.status} for ${JSON.stringify(value)}`,
      );
    }
    assert.ok(rounds > 20, `only ${rounds} rounds`);
    const post = await request(`${stack.url()}/.bulwark/auth/callback?state=${"x".repeat(5000)}&code=y`, {
      headers: { cookie: `${SIGN_IN}=${"A".repeat(43)}.${"B".repeat(43)}` },
    });
    await post.body.dump();
    assert.equal(post.statusCode, 400);
  });

  test("nothing secret reaches the logs: cookie secret, client secret, session id, csrf token, code", async () => {
    const browser = new HttpBrowser();
    await browser.signIn(`${stack.url()}/echo`, "alice");
    const callback = browser.history.find((response) => response.url.includes("/.bulwark/auth/callback"))!;
    const code = new URL(callback.url).searchParams.get("code")!;
    const [id] = browser.cookie(HOST, SESSION)!.split(".");
    const secrets = [SESSION_SECRET, BROWSER_CLIENT_SECRET, id!, browser.cookie(HOST, CSRF)!, code];
    const logs = stack.gateways[0]!.logText();
    assert.ok(logs.includes("signed in"), "debug logs are on");
    for (const secret of secrets)
      assert.ok(!logs.includes(secret), `a secret of ${secret.length} characters is logged`);
  });

  test("sign-in endpoints refuse other methods; a provider error in the callback is a clear 403", async () => {
    const post = await request(`${stack.url()}/.bulwark/auth/signin`, { method: "POST" });
    await post.body.dump();
    assert.equal(post.statusCode, 405);
    // The provider says access_denied (the user cancelled): the state and cookie are valid.
    const browser = new HttpBrowser();
    const started = await browser.fetch(`${stack.url()}/.bulwark/auth/signin`, { follow: false });
    const state = new URL(started.headers.location as string).searchParams.get("state")!;
    const denied = await browser.fetch(
      `${stack.url()}/.bulwark/auth/callback?error=access_denied&state=${state}&iss=${encodeURIComponent(stack.idp.issuer)}`,
      { follow: false },
    );
    assert.equal(denied.status, 403, denied.text);
    assert.equal(problemCode(denied), "sign_in_failed");
  });
});

describe("session timeouts", () => {
  let stack: SignInStack;

  before(async () => {
    stack = await startSignInStack({
      sessions: { idleTimeout: "2s", absoluteTimeout: "6s" },
      logLevel: "warn",
    });
  });

  after(async () => {
    await stack?.close();
  });

  test("idle timeout: a session unused for longer than idleTimeout is over", async () => {
    const browser = new HttpBrowser();
    await browser.signIn(`${stack.url()}/echo`, "alice");
    const cookie = `${SESSION}=${browser.cookie(HOST, SESSION)}`;
    assert.equal((await api(`${stack.url()}/echo`, cookie)).status, 200);
    await new Promise((resolve) => setTimeout(resolve, 2600));
    assert.equal((await api(`${stack.url()}/echo`, cookie)).status, 401);
  });

  test("absolute timeout: a session in constant use ends absoluteTimeout after sign-in", async () => {
    const browser = new HttpBrowser();
    await browser.signIn(`${stack.url()}/echo`, "alice");
    const signedInAt = Date.now();
    const cookie = `${SESSION}=${browser.cookie(HOST, SESSION)}`;
    const statuses: { at: number; status: number }[] = [];
    while (Date.now() - signedInAt < 7500) {
      statuses.push({
        at: Date.now() - signedInAt,
        status: (await api(`${stack.url()}/echo`, cookie)).status,
      });
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    // Used every 500 ms, so never idle; alive well before 6 s, over after it.
    assert.ok(
      statuses.filter((s) => s.at < 5000).every((s) => s.status === 200),
      JSON.stringify(statuses),
    );
    assert.ok(
      statuses.filter((s) => s.at > 6500).every((s) => s.status === 401),
      JSON.stringify(statuses),
    );
  });
});

describe("refresh-token rotation", () => {
  let stack: SignInStack;

  before(async () => {
    // Access tokens live 6 s and are refreshed 5 s early: due one second after each refresh.
    stack = await startSignInStack({ accessTokenTtl: 6, logLevel: "warn" });
  });

  after(async () => {
    await stack?.close();
  });

  test("an expired access token is refreshed once, with the rotated refresh token every time", async () => {
    const browser = new HttpBrowser();
    await browser.signIn(`${stack.url()}/echo`, "alice");
    const cookie = `${SESSION}=${browser.cookie(HOST, SESSION)}`;
    const before = stack.idp.refreshGrants;
    for (let round = 1; round <= 3; round++) {
      await new Promise((resolve) => setTimeout(resolve, 1300));
      // Concurrent requests at the moment a refresh is due: one refresh, all succeed.
      const results = await Promise.all(Array.from({ length: 5 }, () => api(`${stack.url()}/echo`, cookie)));
      for (const result of results) {
        assert.equal(result.status, 200, result.text);
        assert.equal((JSON.parse(result.text) as Echo).headers["x-user"], "alice");
      }
      // oidc-provider rotates refresh tokens and refuses a used one: three rounds pass only if
      // the gateway kept the new token each time, and one grant per round means no duplicate use.
      assert.equal(stack.idp.refreshGrants - before, round, `after round ${round}`);
    }
  });

  test("provider down: the session stays; a refresh the provider refuses ends it", async () => {
    const browser = new HttpBrowser();
    await browser.signIn(`${stack.url()}/echo`, "bob");
    const cookie = `${SESSION}=${browser.cookie(HOST, SESSION)}`;
    await stack.idp.stop();
    try {
      await new Promise((resolve) => setTimeout(resolve, 1300));
      const down = await api(`${stack.url()}/echo`, cookie);
      assert.equal(down.status, 200, "a provider outage does not sign anyone out");
      assert.equal((JSON.parse(down.text) as Echo).headers["x-user"], "bob");
    } finally {
      // Restarted empty: the provider no longer knows the session's refresh token.
      await stack.idp.start();
    }
    // Refreshes pause 5 s after the provider was unreachable, then the refused refresh ends it.
    await new Promise((resolve) => setTimeout(resolve, 5500));
    const refused = await api(`${stack.url()}/echo`, cookie);
    assert.equal(refused.status, 401, refused.text);
  });
});

/** What the provider's UserInfo endpoint says of an access token (it answers only for a valid one). */
async function userinfo(issuer: string, token: string): Promise<{ status: number; sub?: string }> {
  const discovery = await request(`${issuer}/.well-known/openid-configuration`);
  const { userinfo_endpoint: endpoint } = (await discovery.body.json()) as { userinfo_endpoint: string };
  const response = await request(endpoint, { headers: { authorization: `Bearer ${token}` } });
  const text = await response.body.text();
  return { status: response.statusCode, ...(response.statusCode === 200 ? JSON.parse(text) : {}) };
}

describe("the session's access token passed upstream", () => {
  let forwarded: SignInStack;
  let bearer: SignInStack;

  before(async () => {
    // Access tokens live 6 s and are refreshed 5 s early: due one second after each refresh.
    forwarded = await startSignInStack({
      accessTokenTtl: 6,
      logLevel: "warn",
      session: { accessTokenHeader: "X-Forwarded-Access-Token" },
    });
    bearer = await startSignInStack({ logLevel: "warn", session: { accessTokenHeader: "Authorization" } });
  });

  after(async () => {
    await forwarded?.close();
    await bearer?.close();
  });

  test("in its own header: a token the provider accepts, replacing a client's copy, renewed with each refresh", async () => {
    const browser = new HttpBrowser();
    await browser.signIn(`${forwarded.url()}/echo`, "alice");
    const cookie = `${SESSION}=${browser.cookie(HOST, SESSION)}`;
    const first = JSON.parse(
      (await api(`${forwarded.url()}/echo`, cookie, { "x-forwarded-access-token": "forged" })).text,
    ) as Echo;
    const token = first.headers["x-forwarded-access-token"];
    assert.ok(token && token !== "forged", JSON.stringify(first.headers));
    assert.doesNotMatch(JSON.stringify(first.headers), /forged/, "the client's copy is removed");
    const known = await userinfo(forwarded.idp.issuer, token);
    assert.equal(known.status, 200, "the provider accepts the token");
    assert.equal(known.sub, "alice");
    assert.equal((await userinfo(forwarded.idp.issuer, "forged")).status, 401, "and not any token");
    // Without a session nothing is passed, whatever the client sends.
    const anonymous = await api(`${forwarded.url()}/echo`, undefined, {
      "x-forwarded-access-token": "forged",
    });
    assert.equal(anonymous.status, 401);

    await new Promise((resolve) => setTimeout(resolve, 1300));
    const later = JSON.parse((await api(`${forwarded.url()}/echo`, cookie)).text) as Echo;
    const renewed = later.headers["x-forwarded-access-token"];
    assert.ok(renewed && renewed !== token, "the refresh brought a new access token");
    assert.equal((await userinfo(forwarded.idp.issuer, renewed)).sub, "alice");
  });

  test("as Authorization: Bearer, in place of whatever the browser sent", async () => {
    const browser = new HttpBrowser();
    await browser.signIn(`${bearer.url()}/echo`, "bob");
    const cookie = `${SESSION}=${browser.cookie(HOST, SESSION)}`;
    const echo = JSON.parse(
      (await api(`${bearer.url()}/echo`, cookie, { authorization: "Basic Zm9yZ2VkOng=" })).text,
    ) as Echo;
    const header = echo.headers.authorization ?? "";
    assert.match(header, /^Bearer \S+$/);
    assert.equal((await userinfo(bearer.idp.issuer, header.slice(7))).sub, "bob");
  });
});

describe("claims from the provider's UserInfo endpoint", () => {
  let plain: SignInStack;
  let merged: SignInStack;

  before(async () => {
    // A provider whose ID tokens carry `sub` only: roles, name and email are in UserInfo.
    plain = await startSignInStack({ minimalIdToken: true, logLevel: "warn" });
    merged = await startSignInStack({ minimalIdToken: true, logLevel: "warn", session: { userinfo: true } });
  });

  after(async () => {
    await plain?.close();
    await merged?.close();
  });

  test("with userinfo: true the identity has the UserInfo claims; without it only the ID token's", async () => {
    const without = new HttpBrowser();
    const bare = JSON.parse((await without.signIn(`${plain.url()}/echo`, "alice")).text) as Echo;
    assert.equal(bare.headers["x-user"], "alice");
    assert.equal(bare.headers["x-roles"], undefined, "the ID token has no roles here");

    const withInfo = new HttpBrowser();
    const full = JSON.parse((await withInfo.signIn(`${merged.url()}/echo`, "alice")).text) as Echo;
    assert.equal(full.headers["x-user"], "alice");
    assert.equal(full.headers["x-roles"], "clinician,admin", "roles read from UserInfo");
  });
});

describe("sign-in and sign-out in the audit trail", () => {
  let stack: SignInStack;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "bulwark-signin-audit-"));
    const pair = generateSigningKeyPair();
    writeFileSync(join(dir, "audit.key"), pair.privatePem, { mode: 0o600 });
    stack = await startSignInStack({
      logLevel: "warn",
      config: {
        audit: { store: { type: "jsonl", dir: join(dir, "trail") }, signingKey: join(dir, "audit.key") },
      },
    });
  });

  after(async () => {
    await stack?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function records(): Record<string, unknown>[] {
    const trail = join(dir, "trail");
    return readdirSync(trail)
      .filter((name) => name.endsWith(".jsonl"))
      .flatMap((name) => readFileSync(join(trail, name), "utf8").split("\n").filter(Boolean))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  async function waitFor(action: string, outcome: string): Promise<Record<string, unknown>> {
    for (let i = 0; i < 100; i++) {
      const found = records().find((record) => record.action === action && record.outcome === outcome);
      if (found) return found;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.fail(`no ${action} ${outcome} record`);
  }

  test("a sign-in, a refused callback and a sign-out each leave a record, without any secret", async () => {
    const browser = new HttpBrowser();
    await browser.signIn(`${stack.url()}/echo`, "alice");
    const callback = browser.history.find((response) => response.url.includes("/.bulwark/auth/callback"))!;
    const signIn = await waitFor("auth.signin", "success");
    assert.equal(signIn.subject, "alice");
    assert.equal(signIn.status, 303);

    const replay = await api(callback.url);
    assert.equal(replay.status, 400);
    const refused = await waitFor("auth.signin", "failure");
    assert.equal(refused.reason, "sign_in_state_invalid");
    assert.equal(refused.subject, null);

    const out = await browser.fetch(`${stack.url()}/.bulwark/auth/signout`, {
      method: "POST",
      headers: { origin: stack.url(), "x-csrf-token": browser.cookie(HOST, CSRF)! },
      follow: false,
    });
    assert.equal(out.status, 303);
    const signOut = await waitFor("auth.signout", "success");
    assert.equal(signOut.subject, "alice");

    const text = JSON.stringify(records());
    const code = new URL(callback.url).searchParams.get("code")!;
    for (const secret of [code, SESSION_SECRET, BROWSER_CLIENT_SECRET]) assert.ok(!text.includes(secret));
  });
});
