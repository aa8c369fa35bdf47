/**
 * The stage contract (DESIGN.md): a factory validates and precomputes once per route; the stage
 * it returns does only per-request work. A factory returns null when its concern is disabled on
 * that route, so a disabled feature costs nothing per request.
 */
import type { ResolvedConfig, ResolvedRoute } from "../config/resolve.js";
import type { ErrorCode } from "../errors.js";
import type { JwtKeyRegistry } from "../security/jwt/key-registry.js";
import type { OutgoingHeaders, RequestContext } from "./context.js";
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
}

export type StageFactory = (route: ResolvedRoute, services: Services) => Stage | null;
