/**
 * What a caller may put in the audit trail, and the check that keeps secrets out of it.
 *
 * An audit event is a fixed set of fields. `sanitizeEvent` builds a new object from those fields
 * only, so anything else a caller passes (headers, bodies, tokens, cookies, free-form details) is
 * dropped, never copied. Every kept string is checked against the shape its field must have (an
 * action name, an error code, an IP address, an id); a value of the wrong shape, or one that
 * looks like a credential (a JWT, an `Authorization` scheme, a PEM block, a long opaque string),
 * is replaced by null and the field's name is listed in the record's `refused`, so the record
 * still says who did what without carrying the suspicious value.
 */
import { isIP } from "node:net";

export const AUDIT_OUTCOMES = ["success", "failure", "denied", "error"] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

/**
 * Actions the gateway records; `admin.*` is open-ended (admin.keys.create, admin.reload …).
 * `auth.rejected`: a session credential (cookie) refused; tokens and API keys have their own.
 * `auth.backchannel_logout`: the provider ended a user's sessions (OpenID Connect Back-Channel Logout).
 */
export const AUDIT_ACTIONS = [
  "auth.signin",
  "auth.signout",
  "auth.rejected",
  "auth.backchannel_logout",
  "token.accepted",
  "token.rejected",
  "apikey.accepted",
  "apikey.rejected",
  "access.denied",
  "ratelimit.limited",
  "lockout",
  "config.reload",
  "request",
] as const;

export interface AuditEvent {
  /** When it happened: epoch milliseconds, a Date, or an ISO 8601 string (default: now). */
  readonly time?: number | Date | string;
  /** What happened: one of AUDIT_ACTIONS or `admin.<name>`. */
  readonly action: string;
  readonly outcome: AuditOutcome;
  /** Authenticated subject (`sub` claim, API key id); null when anonymous. */
  readonly subject?: string | null;
  /** Route template (e.g. the route name or `/api/patients/:id`) and the resource id, if any. */
  readonly resource?: { readonly route?: string | null; readonly id?: string | null } | null;
  readonly method?: string | null;
  readonly status?: number | null;
  readonly clientIp?: string | null;
  readonly requestId?: string | null;
  readonly traceId?: string | null;
  /** Stable error code (src/errors.ts or a stage's reason code), never text taken from the request. */
  readonly reason?: string | null;
}

/** The event fields as stored: every field present, null when absent. */
export interface AuditEventFields {
  readonly time: string;
  readonly action: string;
  readonly outcome: AuditOutcome;
  readonly subject: string | null;
  readonly resource: { readonly route: string | null; readonly id: string | null };
  readonly method: string | null;
  readonly status: number | null;
  readonly clientIp: string | null;
  readonly requestId: string | null;
  readonly traceId: string | null;
  readonly reason: string | null;
  /** Names of fields whose value was refused by the secret check (omitted when none). */
  readonly refused?: readonly string[];
}

const ACTION = /^(?:admin\.[a-z0-9_]+(?:\.[a-z0-9_]+)*|[a-z0-9_]+(?:\.[a-z0-9_]+)*)$/;
const KNOWN_ACTIONS = new Set<string>(AUDIT_ACTIONS);
const REASON = /^[a-z][a-z0-9_]{0,63}$/;
const METHOD = /^[A-Z]{1,16}$/;
// Ids: the characters of a URI path segment (RFC 3986 pchar: unreserved, pct-encoded,
// sub-delims, ":" and "@") plus "/", so a resource id taken from a path fits unchanged.
const ID = /^[A-Za-z0-9._~:@!$&'()*+,;=%/-]{1,128}$/;
// Printable text without control characters; subjects and routes are short.
const PRINTABLE = /^[^\u0000-\u001f\u007f]+$/;

// Values that look like credentials. A JWT/JWS/JWE starts with a base64url JSON header ("eyJ");
// an Authorization value starts with its scheme; PEM blocks and long opaque strings (API keys,
// session ids, hashes) have no business in a subject, route or id.
const CREDENTIAL_LIKE = [
  /eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*\./,
  /^(?:bearer|basic|digest|negotiate|token)\s/i,
  /-----BEGIN [A-Z ]+-----/,
  /[A-Za-z0-9+/_=-]{48,}/,
  /(?:password|passwd|secret|token|cookie|session)\s*[=:]/i,
];

function looksLikeCredential(value: string): boolean {
  return CREDENTIAL_LIKE.some((pattern) => pattern.test(value));
}

export class AuditEventError extends Error {}

function time(value: AuditEvent["time"]): string {
  if (value === undefined) return new Date().toISOString();
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) throw new AuditEventError("time: expected epoch ms, a Date or ISO 8601");
  return date.toISOString();
}

/**
 * Builds the stored fields of an event. Throws AuditEventError only when the event cannot be
 * recorded at all (unknown action, outcome or time); a suspicious optional field is nulled and
 * named in `refused` instead, so a record is never lost over one bad value.
 */
export function sanitizeEvent(event: AuditEvent): AuditEventFields {
  if (typeof event !== "object" || event === null) throw new AuditEventError("expected an event object");
  const action = event.action;
  if (typeof action !== "string" || action.length > 64 || !ACTION.test(action)) {
    throw new AuditEventError("action: expected a dotted lowercase name such as auth.signin");
  }
  if (!KNOWN_ACTIONS.has(action) && !action.startsWith("admin.") && !action.startsWith("audit.")) {
    throw new AuditEventError(`action: ${action} is not one of ${AUDIT_ACTIONS.join(", ")}, admin.*`);
  }
  if (!(AUDIT_OUTCOMES as readonly string[]).includes(event.outcome)) {
    throw new AuditEventError(`outcome: expected one of ${AUDIT_OUTCOMES.join(", ")}`);
  }
  const refused: string[] = [];
  const text = (name: string, value: unknown, shape: RegExp, max: number): string | null => {
    if (value === undefined || value === null) return null;
    if (
      typeof value !== "string" ||
      value.length === 0 ||
      value.length > max ||
      !shape.test(value) ||
      looksLikeCredential(value)
    ) {
      refused.push(name);
      return null;
    }
    return value;
  };
  const resource = event.resource ?? {};
  let status: number | null = null;
  if (event.status !== undefined && event.status !== null) {
    if (Number.isInteger(event.status) && event.status >= 100 && event.status <= 599) status = event.status;
    else refused.push("status");
  }
  let clientIp: string | null = null;
  if (event.clientIp !== undefined && event.clientIp !== null) {
    if (typeof event.clientIp === "string" && isIP(event.clientIp) !== 0) clientIp = event.clientIp;
    else refused.push("clientIp");
  }
  const fields: AuditEventFields = {
    time: time(event.time),
    action,
    outcome: event.outcome,
    subject: text("subject", event.subject, PRINTABLE, 256),
    resource: {
      route: text("resource.route", resource.route, PRINTABLE, 512),
      id: text("resource.id", resource.id, ID, 128),
    },
    method: text("method", event.method, METHOD, 16),
    status,
    clientIp,
    requestId: text("requestId", event.requestId, ID, 128),
    traceId: text("traceId", event.traceId, ID, 128),
    reason: text("reason", event.reason, REASON, 64),
  };
  return refused.length > 0 ? { ...fields, refused } : fields;
}
