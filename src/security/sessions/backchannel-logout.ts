/**
 * OpenID Connect Back-Channel Logout 1.0: when a user signs out at the provider (or an
 * administrator ends their session there), the provider POSTs a signed logout token to every
 * client that registered a `backchannel_logout_uri`, and each must end its own sessions of that
 * user. Without it, signing out at Keycloak leaves the gateway's session alive until its idle or
 * absolute timeout.
 *
 * Finding the sessions: at sign-in, a session of a route with `backchannelLogout` is added to two
 * indexes in the session store, by the provider's session id (`sid` of the ID token) and by the
 * subject, each keyed by a hash of issuer and value. A logout token names `sid`, `sub` or both;
 * the gateway deletes every session the named indexes list, on every instance sharing the store,
 * and no request pays anything for it.
 *
 * Validating the token (§2.6): signature by the provider's keys (JWKS, as for bearer tokens;
 * asymmetric algorithms only), `iss`, `aud` containing our client id, `iat` at most 10 minutes
 * old (with the usual clock tolerance), `exp` when present, a `jti`, an `events` member naming
 * the back-channel logout event, `sid` or `sub`, and no `nonce` (so an ID token cannot be passed
 * off as a logout token). A `jti` seen within the token lifetime is refused as a replay.
 */
import { createHash } from "node:crypto";
import { errors, type JWTPayload, jwtVerify } from "jose";
import type { JwksCache } from "../jwt/jwks-cache.js";

export const BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout";
const MAX_TOKEN_AGE_SECONDS = 600;
const CLOCK_TOLERANCE_SECONDS = 60;
// RFC 7518 asymmetric algorithms: a logout token is signed as the provider signs ID tokens, and
// Bulwark holds no key with which an HMAC-signed one could be checked.
const ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"];

/** A logout token the gateway will not act on; `reason` is for logs and the 400 answer. */
export class LogoutTokenRefused extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = "LogoutTokenRefused";
  }
}

export interface LogoutToken {
  readonly jti: string;
  readonly sid: string | undefined;
  readonly sub: string | undefined;
}

export interface LogoutTokenExpectations {
  readonly issuer: string;
  readonly clientId: string;
  readonly keys: Pick<JwksCache, "getKey">;
  readonly now?: () => number;
}

function optionalString(payload: JWTPayload, claim: string): string | undefined {
  const value = payload[claim];
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value === "") throw new LogoutTokenRefused(`${claim} is not a string`);
  return value;
}

/** Checks a logout token (§2.6); throws LogoutTokenRefused with the first reason it fails. */
export async function verifyLogoutToken(
  token: string,
  expected: LogoutTokenExpectations,
): Promise<LogoutToken> {
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, expected.keys.getKey, {
      issuer: expected.issuer,
      audience: expected.clientId,
      algorithms: ALGORITHMS,
      maxTokenAge: MAX_TOKEN_AGE_SECONDS,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      ...(expected.now ? { currentDate: new Date(expected.now()) } : {}),
    }));
  } catch (error) {
    if (error instanceof errors.JOSEError) throw new LogoutTokenRefused(`logout token: ${error.message}`);
    throw error;
  }
  const events = payload.events;
  const event =
    typeof events === "object" && events !== null && !Array.isArray(events)
      ? (events as Record<string, unknown>)[BACKCHANNEL_LOGOUT_EVENT]
      : undefined;
  if (typeof event !== "object" || event === null || Array.isArray(event)) {
    throw new LogoutTokenRefused(`events has no ${BACKCHANNEL_LOGOUT_EVENT} member`);
  }
  if ("nonce" in payload) throw new LogoutTokenRefused("a logout token carries no nonce");
  const jti = optionalString(payload, "jti");
  if (jti === undefined) throw new LogoutTokenRefused("jti is missing");
  const sid = optionalString(payload, "sid");
  const sub = optionalString(payload, "sub");
  if (sid === undefined && sub === undefined) throw new LogoutTokenRefused("neither sid nor sub is present");
  return { jti, sid, sub };
}

function hashed(kind: string, issuer: string, value: string): string {
  return `bl:${kind}:${createHash("sha256").update(`${issuer}\0${value}`).digest("base64url")}`;
}

/** The session-store indexes a session of this user and provider session is listed in. */
export function logoutIndexKeys(
  issuer: string,
  subject: string,
  claims: Readonly<Record<string, unknown>>,
): string[] {
  const keys = [hashed("sub", issuer, subject)];
  if (typeof claims.sid === "string" && claims.sid !== "") keys.push(hashed("sid", issuer, claims.sid));
  return keys;
}

/** The indexes whose sessions a logout token ends: by `sid` when it names one, else by `sub`. */
export function indexesToEnd(issuer: string, token: LogoutToken): string[] {
  // §2.4: with both, the token is about that one provider session of that user.
  return token.sid !== undefined ? [hashed("sid", issuer, token.sid)] : [hashed("sub", issuer, token.sub!)];
}

/** The store key that remembers a used `jti` for the token lifetime. */
export function replayKey(issuer: string, jti: string): string {
  return hashed("jti", issuer, jti);
}

export const REPLAY_WINDOW_MS = (MAX_TOKEN_AGE_SECONDS + CLOCK_TOLERANCE_SECONDS) * 1000;
