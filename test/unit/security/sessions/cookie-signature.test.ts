/**
 * Cookie signing and parsing: round trips, rotation, tampering, and a bounded fuzz of
 * verify/readCookie/withoutCookies with random and mutated input (never a throw, never a
 * forged value accepted).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import { CookieSigner } from "../../../../src/security/sessions/cookie-signature.js";
import {
  cookieNamesWithPrefix,
  readCookie,
  serializeCookie,
  withoutCookies,
} from "../../../../src/security/sessions/cookies.js";

const SECRET = "0123456789abcdef0123456789abcdef-current";
const OLD = "0123456789abcdef0123456789abcdef-previous";
const NAME = "__Host-bulwark-session";

describe("cookie signatures", () => {
  test("a signed value verifies and gives the value back", () => {
    const signer = new CookieSigner([SECRET]);
    const value = randomBytes(32).toString("base64url");
    const signed = signer.sign(NAME, value);
    assert.match(signed, /^[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$/);
    assert.equal(signer.verify(NAME, signed), value);
  });

  test("a value signed for one cookie name is refused under another", () => {
    const signer = new CookieSigner([SECRET]);
    const signed = signer.sign("__Host-bulwark-signin", "state-value");
    assert.equal(signer.verify(NAME, signed), undefined);
  });

  test("another secret, a changed value or a changed MAC is refused", () => {
    const signer = new CookieSigner([SECRET]);
    const signed = signer.sign(NAME, "abc");
    assert.equal(new CookieSigner([OLD]).verify(NAME, signed), undefined);
    assert.equal(signer.verify(NAME, `abd${signed.slice(3)}`), undefined);
    const flipped = signed.slice(0, -2) + (signed.at(-2) === "A" ? "B" : "A") + signed.at(-1);
    assert.equal(signer.verify(NAME, flipped), undefined);
    assert.equal(signer.verify(NAME, "abc"), undefined);
    // Same MAC bytes, non-canonical last character (its two unused bits set).
    const last = signed.at(-1)!;
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const twin = alphabet[alphabet.indexOf(last) ^ 1]!;
    assert.equal(signer.verify(NAME, signed.slice(0, -1) + twin), undefined);
    assert.equal(signer.verify(NAME, ""), undefined);
    assert.equal(signer.verify(NAME, undefined), undefined);
  });

  test("rotation: cookies signed with a previous secret still verify; new ones use the current", () => {
    const before = new CookieSigner([OLD]);
    const during = new CookieSigner([SECRET, OLD]);
    const after = new CookieSigner([SECRET]);
    const old = before.sign(NAME, "session-1");
    assert.equal(during.verify(NAME, old), "session-1");
    const fresh = during.sign(NAME, "session-2");
    assert.equal(after.verify(NAME, fresh), "session-2");
    assert.equal(before.verify(NAME, fresh), undefined);
    assert.equal(after.verify(NAME, old), undefined, "a removed secret no longer verifies");
  });

  test("values outside base64url cannot be signed", () => {
    const signer = new CookieSigner([SECRET]);
    assert.throws(() => signer.sign(NAME, "a;b"));
    assert.throws(() => signer.sign(NAME, ""));
  });

  test("fuzz (bounded): random and mutated cookies never throw and never verify", () => {
    const signer = new CookieSigner([SECRET, OLD]);
    const good = signer.sign(NAME, randomBytes(32).toString("base64url"));
    const alphabet = 'Aa0_-.=; "\\\t\x00\xff%';
    const deadline = Date.now() + 2000;
    let rounds = 0;
    while (Date.now() < deadline) {
      rounds++;
      let candidate: string;
      const choice = rounds % 3;
      if (choice === 0) {
        candidate = randomBytes(Math.floor(Math.random() * 200)).toString("latin1");
      } else if (choice === 1) {
        const chars = [...good];
        const at = Math.floor(Math.random() * chars.length);
        chars[at] = alphabet[Math.floor(Math.random() * alphabet.length)]!;
        candidate = chars.join("");
      } else {
        candidate = Array.from(
          { length: Math.floor(Math.random() * 120) },
          () => alphabet[Math.floor(Math.random() * alphabet.length)],
        ).join("");
      }
      const verified = signer.verify(NAME, candidate);
      if (candidate !== good) assert.equal(verified, undefined, JSON.stringify(candidate));
      const header = `a=1; ${NAME}=${candidate}; b=2`;
      readCookie(header, NAME);
      const stripped = withoutCookies(header, (name) => name === NAME);
      assert.ok(stripped === undefined || !stripped.includes(`${NAME}=`), JSON.stringify(stripped));
    }
    assert.ok(rounds > 100, `only ${rounds} rounds`);
  });
});

describe("cookie headers", () => {
  test("readCookie finds the named cookie among others, first one wins, quotes removed", () => {
    assert.equal(readCookie(`a=1; ${NAME}=xyz; b=2`, NAME), "xyz");
    assert.equal(readCookie(`${NAME}="q"`, NAME), "q");
    assert.equal(readCookie(`${NAME}=first; ${NAME}=second`, NAME), "first");
    assert.equal(readCookie(["a=1", `${NAME}=h2`], NAME), "h2");
    assert.equal(readCookie(`x${NAME}=no`, NAME), undefined);
    assert.equal(readCookie("a=1", NAME), undefined);
    assert.equal(readCookie(undefined, NAME), undefined);
  });

  test("withoutCookies removes only the picked cookies and keeps the rest as they were", () => {
    const names = new Set([NAME, "__Host-bulwark-csrf"]);
    const drop = (name: string) => names.has(name);
    assert.equal(
      withoutCookies(`a=1; ${NAME}=x; b="two words"; __Host-bulwark-csrf=t`, drop),
      'a=1; b="two words"',
    );
    assert.equal(withoutCookies(`${NAME}=x`, drop), undefined);
    assert.equal(withoutCookies("theme=dark", drop), "theme=dark");
  });

  test("cookieNamesWithPrefix lists the cookies of a family once each, in order", () => {
    const prefix = "__Host-bulwark-signin-";
    assert.deepEqual(
      cookieNamesWithPrefix(
        `a=1; ${prefix}abc=x;${prefix}def=y; ${prefix}abc=z; __Host-bulwark-signin=old`,
        prefix,
      ),
      [`${prefix}abc`, `${prefix}def`],
    );
    assert.deepEqual(cookieNamesWithPrefix("theme=dark", prefix), []);
    assert.deepEqual(cookieNamesWithPrefix(undefined, prefix), []);
  });

  test("serializeCookie writes the __Host- attributes", () => {
    assert.equal(
      serializeCookie(NAME, "v", { maxAge: 60, httpOnly: true, sameSite: "Lax" }),
      `${NAME}=v; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=60`,
    );
    assert.equal(
      serializeCookie("__Host-bulwark-csrf", "", { maxAge: 0, httpOnly: false, sameSite: "Strict" }),
      "__Host-bulwark-csrf=; Path=/; Secure; SameSite=Strict; Max-Age=0",
    );
  });
});
