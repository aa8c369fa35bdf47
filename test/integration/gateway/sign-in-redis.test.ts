/**
 * Sessions in Redis: two gateway instances sharing one real redis-server behave as one (a
 * browser signed in through one is signed in on the other, signed out everywhere at once), and a
 * Redis outage gives a clear 503 `session_store_unavailable` without a crash or a hang.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { request } from "undici";
import {
  HttpBrowser,
  type SignInStack,
  type SignInStackOptions,
  startSignInStack,
} from "../../support/browser.js";
import { startRedis, type TestRedis } from "../../support/redis.js";

const HOST = "127.0.0.1";
const SESSION = "__Host-bulwark-session";

async function get(url: string, cookie: string | undefined) {
  const started = Date.now();
  const response = await request(url, { headers: cookie ? { cookie } : {} });
  const text = await response.body.text();
  return { status: response.statusCode, text, ms: Date.now() - started };
}

/**
 * A real redis-server and two gateways whose sessions live in it, started before the block's
 * tests and stopped after them; `sessions` adds each gateway's other session settings.
 */
function withRedisStack(
  options: Omit<SignInStackOptions, "gateways" | "sessions"> & {
    sessions?: (index: number) => Record<string, unknown>;
  },
  use: (redis: TestRedis, stack: SignInStack) => void,
): void {
  let redis: TestRedis | undefined;
  let stack: SignInStack | undefined;
  before(async () => {
    redis = await startRedis();
    // 1 s, not less: a loaded machine can delay a healthy Redis reply by a few hundred ms.
    const store = { type: "redis", url: redis.url, timeout: "1s" };
    stack = await startSignInStack({
      ...options,
      gateways: 2,
      sessions: (index) => ({ store, ...options.sessions?.(index) }),
    });
    use(redis, stack);
  });
  after(async () => {
    await stack?.close();
    await redis?.close();
  });
}

describe("sessions shared through Redis", () => {
  let redis: TestRedis;
  let stack: SignInStack;
  withRedisStack({}, (started, made) => {
    redis = started;
    stack = made;
  });

  test("a session made through one gateway works on the other; signing out on one ends it on both", async () => {
    const browser = new HttpBrowser();
    // Sign in through gateway 0 (the callback is answered by gateway 0).
    await browser.signIn(`${stack.url(0)}/echo`, "alice");
    const cookie = `${SESSION}=${browser.cookie(HOST, SESSION)}`;
    for (const index of [0, 1]) {
      const result = await get(`${stack.url(index)}/echo`, cookie);
      assert.equal(result.status, 200, `gateway ${index}: ${result.text}`);
      assert.equal(JSON.parse(result.text).headers["x-user"], "alice");
    }
    const out = await browser.fetch(`${stack.url(1)}/.bulwark/auth/signout`, {
      method: "POST",
      headers: { origin: stack.url(1), "x-csrf-token": browser.cookie(HOST, "__Host-bulwark-csrf")! },
      follow: false,
    });
    assert.equal(out.status, 303);
    for (const index of [0, 1]) {
      assert.equal((await get(`${stack.url(index)}/echo`, cookie)).status, 401, `gateway ${index}`);
    }
  });

  test("a sign-in state is single-use across instances", async () => {
    const browser = new HttpBrowser();
    await browser.signIn(`${stack.url(0)}/echo`, "bob");
    const callback = browser.history.find((response) => response.url.includes("/.bulwark/auth/callback"))!;
    const signInCookie = browser.log
      .flatMap((response) => response.setCookies)
      .find((line) => line.startsWith("__Host-bulwark-signin-") && !line.includes("Max-Age=0"))!
      .split(";")[0]!;
    // Replayed on the other instance: the state was taken from the shared store already.
    const replay = await get(callback.url.replace(stack.url(0), stack.url(1)), signInCookie);
    assert.equal(replay.status, 400);
    assert.equal(JSON.parse(replay.text).code, "sign_in_state_invalid");
  });

  test("Redis killed under load: a clear 503 session_store_unavailable, quickly; back when Redis is back", async () => {
    const browser = new HttpBrowser();
    await browser.signIn(`${stack.url(0)}/echo`, "alice");
    const cookie = `${SESSION}=${browser.cookie(HOST, SESSION)}`;
    assert.equal((await get(`${stack.url(0)}/echo`, cookie)).status, 200);

    // Redis dies in the middle of a load: every answer is a 200 or a clear 503, none hangs.
    const seen: { status: number; code?: string; ms: number }[] = [];
    const load = async (index: number) => {
      const until = Date.now() + 3000;
      while (Date.now() < until) {
        const result = await get(`${stack.url(index % 2)}/echo`, cookie);
        seen.push({
          status: result.status,
          ms: result.ms,
          ...(result.status === 200 ? {} : { code: JSON.parse(result.text).code as string }),
        });
      }
    };
    const workers = Array.from({ length: 8 }, (_, index) => load(index));
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await redis.kill();
    await Promise.all(workers);
    assert.ok(
      seen.some((r) => r.status === 200),
      "requests passed before the kill",
    );
    assert.ok(
      seen.some((r) => r.status === 503),
      "requests were refused after the kill",
    );
    for (const r of seen) {
      assert.ok(
        r.status === 200 || (r.status === 503 && r.code === "session_store_unavailable"),
        JSON.stringify(r),
      );
      assert.ok(r.ms < 5000, `answered in ${r.ms} ms`);
    }

    for (const index of [0, 1]) {
      const results = await Promise.all(
        Array.from({ length: 10 }, () => get(`${stack.url(index)}/echo`, cookie)),
      );
      for (const result of results) {
        assert.equal(result.status, 503, result.text);
        const body = JSON.parse(result.text);
        assert.equal(body.code, "session_store_unavailable");
        assert.doesNotMatch(result.text, /redis|ECONNREFUSED|127\.0\.0\.1/i, "nothing internal leaks");
        assert.ok(result.ms < 5000, `answered in ${result.ms} ms`);
      }
      // Starting a sign-in needs the store too.
      const start = await get(`${stack.url(index)}/.bulwark/auth/signin`, undefined);
      assert.equal(start.status, 503);
      assert.equal(JSON.parse(start.text).code, "session_store_unavailable");
      // Requests without a session cookie do not touch the store.
      assert.equal((await get(`${stack.url(index)}/public`, undefined)).status, 200);
    }
    const logs = stack.gateways[0]!.logs();
    assert.equal(
      logs.filter((line) => line.msg === "session store unreachable; answering 503").length,
      1,
      "one log line per state change, not per request",
    );

    await redis.start();
    // The restarted Redis is empty: the old session is gone, a new sign-in works on both gateways.
    let status = 0;
    for (let attempt = 0; attempt < 50 && status !== 401; attempt++) {
      status = (await get(`${stack.url(0)}/echo`, cookie)).status;
      if (status !== 401) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.equal(status, 401, "the store answers again; the session did not survive the restart");
    const again = new HttpBrowser();
    const final = await again.signIn(`${stack.url(1)}/echo`, "alice");
    assert.equal(final.status, 200, final.text);
    const fresh = `${SESSION}=${again.cookie(HOST, SESSION)}`;
    assert.equal((await get(`${stack.url(0)}/echo`, fresh)).status, 200);
    assert.ok(stack.gateways[0]!.logs().some((line) => line.msg === "session store reachable again"));
  });
});

describe("rotating the cookie secret across instances", () => {
  let stack: SignInStack;
  // Gateway 0 still runs with the old secret; gateway 1 was restarted with the new one and
  // keeps the old one under previousSecrets, as during a rolling restart.
  withRedisStack(
    {
      logLevel: "warn",
      sessions: (index) =>
        index === 1
          ? { secret: "${file:session-secret-new}", previousSecrets: ["${file:session-secret}"] }
          : {},
    },
    (_redis, made) => {
      stack = made;
    },
  );

  test("cookies signed with the previous secret stay valid; new ones are signed with the new secret", async () => {
    const old = new HttpBrowser();
    await old.signIn(`${stack.url(0)}/echo`, "alice");
    const oldCookie = `${SESSION}=${old.cookie(HOST, SESSION)}`;
    assert.equal(
      (await get(`${stack.url(1)}/echo`, oldCookie)).status,
      200,
      "old cookie on the rotated gateway",
    );

    const fresh = new HttpBrowser();
    await fresh.signIn(`${stack.url(1)}/echo`, "bob");
    const freshCookie = `${SESSION}=${fresh.cookie(HOST, SESSION)}`;
    assert.equal((await get(`${stack.url(1)}/echo`, freshCookie)).status, 200);
    // The not-yet-rotated gateway does not know the new secret: the cookie was signed with it.
    assert.equal((await get(`${stack.url(0)}/echo`, freshCookie)).status, 401);
  });
});

describe("token refresh across instances sharing Redis", () => {
  let stack: SignInStack;
  // Access tokens of 6 s: a refresh is due 1 s after each (gateways refresh 5 s early).
  withRedisStack({ accessTokenTtl: 6, logLevel: "warn" }, (_redis, made) => {
    stack = made;
  });

  test("a due refresh is made once for both gateways, each time with the rotated refresh token", async () => {
    const browser = new HttpBrowser();
    await browser.signIn(`${stack.url(0)}/echo`, "alice");
    const cookie = `${SESSION}=${browser.cookie(HOST, SESSION)}`;
    const before = stack.idp.refreshGrants;
    for (let round = 1; round <= 3; round++) {
      await new Promise((resolve) => setTimeout(resolve, 1300));
      // Both gateways at the same moment, three requests each: the store's lock lets one refresh.
      const results = await Promise.all(
        [0, 1, 0, 1, 0, 1].map((index) => get(`${stack.url(index)}/echo`, cookie)),
      );
      for (const result of results) {
        assert.equal(result.status, 200, result.text);
        assert.equal(JSON.parse(result.text).headers["x-user"], "alice");
      }
      // oidc-provider rotates refresh tokens and refuses a used one; one grant per round means
      // neither gateway presented a token twice.
      assert.equal(stack.idp.refreshGrants - before, round, `after round ${round}`);
    }
  });
});
