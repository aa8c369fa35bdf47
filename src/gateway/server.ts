/**
 * The gateway process: listeners, the request path, and the lifecycle (start, reload, drain).
 *
 * HTTP/1.1 always goes through Node's http.Server (llhttp, strict mode), which gives header-size,
 * header-timeout (slowloris) and smuggling protection. On TLS listeners a tls.Server terminates
 * TLS and hands each connection, by its ALPN protocol, to that http.Server or to an HTTP/2
 * session handler, so HTTP/1.1 over TLS keeps exactly the same protections as plaintext.
 */
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from "node:http";
import {
  createSecureServer as createHttp2Server,
  type Http2SecureServer,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type ServerHttp2Session,
} from "node:http2";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { createServer as createTlsServer, type TLSSocket, type Server as TlsServer } from "node:tls";
import { createAuditMetrics } from "../audit/metrics.js";
import type { AuditTrail } from "../audit/trail.js";
import { createAuditTrail } from "../audit/trail.js";
import type { ResolvedConfig, ResolvedListener, ResolvedRoute } from "../config/resolve.js";
import { BulwarkError, type ErrorCode, ErrorCodes } from "../errors.js";
import type { AccessLog, Logger } from "../observability/logger.js";
import type { GatewayMetrics } from "../observability/metrics.js";
import { createRedactor, type Redactor } from "../observability/redact.js";
import { createApiKeyVerifier } from "../security/api-keys/verifier.js";
import { createDenyList } from "../security/revocation/create.js";
import type { Revocation, TokenDenyList } from "../security/revocation/deny-list.js";
import { normalizeAddress } from "../security/trusted-proxies.js";
import { requestEvent, securityEvent } from "./audit-events.js";
import type { OutgoingHeaders, RequestContext } from "./context.js";
import { framingProblem } from "./framing.js";
import { httpsRedirectHandler } from "./https-redirect.js";
import { runRequestStages, runResponseStages, type StageChain } from "./pipeline.js";
import { PROBLEM_CONTENT_TYPE, problemBody, rawProblemResponse } from "./problem.js";
import { parseRequestTarget, rewritePath } from "./request-target.js";
import { buildRuntime, type Runtime, retiredGroups } from "./runtime.js";
import type { Reply, ResponseHead } from "./stage.js";
import { createLockoutServices } from "./stages/brute-force.js";
import { createRateLimitServices } from "./stages/rate-limit.js";
import { acceptRequestId } from "./stages/request-id.js";
import { traceIdsFrom } from "./stages/trace-context.js";
import { CertificateWatcher, tlsServerOptions } from "./tls.js";
import { HealthChecker } from "./upstream/health-check.js";
import { type ProxyFinish, proxyRequest, requestHasBody } from "./upstream/proxy.js";
import { openTunnel } from "./upstream/websocket.js";

type AnyRequest = IncomingMessage | Http2ServerRequest;
type AnyResponse = ServerResponse | Http2ServerResponse;

export type GatewayState = "starting" | "ready" | "draining" | "stopped";

export interface GatewayOptions {
  readonly logger: Logger;
  /** One line per request; fields are redacted before they get here. */
  readonly accessLogger: AccessLog;
  readonly metrics: GatewayMetrics;
}

interface ListenerHandle {
  readonly config: ResolvedListener;
  /** The socket-owning server (http.Server, or tls.Server on TLS listeners). */
  readonly front: Server | TlsServer;
  readonly http1: Server;
  readonly http2?: Http2SecureServer;
  readonly watcher?: CertificateWatcher;
}

export interface ReadinessReport {
  readonly ready: boolean;
  readonly state: GatewayState;
  readonly reasons: readonly string[];
  readonly upstreams: Record<
    string,
    { targets: { target: string; healthy: boolean | null; ejected: boolean }[] }
  >;
}

// Host header: a registered name or IPv4 literal, or a bracketed IPv6 literal, with an optional port.
const HOST_HEADER =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

// Most requests name the same host as the one before: the last valid authority and its host are
// kept, which spares the pattern test, the slicing and the lower-casing per request.
let lastAuthority: string | undefined;
let lastHost = "";

/** The lower-case host of a Host header or :authority value, or undefined when it is not valid. */
function validHostOf(authority: string): string | undefined {
  if (authority === lastAuthority) return lastHost;
  if (authority.length > 255 || !HOST_HEADER.test(authority)) return undefined;
  lastHost = hostOf(authority);
  lastAuthority = authority;
  return lastHost;
}

function hostOf(authority: string): string {
  if (authority.startsWith("[")) return authority.slice(0, authority.indexOf("]") + 1).toLowerCase();
  const colon = authority.indexOf(":");
  const host = colon === -1 ? authority : authority.slice(0, colon);
  return (host.endsWith(".") ? host.slice(0, -1) : host).toLowerCase();
}

export class Gateway {
  private runtime: Runtime;
  private readonly logger: Logger;
  private readonly accessLogger: AccessLog;
  private readonly metrics: GatewayMetrics;
  private readonly redactor: Redactor;
  private readonly listeners: ListenerHandle[] = [];
  private health: HealthChecker | undefined;
  private state: GatewayState = "starting";
  private inFlight = 0;
  private readonly tunnels = new Set<Duplex>();
  private readonly sessions = new Set<ServerHttp2Session>();
  /** Every open client TCP connection, so a shutdown can close what the HTTP servers let go of. */
  private readonly sockets = new Set<Socket>();
  /** HTTP/1 connections whose framing was refused: later requests parsed from them are dropped. */
  private readonly distrusted = new WeakSet<object>();
  private idleWaiters: (() => void)[] = [];

  constructor(config: ResolvedConfig, options: GatewayOptions) {
    // Made before anything else: a bad signing key stops the start (fail closed).
    const audit =
      config.audit &&
      createAuditTrail(config.audit, {
        log: options.logger,
        observer: createAuditMetrics(options.metrics.registry),
      });
    this.runtime = buildRuntime(config, {
      log: options.logger,
      audit,
      rateLimit: createRateLimitServices(config.server.rateLimitStore, options),
      denyList: createDenyList(config.server.tokenRevocation, options.logger),
      lockouts: createLockoutServices(config.server.bruteForce, { ...options, audit }),
      apiKeys: config.server.apiKeys && createApiKeyVerifier(config.server.apiKeys, { log: options.logger }),
    });
    this.logger = options.logger;
    this.accessLogger = options.accessLogger;
    this.metrics = options.metrics;
    this.redactor = createRedactor(config.logging.redact);
  }

  get config(): ResolvedConfig {
    return this.runtime.config;
  }

  /** The token deny-list every bearer-token route checks (admin API: /revocations). */
  get denyList(): TokenDenyList {
    return this.runtime.denyList;
  }

  /** The audit trail of this process, when configured. */
  get audit(): AuditTrail | undefined {
    return this.runtime.audit;
  }

  /** An operator's revocation (admin API), with its audit record. */
  async revokeToken(revocation: Revocation): Promise<void> {
    try {
      await this.runtime.denyList.revoke(revocation);
      this.runtime.audit?.record({
        action: "admin.token.revoke",
        outcome: "success",
        resource: { id: null },
      });
    } catch (error) {
      this.runtime.audit?.record({
        action: "admin.token.revoke",
        outcome: "error",
        reason: "store_unavailable",
      });
      throw error;
    }
  }

  get currentState(): GatewayState {
    return this.state;
  }

  /** Bound addresses by listener name (useful when a config asks for port 0). */
  addresses(): { name: string; host: string; port: number; tls: boolean }[] {
    return this.listeners.map((handle) => {
      const address = handle.front.address();
      const port = typeof address === "object" && address ? address.port : handle.config.port;
      return {
        name: handle.config.name,
        host: handle.config.host,
        port,
        tls: handle.config.tls !== undefined,
      };
    });
  }

  async start(): Promise<void> {
    this.startHealthChecks(this.runtime);
    for (const listener of this.runtime.config.listeners) {
      const handle = this.createListener(listener);
      this.listeners.push(handle);
      await listen(handle.front, listener);
    }
    await this.health?.start();
    this.state = "ready";
    for (const address of this.addresses()) {
      this.logger.info(
        { listener: address.name, address: `${address.host}:${address.port}`, tls: address.tls },
        "listening",
      );
    }
  }

  /** Validated config in; swaps the runtime atomically or throws with the reason. */
  reload(config: ResolvedConfig): void {
    const current = this.runtime.config;
    const listenerKey = (c: ResolvedConfig) =>
      JSON.stringify(
        c.listeners.map((l) => [
          l.address,
          l.tls?.cert,
          l.tls?.key,
          l.tls?.minVersion,
          l.tls?.http2,
          l.redirectToHttps,
        ]),
      );
    if (listenerKey(config) !== listenerKey(current)) {
      throw new BulwarkError("reload_failed", "listeners changed; restart bulwark to apply listener changes");
    }
    if (JSON.stringify(config.server) !== JSON.stringify(current.server)) {
      throw new BulwarkError("reload_failed", "server settings changed; restart bulwark to apply them");
    }
    const previous = this.runtime;
    const next = buildRuntime(config, { previous });
    this.runtime = next;
    this.startHealthChecks(next);
    void this.health?.start();
    for (const group of retiredGroups(previous, next)) void group.close();
  }

  readiness(): ReadinessReport {
    const reasons: string[] = [];
    if (this.state !== "ready") reasons.push(`gateway is ${this.state}`);
    const upstreams: ReadinessReport["upstreams"] = {};
    const now = Date.now();
    for (const group of this.runtime.groups.values()) {
      upstreams[group.name] = {
        targets: group.targets.map((target) => ({
          target: target.origin,
          healthy: target.healthy ?? null,
          ejected: target.ejectedUntil > now,
        })),
      };
      if (!group.reachable) reasons.push(`upstream ${group.name} has no reachable target`);
    }
    for (const issuer of this.runtime.jwtKeys.pending()) reasons.push(`keys of issuer ${issuer} not loaded`);
    if (!this.runtime.denyList.ready) reasons.push("token deny-list not loaded");
    if (this.runtime.apiKeys && !this.runtime.apiKeys.ready) reasons.push("api key store not reached yet");
    return { ready: reasons.length === 0, state: this.state, reasons, upstreams };
  }

  /**
   * Graceful stop: refuse new connections, report not ready, let in-flight requests finish
   * within the grace period, then close what is left. Resolves when everything is closed.
   */
  async shutdown(graceMs = this.runtime.config.server.timeouts.shutdownGrace): Promise<void> {
    if (this.state === "stopped" || this.state === "draining") return;
    this.state = "draining";
    this.health?.stop();
    this.runtime.jwtKeys.stop();
    const closed = this.listeners.map(
      (handle) =>
        new Promise<void>((resolve) => {
          handle.front.close(() => resolve());
          handle.http1.closeIdleConnections();
          handle.watcher?.close();
        }),
    );
    for (const session of this.sessions) session.close();
    const drained = this.waitForIdle();
    const timedOut = await Promise.race([
      drained.then(() => false),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(true), graceMs).unref()),
    ]);
    if (timedOut) {
      this.logger.warn(
        { inFlight: this.inFlight, tunnels: this.tunnels.size },
        "grace period over; closing remaining connections",
      );
    }
    for (const handle of this.listeners) handle.http1.closeAllConnections();
    for (const session of this.sessions) session.destroy();
    for (const tunnel of this.tunnels) tunnel.destroy();
    // Whatever the HTTP servers no longer track (refused CONNECTs, half-closed peers) goes too,
    // so closing the listeners can never wait on a client.
    for (const socket of this.sockets) socket.destroy();
    await Promise.all(closed);
    await Promise.allSettled(
      [...this.runtime.groups.values()].map((group) => (timedOut ? group.destroy() : group.close())),
    );
    await this.runtime.rateLimit.stores.close();
    await this.runtime.sessions?.close();
    await this.runtime.denyList.close();
    await this.runtime.lockouts?.store.close();
    await this.runtime.apiKeys?.close();
    // Last: records of the requests that just drained, then a final signed checkpoint.
    await this.runtime.audit?.close();
    this.state = "stopped";
  }

  private waitForIdle(): Promise<void> {
    if (this.inFlight === 0 && this.tunnels.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private checkIdle(): void {
    if (this.inFlight === 0 && this.tunnels.size === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  private startHealthChecks(runtime: Runtime): void {
    this.health?.stop();
    this.health = new HealthChecker([...runtime.groups.values()], (group, target, healthy, reason) => {
      this.metrics.targetHealthy.labels(group.name, target.origin).set(healthy ? 1 : 0);
      const log = { upstream: group.name, target: target.origin, reason };
      if (healthy) this.logger.info(log, "upstream target healthy");
      else this.logger.warn(log, "upstream target unhealthy");
    });
  }

  // ---------------------------------------------------------------- listeners

  private createListener(listener: ResolvedListener): ListenerHandle {
    const { server } = this.runtime.config;
    const http1 = createHttpServer({
      maxHeaderSize: server.limits.maxHeaderSize,
      headersTimeout: server.timeouts.clientHeader,
      requestTimeout: 0, // whole-request time is bounded by the body idle timeout instead
      keepAliveTimeout: server.timeouts.keepAlive,
      connectionsCheckingInterval: Math.min(1000, server.timeouts.clientHeader),
      // The gateway answers a missing Host itself, as a problem document (Node's own 400 is bare).
      requireHostHeader: false,
    });
    const redirectTo = listener.redirectToHttps
      ? this.redirectPort(listener.redirectToHttps.port)
      : undefined;
    if (redirectTo === undefined) {
      http1.on("request", (req: IncomingMessage, res: ServerResponse) => this.handle(req, res, listener));
      http1.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) =>
        this.handleUpgrade(req, socket, head, listener),
      );
      // A "100 Continue" for a response still queued behind another one would land inside that
      // response (Node buffers both and writes the head first): send it only when this response
      // is the one on the wire; RFC 9110 §10.1.1 lets a server omit it.
      http1.on("checkContinue", (req: IncomingMessage, res: ServerResponse) => {
        if (res.socket) res.writeContinue();
        this.handle(req, res, listener);
      });
    } else {
      http1.on("request", httpsRedirectHandler(redirectTo));
    }
    http1.on("clientError", (error: NodeJS.ErrnoException, socket: Duplex) =>
      this.clientError(error, socket),
    );
    // CONNECT would make the gateway an open tunnel; without a listener Node drops it silently.
    http1.on("connect", (_req: IncomingMessage, socket: Duplex) =>
      refuseSocket(socket, "method_not_allowed"),
    );
    // Expect values other than 100-continue (RFC 9110 §10.1.1).
    http1.on("checkExpectation", (_req: IncomingMessage, res: ServerResponse) => {
      const body = problemBody("expectation_failed", undefined, "only Expect: 100-continue is supported");
      res.writeHead(417, {
        "content-type": PROBLEM_CONTENT_TYPE,
        "content-length": Buffer.byteLength(body),
        connection: "close",
      });
      res.end(body);
    });
    if (!listener.tls) {
      this.trackConnections(http1, listener);
      return { config: listener, front: http1, http1 };
    }

    const options = tlsServerOptions(listener.tls);
    const http2 = listener.tls.http2
      ? createHttp2Server({
          ...options,
          allowHTTP1: false,
          settings: { maxHeaderListSize: server.limits.maxHeaderSize },
          maxSessionInvalidFrames: 100,
        })
      : undefined;
    if (http2) {
      http2.on("request", (req: Http2ServerRequest, res: Http2ServerResponse) =>
        this.handle(req, res, listener),
      );
      http2.on("session", (session: ServerHttp2Session) => {
        this.sessions.add(session);
        session.once("close", () => this.sessions.delete(session));
        session.setTimeout(server.timeouts.keepAlive + server.timeouts.clientHeader, () => session.close());
      });
      http2.on("sessionError", () => {});
    }
    const front = createTlsServer(
      { ...options, handshakeTimeout: server.timeouts.clientHeader },
      (socket: TLSSocket) => {
        if (socket.alpnProtocol === "h2" && http2) http2.emit("secureConnection", socket);
        else http1.emit("connection", socket);
      },
    );
    this.trackConnections(front, listener);
    front.on("tlsClientError", (error: Error) => {
      this.logger.debug({ listener: listener.name, error: error.message }, "tls handshake failed");
    });
    const watcher = new CertificateWatcher(
      listener.tls,
      (fresh) => {
        front.setSecureContext(fresh);
        this.logger.info({ listener: listener.name }, "tls certificate reloaded");
      },
      (message) =>
        this.logger.error({ listener: listener.name, error: message }, "tls certificate reload refused"),
    );
    return { config: listener, front, http1, ...(http2 ? { http2 } : {}), watcher };
  }

  /**
   * Where the HTTPS redirect points: the configured port, else the first TLS listener's port as
   * bound (so a TLS listener on port 0 is redirected to the port the kernel gave it).
   */
  private redirectPort(configured: number | undefined): number {
    if (configured !== undefined) return configured;
    const started = this.listeners.find((handle) => handle.config.tls);
    const address = started?.front.address();
    if (address && typeof address === "object") return address.port;
    return this.runtime.config.listeners.find((l) => l.tls)?.port || 443;
  }

  /** Counts TCP connections on the socket-owning server (TLS ones included, whatever their protocol). */
  private trackConnections(server: Server | TlsServer, listener: ResolvedListener): void {
    const gauge = this.metrics.openConnections.labels(listener.name);
    server.on("connection", (socket: Socket) => {
      gauge.inc();
      this.sockets.add(socket);
      socket.once("close", () => {
        gauge.dec();
        this.sockets.delete(socket);
      });
    });
  }

  /** Parse errors from llhttp: answer with a problem and close (request smuggling shapes land here). */
  private clientError(error: NodeJS.ErrnoException, socket: Duplex): void {
    if (error.code === "ECONNRESET" || !socket.writable) {
      socket.destroy();
      return;
    }
    // A response is being written on this connection: never put bytes into it or answer out of
    // order (RFC 9112 §9.3.2); close the connection once that response is done.
    const pending = (socket as { _httpMessage?: ServerResponse | null })._httpMessage;
    if (pending && (pending.headersSent || pending.req.complete)) {
      pending.shouldKeepAlive = false;
      if (pending.headersSent) pending.once("finish", () => socket.destroy());
      return;
    }
    let code: ErrorCode = "bad_request";
    if (error.code === "HPE_HEADER_OVERFLOW") code = "headers_too_large";
    else if (error.code === "ERR_HTTP_REQUEST_TIMEOUT" || error.code === "HPE_HEADERS_TIMEOUT")
      code = "request_timeout";
    this.logger.debug({ error: error.code ?? error.message }, "malformed request refused");
    refuseSocket(socket, code);
  }

  // ---------------------------------------------------------------- the request path

  private handle(req: AnyRequest, res: AnyResponse, listener: ResolvedListener): void {
    const runtime = this.runtime;
    const startedAt = performance.now();
    this.inFlight++;
    this.metrics.inFlight++;
    const bytesWrittenAtStart = "stream" in req ? 0 : req.socket.bytesWritten;
    const arrival = arrive(runtime, req);
    const { target, validHost, route } = arrival;
    const ctx = contextFor(runtime, req, res, listener, arrival, startedAt);
    const chain = route ? runtime.chains[route.index]! : runtime.fallbackChain;

    // on() rather than once(): once() wraps the listener and removes it again, per request. Node
    // emits a response's 'close' once; the flag covers the manual emit below for queued responses.
    let closed = false;
    res.on("close", () => {
      if (closed) return;
      closed = true;
      this.complete(ctx, bytesWrittenAtStart);
      ctx.upstreamExchange?.clientClosed();
    });
    if (this.state === "draining" && "shouldKeepAlive" in res) res.shouldKeepAlive = false;

    let early: ErrorCode | undefined;
    let detail: string | undefined;
    const http1 = "stream" in req ? undefined : { req: req as IncomingMessage, res: res as ServerResponse };
    if (http1) {
      if (!http1.res.socket) {
        // Node never emits 'close' on a pipelined response still queued when the connection dies.
        const socket = http1.req.socket;
        const onSocketClose = () => http1.res.emit("close");
        socket.once("close", onSocketClose);
        http1.res.once("socket", () => socket.off("close", onSocketClose));
      }
      // A request parsed after a framing refusal on the same connection is never answered.
      if (this.distrusted.has(http1.req.socket)) return;
      const problem = framingProblem(http1.req);
      if (problem !== undefined) {
        early = "bad_request";
        detail = problem;
        this.distrusted.add(http1.req.socket);
      }
      if (early !== undefined || !validHost) http1.res.shouldKeepAlive = false;
    }
    if (early !== undefined) {
      // framing refused above
    } else if (target === undefined) {
      early = "uri_too_long";
      detail = `the longest request target accepted is ${runtime.config.server.limits.maxUrlLength} bytes`;
    } else if ("error" in target) {
      early = "path_invalid";
      detail = target.error;
    } else if (!validHost) {
      early = "bad_request";
      detail = "the Host header is missing or not a valid host";
    } else if (ctx.method === "CONNECT" || ctx.method === "TRACE") {
      // TRACE echoes the request, credentials included (cross-site tracing); CONNECT would make an open tunnel.
      early = "method_not_allowed";
      detail = `${ctx.method} is not allowed`;
    } else if (!route) {
      early = "route_not_found";
    }
    if (early) {
      this.sendProblem(ctx, chain, early, detail);
      return;
    }
    try {
      this.run(ctx, chain, runtime);
    } catch (error) {
      this.fail(ctx, chain, error);
    }
  }

  private run(ctx: RequestContext, chain: StageChain, runtime: Runtime): void {
    const reply = runRequestStages(chain, ctx);
    if (reply instanceof Promise) {
      reply.then(
        (settled) => this.forward(ctx, chain, runtime, settled),
        (error: unknown) => this.fail(ctx, chain, error),
      );
    } else {
      this.forward(ctx, chain, runtime, reply);
    }
  }

  private forward(ctx: RequestContext, chain: StageChain, runtime: Runtime, reply: Reply | undefined): void {
    if (reply) {
      this.sendReply(ctx, chain, reply);
      return;
    }
    const group = runtime.groups.get(ctx.route.upstream)!;
    const target = group.pick();
    if (!target) {
      this.sendProblem(ctx, chain, "no_upstream_target", `no target of upstream ${group.name} is available`);
      return;
    }
    ctx.upstreamTarget = target.origin;
    proxyRequest(ctx, chain, group, target, runtime.config.server.timeouts.bodyIdle, this.proxied);
  }

  /** Made once per gateway (not a closure per request): the proxy passes the request back in. */
  private readonly proxied: ProxyFinish = (ctx, chain, upstream, outcome) => {
    if (outcome.error) {
      ctx.errorCode = outcome.error.kind ?? outcome.error.code;
      if (outcome.error.kind) this.metrics.upstreamError(upstream, outcome.error.kind);
      if (!ctx.res.headersSent) {
        this.sendProblem(
          ctx,
          chain,
          outcome.error.code,
          outcome.error.kind === undefined ? outcome.error.detail : undefined,
        );
      } else {
        ctx.res.destroy();
      }
    } else if (outcome.clientAborted) {
      ctx.errorCode = "client_closed";
    }
  };

  private fail(ctx: RequestContext, chain: StageChain, error: unknown): void {
    ctx.errorCode = "internal";
    this.logger.error(
      { err: error, requestId: ctx.requestId, route: ctx.route.name },
      "request failed inside the gateway",
    );
    if (!ctx.res.headersSent) this.sendProblem(ctx, chain, "internal");
    else ctx.res.destroy();
  }

  private sendProblem(
    ctx: RequestContext,
    chain: StageChain,
    code: ErrorCode,
    detail?: string,
    headers?: OutgoingHeaders,
  ): void {
    ctx.errorCode ??= code;
    const body = problemBody(code, ctx.requestId, detail);
    this.writeGatewayResponse(
      ctx,
      chain,
      ErrorCodes[code].status,
      { ...headers, "content-type": PROBLEM_CONTENT_TYPE, "cache-control": "no-store" },
      body,
    );
  }

  private sendReply(ctx: RequestContext, chain: StageChain, reply: Reply): void {
    if (reply.problem) {
      this.sendProblem(ctx, chain, reply.problem.code, reply.problem.detail, reply.headers);
      return;
    }
    this.writeGatewayResponse(ctx, chain, reply.status, { ...reply.headers }, reply.body);
  }

  private writeGatewayResponse(
    ctx: RequestContext,
    chain: StageChain,
    status: number,
    headers: OutgoingHeaders,
    body: string | Buffer | undefined,
  ): void {
    const res = ctx.res;
    if (res.headersSent || res.destroyed) return;
    // The gateway answers before (or without) reading the whole request body: an early refusal,
    // a body over the limit, an upstream failure mid-upload. Reading the rest just to discard it
    // could take long and keeps a client's stream flowing for nothing: close the connection.
    if ("shouldKeepAlive" in res && requestHasBody(ctx.req) && !ctx.req.readableEnded)
      res.shouldKeepAlive = false;
    if (body !== undefined) headers["content-length"] = String(Buffer.byteLength(body));
    else if (status !== 204 && status !== 304) headers["content-length"] = "0";
    const head: ResponseHead = { status, headers, fromGateway: true };
    runResponseStages(chain, ctx, head);
    res.writeHead(head.status, head.headers);
    if (body !== undefined && ctx.method !== "HEAD") res.end(body);
    else res.end();
  }

  /** The audit records a finished request makes (audit-events.ts), off the request path. */
  private recordAudit(ctx: RequestContext, status: number): void {
    const audit = this.runtime.audit;
    if (!audit) return;
    const event = securityEvent(ctx, status);
    if (event) audit.record(event);
    if (ctx.route.audit) audit.record(requestEvent(ctx, status));
  }

  private complete(ctx: RequestContext, bytesWrittenAtStart: number): void {
    this.inFlight--;
    this.metrics.inFlight--;
    const res = ctx.res;
    const aborted = !res.writableFinished;
    const status = aborted && !res.headersSent ? 499 : res.statusCode;
    const seconds = (performance.now() - ctx.startedAt) / 1000;
    this.metrics.observeRequest(ctx.route.name, ctx.method, status, seconds);
    this.recordAudit(ctx, status);
    if (this.runtime.config.logging.accessLog && this.accessLogger.enabled) {
      const req = ctx.req;
      // HTTP/2 streams share one socket: count the declared length there, the socket's bytes otherwise.
      const bytesOut =
        "stream" in req
          ? Number(res.getHeader("content-length") ?? 0)
          : req.socket.bytesWritten - bytesWrittenAtStart;
      const referer = req.headers.referer;
      this.accessLogger.request({
        type: "access",
        route: ctx.route.name,
        upstream: ctx.route.upstream || undefined,
        target: ctx.upstreamTarget ?? undefined,
        method: ctx.method,
        path: ctx.path + this.redactor.query(ctx.query),
        status,
        durationMs: Math.round(seconds * 1e6) / 1000,
        bytesIn: ctx.bytesIn,
        bytesOut,
        protocol: req.httpVersion,
        requestId: ctx.requestId,
        traceId: ctx.traceId,
        clientIp: ctx.clientIp,
        userAgent: req.headers["user-agent"],
        referer: typeof referer === "string" ? this.redactor.url(referer) : undefined,
        error: ctx.errorCode ?? undefined,
        aborted: aborted || undefined,
        msg: "request",
      });
    }
    this.checkIdle();
  }

  // ---------------------------------------------------------------- upgrades (WebSocket)

  private handleUpgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    listener: ResolvedListener,
  ): void {
    const runtime = this.runtime;
    if (this.state !== "ready") {
      refuseSocket(socket, "shutting_down");
      return;
    }
    const arrival = arrive(runtime, req);
    const { target, route } = arrival;
    if (!target || "error" in target || !arrival.validHost) {
      refuseSocket(socket, target ? "bad_request" : "uri_too_long");
      return;
    }
    if (!route) {
      refuseSocket(socket, "route_not_found");
      return;
    }
    const startedAt = performance.now();
    // Upgrades have no ServerResponse; nothing on the tunnel path writes one.
    const ctx = contextFor(
      runtime,
      req,
      undefined as unknown as ServerResponse,
      listener,
      arrival,
      startedAt,
    );
    // An upgrade is a request like any other: authentication, authorization, lock-out, rate
    // limits and audit decide before a tunnel opens (a WebSocket is never a way around them).
    const chain = runtime.chains[route.index]!;
    let stages: ReturnType<typeof runRequestStages>;
    try {
      stages = runRequestStages(chain, ctx);
    } catch (error) {
      this.refuseUpgrade(ctx, chain, socket, { status: 500, problem: { code: "internal" } }, error);
      return;
    }
    if (stages instanceof Promise) {
      stages.then(
        (reply) => this.continueUpgrade(runtime, ctx, chain, socket, head, target, reply),
        (error: unknown) =>
          this.refuseUpgrade(ctx, chain, socket, { status: 500, problem: { code: "internal" } }, error),
      );
    } else {
      this.continueUpgrade(runtime, ctx, chain, socket, head, target, stages);
    }
  }

  /** Answers a refused upgrade on the raw socket, with the stages' response headers, and closes it. */
  private refuseUpgrade(
    ctx: RequestContext,
    chain: StageChain,
    socket: Duplex,
    reply: Reply,
    error?: unknown,
  ): void {
    if (error !== undefined) {
      this.logger.error(
        { err: error, requestId: ctx.requestId, route: ctx.route.name },
        "upgrade failed inside the gateway",
      );
    }
    const code = reply.problem?.code;
    if (code) ctx.errorCode ??= code;
    const body = code ? problemBody(code, ctx.requestId, reply.problem?.detail) : (reply.body ?? "");
    const head: ResponseHead = {
      status: code ? ErrorCodes[code].status : reply.status,
      headers: {
        ...reply.headers,
        ...(code ? { "content-type": PROBLEM_CONTENT_TYPE } : {}),
        "cache-control": "no-store",
      },
      fromGateway: true,
    };
    runResponseStages(chain, ctx, head);
    head.headers["content-length"] = String(Buffer.byteLength(body));
    head.headers.connection = "close";
    let text = `HTTP/1.1 ${head.status} ${STATUS_CODES[head.status] ?? "Error"}\r\n`;
    for (const [name, value] of Object.entries(head.headers)) {
      for (const item of [value].flat()) text += `${name}: ${item}\r\n`;
    }
    socket.end(`${text}\r\n${body}`, () => socket.destroy());
    setTimeout(() => socket.destroy(), 5000).unref();
    this.recordAudit(ctx, head.status);
  }

  private continueUpgrade(
    runtime: Runtime,
    ctx: RequestContext,
    chain: StageChain,
    socket: Duplex,
    head: Buffer,
    target: { readonly path: string; readonly query: string },
    reply: Reply | undefined,
  ): void {
    if (reply) {
      this.refuseUpgrade(ctx, chain, socket, reply);
      return;
    }
    if (socket.destroyed) return;
    const route = ctx.route;
    const group = runtime.groups.get(route.upstream);
    const upstreamTarget = group?.pick();
    if (!group || !upstreamTarget) {
      this.refuseUpgrade(ctx, chain, socket, { status: 503, problem: { code: "no_upstream_target" } });
      return;
    }
    const req = ctx.req as IncomingMessage;
    const startedAt = ctx.startedAt;
    ctx.upstreamHeaders["x-request-id"] = ctx.requestId;
    ctx.upstreamHeaders.traceparent = `00-${ctx.traceId}-${ctx.spanId}-${ctx.traceFlags}`;
    const path =
      route.rewritePrefix === null
        ? target.path
        : rewritePath(target.path, route.pathPrefix, route.rewritePrefix);
    this.tunnels.add(socket);
    openTunnel(ctx, socket, head, upstreamTarget, upstreamTarget.basePath + path + target.query, {
      connectTimeoutMs: group.config.timeouts.connect,
      hostHeader: group.config.hostHeader,
      onClose: (error) => {
        this.tunnels.delete(socket);
        if (error) this.metrics.upstreamError(group.name, error);
        this.accessLogger.write({
          type: "access",
          route: route.name,
          upstream: group.name,
          target: upstreamTarget.origin,
          method: ctx.method,
          path: target.path + this.redactor.query(target.query),
          upgrade: req.headers.upgrade,
          durationMs: Math.round((performance.now() - startedAt) * 1000) / 1000,
          requestId: ctx.requestId,
          traceId: ctx.traceId,
          clientIp: ctx.clientIp,
          error,
          msg: "tunnel closed",
        });
        this.recordAudit(ctx, 101);
        this.checkIdle();
      },
    });
  }
}

/** What the request line and Host say, parsed and routed once for both requests and upgrades. */
interface Arrival {
  /** undefined when the target is longer than the limit. */
  readonly target: ReturnType<typeof parseRequestTarget> | undefined;
  readonly authority: string;
  readonly validHost: boolean;
  readonly host: string;
  readonly path: string;
  readonly query: string;
  readonly route: ResolvedRoute | undefined;
}

function arrive(runtime: Runtime, req: AnyRequest): Arrival {
  const url = req.url ?? "/";
  const target = url.length > runtime.config.server.limits.maxUrlLength ? undefined : parseRequestTarget(url);
  const headers = req.headers;
  const parsed = target && "path" in target ? target : undefined;
  const authority = parsed?.host || headers.host || (headers[":authority"] as string | undefined) || "";
  const checked = validHostOf(authority);
  const validHost = checked !== undefined;
  const host = checked ?? "";
  const path = parsed?.path ?? "/";
  return {
    target,
    authority,
    validHost,
    host,
    path,
    query: parsed?.query ?? "",
    route: parsed && validHost ? runtime.router.match(host, path) : undefined,
  };
}

function contextFor(
  runtime: Runtime,
  req: AnyRequest,
  res: AnyResponse,
  listener: ResolvedListener,
  arrival: Arrival,
  startedAt: number,
): RequestContext {
  const headers = req.headers;
  const peerIp = normalizeAddress(req.socket.remoteAddress ?? "");
  const peerTrusted = runtime.trustedProxies.trusts(peerIp);
  const forwardedProto = headers["x-forwarded-proto"];
  const ids = traceIdsFrom(headers.traceparent);
  return {
    req,
    res,
    route: arrival.route ?? runtime.fallbackRoute,
    method: req.method ?? "GET",
    path: arrival.path,
    query: arrival.query,
    host: arrival.host,
    authority: arrival.authority,
    secure:
      listener.tls !== undefined ||
      (peerTrusted && typeof forwardedProto === "string" && forwardedProto.startsWith("https")),
    clientIp: runtime.trustedProxies.clientAddress(peerIp, headers["x-forwarded-for"] as string | undefined),
    peerIp,
    peerTrusted,
    startedAt,
    requestId: acceptRequestId(headers["x-request-id"]),
    traceId: ids.traceId,
    spanId: ids.spanId,
    traceFlags: ids.flags,
    upstreamHeaders: {},
    upstreamTarget: null,
    errorCode: null,
    bytesIn: 0,
    authMethod: null,
    identity: null,
    // Set here, not only when a stage pre-reads a body, so every context has the same shape.
    preReadBody: undefined,
    rateLimitDecisions: null,
    lockoutKeys: null,
    upstreamExchange: null,
  };
}

/**
 * Answers a raw socket with a problem and closes it both ways: end() alone leaves the socket
 * open until the peer closes its side, and a peer that never does would hold it forever.
 */
function refuseSocket(socket: Duplex, code: ErrorCode): void {
  socket.end(rawProblemResponse(code), () => socket.destroy());
  // A peer that does not read: do not wait for the write to finish either.
  setTimeout(() => socket.destroy(), 5000).unref();
}

function listen(server: Server | TlsServer, listener: ResolvedListener): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      const reason =
        error.code === "EADDRINUSE"
          ? "the address is already in use"
          : error.code === "EACCES"
            ? "permission denied (ports below 1024 need privileges)"
            : error.code === "EADDRNOTAVAIL"
              ? "the address is not on this machine"
              : (error.code ?? error.message);
      reject(new BulwarkError("listen_failed", `cannot listen on ${listener.address}: ${reason}`));
    };
    server.once("error", onError);
    server.listen({ host: listener.host, port: listener.port }, () => {
      server.off("error", onError);
      resolve();
    });
  });
}
