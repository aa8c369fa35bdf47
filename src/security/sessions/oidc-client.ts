/**
 * The relying-party side of OpenID Connect (authorization code flow with PKCE, RFC 7636 S256;
 * `state` and `nonce`, OIDC Core §3.1), through openid-client, which checks the authorization
 * response (state, `iss` per RFC 9207), the ID token (signature against the provider's JWKS,
 * iss, aud, exp, nonce) and the token responses. The provider is discovered on first use and the
 * discovery is kept; a failed discovery is retried after a pause, not on every request.
 */
import * as oidc from "openid-client";

export interface OidcClientSettings {
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly redirectUrl: string;
  readonly scopes: readonly string[];
  /** Merge the UserInfo endpoint's claims into the identity after sign-in and each refresh. */
  readonly userinfo?: boolean;
}

export interface TokenSet {
  readonly subject: string;
  readonly claims: Record<string, unknown>;
  readonly idToken: string | undefined;
  readonly refreshToken: string | undefined;
  /** For upstreams that call APIs on the user's behalf (auth.session.accessTokenHeader). */
  readonly accessToken: string | undefined;
  /** Milliseconds since the epoch; undefined when the provider did not say. */
  readonly accessTokenExpiresAt: number | undefined;
}

/** The provider could not be reached (network, timeout, discovery failed). */
export class ProviderUnavailable extends Error {
  constructor(cause: unknown) {
    super("identity provider unavailable", { cause });
    this.name = "ProviderUnavailable";
  }
}

/** The provider answered, but the sign-in or refresh was refused or did not verify. */
export class ProviderRefused extends Error {
  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : "refused by the identity provider", { cause });
    this.name = "ProviderRefused";
  }
}

const RETRY_DISCOVERY_MS = 5000;
const TIMEOUT_SECONDS = 10;
// Claims about the protocol exchange, not about the user: not part of the identity.
const PROTOCOL_CLAIMS = new Set([
  "nonce",
  "at_hash",
  "c_hash",
  "s_hash",
  "auth_time",
  "iat",
  "exp",
  "nbf",
  "azp",
]);

function classify(error: unknown): Error {
  if (error instanceof ProviderUnavailable || error instanceof ProviderRefused) return error;
  const name = (error as { name?: string } | null)?.name;
  if (error instanceof TypeError || name === "AbortError" || name === "TimeoutError") {
    return new ProviderUnavailable(error);
  }
  return new ProviderRefused(error);
}

export class OidcClient {
  private discovered: Promise<oidc.Configuration> | undefined;
  private failedAt = Number.NEGATIVE_INFINITY;
  /** After the token endpoint could not be reached, refreshes wait this long before trying again. */
  private refreshPausedUntil = 0;

  constructor(readonly settings: OidcClientSettings) {}

  private configuration(): Promise<oidc.Configuration> {
    if (this.discovered) return this.discovered;
    if (Date.now() - this.failedAt < RETRY_DISCOVERY_MS) {
      return Promise.reject(new ProviderUnavailable(new Error("discovery failed recently")));
    }
    const { issuer, clientId, clientSecret } = this.settings;
    const discovered = oidc
      .discovery(new URL(issuer), clientId, undefined, oidc.ClientSecretBasic(clientSecret), {
        // The schema allows http:// only on a loopback host.
        execute: issuer.startsWith("http:") ? [oidc.allowInsecureRequests] : [],
        timeout: TIMEOUT_SECONDS,
      })
      .catch((error: unknown) => {
        this.discovered = undefined;
        this.failedAt = Date.now();
        throw new ProviderUnavailable(error);
      });
    this.discovered = discovered;
    return discovered;
  }

  /** The provider's authorization URL for a new sign-in. */
  async authorizationUrl(state: string, nonce: string, codeVerifier: string): Promise<URL> {
    const config = await this.configuration();
    return oidc.buildAuthorizationUrl(config, {
      response_type: "code",
      redirect_uri: this.settings.redirectUrl,
      scope: this.settings.scopes.join(" "),
      state,
      nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: "S256",
    });
  }

  /** Redeems the code of the callback at `currentUrl`; checks state, iss, nonce and the ID token. */
  async redeem(
    currentUrl: URL,
    expected: { state: string; nonce: string; codeVerifier: string },
  ): Promise<TokenSet> {
    const config = await this.configuration();
    try {
      const tokens = await oidc.authorizationCodeGrant(config, currentUrl, {
        expectedState: expected.state,
        expectedNonce: expected.nonce,
        pkceCodeVerifier: expected.codeVerifier,
        idTokenExpected: true,
      });
      return await this.withUserinfo(config, tokenSet(tokens, undefined));
    } catch (error) {
      throw classify(error);
    }
  }

  /** Uses a refresh token; a provider that rotates refresh tokens returns a new one (RFC 9700 §4.14.2). */
  async refresh(refreshToken: string, previous: TokenSet["claims"]): Promise<TokenSet> {
    // A provider that is down is not asked on every request of every session meanwhile.
    if (Date.now() < this.refreshPausedUntil) {
      throw new ProviderUnavailable(new Error("token endpoint unreachable recently"));
    }
    const config = await this.configuration();
    try {
      const tokens = await oidc.refreshTokenGrant(config, refreshToken);
      return await this.withUserinfo(config, tokenSet(tokens, previous, refreshToken));
    } catch (error) {
      const classified = classify(error);
      if (classified instanceof ProviderUnavailable)
        this.refreshPausedUntil = Date.now() + RETRY_DISCOVERY_MS;
      throw classified;
    }
  }

  /**
   * With `userinfo`, the UserInfo claims merged over the ID token's (they are read again at each
   * refresh, so roles changed at the provider show up without a new sign-in). openid-client
   * checks that UserInfo's `sub` is the ID token's (OIDC Core §5.3.2); a mismatch refuses the
   * sign-in or ends the session.
   */
  private async withUserinfo(config: oidc.Configuration, tokens: TokenSet): Promise<TokenSet> {
    if (!this.settings.userinfo) return tokens;
    if (tokens.accessToken === undefined)
      throw new ProviderRefused(new Error("no access token for UserInfo"));
    const info = await oidc.fetchUserInfo(config, tokens.accessToken, tokens.subject);
    const claims: Record<string, unknown> = { ...tokens.claims };
    for (const [name, value] of Object.entries(info)) {
      if (!PROTOCOL_CLAIMS.has(name)) claims[name] = value;
    }
    return { ...tokens, claims };
  }

  /** The provider's end_session_endpoint URL (RP-Initiated Logout 1.0), or undefined without one. */
  async endSessionUrl(
    idToken: string | undefined,
    postLogoutRedirectUrl: string | undefined,
  ): Promise<URL | undefined> {
    const config = await this.configuration();
    if (!config.serverMetadata().end_session_endpoint) return undefined;
    const parameters: Record<string, string> = { client_id: this.settings.clientId };
    if (idToken) parameters.id_token_hint = idToken;
    if (postLogoutRedirectUrl) parameters.post_logout_redirect_uri = postLogoutRedirectUrl;
    return oidc.buildEndSessionUrl(config, parameters);
  }
}

function tokenSet(
  tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers,
  previousClaims: TokenSet["claims"] | undefined,
  previousRefreshToken?: string,
): TokenSet {
  const idClaims = tokens.claims();
  let claims: Record<string, unknown>;
  if (idClaims) {
    claims = {};
    for (const [name, value] of Object.entries(idClaims)) {
      if (!PROTOCOL_CLAIMS.has(name)) claims[name] = value;
    }
  } else if (previousClaims) {
    claims = { ...previousClaims };
  } else {
    throw new ProviderRefused(new Error("the token response has no id_token"));
  }
  const subject = claims.sub;
  if (typeof subject !== "string" || subject === "") {
    throw new ProviderRefused(new Error("the id_token has no subject"));
  }
  const expiresIn = tokens.expiresIn();
  return {
    subject,
    claims,
    idToken: tokens.id_token,
    refreshToken: tokens.refresh_token ?? previousRefreshToken,
    accessToken: tokens.access_token,
    accessTokenExpiresAt: expiresIn === undefined ? undefined : Date.now() + expiresIn * 1000,
  };
}
