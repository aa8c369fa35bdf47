/**
 * Everything browser sessions share across routes and reloads: the store, the cookie signer, the
 * timeouts and the OpenID clients (whose discovery is kept). Made once per gateway process from
 * `server.sessions`; a reload cannot change it (server settings need a restart).
 */
import { JwksCache, type KeyLog } from "../jwt/jwks-cache.js";
import { CookieSigner } from "./cookie-signature.js";
import { MemorySessionStore } from "./memory-store.js";
import { OidcClient, type OidcClientSettings } from "./oidc-client.js";
import { RedisSessionStore } from "./redis-store.js";
import type { SessionSettings } from "./schema.js";
import type { SessionRecord } from "./session-record.js";
import { Sessions, type SessionTimeouts } from "./sessions.js";

const KEY_REFRESH_MS = 10 * 60_000;

export class SessionServices {
  readonly sessions: Sessions;
  readonly signer: CookieSigner;
  readonly timeouts: SessionTimeouts;
  /** Token refreshes under way, by session id: one at a time per session in this process. */
  readonly refreshing = new Map<string, Promise<SessionRecord | undefined>>();
  private readonly clients = new Map<string, OidcClient>();
  private readonly keys = new Map<string, JwksCache>();

  constructor(
    settings: SessionSettings,
    private readonly log?: KeyLog,
  ) {
    const storeSettings = settings.store;
    const store =
      storeSettings.type === "memory"
        ? new MemorySessionStore(storeSettings.maxSessions)
        : new RedisSessionStore(
            { url: storeSettings.url, timeout: storeSettings.timeout, keyPrefix: storeSettings.keyPrefix },
            (up, reason) => {
              if (up) log?.info({ store: "redis" }, "session store reachable again");
              else log?.warn({ store: "redis", reason }, "session store unreachable; answering 503");
            },
          );
    this.sessions = new Sessions(store);
    this.signer = new CookieSigner([settings.secret, ...settings.previousSecrets]);
    this.timeouts = { idle: settings.idleTimeout, absolute: settings.absoluteTimeout };
  }

  /** One client per provider, client and redirect; the same settings get the same client. */
  clientFor(settings: OidcClientSettings): OidcClient {
    const key = JSON.stringify([
      settings.issuer,
      settings.clientId,
      settings.clientSecret,
      settings.redirectUrl,
      settings.scopes,
      settings.userinfo === true,
    ]);
    let client = this.clients.get(key);
    if (!client) {
      client = new OidcClient(settings);
      this.clients.set(key, client);
    }
    return client;
  }

  /**
   * The provider's signing keys, for logout tokens (back-channel logout): fetched on first use,
   * then refreshed in the background like a bearer-token issuer's.
   */
  keysFor(issuer: string): JwksCache {
    let keys = this.keys.get(issuer);
    if (!keys) {
      keys = new JwksCache({ issuer, refreshInterval: KEY_REFRESH_MS, log: this.log });
      keys.start();
      this.keys.set(issuer, keys);
    }
    return keys;
  }

  close(): Promise<void> {
    for (const keys of this.keys.values()) keys.stop();
    return this.sessions.store.close();
  }
}
