/**
 * Bearer JWT verification (RFC 7519, RFC 8725 "JWT Best Current Practices") with jose. Only the
 * configured asymmetric algorithms are accepted, so `none` and HS* (including an HS256 token
 * "signed" with the issuer's RSA public key) fail before any key is chosen. The reason a token
 * fails is returned for logs only; clients get one fixed answer.
 */
import { errors, type JWTPayload, jwtVerify } from "jose";
import type { JwksCache } from "./jwks-cache.js";

/** Longest token accepted; longer ones are refused before any parsing (8 KiB). */
export const MAX_TOKEN_LENGTH = 8 * 1024;

// Compact JWS: three base64url segments. Checked before jose parses anything.
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

export interface JwtPolicy {
  readonly issuer: string;
  readonly audience: string | readonly string[];
  readonly algorithms: readonly string[];
  /** Milliseconds of tolerance on `exp` and `nbf`. */
  readonly clockSkew: number;
  readonly requiredClaims: readonly string[];
}

export type Verification =
  | { readonly ok: true; readonly subject: string; readonly claims: JWTPayload }
  | { readonly ok: false; readonly reason: string };

/** Takes the token out of an Authorization header value (RFC 6750 §2.1); null when there is none. */
export function bearerToken(header: string | string[] | undefined): string | null {
  if (typeof header !== "string") return null;
  const space = header.indexOf(" ");
  if (space < 0 || header.slice(0, space).toLowerCase() !== "bearer") return null;
  const token = header.slice(space + 1).trim();
  return token === "" ? null : token;
}

export async function verifyJwt(token: string, policy: JwtPolicy, keys: JwksCache): Promise<Verification> {
  if (token.length > MAX_TOKEN_LENGTH)
    return { ok: false, reason: `token longer than ${MAX_TOKEN_LENGTH} bytes` };
  if (!COMPACT_JWS.test(token)) return { ok: false, reason: "not a compact JWS" };
  try {
    const { payload } = await jwtVerify(token, keys.getKey, {
      issuer: policy.issuer,
      audience: [policy.audience].flat(),
      algorithms: [...policy.algorithms],
      clockTolerance: policy.clockSkew / 1000,
      requiredClaims: ["exp", "sub", ...policy.requiredClaims],
    });
    if (typeof payload.sub !== "string" || payload.sub === "")
      return { ok: false, reason: "sub is not a string" };
    return { ok: true, subject: payload.sub, claims: payload };
  } catch (error) {
    if (error instanceof errors.JOSEError) return { ok: false, reason: `${error.code}: ${error.message}` };
    return { ok: false, reason: error instanceof Error ? error.message : String(error) };
  }
}

/** A claim by dotted path ("realm_access.roles"); undefined when absent. */
export function claimAt(claims: Readonly<Record<string, unknown>>, path: readonly string[]): unknown {
  let value: unknown = claims;
  for (const key of path) {
    if (typeof value !== "object" || value === null || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}
