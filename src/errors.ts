/**
 * Bulwark's errors: one table of stable codes (as fastify's lib/errors.js). Callers match on
 * `code`, never on message text. Messages are lowercase without a trailing period. Security
 * failures use fixed messages that reveal nothing.
 */
import { ExitCode } from "./exit-codes.js";

interface ErrorSpec {
  /** HTTP status when the gateway answers with this error. */
  readonly status: number;
  /** Problem `title` shown to clients; fixed text, never derived from input. */
  readonly title: string;
  /** Exit code when this error ends a command. */
  readonly exit: ExitCode;
}

export const ErrorCodes = {
  // configuration and usage
  config_invalid: { status: 500, title: "invalid configuration", exit: ExitCode.UsageOrConfig },
  config_unreadable: { status: 500, title: "configuration file unreadable", exit: ExitCode.UsageOrConfig },
  usage: { status: 500, title: "invalid usage", exit: ExitCode.UsageOrConfig },
  listen_failed: { status: 500, title: "cannot listen", exit: ExitCode.Runtime },
  reload_failed: { status: 500, title: "reload refused", exit: ExitCode.Runtime },
  admin_unreachable: { status: 500, title: "admin api unreachable", exit: ExitCode.Runtime },
  check_target_invalid: { status: 500, title: "invalid check target", exit: ExitCode.UsageOrConfig },
  check_waivers_invalid: { status: 500, title: "invalid waiver file", exit: ExitCode.UsageOrConfig },
  check_advisories_invalid: {
    status: 500,
    title: "invalid advisory directory",
    exit: ExitCode.UsageOrConfig,
  },
  check_report_unwritable: { status: 500, title: "cannot write check report", exit: ExitCode.Runtime },

  // gateway answers (RFC 9457 problems)
  bad_request: { status: 400, title: "bad request", exit: ExitCode.Runtime },
  path_invalid: { status: 400, title: "invalid request path", exit: ExitCode.Runtime },
  request_timeout: { status: 408, title: "request timeout", exit: ExitCode.Runtime },
  route_not_found: { status: 404, title: "no route for this request", exit: ExitCode.Runtime },
  method_not_allowed: { status: 405, title: "method not allowed", exit: ExitCode.Runtime },
  expectation_failed: { status: 417, title: "expectation failed", exit: ExitCode.Runtime },
  body_too_large: { status: 413, title: "request body too large", exit: ExitCode.Runtime },
  rate_limited: { status: 429, title: "too many requests", exit: ExitCode.Runtime },
  locked_out: { status: 429, title: "too many failed attempts", exit: ExitCode.Runtime },
  rate_limit_unavailable: { status: 503, title: "rate limit store unavailable", exit: ExitCode.Runtime },
  uri_too_long: { status: 414, title: "request uri too long", exit: ExitCode.Runtime },
  headers_too_large: { status: 431, title: "request header fields too large", exit: ExitCode.Runtime },
  cors_rejected: { status: 403, title: "cors preflight rejected", exit: ExitCode.Runtime },
  unauthorized: { status: 401, title: "authentication required", exit: ExitCode.Runtime },
  forbidden: { status: 403, title: "access denied", exit: ExitCode.Runtime },
  step_up_required: { status: 401, title: "stronger authentication required", exit: ExitCode.Runtime },
  upstream_unavailable: { status: 502, title: "upstream unavailable", exit: ExitCode.Runtime },
  upstream_timeout: { status: 504, title: "upstream timed out", exit: ExitCode.Runtime },
  no_upstream_target: { status: 503, title: "no upstream target available", exit: ExitCode.Runtime },
  shutting_down: { status: 503, title: "shutting down", exit: ExitCode.Runtime },
  internal: { status: 500, title: "internal error", exit: ExitCode.Runtime },

  // browser sign-in, sessions and CSRF (docs/security-model.md)
  sign_in_state_invalid: { status: 400, title: "sign-in state invalid", exit: ExitCode.Runtime },
  sign_in_failed: { status: 403, title: "sign-in failed", exit: ExitCode.Runtime },
  sign_in_unavailable: { status: 503, title: "identity provider unavailable", exit: ExitCode.Runtime },
  session_store_unavailable: { status: 503, title: "session store unavailable", exit: ExitCode.Runtime },
  csrf_origin_rejected: { status: 403, title: "cross-site request refused", exit: ExitCode.Runtime },
  csrf_token_missing: { status: 403, title: "csrf token missing", exit: ExitCode.Runtime },
  csrf_token_invalid: { status: 403, title: "csrf token invalid", exit: ExitCode.Runtime },

  // audit trail (docs/audit.md)
  audit_unavailable: { status: 503, title: "audit trail unavailable", exit: ExitCode.Runtime },
  audit_key_invalid: { status: 500, title: "audit key unusable", exit: ExitCode.UsageOrConfig },
  audit_store_failed: { status: 500, title: "audit store failed", exit: ExitCode.Runtime },
  audit_prune_busy: { status: 409, title: "audit prune already running", exit: ExitCode.Runtime },

  // API keys (docs/security-model.md#api-keys)
  api_key_store_unavailable: { status: 503, title: "api key store unavailable", exit: ExitCode.Runtime },
  api_key_store_corrupt: { status: 500, title: "api key store corrupt", exit: ExitCode.Runtime },
  api_key_pepper_invalid: { status: 500, title: "api key pepper unusable", exit: ExitCode.UsageOrConfig },
  api_key_not_found: { status: 500, title: "api key not found", exit: ExitCode.Failed },
  api_key_refused: { status: 500, title: "api key operation refused", exit: ExitCode.Failed },

  // backups, restores and drills (docs/disaster-recovery.md)
  backup_key_invalid: { status: 500, title: "backup key unusable", exit: ExitCode.UsageOrConfig },
  backup_wrong_key: { status: 500, title: "wrong backup key", exit: ExitCode.Runtime },
  backup_corrupt: { status: 500, title: "backup artifact corrupt", exit: ExitCode.Runtime },
  backup_truncated: { status: 500, title: "backup artifact truncated", exit: ExitCode.Runtime },
  backup_not_found: { status: 500, title: "backup not found", exit: ExitCode.Runtime },
  backup_db_unreachable: { status: 500, title: "database unreachable", exit: ExitCode.Runtime },
  backup_failed: { status: 500, title: "backup failed", exit: ExitCode.Runtime },
  backup_repo_full: { status: 500, title: "backup repository full", exit: ExitCode.Runtime },
  backup_repo_unreachable: { status: 500, title: "backup repository unreachable", exit: ExitCode.Runtime },
  backup_repo_denied: { status: 500, title: "backup repository access denied", exit: ExitCode.Runtime },
  backup_repo_missing: { status: 500, title: "backup repository bucket missing", exit: ExitCode.Runtime },
  backup_interrupted: { status: 500, title: "backup interrupted", exit: ExitCode.Interrupted },
  backup_rekey_busy: { status: 409, title: "repository locked by a rekey or prune", exit: ExitCode.Runtime },
  restore_target_not_empty: { status: 500, title: "restore target not empty", exit: ExitCode.Failed },
  restore_failed: { status: 500, title: "restore failed", exit: ExitCode.Runtime },

  // load generator (docs/load.md)
  load_worker_failed: { status: 500, title: "load worker failed", exit: ExitCode.Runtime },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ErrorCodes;

export class BulwarkError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly exitCode: ExitCode;
  /** Extra lines shown to operators (CLI, logs); never sent to HTTP clients. */
  readonly details: readonly string[];

  constructor(code: ErrorCode, message: string, options?: { details?: readonly string[]; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "BulwarkError";
    this.code = code;
    this.status = ErrorCodes[code].status;
    this.exitCode = ErrorCodes[code].exit;
    this.details = options?.details ?? [];
  }
}

export function isBulwarkError(error: unknown): error is BulwarkError {
  return error instanceof BulwarkError;
}
