/**
 * Browsers for sign-in tests.
 *
 * - `launchChromium()`: Debian's headless Chromium driven by playwright-core, with a fresh
 *   profile in a temp dir (removed on close). Fails with the install command when missing.
 * - `HttpBrowser`: a small cookie-keeping HTTP client that follows redirects by hand, for the
 *   many protocol-level cases (forged cookies, replayed state, CSRF) where a real browser would
 *   only slow things down. Like browsers, it keys cookies by host name, not port (RFC 6265 §8.5).
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium } from "playwright-core";
import { request } from "undici";
import { makeCertificate } from "./certs.js";
import { startGateway, type TestGateway } from "./gateway.js";
import {
  BROWSER_CLIENT_ID,
  BROWSER_CLIENT_SECRET,
  startOidcProvider,
  type TestOidcProvider,
} from "./oidc.js";
import { startUpstream, type TestUpstream } from "./upstream.js";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

export interface TestChromium {
  readonly context: BrowserContext;
  close(): Promise<void>;
}

/** `ignoreHttpsErrors`: accept the self-signed certificates tests make. */
export async function launchChromium(options: { ignoreHttpsErrors?: boolean } = {}): Promise<TestChromium> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `chromium not found at ${CHROMIUM}; install it with: apt-get install -y chromium (or set CHROMIUM)`,
    );
  }
  const profile = mkdtempSync(join(tmpdir(), "bulwark-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    ignoreHTTPSErrors: options.ignoreHttpsErrors ?? false,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export interface HttpResponse {
  readonly url: string;
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  /** Set-Cookie lines of this response. */
  readonly setCookies: string[];
}

export interface RequestOptions {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  /** Follow redirects (GET after 302/303, as browsers do); default true. */
  readonly follow?: boolean;
}

export class HttpBrowser {
  /** host → cookie name → value */
  private readonly jar = new Map<string, Map<string, string>>();
  /** Every response of the last request, redirects included. */
  history: HttpResponse[] = [];
  /** Every response since this browser was made. */
  readonly log: HttpResponse[] = [];

  cookie(host: string, name: string): string | undefined {
    return this.jar.get(host)?.get(name);
  }

  setCookie(host: string, name: string, value: string | undefined): void {
    let cookies = this.jar.get(host);
    if (!cookies) {
      cookies = new Map();
      this.jar.set(host, cookies);
    }
    if (value === undefined) cookies.delete(name);
    else cookies.set(name, value);
  }

  cookieHeader(host: string): string | undefined {
    const cookies = this.jar.get(host);
    if (!cookies || cookies.size === 0) return undefined;
    return [...cookies].map(([name, value]) => `${name}=${value}`).join("; ");
  }

  private remember(host: string, lines: string[]): void {
    for (const line of lines) {
      const [pair, ...attributes] = line.split(";");
      const eq = pair!.indexOf("=");
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const maxAge = attributes.map((a) => a.trim()).find((a) => a.toLowerCase().startsWith("max-age="));
      const expired =
        (maxAge !== undefined && Number(maxAge.slice(8)) <= 0) ||
        attributes.some((a) => /^\s*expires=thu, 01 jan 1970/i.test(a));
      this.setCookie(host, name, expired ? undefined : value);
    }
  }

  async fetch(url: string, options: RequestOptions = {}): Promise<HttpResponse> {
    this.history = [];
    let current = new URL(url);
    let method = options.method ?? "GET";
    let body = options.body;
    let headers = options.headers ?? {};
    for (let hop = 0; hop < 20; hop++) {
      const cookie = this.cookieHeader(current.hostname);
      const response = await request(current, {
        method: method as "GET",
        headers: { ...headers, ...(cookie ? { cookie } : {}) },
        body,
      });
      const text = await response.body.text();
      const raw = response.headers["set-cookie"];
      const setCookies = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
      this.remember(current.hostname, setCookies);
      const result: HttpResponse = {
        url: current.href,
        status: response.statusCode,
        headers: response.headers,
        text,
        setCookies,
      };
      this.history.push(result);
      this.log.push(result);
      const location = response.headers.location;
      if (
        options.follow === false ||
        typeof location !== "string" ||
        response.statusCode < 300 ||
        response.statusCode >= 400
      ) {
        return result;
      }
      current = new URL(location, current);
      if (response.statusCode !== 307 && response.statusCode !== 308) {
        method = "GET";
        body = undefined;
        headers = { accept: headers.accept ?? "text/html" };
      }
    }
    throw new Error("too many redirects");
  }

  /**
   * Signs in through oidc-provider's devInteractions form, starting from a navigation to `url`
   * (which the gateway redirects to sign in). Gives the final response after the callback.
   */
  async signIn(url: string, login: string): Promise<HttpResponse> {
    const page = await this.fetch(url, { headers: { accept: "text/html" } });
    const action = /<form[^>]*action="([^"]+)"[^>]*method="post"/.exec(page.text)?.[1];
    if (page.status !== 200 || !action) {
      throw new Error(
        `expected the provider's login form, got ${page.status} at ${page.url}: ${page.text.slice(0, 200)}`,
      );
    }
    const form = new URLSearchParams({ prompt: "login", login, password: "any" }).toString();
    return this.fetch(new URL(action.replaceAll("&amp;", "&"), page.url).href, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", accept: "text/html" },
      body: form,
    });
  }
}

// ------------------------------------------------------------------ a sign-in stack

/** A free loopback port, for a gateway whose redirect URL must be known before it starts. */
export async function reservePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export const SESSION_SECRET = "session-secret-0123456789abcdef-0123456789";
/** A second secret, in the file `session-secret-new` next to the config, for rotation tests. */
export const ROTATED_SESSION_SECRET = "rotated-session-secret-abcdefghijklmnopqrstuvwxyz";

export interface SignInStack {
  readonly idp: TestOidcProvider;
  readonly upstream: TestUpstream;
  readonly gateways: TestGateway[];
  /** Base URL of gateway `index` (default 0). */
  url(index?: number): string;
  close(): Promise<void>;
}

export interface SignInStackOptions {
  /** How many gateways share the provider (and, with a Redis store, the sessions). */
  readonly gateways?: number;
  /** Fields merged into server.sessions (secret comes from a file reference), or per gateway. */
  readonly sessions?: Record<string, unknown> | ((index: number) => Record<string, unknown>);
  /** Fields merged into the route's auth (jwt, identityHeaders …) and auth.session. */
  readonly auth?: Record<string, unknown> | ((issuer: string) => Record<string, unknown>);
  readonly session?: Record<string, unknown>;
  readonly accessTokenTtl?: number;
  /** The provider's ID tokens carry `sub` only (the roles come from UserInfo). */
  readonly minimalIdToken?: boolean;
  readonly logLevel?: string;
  /** Top-level config sections added as they are (audit …). */
  readonly config?: Record<string, unknown>;
  /** Serve HTTPS (HTTP/2 and HTTP/1.1) with a fresh self-signed certificate for 127.0.0.1. */
  readonly tls?: boolean;
  /** Register gateway 0's back-channel logout endpoint at the provider (and turn it on). */
  readonly backchannelLogout?: boolean;
}

/**
 * A provider with a browser client, an echo upstream, and gateways whose route "/" signs browsers
 * in; "/public" is an open route on the same upstream. The cookie secret is read through a
 * `${file:}` reference, as in production.
 */
export async function startSignInStack(options: SignInStackOptions = {}): Promise<SignInStack> {
  const count = options.gateways ?? 1;
  const ports = await Promise.all(Array.from({ length: count }, () => reservePort()));
  const scheme = options.tls ? "https" : "http";
  const redirects = ports.map((port) => `${scheme}://127.0.0.1:${port}/.bulwark/auth/callback`);
  const certificate = options.tls ? await makeCertificate() : undefined;
  const idp = await startOidcProvider({
    ...(options.minimalIdToken ? { minimalIdToken: true } : {}),
    browserClient: {
      redirectUris: redirects,
      postLogoutRedirectUris: ports.map((port) => `${scheme}://127.0.0.1:${port}/public/signed-out`),
      ...(options.accessTokenTtl === undefined ? {} : { accessTokenTtl: options.accessTokenTtl }),
      ...(options.backchannelLogout
        ? { backchannelLogoutUri: `${scheme}://127.0.0.1:${ports[0]}/.bulwark/auth/backchannel-logout` }
        : {}),
    },
  });
  const upstream = await startUpstream();
  const dir = mkdtempSync(join(tmpdir(), "bulwark-signin-"));
  writeFileSync(join(dir, "session-secret"), `${SESSION_SECRET}\n`, { mode: 0o600 });
  writeFileSync(join(dir, "session-secret-new"), `${ROTATED_SESSION_SECRET}\n`, { mode: 0o600 });
  writeFileSync(join(dir, "client-secret"), `${BROWSER_CLIENT_SECRET}\n`, { mode: 0o600 });
  const gateways: TestGateway[] = [];
  try {
    for (const [index, port] of ports.entries()) {
      gateways.push(
        await startGateway(
          {
            ...options.config,
            logging: { level: options.logLevel ?? "debug" },
            listeners: [
              {
                address: `127.0.0.1:${port}`,
                ...(certificate ? { tls: { cert: certificate.certFile, key: certificate.keyFile } } : {}),
              },
            ],
            upstreams: { app: { targets: [upstream.url] } },
            server: {
              sessions: {
                secret: "${file:session-secret}",
                ...(typeof options.sessions === "function" ? options.sessions(index) : options.sessions),
              },
              // These tests send many refused requests from one address on purpose.
              bruteForce: { maxFailures: 100_000, maxCredentialFailures: 100_000 },
            },
            routes: [
              {
                name: "app",
                match: { pathPrefix: "/" },
                upstream: "app",
                auth: {
                  session: {
                    issuer: idp.issuer,
                    clientId: BROWSER_CLIENT_ID,
                    clientSecret: "${file:client-secret}",
                    redirectUrl: redirects[index],
                    postLogoutRedirectUrl: `${scheme}://127.0.0.1:${port}/public/signed-out`,
                    ...(options.backchannelLogout ? { backchannelLogout: true } : {}),
                    ...options.session,
                  },
                  identityHeaders: { "X-User": "sub", "X-Roles": "roles" },
                  ...(typeof options.auth === "function" ? options.auth(idp.issuer) : options.auth),
                },
              },
              { name: "public", match: { pathPrefix: "/public" }, upstream: "app", rewritePrefix: "/echo" },
            ],
          },
          { baseDir: dir },
        ),
      );
    }
  } catch (error) {
    await Promise.all(gateways.map((gateway) => gateway.stop()));
    await upstream.close();
    await idp.close();
    await certificate?.cleanup();
    throw error;
  }
  return {
    idp,
    upstream,
    gateways,
    url: (index = 0) => gateways[index]!.url,
    async close() {
      await Promise.all(gateways.map((gateway) => gateway.stop()));
      await upstream.close();
      await idp.close();
      rmSync(dir, { recursive: true, force: true });
      await certificate?.cleanup();
    },
  };
}
