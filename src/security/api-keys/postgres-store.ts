/**
 * Keys shared through PostgreSQL: one row per key in a table created if missing (under an
 * advisory lock, since concurrent CREATE TABLE IF NOT EXISTS can still collide on the catalog).
 * Every change sends NOTIFY <table>_changed with the key id in the same statement, so it is
 * delivered only if the change commits; gateways LISTEN on a dedicated connection and drop their
 * whole cache when that connection comes back after a loss (notifications are not queued for a
 * listener that is gone).
 *
 * Compare-and-set is `UPDATE … WHERE id = $1 AND revision = $2`. Times are timestamptz, so
 * operators can query the table directly.
 */
import pg from "pg";
import { BulwarkError } from "../../errors.js";
import { type ApiKeyRecord, storedRecordSchema } from "./record.js";
import { TABLE_NAME } from "./schema.js";
import { type ApiKeyStore, storeUnavailable } from "./store.js";

export interface PostgresStoreOptions {
  /** postgres:// URL. */
  readonly url: string;
  /** Table name (a plain identifier). */
  readonly table: string;
  /** Connect and statement timeout, in milliseconds. */
  readonly timeout: number;
}

interface Row {
  id: string;
  name: string;
  hash: string;
  scopes: string[];
  created_at: Date;
  expires_at: Date | null;
  last_used_at: Date | null;
  revoked_at: Date | null;
  rotated_at: Date | null;
  previous_hash: string | null;
  previous_valid_until: Date | null;
  revision: string;
}

const COLUMNS =
  "id, name, hash, scopes, created_at, expires_at, last_used_at, revoked_at, rotated_at, previous_hash, previous_valid_until, revision";

export class PostgresKeyStore implements ApiKeyStore {
  readonly kind = "postgres";
  private readonly pool: pg.Pool;
  private readonly table: string;
  private readonly channel: string;
  private opened: Promise<void> | undefined;
  private prepared = false;
  private listener: pg.Client | undefined;
  private listenTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: PostgresStoreOptions) {
    if (!TABLE_NAME.test(options.table)) throw new TypeError(`invalid table name ${options.table}`);
    this.table = pg.escapeIdentifier(options.table);
    this.channel = `${options.table}_changed`;
    this.pool = new pg.Pool({
      connectionString: options.url,
      max: 4,
      connectionTimeoutMillis: options.timeout,
      statement_timeout: options.timeout,
      query_timeout: options.timeout,
      idleTimeoutMillis: 30_000,
    });
    // An idle client losing its server emits on the pool; the next query reports the outage.
    this.pool.on("error", () => {});
  }

  get ready(): boolean {
    return this.prepared;
  }

  open(): Promise<void> {
    this.opened ??= this.prepare().catch((error) => {
      this.opened = undefined;
      throw storeUnavailable("postgres", error);
    });
    return this.opened;
  }

  private async prepare(): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query("begin");
      // One creator at a time: the lock key is derived from the table name.
      await client.query("select pg_advisory_xact_lock(hashtext($1))", [`bulwark:${this.options.table}`]);
      await client.query(`create table if not exists ${this.table} (
        id text primary key,
        name text not null,
        hash text not null,
        scopes text[] not null,
        created_at timestamptz not null,
        expires_at timestamptz,
        last_used_at timestamptz,
        revoked_at timestamptz,
        rotated_at timestamptz,
        previous_hash text,
        previous_valid_until timestamptz,
        revision bigint not null
      )`);
      await client.query("commit");
      this.prepared = true;
    } catch (error) {
      await client.query("rollback").catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }

  async get(id: string): Promise<ApiKeyRecord | undefined> {
    const result = await this.query<Row>(`select ${COLUMNS} from ${this.table} where id = $1`, [id]);
    const row = result.rows[0];
    return row ? decode(row) : undefined;
  }

  async list(): Promise<ApiKeyRecord[]> {
    const result = await this.query<Row>(`select ${COLUMNS} from ${this.table} order by created_at, id`);
    return result.rows.map(decode);
  }

  async insert(record: ApiKeyRecord): Promise<boolean> {
    const result = await this.query(
      `with inserted as (
         insert into ${this.table} (${COLUMNS}) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         on conflict (id) do nothing returning id)
       select pg_notify($13, id) from inserted`,
      [...encode(record), this.channel],
    );
    return result.rowCount === 1;
  }

  async replace(record: ApiKeyRecord, expectedRevision: number): Promise<boolean> {
    const result = await this.query(
      `with updated as (
         update ${this.table} set name = $2, hash = $3, scopes = $4, created_at = $5, expires_at = $6,
           last_used_at = $7, revoked_at = $8, rotated_at = $9, previous_hash = $10,
           previous_valid_until = $11, revision = $12
         where id = $1 and revision = $13 returning id)
       select pg_notify($14, id) from updated`,
      [...encode(record), expectedRevision, this.channel],
    );
    return result.rowCount === 1;
  }

  async touch(lastUsed: ReadonlyMap<string, number>): Promise<void> {
    if (lastUsed.size === 0) return;
    const entries = [...lastUsed];
    await this.query(
      `update ${this.table} as k set last_used_at = v.at
       from unnest($1::text[], $2::timestamptz[]) as v(id, at)
       where k.id = v.id and (k.last_used_at is null or k.last_used_at < v.at)`,
      [entries.map(([id]) => id), entries.map(([, at]) => new Date(at))],
    );
  }

  watch(onChange: (id: string | undefined) => void): void {
    if (this.listener || this.closed) return;
    let lost = false;
    const connect = async () => {
      const client = new pg.Client({
        connectionString: this.options.url,
        connectionTimeoutMillis: this.options.timeout,
      });
      this.listener = client;
      const retry = () => {
        if (this.closed || this.listener !== client) return;
        lost = true;
        this.listener = undefined;
        client.end().catch(() => {});
        this.listenTimer = setTimeout(() => void connect(), 1000);
        this.listenTimer.unref();
      };
      client.on("error", retry);
      client.on("end", retry);
      client.on("notification", (message) => onChange(message.payload || undefined));
      try {
        await client.connect();
        await client.query(`listen ${pg.escapeIdentifier(this.channel)}`);
        // Notifications sent while no listener was connected are gone: start over.
        if (lost) onChange(undefined);
        lost = false;
      } catch {
        retry();
      }
    };
    void connect();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.listenTimer);
    const listener = this.listener;
    this.listener = undefined;
    await listener?.end().catch(() => {});
    await this.pool.end().catch(() => {});
  }

  private async query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    sql: string,
    params?: unknown[],
  ): Promise<pg.QueryResult<R>> {
    await this.open();
    try {
      return await this.pool.query<R>(sql, params);
    } catch (error) {
      throw storeUnavailable("postgres", error);
    }
  }
}

function encode(record: ApiKeyRecord): unknown[] {
  const time = (ms: number | null) => (ms === null ? null : new Date(ms));
  return [
    record.id,
    record.name,
    record.hash,
    [...record.scopes],
    time(record.createdAt),
    time(record.expiresAt),
    time(record.lastUsedAt),
    time(record.revokedAt),
    time(record.rotatedAt),
    record.previousHash,
    time(record.previousValidUntil),
    record.revision,
  ];
}

function decode(row: Row): ApiKeyRecord {
  const time = (date: Date | null) => (date === null ? null : date.getTime());
  const parsed = storedRecordSchema.safeParse({
    id: row.id,
    name: row.name,
    hash: row.hash,
    scopes: row.scopes,
    createdAt: time(row.created_at),
    expiresAt: time(row.expires_at),
    lastUsedAt: time(row.last_used_at),
    revokedAt: time(row.revoked_at),
    rotatedAt: time(row.rotated_at),
    previousHash: row.previous_hash,
    previousValidUntil: time(row.previous_valid_until),
    revision: Number(row.revision),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new BulwarkError(
      "api_key_store_corrupt",
      `api key store (postgres): row ${JSON.stringify(row.id)} column ${issue.path.join(".")}: ${issue.message.toLowerCase()}`,
    );
  }
  return parsed.data;
}
