/**
 * A credential method: one way a request proves who it is (a bearer JWT, an API key, a browser
 * session). The authn stage asks the route's methods in order; the first that finds its
 * credential on the request decides, so a route can take tokens from services and sessions from
 * browsers. A method is built once per route and only does per-request work.
 */
import type { Identity, RequestContext } from "../context.js";
import type { Reply } from "../stage.js";

export type Attempt =
  | { readonly ok: true; readonly identity: Identity }
  | {
      readonly ok: false;
      /** For debug logs and audit records only; never sent to the client. */
      readonly reason: string;
      /**
       * The answer when it is not a 401: `forbidden` (a valid credential without the route's
       * scopes), or a store outage (503), where the credential itself may be fine.
       */
      readonly problem?: "forbidden" | "api_key_store_unavailable";
    };

export interface CredentialMethod {
  /** "jwt", "api-key", "session": in logs, metrics and audit records. */
  readonly name: string;
  /**
   * Checks the request's credential of this kind; undefined when the request carries none, so
   * the next method is asked. Synchronous when the answer is cached.
   */
  authenticate(ctx: RequestContext): Attempt | Promise<Attempt> | undefined;
  /** `WWW-Authenticate` challenge sent with a 401 when this method refused a credential. */
  readonly challenge?: { readonly missing: string; readonly invalid: string };
  /**
   * The answer when no method found a credential, instead of the 401 (a session method sends a
   * browser to sign in); undefined keeps the 401.
   */
  onMissing?(ctx: RequestContext): Reply | undefined;
}
