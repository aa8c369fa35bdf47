/**
 * The stage contract (DESIGN.md): a factory validates and precomputes once per route; the stage
 * it returns does only per-request work. A factory returns null when its concern is disabled on
 * that route, so a disabled feature costs nothing per request.
 */

import type { AuditTrail } from "../audit/trail.js";
import type { ResolvedConfig, ResolvedRoute } from "../config/resolve.js";
import type { ErrorCode } from "../errors.js";
import type { ApiKeyVerifier } from "../security/api-keys/verifier.js";
import type { KeyLog } from "../security/jwt/jwks-cache.js";
import type { JwtKeyRegistry } from "../security/jwt/key-registry.js";
import type { TokenDenyList } from "../security/revocation/deny-list.js";
import type { SessionServices } from "../security/sessions/session-services.js";
import type { OutgoingHeaders, RequestContext } from "./context.js";
import type { LockoutServices } from "./stages/brute-force.js";
import type { RateLimitServices } from "./stages/rate-limit.js";

/** An answer a stage gives instead of proxying. */
export interface Reply {
  readonly status: number;
  readonly headers?: OutgoingHeaders;
  readonly body?: string | Buffer;
  /** When set, the body is an RFC 9457 problem for this code (body and content-type are made). */
  readonly problem?: { readonly code: ErrorCode; readonly detail?: string };
}

/** The response head before it is sent; onResponse stages may change it. Header names are lower-case. */
export interface ResponseHead {
  status: number;
  headers: OutgoingHeaders;
  /** True when the gateway made this response (a Reply or an error), not the upstream. */
  readonly fromGateway: boolean;
}

export interface Stage {
  readonly name: string;
  onRequest?(ctx: RequestContext): undefined | Reply | Promise<undefined | Reply>;
  onResponse?(ctx: RequestContext, head: ResponseHead): void;
}

/** Shared things a factory may need; more arrive with later features (stores, key sets). */
export interface Services {
  readonly config: ResolvedConfig;
  /** The rate-limit store and reporting, shared by every route; a runtime built alone gets its own. */
  readonly rateLimit?: RateLimitServices;
  /** Issuers' signing keys for bearer-token routes, shared across routes and reloads. */
  readonly jwtKeys?: JwtKeyRegistry;
  /** Failure counts and lock-outs (brute-force protection); absent when disabled. */
  readonly lockouts?: LockoutServices | undefined;
  /** The audit trail, when the `audit` section is configured. */
  readonly audit?: AuditTrail | undefined;
  /** The API key verifier, when `server.apiKeys` is configured. */
  readonly apiKeys?: ApiKeyVerifier | undefined;
  /** Revoked token ids (jti), checked on every bearer token. */
  readonly denyList?: TokenDenyList;
  /** Browser sessions (store, cookie signer, OpenID clients) when `server.sessions` is set. */
  readonly sessions?: SessionServices | undefined;
  /** The gateway's logger, for stages that log (debug reasons, state changes). */
  readonly log?: KeyLog | undefined;
}

export type StageFactory = (route: ResolvedRoute, services: Services) => Stage | null;
