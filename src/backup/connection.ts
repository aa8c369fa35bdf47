/**
 * Where the database is: a postgres:// URL (--db, the config, DATABASE_URL) or libpq's PG*
 * variables. The password never goes on a command line: child processes (pg_dump, pg_restore)
 * get every connection parameter as PG* environment variables (libpq reads them, and
 * /proc/PID/environ is readable only by the process owner, unlike argv), and it is never
 * printed: `display` shows user@host:port/database.
 */
import pg from "pg";
import { BulwarkError } from "../errors.js";

export interface DbTarget {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly database: string;
  readonly password: string | undefined;
  /** Extra libpq parameters from the URL query (sslmode, sslrootcert, …) as PG* variables. */
  readonly extraEnv: Readonly<Record<string, string>>;
  /** postgres://user@host:port/database, without the password. */
  readonly display: string;
}

/** URL query parameters Bulwark passes on, and the libpq variable each becomes. */
const QUERY_TO_ENV: Readonly<Record<string, string>> = {
  sslmode: "PGSSLMODE",
  sslrootcert: "PGSSLROOTCERT",
  sslcert: "PGSSLCERT",
  sslkey: "PGSSLKEY",
  application_name: "PGAPPNAME",
  connect_timeout: "PGCONNECT_TIMEOUT",
};

function display(target: Omit<DbTarget, "display">): string {
  const host = target.host.startsWith("/") ? `[${target.host}]` : target.host;
  return `postgres://${encodeURIComponent(target.user)}@${host}:${target.port}/${encodeURIComponent(target.database)}`;
}

function usage(message: string): BulwarkError {
  return new BulwarkError("usage", message);
}

/**
 * Resolves the database target from a URL (or, without one, DATABASE_URL, then PG* variables).
 * `password` (a secret reference from the config) wins over one in the URL or PGPASSWORD.
 */
export function resolveDbTarget(
  url: string | undefined,
  options: { password?: string | undefined; env?: NodeJS.ProcessEnv; what?: string } = {},
): DbTarget {
  const env = options.env ?? process.env;
  const what = options.what ?? "--db";
  const text = url ?? env.DATABASE_URL;
  let partial: Omit<DbTarget, "display">;
  if (text) {
    let parsed: URL;
    try {
      parsed = new URL(text);
    } catch {
      throw usage(`${what} is not a valid URL; expected postgres://user@host:port/database`);
    }
    if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
      throw usage(`${what} must be a postgres:// URL, got ${parsed.protocol}//…`);
    }
    const extraEnv: Record<string, string> = {};
    let host = decodeURIComponent(parsed.hostname) || "localhost";
    for (const [name, value] of parsed.searchParams) {
      if (name === "host") host = value;
      else if (QUERY_TO_ENV[name]) extraEnv[QUERY_TO_ENV[name]] = value;
      else
        throw usage(
          `${what}: unsupported URL parameter ${JSON.stringify(name)}; supported: host, ${Object.keys(QUERY_TO_ENV).join(", ")}`,
        );
    }
    const database = decodeURIComponent(parsed.pathname.replace(/^\//, ""));
    const user = decodeURIComponent(parsed.username) || env.PGUSER || "postgres";
    partial = {
      host,
      port: parsed.port ? Number(parsed.port) : 5432,
      user,
      database: database || user,
      password: options.password ?? (parsed.password ? decodeURIComponent(parsed.password) : env.PGPASSWORD),
      extraEnv,
    };
  } else {
    const user = env.PGUSER || "postgres";
    const extraEnv: Record<string, string> = {};
    for (const name of Object.values(QUERY_TO_ENV)) if (env[name]) extraEnv[name] = env[name]!;
    partial = {
      host: env.PGHOST || "/var/run/postgresql",
      port: env.PGPORT ? Number(env.PGPORT) : 5432,
      user,
      database: env.PGDATABASE || user,
      password: options.password ?? env.PGPASSWORD,
      extraEnv,
    };
  }
  if (!Number.isInteger(partial.port) || partial.port < 1 || partial.port > 65535) {
    throw usage(`${what}: port ${partial.port} is not a valid TCP port`);
  }
  return { ...partial, display: display(partial) };
}

export function withDatabase(target: DbTarget, database: string): DbTarget {
  const partial = { ...target, database };
  return { ...partial, display: display(partial) };
}

/**
 * The environment for pg_dump/pg_restore: the parent's, minus any inherited PG* variable that
 * could point elsewhere, plus this target's. PGPASSFILE is kept so a .pgpass file still works
 * when no password was given.
 */
export function childEnv(target: DbTarget, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(base)) {
    if (!name.startsWith("PG") || name === "PGPASSFILE") env[name] = value;
  }
  delete env.DATABASE_URL;
  Object.assign(env, target.extraEnv, {
    PGHOST: target.host,
    PGPORT: String(target.port),
    PGUSER: target.user,
    PGDATABASE: target.database,
  });
  if (target.password !== undefined) env.PGPASSWORD = target.password;
  return env;
}

function sslFromEnv(extraEnv: Readonly<Record<string, string>>): pg.ClientConfig["ssl"] {
  const mode = extraEnv.PGSSLMODE;
  if (!mode || mode === "disable" || mode === "allow" || mode === "prefer") return undefined;
  return { rejectUnauthorized: mode === "verify-ca" || mode === "verify-full" };
}

/** Connects a node-postgres client; failures become backup_db_unreachable with the reason. */
export async function connect(target: DbTarget): Promise<pg.Client> {
  const client = new pg.Client({
    host: target.host,
    port: target.port,
    user: target.user,
    database: target.database,
    password: target.password,
    ssl: sslFromEnv(target.extraEnv),
    connectionTimeoutMillis: 15_000,
    application_name: "bulwark",
  });
  // An idle client whose server goes away emits 'error'; without a listener that would crash.
  client.on("error", () => {});
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => {});
    throw new BulwarkError("backup_db_unreachable", `cannot connect to ${target.display}: ${reason(error)}`, {
      details: [
        "check --db (or DATABASE_URL / PG* variables), the password reference, and that the server is running",
      ],
    });
  }
  return client;
}

function reason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  const message = (error as Error).message ?? String(error);
  return code && !message.includes(code) ? `${code} ${message}` : message;
}
