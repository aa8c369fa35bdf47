/**
 * One issuer's signing keys. A small cache around jose's createLocalJWKSet rather than
 * createRemoteJWKSet: the remote set refetches on the request path once its cacheMaxAge has
 * passed and fails that request when the provider is down, while a gateway must keep verifying
 * from the keys it has while the provider is briefly away. Here keys are refreshed in the
 * background on a timer, a failed fetch keeps the last good set, and an unknown `kid` (a key the
 * provider has just rotated in) causes at most one refetch per cooldown, so tokens with made-up
 * `kid`s cannot turn the gateway into a request amplifier against the provider.
 */
import {
  createLocalJWKSet,
  errors,
  type FlattenedJWSInput,
  type JWSHeaderParameters,
  type LocalJWKSet,
} from "jose";

export interface KeyLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  debug(fields: object, message: string): void;
}

export interface KeySourceOptions {
  /** Expected issuer; keys are discovered at ISSUER/.well-known/openid-configuration. */
  readonly issuer: string;
  /** JWKS URL; skips discovery when set. */
  readonly jwksUri?: string | undefined;
  /** Milliseconds between two background refreshes once keys are loaded. */
  readonly refreshInterval: number;
  /** Least milliseconds between two refetches caused by an unknown `kid`. */
  readonly unknownKidCooldown?: number;
  readonly fetchTimeout?: number;
  readonly log?: KeyLog | undefined;
}

const DEFAULT_KID_COOLDOWN_MS = 30_000;
const DEFAULT_FETCH_TIMEOUT_MS = 5000;
// Retries before the first successful load back off from 500 ms up to this.
const MAX_RETRY_MS = 30_000;
// A JWK set is a few KiB; anything this large is not one.
const MAX_DOCUMENT_BYTES = 512 * 1024;

const SILENT: KeyLog = { info() {}, warn() {}, debug() {} };

async function fetchJson(url: string, timeoutMs: number): Promise<unknown> {
  const response = await fetch(url, {
    headers: { accept: "application/json" },
    redirect: "error",
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!response.ok) {
    await response.body?.cancel();
    throw new Error(`${url} answered ${response.status}`);
  }
  const length = Number(response.headers.get("content-length") ?? 0);
  if (length > MAX_DOCUMENT_BYTES) {
    await response.body?.cancel();
    throw new Error(`${url} answered a document larger than ${MAX_DOCUMENT_BYTES} bytes`);
  }
  const text = await response.text();
  if (text.length > MAX_DOCUMENT_BYTES) throw new Error(`${url} answered a document too large`);
  return JSON.parse(text) as unknown;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export class JwksCache {
  readonly issuer: string;
  private readonly options: KeySourceOptions;
  private readonly log: KeyLog;
  private keys: LocalJWKSet | null = null;
  private inflight: Promise<boolean> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastKidRefetch = Number.NEGATIVE_INFINITY;
  private failures = 0;
  private stopped = false;

  constructor(options: KeySourceOptions) {
    this.options = options;
    this.issuer = options.issuer;
    this.log = options.log ?? SILENT;
  }

  /** True once a key set has been fetched; stays true while later refreshes fail. */
  get loaded(): boolean {
    return this.keys !== null;
  }

  /** Starts loading and the background refresh; the timers never keep the process alive. */
  start(): void {
    if (!this.inflight && !this.timer && !this.stopped) void this.refresh();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Fetches the keys now (concurrent calls share one fetch); true when a new set was installed. */
  refresh(): Promise<boolean> {
    this.inflight ??= this.fetchKeys().finally(() => {
      this.inflight = null;
      this.schedule();
    });
    return this.inflight;
  }

  /** jose key resolver for jwtVerify. */
  readonly getKey = async (header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey> => {
    const keys = this.keys;
    if (!keys) throw new errors.JWKSNoMatchingKey("no keys loaded for this issuer yet");
    try {
      return await keys(header, token);
    } catch (error) {
      const now = performance.now();
      const cooldown = this.options.unknownKidCooldown ?? DEFAULT_KID_COOLDOWN_MS;
      if (!(error instanceof errors.JWKSNoMatchingKey) || now - this.lastKidRefetch < cooldown) throw error;
      this.lastKidRefetch = now;
      this.log.info({ issuer: this.issuer }, "unknown key id; refetching the issuer's keys");
      if (!(await this.refresh()) || !this.keys) throw error;
      return await this.keys(header, token);
    }
  };

  private schedule(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    const delay = this.loaded
      ? this.options.refreshInterval
      : Math.min(500 * 2 ** Math.max(0, this.failures - 1), MAX_RETRY_MS);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.refresh();
    }, delay);
    this.timer.unref();
  }

  private async fetchKeys(): Promise<boolean> {
    const timeout = this.options.fetchTimeout ?? DEFAULT_FETCH_TIMEOUT_MS;
    try {
      const uri = this.options.jwksUri ?? (await this.discover(timeout));
      const document = await fetchJson(uri, timeout);
      if (!isObject(document) || !Array.isArray(document.keys)) throw new Error(`${uri} is not a JWK set`);
      // Private members ("d", …) never belong in a published set; refuse a provider that leaks them.
      if (document.keys.some((key) => isObject(key) && "d" in key)) {
        throw new Error(`${uri} publishes private key material`);
      }
      this.keys = createLocalJWKSet(document as { keys: [] });
      this.failures = 0;
      this.log.info({ issuer: this.issuer, keys: document.keys.length }, "issuer keys loaded");
      return true;
    } catch (error) {
      this.failures++;
      this.log.warn(
        {
          issuer: this.issuer,
          error: error instanceof Error ? error.message : String(error),
          cached: this.loaded,
        },
        this.loaded
          ? "issuer keys refresh failed; verifying with the cached keys"
          : "issuer keys not loaded yet",
      );
      return false;
    }
  }

  private async discover(timeout: number): Promise<string> {
    const url = `${this.issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`;
    const metadata = await fetchJson(url, timeout);
    if (!isObject(metadata)) throw new Error(`${url} is not a JSON object`);
    // OpenID Connect Discovery 1.0 §4.3: the metadata's issuer must be exactly the one configured.
    if (metadata.issuer !== this.issuer) {
      throw new Error(`${url} names issuer ${String(metadata.issuer)}, not ${this.issuer}`);
    }
    if (typeof metadata.jwks_uri !== "string") throw new Error(`${url} has no jwks_uri`);
    return metadata.jwks_uri;
  }
}
