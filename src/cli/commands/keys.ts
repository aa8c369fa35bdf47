/**
 * `bulwark keys create|list|rotate|revoke`: manage API keys (issue 3 §4). A created or rotated
 * key is the only thing written to stdout, once; every message goes to stderr, and nothing logs
 * the key. The store and pepper come from a bulwark.yaml (`-c`) or from flags.
 */
import { readFileSync } from "node:fs";
import { userInfo } from "node:os";
import type { AuditEvent } from "../../audit/event.js";
import { auditSchema, resolveAuditConfig } from "../../audit/schema.js";
import { type AuditTrail, createAuditTrail } from "../../audit/trail.js";
import { resolveReferences } from "../../config/secret-references.js";
import { type ConfigDocument, loadConfigSection, readConfigDocument } from "../../config/section.js";
import { formatDuration, parseDuration } from "../../config/units.js";
import { BulwarkError, isBulwarkError } from "../../errors.js";
import { ExitCode } from "../../exit-codes.js";
import { loadApiKeysSection } from "../../security/api-keys/config-section.js";
import { type Pepper, pepperFrom } from "../../security/api-keys/key-hash.js";
import { createKey, listKeys, revokeKey, rotateKey } from "../../security/api-keys/operations.js";
import { type ApiKeyRecord, statusOf } from "../../security/api-keys/record.js";
import {
  type ApiKeyStoreConfig,
  apiKeyStoreSchema,
  DEFAULT_KEYS_FILE,
} from "../../security/api-keys/schema.js";
import type { ApiKeyStore } from "../../security/api-keys/store.js";
import { createApiKeyStore } from "../../security/api-keys/stores.js";
import { type Command, parseFlags, say, warn } from "../command.js";

const HELP = `usage: bulwark keys create --name NAME [--scopes a,b] [--expires 90d] [store options]
       bulwark keys list [--format table|json] [store options]
       bulwark keys rotate ID [--overlap 24h] [store options]
       bulwark keys revoke ID [store options]

Manages API keys (docs/security-model.md#api-keys). A key looks like bwk_<id>_<secret>: it is
printed once, on stdout, by create and rotate, and stored only as an HMAC with the pepper.

  create   make a key; prints it on stdout (nothing else goes to stdout)
             --name NAME       label shown in list, logs and audit records (required)
             --scopes a,b      scopes the key grants (default none)
             --expires D       lifetime, e.g. 90d, 12h, 30m (default: never expires)
  list     show keys without secrets: id, name, status, scopes, created, expires, last used
             --format F        table (default) or json, on stdout
  rotate   give key ID a new secret, printed on stdout; the old one keeps working for --overlap
             --overlap D       how long the old secret stays valid (default 24h; 0 ends it now)
  revoke   stop key ID at once (idempotent)

store options (either -c, or the flags below):
  -c, --config FILE        read server.apiKeys (pepper and store) from this bulwark.yaml
      --pepper-file FILE   file holding the pepper, at least 32 bytes (create, rotate)
      --store TYPE         file (default), redis or postgres
      --file PATH          keys file of the file store (default ./${DEFAULT_KEYS_FILE})
      --url URL            Redis or PostgreSQL URL; \${env:NAME} or \${file:PATH} keeps a
                           password off the command line
      --table NAME         PostgreSQL table (default bulwark_api_keys)
      --key-prefix PREFIX  Redis namespace (default bulwark:apikeys)

exit codes: 0 done, 1 refused (unknown id, revoked or expired key), 2 usage or config error,
3 store unreachable.`;

const FLAGS = {
  config: { type: "string", short: "c" },
  "pepper-file": { type: "string" },
  store: { type: "string" },
  file: { type: "string" },
  url: { type: "string" },
  table: { type: "string" },
  "key-prefix": { type: "string" },
  name: { type: "string" },
  scopes: { type: "string" },
  expires: { type: "string" },
  overlap: { type: "string" },
  format: { type: "string" },
} as const;

type Values = ReturnType<typeof parseFlags<typeof FLAGS>>["values"];

const SUBCOMMAND_FLAGS: Record<string, readonly string[]> = {
  create: ["name", "scopes", "expires"],
  list: ["format"],
  rotate: ["overlap"],
  revoke: [],
};
const STORE_FLAGS = ["config", "pepper-file", "store", "file", "url", "table", "key-prefix"];
const DEFAULT_OVERLAP = 24 * 3_600_000;

export const keysCommand: Command = {
  name: "keys",
  help: HELP,
  async run(argv) {
    const { values, positionals } = parseFlags("keys", argv, FLAGS, true);
    const [action, ...args] = positionals;
    if (action === undefined || !(action in SUBCOMMAND_FLAGS)) {
      throw usage(
        action === undefined
          ? "expected a subcommand: create, list, rotate or revoke"
          : `unknown subcommand ${JSON.stringify(action)}; expected create, list, rotate or revoke`,
      );
    }
    const allowed = new Set([...SUBCOMMAND_FLAGS[action]!, ...STORE_FLAGS]);
    const stray = Object.keys(values).find((flag) => !allowed.has(flag));
    if (stray !== undefined) throw usage(`--${stray} does not apply to \`keys ${action}\``);
    const needsId = action === "rotate" || action === "revoke";
    if (args.length !== (needsId ? 1 : 0)) {
      throw usage(needsId ? `\`keys ${action}\` takes one key id` : `\`keys ${action}\` takes no arguments`);
    }
    // Validate every flag before touching the store, so a typo never half-runs a command.
    const needsPepper = action === "create" || action === "rotate";
    const plan = planFor(action, values);
    const { store: storeConfig, pepper, document } = storeSettings(values, needsPepper);
    // With -c and an audit section, every change is an admin action in the audit trail.
    const trail = action === "list" ? undefined : auditTrailOf(document);
    const target = { id: args[0] ?? null };
    const store = await createApiKeyStore(storeConfig, {
      onWarning: warn,
    });
    try {
      await store.open();
      const code = await plan(store, pepper, args[0]!, target);
      trail?.record(adminEvent(action, "success", target.id));
      return code;
    } catch (error) {
      trail?.record(
        adminEvent(action, "failure", target.id, isBulwarkError(error) ? error.code : "internal"),
      );
      throw error;
    } finally {
      await store.close();
      await trail?.close();
    }
  },
};

/** `target.id` is the key the command changed (known only after `create` made it). */
type Plan = (
  store: ApiKeyStore,
  pepper: Pepper | undefined,
  id: string,
  target: { id: string | null },
) => Promise<number>;

function auditTrailOf(document: ConfigDocument | undefined): AuditTrail | undefined {
  if (document === undefined) return undefined;
  const section = loadConfigSection(document, ["audit"], auditSchema);
  return section && createAuditTrail(resolveAuditConfig(section.value, section.baseDir));
}

function adminEvent(
  action: string,
  outcome: "success" | "failure",
  id: string | null,
  reason?: string,
): AuditEvent {
  let operator: string | null = null;
  try {
    operator = `os:${userInfo().username}`;
  } catch {
    // No user database entry (some containers): the record says who by its absence.
  }
  return {
    action: `admin.apikey.${action}`,
    outcome,
    subject: operator,
    resource: { route: null, id },
    ...(reason ? { reason } : {}),
  };
}

function planFor(action: string, values: Values): Plan {
  switch (action) {
    case "create": {
      if (values.name === undefined) throw usage("`keys create` needs --name NAME");
      const scopes = values.scopes === undefined ? [] : splitScopes(values.scopes);
      const lifetime = values.expires === undefined ? null : lifetimeFlag("expires", values.expires, false);
      return async (store, pepper, _id, target) => {
        const now = Date.now();
        const { key, record } = await createKey(store, pepper!, {
          name: values.name!,
          scopes,
          expiresAt: lifetime === null ? null : now + lifetime,
          now,
        });
        target.id = record.id;
        printKey(key);
        say(
          `created key ${record.id} (${record.name}; scopes: ${record.scopes.join(", ") || "none"}; ${record.expiresAt === null ? "no expiry" : `expires ${iso(record.expiresAt)}`})`,
        );
        say("the key above is shown only once: store it in your secret manager now");
        return ExitCode.Ok;
      };
    }
    case "list": {
      const format = values.format ?? "table";
      if (format !== "table" && format !== "json") {
        throw usage(`--format must be table or json (got ${JSON.stringify(format)})`);
      }
      return async (store) => {
        const records = await listKeys(store);
        const now = Date.now();
        process.stdout.write(format === "json" ? renderJson(records, now) : renderTable(records, now));
        if (format === "table" && records.length === 0)
          say("no keys yet; create one with `bulwark keys create`");
        return ExitCode.Ok;
      };
    }
    case "rotate": {
      const overlap =
        values.overlap === undefined ? DEFAULT_OVERLAP : lifetimeFlag("overlap", values.overlap, true);
      return async (store, pepper, id) => {
        const { key, record, cutShortOverlap } = await rotateKey(store, pepper!, id, { overlap });
        printKey(key);
        if (cutShortOverlap) say("note: the secret replaced by the previous rotation stopped working now");
        say(
          record.previousValidUntil === null
            ? `rotated key ${record.id}; the old secret stopped working now`
            : `rotated key ${record.id}; the old secret keeps working until ${iso(record.previousValidUntil)} (${formatDuration(overlap)})`,
        );
        say("the key above is shown only once: store it in your secret manager now");
        return ExitCode.Ok;
      };
    }
    default:
      return async (store, _pepper, id) => {
        const { record, changed } = await revokeKey(store, id);
        say(
          changed
            ? `revoked key ${record.id} (${safe(record.name)})`
            : `key ${record.id} was already revoked at ${iso(record.revokedAt!)}`,
        );
        return ExitCode.Ok;
      };
  }
}

/** The store and pepper from flags or from -c FILE (read once: its audit section is used too). */
function storeSettings(
  values: Values,
  needsPepper: boolean,
): { store: ApiKeyStoreConfig; pepper: Pepper | undefined; document?: ConfigDocument } {
  if (values.config !== undefined) {
    const flag = STORE_FLAGS.find((name) => name !== "config" && values[name as keyof Values] !== undefined);
    if (flag !== undefined)
      throw usage(`--${flag} cannot be combined with -c; the config file names the store`);
    const document = readConfigDocument(values.config);
    const config = loadApiKeysSection(document);
    return {
      document,
      store: config.store,
      pepper: needsPepper ? pepperFrom(config.pepper, "server.apiKeys.pepper") : undefined,
    };
  }
  let pepper: Pepper | undefined;
  if (needsPepper) {
    if (values["pepper-file"] === undefined) {
      throw usage("give -c FILE or --pepper-file FILE: the pepper is needed to hash the new key");
    }
    pepper = pepperFrom(readPepperFile(values["pepper-file"]), `--pepper-file ${values["pepper-file"]}`);
  }
  const type = values.store ?? "file";
  const wrongFlag = (flag: string, types: string) => {
    if (values[flag as keyof Values] !== undefined) throw usage(`--${flag} applies only to --store ${types}`);
  };
  let raw: Record<string, unknown>;
  if (type === "file") {
    wrongFlag("url", "redis or postgres");
    wrongFlag("table", "postgres");
    wrongFlag("key-prefix", "redis");
    raw = { type, path: values.file ?? DEFAULT_KEYS_FILE };
  } else if (type === "redis" || type === "postgres") {
    wrongFlag("file", "file");
    wrongFlag(type === "redis" ? "table" : "key-prefix", type === "redis" ? "postgres" : "redis");
    if (values.url === undefined) throw usage(`--store ${type} needs --url`);
    raw = {
      type,
      url: resolveUrl(values.url),
      ...(values.table === undefined ? {} : { table: values.table }),
      ...(values["key-prefix"] === undefined ? {} : { keyPrefix: values["key-prefix"] }),
    };
  } else {
    throw usage(`--store must be file, redis or postgres (got ${JSON.stringify(type)})`);
  }
  const parsed = apiKeyStoreSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw usage(
      `store option ${issue.path.join(".") || "value"}: ${issue.message.charAt(0).toLowerCase()}${issue.message.slice(1)}`,
    );
  }
  return { store: parsed.data, pepper };
}

function readPepperFile(file: string): string {
  try {
    // As with ${file:} references, one trailing newline (echo > file) is not part of the secret.
    return readFileSync(file, "utf8").replace(/\r?\n$/, "");
  } catch (error) {
    throw new BulwarkError(
      "api_key_pepper_invalid",
      `cannot read --pepper-file ${file} (${(error as NodeJS.ErrnoException).code ?? "error"})`,
    );
  }
}

/** `--url '${env:REDIS_URL}'` keeps a password out of the process list and shell history. */
function resolveUrl(text: string): string {
  const resolved = resolveReferences(text, { env: process.env, baseDir: process.cwd() });
  if (resolved.problems.length > 0) throw usage(`--url: ${resolved.problems[0]!.message}`);
  return resolved.value as string;
}

function splitScopes(text: string): string[] {
  const scopes = text
    .split(",")
    .map((scope) => scope.trim())
    .filter((scope) => scope !== "");
  if (scopes.length === 0)
    throw usage("--scopes needs at least one scope, e.g. --scopes orders:read,orders:write");
  return scopes;
}

/** Durations as config takes them ("30m", "12h", "90d"), or 0 where allowed. */
function lifetimeFlag(flag: string, text: string, zeroAllowed: boolean): number {
  const ms = text.trim() === "0" ? 0 : parseDuration(text);
  if (ms === undefined || !Number.isFinite(ms) || (ms === 0 && !zeroAllowed)) {
    throw usage(
      `--${flag} expects a duration such as 90d, 12h or 30m${zeroAllowed ? " (or 0)" : ""} (got ${JSON.stringify(text.slice(0, 40))})`,
    );
  }
  if (ms > 100 * 365 * 86_400_000) throw usage(`--${flag} is longer than 100 years`);
  return ms;
}

function printKey(key: string): void {
  process.stdout.write(`${key}\n`);
}

function usage(message: string): BulwarkError {
  return new BulwarkError("usage", `${message}; see \`bulwark keys --help\``);
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Names come from the store; a hand-edited one must not put terminal escapes on screen. */
function safe(text: string): string {
  return text.replace(/[\p{Cc}]/gu, "?");
}

function renderJson(records: readonly ApiKeyRecord[], now: number): string {
  const time = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  const rows = records.map((record) => ({
    id: record.id,
    name: record.name,
    status: statusOf(record, now),
    scopes: record.scopes,
    createdAt: time(record.createdAt),
    expiresAt: time(record.expiresAt),
    lastUsedAt: time(record.lastUsedAt),
    revokedAt: time(record.revokedAt),
    rotatedAt: time(record.rotatedAt),
    previousSecretValidUntil:
      record.previousValidUntil !== null && record.previousValidUntil > now
        ? time(record.previousValidUntil)
        : null,
  }));
  return `${JSON.stringify(rows, null, 2)}\n`;
}

function renderTable(records: readonly ApiKeyRecord[], now: number): string {
  const day = (ms: number | null, none: string) =>
    ms === null ? none : iso(ms).replace("T", " ").slice(0, 16);
  const rows = [
    ["ID", "NAME", "STATUS", "SCOPES", "CREATED", "EXPIRES", "LAST USED"],
    ...records.map((record) => {
      const status = statusOf(record, now);
      return [
        record.id,
        safe(record.name),
        status === "rotating" ? `rotating (old secret until ${day(record.previousValidUntil, "")})` : status,
        record.scopes.join(",") || "-",
        day(record.createdAt, "-"),
        day(record.expiresAt, "never"),
        day(record.lastUsedAt, "never"),
      ];
    }),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return `${rows
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join("  ")
        .trimEnd(),
    )
    .join("\n")}\n`;
}
