/**
 * OpenID Connect Back-Channel Logout against a real provider (oidc-provider signs the logout
 * token and POSTs it, as when a user signs out at the provider): the named provider session ends
 * at the gateway and no other; a token naming only the subject ends all of that user's sessions;
 * forged, replayed, stale or malformed tokens get 400 and end nothing; with a Redis store, a
 * logout received by one gateway ends the session on another.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { generateKeyPair, SignJWT } from "jose";
import { request } from "undici";
import { BACKCHANNEL_LOGOUT_EVENT } from "../../../src/security/sessions/backchannel-logout.js";
import { HttpBrowser, type SignInStack, startSignInStack } from "../../support/browser.js";
import { BROWSER_CLIENT_ID } from "../../support/oidc.js";
import { startRedis, type TestRedis } from "../../support/redis.js";

type Echo = { headers: Record<string, string | undefined> };

const IDENTITY = { identityHeaders: { "X-User": "sub", "X-Sid": "sid" } };

/** Signs in `login` through the provider's form; gives the browser and its provider session id. */
async function signedIn(stack: SignInStack, login: string, gateway = 0) {
  const browser = new HttpBrowser();
  const final = await browser.signIn(`${stack.url(gateway)}/echo`, login);
  assert.equal(final.status, 200, final.text.slice(0, 200));
  const echo = JSON.parse(final.text) as Echo;
  assert.equal(echo.headers["x-user"], login);
  const sid = echo.headers["x-sid"];
  assert.ok(sid, "the ID token carries sid");
  return { browser, sid };
}

/** The status of an API call with this browser's cookies (200 with a session, 401 without). */
async function status(stack: SignInStack, browser: HttpBrowser, gateway = 0): Promise<number> {
  return (await browser.fetch(`${stack.url(gateway)}/echo`, { follow: false })).status;
}

async function postLogout(
  stack: SignInStack,
  body: string,
  contentType = "application/x-www-form-urlencoded",
) {
  const response = await request(`${stack.url()}/.bulwark/auth/backchannel-logout`, {
    method: "POST",
    headers: { "content-type": contentType },
    body,
  });
  return { status: response.statusCode, headers: response.headers, text: await response.body.text() };
}

describe("back-channel logout", () => {
  let stack: SignInStack;

  before(async () => {
    stack = await startSignInStack({ backchannelLogout: true, auth: IDENTITY, logLevel: "info" });
  });

  after(async () => {
    await stack?.close();
  });

  test("the provider's logout token ends that provider session here, and no other", async () => {
    const first = await signedIn(stack, "alice");
    const second = await signedIn(stack, "alice");
    const bob = await signedIn(stack, "bob");
    assert.notEqual(first.sid, second.sid, "two browsers, two provider sessions");
    for (const who of [first, second, bob]) assert.equal(await status(stack, who.browser), 200);

    await stack.idp.backchannelLogout("alice", first.sid);

    assert.equal(await status(stack, first.browser), 401, "the session of that provider session ended");
    assert.equal(await status(stack, second.browser), 200, "alice's other session stays");
    assert.equal(await status(stack, bob.browser), 200);
    const line = stack.gateways[0]!.logs().find(
      (entry) => entry.msg === "back-channel logout ended sessions",
    );
    assert.equal(line?.sessions, 1);
    assert.equal(line?.by, "sid");
  });

  test("a token naming only the subject ends every session of that user; a replay is refused", async () => {
    const one = await signedIn(stack, "carol");
    const two = await signedIn(stack, "carol");
    const dave = await signedIn(stack, "dave");
    const token = await stack.idp.sign({
      aud: BROWSER_CLIENT_ID,
      sub: "carol",
      jti: "logout-carol-1",
      events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
    });
    const answer = await postLogout(stack, new URLSearchParams({ logout_token: token }).toString());
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.headers["cache-control"], "no-store");
    assert.equal(await status(stack, one.browser), 401);
    assert.equal(await status(stack, two.browser), 401);
    assert.equal(await status(stack, dave.browser), 200, "another user is untouched");

    // The same token again (after carol signed in anew): refused, and her new session stays.
    const again = await signedIn(stack, "carol");
    const replay = await postLogout(stack, new URLSearchParams({ logout_token: token }).toString());
    assert.equal(replay.status, 400);
    assert.match(JSON.parse(replay.text).detail, /already used/);
    assert.equal(await status(stack, again.browser), 200);
  });

  test("forged, stale and malformed logout tokens get 400 and end nothing", async () => {
    const erin = await signedIn(stack, "erin");
    const now = Math.floor(Date.now() / 1000);
    const events = { [BACKCHANNEL_LOGOUT_EVENT]: {} };
    const valid = { aud: BROWSER_CLIENT_ID, sub: "erin", sid: erin.sid, events };
    const sign = (claims: Record<string, unknown>, jti = `bad-${Math.random()}`) =>
      stack.idp.sign({ jti, ...claims });
    const foreignKey = await generateKeyPair("RS256");
    const foreign = await new SignJWT({ ...valid, jti: "foreign" })
      .setProtectedHeader({ alg: "RS256", kid: "not-the-providers" })
      .setIssuer(stack.idp.issuer)
      .setIssuedAt()
      .sign(foreignKey.privateKey);
    const unsigned = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString("base64url")}.${Buffer.from(
      JSON.stringify({ ...valid, iss: stack.idp.issuer, iat: now, jti: "none" }),
    ).toString("base64url")}.`;
    const cases: [string, string, RegExp][] = [
      ["another audience", await sign({ ...valid, aud: "api" }), /aud/],
      ["no events claim", await sign({ aud: BROWSER_CLIENT_ID, sub: "erin", sid: erin.sid }), /events/],
      [
        "another event",
        await sign({ ...valid, events: { "http://schemas.openid.net/event/other": {} } }),
        /events has no/,
      ],
      ["a nonce (an ID token)", await sign({ ...valid, nonce: "n-1" }), /nonce/],
      [
        "neither sid nor sub",
        await sign({ aud: BROWSER_CLIENT_ID, sub: undefined, events }),
        /neither sid nor sub/,
      ],
      [
        "issued an hour ago",
        await sign({ ...valid, iat: now - 3600, exp: now + 60 }),
        /iat|timestamp|too old/i,
      ],
      ["expired", await sign({ ...valid, iat: now - 120, exp: now - 90 }), /exp/],
      ["no jti", await stack.idp.sign(valid), /jti/],
      ["another issuer", await sign({ ...valid, iss: "http://127.0.0.1:1" }), /iss/],
      ["signed with another key", foreign, /logout token/],
      ["alg none", unsigned, /logout token/],
      ["not a JWT", "not-a-jwt", /logout token/],
    ];
    for (const [what, token, reason] of cases) {
      const answer = await postLogout(stack, new URLSearchParams({ logout_token: token }).toString());
      assert.equal(answer.status, 400, `${what}: ${answer.text}`);
      assert.equal(answer.headers["content-type"], "application/problem+json", what);
      assert.match(JSON.parse(answer.text).detail, reason, what);
    }
    const bodies: [string, string, string][] = [
      ["no logout_token", "other=1", "application/x-www-form-urlencoded"],
      ["JSON body", JSON.stringify({ logout_token: "x" }), "application/json"],
      ["oversized body", `logout_token=${"a".repeat(40_000)}`, "application/x-www-form-urlencoded"],
    ];
    for (const [what, body, type] of bodies) {
      const answer = await postLogout(stack, body, type);
      assert.equal(answer.status, 400, `${what}: ${answer.text}`);
    }
    const get = await request(`${stack.url()}/.bulwark/auth/backchannel-logout`);
    assert.equal(get.statusCode, 405);
    await get.body.dump();
    assert.equal(await status(stack, erin.browser), 200, "nothing was ended");
    const refusals = stack.gateways[0]!.logs().filter((entry) => entry.msg === "back-channel logout refused");
    assert.ok(refusals.length >= cases.length + bodies.length, String(refusals.length));
  });
});

describe("back-channel logout with Redis-shared sessions", () => {
  let redis: TestRedis;
  let stack: SignInStack;

  before(async () => {
    redis = await startRedis();
    stack = await startSignInStack({
      gateways: 2,
      backchannelLogout: true,
      auth: IDENTITY,
      sessions: { store: { type: "redis", url: redis.url, timeout: "500ms" } },
    });
  });

  after(async () => {
    await stack?.close();
    await redis?.close();
  });

  test("a logout received by one gateway ends the session made on another", async () => {
    // The provider knows one backchannel_logout_uri (gateway 0); the browser signed in on gateway 1.
    const frank = await signedIn(stack, "frank", 1);
    assert.equal(await status(stack, frank.browser, 1), 200);
    await stack.idp.backchannelLogout("frank", frank.sid);
    assert.equal(await status(stack, frank.browser, 1), 401);
  });
});
