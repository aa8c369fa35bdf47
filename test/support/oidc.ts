/**
 * A real OpenID provider (the `oidc-provider` package) on a free loopback port, serving discovery
 * and its public JWKS from a generated signing key set (one RS256 and one ES256 key). Tests sign
 * tokens with the same private keys the provider holds, so a token is exactly what the provider
 * could have issued. `rotate()` restarts the provider on the same port with a new key set, as an
 * operator rotating keys would; `stop()` takes it down while `start()` brings it back.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from "jose";
import Provider from "oidc-provider";

export type SigningAlg = "RS256" | "ES256";

interface SigningKey {
  readonly alg: SigningAlg;
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly jwk: JWK;
}

/** A confidential client for browser sign-in (authorization code flow with PKCE). */
export interface BrowserClientOptions {
  readonly redirectUris: string[];
  readonly postLogoutRedirectUris?: string[];
  /** Access token lifetime in seconds (short, to exercise refresh); default 3600. */
  readonly accessTokenTtl?: number;
  /** Registered as backchannel_logout_uri (with backchannel_logout_session_required). */
  readonly backchannelLogoutUri?: string;
}

export const BROWSER_CLIENT_ID = "bulwark-browser";
export const BROWSER_CLIENT_SECRET = "bulwark-browser-secret-0123456789abcdef";
/** Roles the provider gives each login name (anyone else gets ["user"]). */
export const ACCOUNT_ROLES: Record<string, string[]> = { alice: ["clinician", "admin"], bob: ["user"] };

export interface TestOidcProvider {
  /** The issuer URL, e.g. http://127.0.0.1:41234 (loopback, so http is allowed). */
  readonly issuer: string;
  /** Refresh-token grants the provider answered so far (successful or not). */
  readonly refreshGrants: number;
  readonly port: number;
  /** Public JWKs of the current key set. */
  publicJwks(): JWK[];
  /** Signs a token with the provider's current key for `alg`; defaults fill iss, sub, iat, exp. */
  sign(claims: JWTPayload, options?: { alg?: SigningAlg; header?: Record<string, unknown> }): Promise<string>;
  /**
   * The provider's own back-channel logout of the browser client: it signs a logout token (with
   * `sid` when given) and POSTs it to the client's backchannel_logout_uri, as it does when a user
   * signs out at the provider. Rejects unless the client answers 200.
   */
  backchannelLogout(sub: string, sid: string): Promise<void>;
  /** Replaces the key set with a new one and restarts the provider on the same port. */
  rotate(): Promise<void>;
  /** Takes the provider down (connections refused) until start(). */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

let generation = 0;

export async function generateSigningKeys(): Promise<SigningKey[]> {
  generation++;
  const keys: SigningKey[] = [];
  for (const alg of ["RS256", "ES256"] as const) {
    const { privateKey } = await generateKeyPair(alg, { extractable: true });
    const kid = `${alg.toLowerCase()}-${generation}-${Math.random().toString(36).slice(2, 8)}`;
    const jwk = { ...(await exportJWK(privateKey)), kid, alg, use: "sig" };
    keys.push({ alg, kid, privateKey, jwk });
  }
  return keys;
}

function publicPart(jwk: JWK): JWK {
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...rest } = jwk;
  return rest;
}

export async function startOidcProvider(
  options: {
    audience?: string;
    browserClient?: BrowserClientOptions;
    /** ID tokens of the code flow carry `sub` only; profile claims (roles) come from UserInfo. */
    minimalIdToken?: boolean;
  } = {},
): Promise<TestOidcProvider> {
  let keys = await generateSigningKeys();
  let refreshGrants = 0;
  const browser = options.browserClient;
  let server: Server | null = null;
  let port = 0;
  let issuer = "";
  let current: InstanceType<typeof Provider> | undefined;

  const listen = async () => {
    const http = createServer();
    await new Promise<void>((resolve, reject) => {
      http.once("error", reject);
      http.listen(port, "127.0.0.1", () => resolve());
    });
    port = (http.address() as AddressInfo).port;
    issuer = `http://127.0.0.1:${port}`;
    const provider = new Provider(issuer, {
      jwks: { keys: keys.map((key) => key.jwk) },
      clients: [
        {
          client_id: "bulwark-test",
          client_secret: "bulwark-test-secret-0123456789",
          redirect_uris: ["http://127.0.0.1/callback"],
        },
        ...(browser
          ? [
              {
                client_id: BROWSER_CLIENT_ID,
                client_secret: BROWSER_CLIENT_SECRET,
                redirect_uris: browser.redirectUris,
                post_logout_redirect_uris: browser.postLogoutRedirectUris ?? [],
                ...(browser.backchannelLogoutUri
                  ? {
                      backchannel_logout_uri: browser.backchannelLogoutUri,
                      backchannel_logout_session_required: true,
                    }
                  : {}),
                grant_types: ["authorization_code", "refresh_token"],
                response_types: ["code" as const],
              },
            ]
          : []),
      ],
      cookies: { keys: ["bulwark-test-cookie-key"] },
      // ID tokens carry `sid`, and clients may register a backchannel_logout_uri.
      features: { backchannelLogout: { enabled: true } },
      // oidc-provider refuses to call special-use addresses (SSRF protection); these tests' clients
      // live on loopback, so the provider's outgoing requests (logout tokens) go out without it.
      fetch: (url: string | URL | Request, init?: RequestInit) => {
        const { dispatcher: _ssrfGuard, ...rest } = (init ?? {}) as RequestInit & { dispatcher?: unknown };
        return globalThis.fetch(url, rest);
      },
      // The devInteractions login form accepts any login; these are the claims an account gets.
      findAccount: (_ctx, sub) => ({
        accountId: sub,
        claims: () => ({
          sub,
          name: sub,
          email: `${sub}@example.test`,
          roles: ACCOUNT_ROLES[sub] ?? ["user"],
        }),
      }),
      claims: { openid: ["sub"], profile: ["name", "roles"], email: ["email"] },
      conformIdTokenClaims: options.minimalIdToken === true,
      // A first-party client: no consent screen, the grant is made on the spot.
      loadExistingGrant: async (ctx) => {
        const grantId =
          ctx.oidc.result?.consent?.grantId ?? ctx.oidc.session!.grantIdFor(ctx.oidc.client!.clientId);
        if (grantId) return ctx.oidc.provider.Grant.find(grantId);
        const grant = new ctx.oidc.provider.Grant({
          clientId: ctx.oidc.client!.clientId,
          accountId: ctx.oidc.session!.accountId!,
        });
        grant.addOIDCScope("openid profile email offline_access");
        await grant.save();
        return grant;
      },
      // Refresh tokens without the offline_access/consent dance, rotated on every use.
      issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed("refresh_token"),
      rotateRefreshToken: true,
      ttl: {
        AccessToken: browser?.accessTokenTtl ?? 3600,
        AuthorizationCode: 60,
        IdToken: 3600,
        RefreshToken: 86_400,
        Grant: 86_400,
        Session: 86_400,
        Interaction: 600,
      },
    });
    provider.on("grant.success", (ctx) => {
      if (ctx.oidc.params?.grant_type === "refresh_token") refreshGrants++;
    });
    provider.on("grant.error", (ctx) => {
      if (ctx.oidc.params?.grant_type === "refresh_token") refreshGrants++;
    });
    http.on("request", provider.callback());
    current = provider;
    server = http;
  };

  const shut = async () => {
    const current = server;
    server = null;
    if (!current) return;
    current.closeAllConnections();
    await new Promise<void>((resolve) => current.close(() => resolve()));
  };

  await listen();
  const audience = options.audience ?? "api";

  return {
    get issuer() {
      return issuer;
    },
    get port() {
      return port;
    },
    get refreshGrants() {
      return refreshGrants;
    },
    publicJwks: () => keys.map((key) => publicPart(key.jwk)),
    async sign(claims, signOptions = {}) {
      const key = keys.find((candidate) => candidate.alg === (signOptions.alg ?? "RS256"))!;
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ iss: issuer, aud: audience, sub: "user-1", iat: now, exp: now + 300, ...claims })
        .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "JWT", ...signOptions.header })
        .sign(key.privateKey);
    },
    async backchannelLogout(sub, sid) {
      const client = await current!.Client.find(BROWSER_CLIENT_ID);
      if (!client) throw new Error("the provider has no browser client");
      await (
        client as unknown as { backchannelLogout(sub: string, sid: string): Promise<void> }
      ).backchannelLogout(sub, sid);
    },
    async rotate() {
      keys = await generateSigningKeys();
      await shut();
      await listen();
    },
    stop: shut,
    async start() {
      if (!server) await listen();
    },
    close: shut,
  };
}
