/**
 * Brute-force protection in the gateway (issue 3 §2). On sign-in routes (`loginEndpoint`) and on
 * routes with `auth`, a client address or account that is locked out gets a 429 `locked_out` with
 * Retry-After before anything else happens. Failures are counted after the response: the
 * gateway's own 401s on `auth` routes (per client address), and upstream 401/403 on sign-in routes
 * (per client address and per account). A 2xx on a sign-in route resets the account's count.
 * Counting happens off the request path; the check is one lookup (memory) or one round trip
 * (Redis) per key.
 *
 * The account comes from Basic authentication, a header, a query parameter, or the body: a form
 * field or a JSON Pointer. For the body, this stage reads it first (request-body.ts: bounded,
 * these routes only, the same bytes forwarded afterwards); a body it cannot read — too large,
 * another content type, not parsable — names no account, and the request counts per client
 * address only.
 */
import type { AuditTrail } from "../../audit/trail.js";
import type { Logger } from "../../observability/logger.js";
import type { GatewayMetrics } from "../../observability/metrics.js";
import { accountsInForm, accountsInJson } from "../../security/brute-force/body-account.js";
import { compileJsonPointer } from "../../security/brute-force/json-pointer.js";
import { type LockoutStore, MemoryLockoutStore } from "../../security/brute-force/lockout.js";
import { RedisLockoutStore } from "../../security/brute-force/redis-lockout-store.js";
import {
  type BruteForceConfig,
  DEFAULT_BODY_READ_LIMIT,
  type LoginEndpointConfig,
} from "../../security/brute-force/schema.js";
import { ipKey, keyValue } from "../../security/rate-limit/keys.js";
import type { RequestContext } from "../context.js";
import { type BodyRead, bodyFormat, bodyText, readRequestBody, unreadBodyReply } from "../request-body.js";
import type { Reply, StageFactory } from "../stage.js";
import { requestHasBody } from "../upstream/proxy.js";

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

type LoginConfig = Exclude<LoginEndpointConfig, boolean>;

/** Where a sign-in body names the account, compiled from `loginEndpoint.account`. */
interface BodyAccountSource {
  readonly form: string | undefined;
  readonly json: readonly string[] | undefined;
  readonly limit: number;
}

function bodySourceOf(login: LoginConfig | null): BodyAccountSource | undefined {
  const source = login?.account;
  if (source === undefined || (source.form === undefined && source.json === undefined)) return undefined;
  return {
    form: source.form,
    json: source.json === undefined ? undefined : compileJsonPointer(source.json),
    limit: login?.bodyReadLimit ?? DEFAULT_BODY_READ_LIMIT,
  };
}

/** The account named outside the body (Basic user, header, query); undefined for body sources. */
function headAccountOf(ctx: RequestContext, login: LoginConfig): string | undefined {
  const source = login.account;
  if (source === undefined) return basicUser(ctx.req.headers.authorization);
  if (source.header !== undefined) {
    const value = ctx.req.headers[source.header.toLowerCase()];
    return typeof value === "string" && value !== "" ? value : undefined;
  }
  if (source.query !== undefined) {
    const value = new URLSearchParams(ctx.query.slice(1)).get(source.query);
    return value === null || value === "" ? undefined : value;
  }
  return undefined;
}

/** Account names in a body that was read; none for other content types or unparsable bodies. */
function bodyAccountsOf(format: "form" | "json", read: BodyRead, source: BodyAccountSource): string[] {
  if (read.kind !== "read") return [];
  const text = bodyText(read.body);
  if (text === undefined) return [];
  if (format === "form") return source.form === undefined ? [] : accountsInForm(text, source.form);
  return source.json === undefined ? [] : accountsInJson(text, source.json);
}

/** Distinct account keys (names that differ only in case or spaces are one account). */
function accountKeys(names: readonly string[]): string[] {
  return [...new Set(names.map(accountKey))];
}

export const bruteForceStage: StageFactory = (route, services) => {
  const lockouts = services.lockouts;
  const login = route.loginEndpoint;
  if (!lockouts || (!login && !route.auth)) return null;
  const { store, maxCredentialFailures } = lockouts;
  const bodySource = bodySourceOf(login);
  const bodyIdle = services.config.server.timeouts.bodyIdle;
  const log = services.log;
  // Sign-in failures (ip:, a:) and refused credentials (cred:) are counted apart: a client
  // retrying an expired token is not guessing passwords, and gets a higher threshold.

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

  function check(
    ctx: RequestContext,
    accounts: readonly string[],
  ): Reply | undefined | Promise<Reply | undefined> {
    const client = keyValue(ipKey(ctx.clientIp, 64));
    const ip = `ip:${client}`;
    const credential = `cred:${client}`;
    ctx.lockoutKeys = { ip, credential, accounts };
    const checked = login ? [ip, ...accounts] : [];
    if (route.auth) checked.push(credential);
    const lockedFor = store.lockedFor(checked);
    return lockedFor instanceof Promise ? lockedFor.then(locked) : locked(lockedFor);
  }

  /** A sign-in whose body names no account counts per address only; say why, for operators. */
  function unnamed(ctx: RequestContext, reason: string): Reply | undefined | Promise<Reply | undefined> {
    log?.debug(
      { requestId: ctx.requestId, route: route.name, reason },
      "sign-in body names no account; failures count per client address only",
    );
    return check(ctx, []);
  }

  return {
    name: "brute-force",
    onRequest: function checkLockout(ctx) {
      if (!login) return check(ctx, []);
      if (bodySource === undefined) {
        const name = headAccountOf(ctx, login);
        return check(ctx, name === undefined ? [] : [accountKey(name)]);
      }
      // Only a body of a format the route names the account in is read; any other is not
      // touched and streams to the upstream as on every route.
      const format = bodyFormat(ctx.req);
      if (format === undefined || (format === "form" ? !bodySource.form : !bodySource.json)) {
        return requestHasBody(ctx.req) ? unnamed(ctx, "content type") : check(ctx, []);
      }
      const read = readRequestBody(ctx, bodySource.limit, bodyIdle);
      const judge = (result: BodyRead) => {
        const unread = unreadBodyReply(ctx, result);
        if (unread) return unread;
        if (result.kind !== "read") return unnamed(ctx, "body over bodyReadLimit");
        const accounts = accountKeys(bodyAccountsOf(format, result, bodySource));
        return accounts.length > 0 ? check(ctx, accounts) : unnamed(ctx, `no account in the ${format} body`);
      };
      return read instanceof Promise ? read.then(judge) : judge(read);
    },
    onResponse: function countFailures(ctx, head) {
      const keys = ctx.lockoutKeys;
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
        record(ctx, [keys.ip, ...keys.accounts], keys.accounts.length > 0 ? "account" : "ip");
      } else if (head.status >= 200 && head.status < 300 && keys.accounts.length === 1) {
        // Only an unambiguous sign-in resets: with a repeated form field, a success for the
        // attacker's own account must not reset the count of the account it is guessing.
        void store.succeed(keys.accounts);
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
