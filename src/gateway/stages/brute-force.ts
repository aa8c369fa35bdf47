/**
 * Brute-force protection in the gateway (issue 3 §2). On sign-in routes (`loginEndpoint`) and on
 * routes with `auth`, a client address or account that is locked out gets a 429 `locked_out` with
 * Retry-After before anything else happens. Failures are counted after the response: the
 * gateway's own 401s on `auth` routes (per client address), and upstream 401/403 on sign-in routes
 * (per client address and per account). A 2xx on a sign-in route resets the account's count.
 * Counting happens off the request path; the check is one lookup (memory) or one round trip
 * (Redis) per key.
 */
import type { AuditTrail } from "../../audit/trail.js";
import type { Logger } from "../../observability/logger.js";
import type { GatewayMetrics } from "../../observability/metrics.js";
import { type LockoutStore, MemoryLockoutStore } from "../../security/brute-force/lockout.js";
import { RedisLockoutStore } from "../../security/brute-force/redis-lockout-store.js";
import type { BruteForceConfig, LoginEndpointConfig } from "../../security/brute-force/schema.js";
import { ipKey, keyValue } from "../../security/rate-limit/keys.js";
import type { RequestContext } from "../context.js";
import type { Reply, StageFactory } from "../stage.js";

/** What the stage shares across routes and reloads; made once per gateway. */
export interface LockoutServices {
  readonly store: LockoutStore;
  /** Threshold for credentials the gateway refused (counted apart from sign-in failures). */
  readonly maxCredentialFailures: number;
  /** A key was locked out (log, metrics, audit). */
  lockedOut(ctx: RequestContext, kind: "ip" | "account", milliseconds: number): void;
}

// The account names a person: compare case-insensitively, bounded so keys stay small.
function accountKey(name: string): string {
  return `a:${keyValue(name.trim().toLowerCase().slice(0, 256))}`;
}

function basicUser(header: string | undefined): string | undefined {
  if (!header?.toLowerCase().startsWith("basic ")) return undefined;
  const decoded = Buffer.from(header.slice(6).trim(), "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  return colon > 0 ? decoded.slice(0, colon) : undefined;
}

function accountOf(ctx: RequestContext, login: Exclude<LoginEndpointConfig, boolean>): string | undefined {
  const source = login.account;
  if (source === undefined) return basicUser(ctx.req.headers.authorization);
  if ("header" in source) {
    const value = ctx.req.headers[source.header.toLowerCase()];
    return typeof value === "string" && value !== "" ? value : undefined;
  }
  const value = new URLSearchParams(ctx.query.slice(1)).get(source.query);
  return value === null || value === "" ? undefined : value;
}

export const bruteForceStage: StageFactory = (route, services) => {
  const lockouts = services.lockouts;
  const login = route.loginEndpoint;
  if (!lockouts || (!login && !route.auth)) return null;
  const { store, maxCredentialFailures } = lockouts;
  // Sign-in failures (ip:, a:) and refused credentials (cred:) are counted apart: a client
  // retrying an expired token is not guessing passwords, and gets a higher threshold.
  const keysOf = new WeakMap<
    RequestContext,
    { ip: string; credential: string; account: string | undefined }
  >();

  const locked = (milliseconds: number): Reply | undefined =>
    milliseconds > 0
      ? {
          status: 429,
          headers: { "retry-after": String(Math.ceil(milliseconds / 1000)) },
          problem: {
            code: "locked_out",
            detail: "too many failed sign-in attempts; retry after the time in Retry-After",
          },
        }
      : undefined;

  function record(
    ctx: RequestContext,
    keys: readonly string[],
    kind: "ip" | "account",
    maxFailures?: number,
  ): void {
    void store.fail(keys, maxFailures).then((started) => {
      if (started > 0) lockouts?.lockedOut(ctx, kind, started);
    });
  }

  return {
    name: "brute-force",
    onRequest: function checkLockout(ctx) {
      const client = keyValue(ipKey(ctx.clientIp, 64));
      const ip = `ip:${client}`;
      const credential = `cred:${client}`;
      const name = login ? accountOf(ctx, login) : undefined;
      const account = name === undefined ? undefined : accountKey(name);
      keysOf.set(ctx, { ip, credential, account });
      const checked = login ? (account ? [ip, account] : [ip]) : [];
      if (route.auth) checked.push(credential);
      const lockedFor = store.lockedFor(checked);
      return lockedFor instanceof Promise ? lockedFor.then(locked) : locked(lockedFor);
    },
    onResponse: function countFailures(ctx, head) {
      const keys = keysOf.get(ctx);
      if (!keys || (head.fromGateway && head.status === 429)) return;
      if (head.fromGateway) {
        // The gateway refused the credentials (authn): count against the client address.
        if (head.status === 401 && ctx.errorCode === "unauthorized") {
          record(ctx, [keys.credential], "ip", maxCredentialFailures);
        }
        return;
      }
      if (!login) return;
      if (head.status === 401 || head.status === 403) {
        record(ctx, keys.account ? [keys.ip, keys.account] : [keys.ip], keys.account ? "account" : "ip");
      } else if (head.status >= 200 && head.status < 300 && keys.account) {
        void store.succeed([keys.account]);
      }
    },
  };
};

/** The store and its reporting, made once per gateway; undefined when protection is disabled. */
export function createLockoutServices(
  config: BruteForceConfig,
  observe: {
    readonly logger: Logger;
    readonly metrics: GatewayMetrics;
    readonly audit?: AuditTrail | undefined;
  },
): LockoutServices | undefined {
  if (!config.enabled) return undefined;
  const policy = {
    maxFailures: config.maxFailures,
    window: config.window,
    lockout: config.lockout,
    maxLockout: config.maxLockout,
  };
  let up = true;
  const store =
    config.store.type === "memory"
      ? new MemoryLockoutStore(policy, config.store.maxKeys)
      : new RedisLockoutStore(policy, {
          url: config.store.url,
          keyPrefix: config.store.keyPrefix,
          timeout: config.store.timeout,
          onError(error) {
            if (!up) return;
            up = false;
            observe.logger.error(
              { reason: error.message },
              "brute-force store unreachable; lock-outs are not enforced until it answers",
            );
            setTimeout(() => {
              up = true;
            }, 30_000).unref();
          },
        });
  return {
    store,
    maxCredentialFailures: config.maxCredentialFailures,
    lockedOut(ctx, kind, milliseconds) {
      observe.metrics.lockouts.labels(ctx.route.name, kind).inc();
      observe.audit?.record({
        action: "lockout",
        outcome: "denied",
        subject: ctx.identity?.subject ?? null,
        resource: { route: ctx.route.name, id: null },
        method: ctx.method,
        clientIp: ctx.clientIp,
        requestId: ctx.requestId,
        traceId: ctx.traceId,
        reason: kind === "account" ? "account_locked" : "address_locked",
      });
      observe.logger.warn(
        {
          route: ctx.route.name,
          kind,
          clientIp: ctx.clientIp,
          requestId: ctx.requestId,
          seconds: Math.ceil(milliseconds / 1000),
        },
        "client locked out after repeated failed authentications",
      );
    },
  };
}
