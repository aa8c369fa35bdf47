/**
 * The admin listener, separate from traffic (default 127.0.0.1:9901): /live, /ready, /health,
 * /metrics, POST /reload and GET|POST /revocations (the token deny-list). With a token
 * configured, every endpoint but /live and /ready needs
 * `Authorization: Bearer <token>`; /live and /ready stay open for orchestrator probes but then
 * say only ready or not, never why.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { BulwarkError } from "../errors.js";
import type { ReadinessReport } from "../gateway/server.js";
import type { Logger } from "../observability/logger.js";
import { type Revocation, revocationProblem } from "../security/revocation/deny-list.js";

export interface AdminHandlers {
  readiness(): ReadinessReport | Promise<ReadinessReport>;
  /** Prometheus text exposition and its content type. */
  metrics(): Promise<{ contentType: string; body: string }>;
  health(): Record<string, unknown>;
  /** Reloads the config file; resolves with an error message when the new config was refused. */
  reload(): Promise<{ applied: boolean; error?: string; details?: readonly string[] }>;
  /** Adds a token id to the deny-list of every process; rejects with a message the operator sees. */
  revoke(revocation: Revocation): Promise<void>;
  /** Live revocations. */
  revocations(): Promise<readonly Revocation[]>;
}

/** Largest admin request body (a revocation is about a hundred bytes). */
const MAX_BODY = 4096;

async function readJson(req: IncomingMessage): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new RangeError(`request body over ${MAX_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

export interface AdminOptions {
  readonly host: string;
  readonly port: number;
  readonly token: string | undefined;
  readonly logger: Logger;
  readonly handlers: AdminHandlers;
}

function digest(value: string): Buffer {
  return createHash("sha256").update(value).digest();
}

/** Constant-time bearer check: both sides are hashed first, so lengths never leak either. */
export function bearerMatches(header: string | undefined, expectedDigest: Buffer): boolean {
  const presented = header?.startsWith("Bearer ") ? header.slice(7).trim() : "";
  return timingSafeEqual(digest(presented), expectedDigest) && presented.length > 0;
}

function send(res: ServerResponse, status: number, body: unknown, contentType = "application/json"): void {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  res.writeHead(status, {
    "content-type": contentType,
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
  });
  res.end(text);
}

export class AdminServer {
  private readonly server: Server;
  private readonly tokenDigest: Buffer | undefined;

  constructor(private readonly options: AdminOptions) {
    this.tokenDigest = options.token === undefined ? undefined : digest(options.token);
    this.server = createServer(
      { headersTimeout: 5000, requestTimeout: 10_000, maxHeaderSize: 8192 },
      (req, res) => {
        this.handle(req, res).catch((error: unknown) => {
          options.logger.error({ err: error }, "admin request failed");
          if (!res.headersSent) send(res, 500, { error: "internal error" });
        });
      },
    );
    this.server.on("clientError", (_error, socket) => socket.destroy());
  }

  get port(): number {
    const address = this.server.address();
    return typeof address === "object" && address ? address.port : this.options.port;
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once("error", (error: NodeJS.ErrnoException) =>
        reject(
          new BulwarkError(
            "listen_failed",
            `cannot listen on admin address ${this.options.host}:${this.options.port}: ${error.code === "EADDRINUSE" ? "the address is already in use" : (error.code ?? error.message)}`,
          ),
        ),
      );
      this.server.listen({ host: this.options.host, port: this.options.port }, () => resolve());
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private authorized(req: IncomingMessage): boolean {
    return this.tokenDigest === undefined || bearerMatches(req.headers.authorization, this.tokenDigest);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0];
    const method = req.method ?? "GET";
    const read = method === "GET" || method === "HEAD";
    switch (path) {
      case "/live":
        if (!read) return send(res, 405, { error: "use GET" });
        return send(res, 200, { status: "live" });
      case "/ready": {
        if (!read) return send(res, 405, { error: "use GET" });
        const report = await this.options.handlers.readiness();
        const body = this.authorized(req) ? report : { ready: report.ready };
        return send(res, report.ready ? 200 : 503, body);
      }
      case "/health": {
        if (!read) return send(res, 405, { error: "use GET" });
        if (!this.authorized(req)) return this.unauthorized(res);
        const report = await this.options.handlers.readiness();
        return send(res, 200, { ...this.options.handlers.health(), ...report });
      }
      case "/metrics": {
        if (!read) return send(res, 405, { error: "use GET" });
        if (!this.authorized(req)) return this.unauthorized(res);
        const metrics = await this.options.handlers.metrics();
        return send(res, 200, metrics.body, metrics.contentType);
      }
      case "/reload": {
        if (method !== "POST") return send(res, 405, { error: "use POST" });
        if (!this.authorized(req)) return this.unauthorized(res);
        const result = await this.options.handlers.reload();
        return send(res, result.applied ? 200 : 409, result);
      }
      case "/revocations": {
        if (!this.authorized(req)) return this.unauthorized(res);
        if (read) {
          const entries = await this.options.handlers.revocations();
          return send(res, 200, {
            revocations: entries.map((entry) => ({
              jti: entry.jti,
              expiresAt: new Date(entry.expiresAt).toISOString(),
            })),
          });
        }
        if (method !== "POST") return send(res, 405, { error: "use GET or POST" });
        return this.revoke(req, res);
      }
      default:
        return send(res, 404, {
          error: "not found",
          endpoints: ["/live", "/ready", "/health", "/metrics", "POST /reload", "GET|POST /revocations"],
        });
    }
  }

  /** POST /revocations {"jti": "...", "exp": EPOCH_SECONDS} — exp as in the token. */
  private async revoke(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body: unknown;
    try {
      body = await readJson(req);
    } catch (error) {
      const message = error instanceof RangeError ? error.message : "the body is not JSON";
      return send(res, 400, { error: `${message}; send {"jti": "...", "exp": EPOCH_SECONDS}` });
    }
    const { jti, exp } = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
    const expiresAt = typeof exp === "number" ? exp * 1000 : undefined;
    const problem = revocationProblem(jti, expiresAt);
    if (problem) return send(res, 400, { error: problem });
    try {
      await this.options.handlers.revoke({ jti: jti as string, expiresAt: expiresAt as number });
    } catch (error) {
      return send(res, 503, { error: `revocation not stored: ${(error as Error).message}` });
    }
    this.options.logger.info(
      { jti, expiresAt: new Date(expiresAt as number).toISOString() },
      "token revoked",
    );
    return send(res, 200, { revoked: jti, expiresAt: new Date(expiresAt as number).toISOString() });
  }

  private unauthorized(res: ServerResponse): void {
    res.setHeader("www-authenticate", 'Bearer realm="bulwark-admin"');
    send(res, 401, { error: "a valid admin bearer token is required" });
  }
}
