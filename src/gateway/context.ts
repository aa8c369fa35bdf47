/**
 * What one request carries through the stage chain. Built by server.ts once per request; stages
 * read it and add what later stages, the proxy and the access log need.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { ResolvedRoute } from "../config/resolve.js";
import type { GcraDecision } from "../security/rate-limit/gcra.js";
import type { PreReadBody } from "./request-body.js";

export type OutgoingHeaders = Record<string, string | string[]>;

export interface RequestContext {
  readonly req: IncomingMessage | Http2ServerRequest;
  readonly res: ServerResponse | Http2ServerResponse;
  readonly route: ResolvedRoute;
  readonly method: string;
  /** Normalized path, without the query. */
  readonly path: string;
  /** The query string including its "?", or "". */
  readonly query: string;
  /** Lower-case host without port, from Host or :authority. */
  readonly host: string;
  /** The original Host header value (with port), sent upstream when the host is preserved. */
  readonly authority: string;
  /** The client reached us over TLS, or a trusted proxy says it reached it over HTTPS. */
  readonly secure: boolean;
  /** Client address after the trusted-proxy rules. */
  readonly clientIp: string;
  /** The TCP peer address. */
  readonly peerIp: string;
  /** Whether the peer is a trusted proxy (its forwarding headers are believed). */
  readonly peerTrusted: boolean;
  /** performance.now() when the request arrived. */
  readonly startedAt: number;
  requestId: string;
  traceId: string;
  /** The span id Bulwark gives its own hop; sent upstream as the parent. */
  spanId: string;
  traceFlags: string;
  /** Headers the stages want sent upstream (added after hop-by-hop removal). */
  readonly upstreamHeaders: OutgoingHeaders;
  /** Target base URL chosen for this request, for logs. */
  upstreamTarget: string | null;
  /** Why the request failed, for logs and metrics: an error code or upstream error kind. */
  errorCode: string | null;
  /** Request body bytes received from the client. */
  bytesIn: number;
  /** The credential method that accepted or refused the request's credentials ("jwt", "api-key", "session"). */
  authMethod: string | null;
  /** Who the request is from, once an authentication stage has verified it; null before. */
  identity: Identity | null;
  /** Body bytes a stage read before proxying (request-body.ts); the proxy sends them first. */
  preReadBody?: PreReadBody;
  // Per-request state of stages on the hot path lives in fields like these rather than in a
  // WeakMap keyed by the context: a WeakMap set and get on a short-lived key cost about 1.2 µs
  // (ephemeron work in every young-generation GC) against 0.04 µs for a field
  // (bench/gateway/context-state.mjs); stages that only run on rarer paths keep WeakMaps.
  /** The rate-limit stage's decisions, for its RateLimit headers; null before (or without) it. */
  rateLimitDecisions: readonly GcraDecision[] | null;
  /** The brute-force stage's lock-out keys, for counting failures after the response. */
  lockoutKeys: LockoutKeys | null;
  /**
   * The upstream exchange in progress, told when the client connection closes. The request's one
   * 'close' listener (server.ts) calls it, which spares a listener of its own per request.
   */
  upstreamExchange: { clientClosed(): void } | null;
}

export interface LockoutKeys {
  /** Sign-in failures of the client address. */
  readonly ip: string;
  /** Credentials the gateway refused from the client address. */
  readonly credential: string;
  /** Accounts a sign-in named. */
  readonly accounts: readonly string[];
}

export interface Identity {
  /** Stable subject id (JWT `sub`, API key id). */
  readonly subject: string;
  /** The credential method that verified it: "jwt", "api-key", "session". */
  readonly method: string;
  /** Verified claims, for authorization and identity headers. */
  readonly claims: Readonly<Record<string, unknown>>;
}
