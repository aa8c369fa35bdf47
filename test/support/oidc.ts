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

export interface TestOidcProvider {
  /** The issuer URL, e.g. http://127.0.0.1:41234 (loopback, so http is allowed). */
  readonly issuer: string;
  readonly port: number;
  /** Public JWKs of the current key set. */
  publicJwks(): JWK[];
  /** Signs a token with the provider's current key for `alg`; defaults fill iss, sub, iat, exp. */
  sign(claims: JWTPayload, options?: { alg?: SigningAlg; header?: Record<string, unknown> }): Promise<string>;
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

export async function startOidcProvider(options: { audience?: string } = {}): Promise<TestOidcProvider> {
  let keys = await generateSigningKeys();
  let server: Server | null = null;
  let port = 0;
  let issuer = "";

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
      ],
      cookies: { keys: ["bulwark-test-cookie-key"] },
    });
    http.on("request", provider.callback());
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
    publicJwks: () => keys.map((key) => publicPart(key.jwk)),
    async sign(claims, signOptions = {}) {
      const key = keys.find((candidate) => candidate.alg === (signOptions.alg ?? "RS256"))!;
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ iss: issuer, aud: audience, sub: "user-1", iat: now, exp: now + 300, ...claims })
        .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "JWT", ...signOptions.header })
        .sign(key.privateKey);
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
