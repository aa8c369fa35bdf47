/**
 * Bounded pre-read of a request body, for the few stages that must look inside one before the
 * upstream sees it: a sign-in route's account name (stages/brute-force.ts) and the CSRF token of
 * a classic HTML form (stages/csrf.ts). Every other request streams (upstream/proxy.ts): the
 * gateway never buffers a body on a route that does not ask for it, so memory per request stays
 * bounded by socket buffers whatever the body size, and uploads start reaching the upstream at
 * once.
 *
 * A read takes at most `limit` bytes (and never more than the route's `maxBodySize`); a body
 * declared larger is not read at all. The bytes taken are kept on the context in arrival order,
 * and the proxy sends them first, then streams the unread rest after them (forwardPreReadBody):
 * the upstream receives exactly the bytes the client sent, whether or not the read found what it
 * looked for. The body idle timeout applies while reading, as it does while streaming, so a slow
 * body gets the same 408.
 */
import type { Writable } from "node:stream";
import type { RequestContext } from "./context.js";
import type { Reply } from "./stage.js";
import { requestHasBody } from "./upstream/proxy.js";

/** What a pre-read took from the client; lives on the context until the proxy forwards it. */
export interface PreReadBody {
  /** Bytes taken so far, in arrival order. */
  readonly chunks: Buffer[];
  length: number;
  /** The client sent the whole body: nothing follows `chunks`. */
  ended: boolean;
  /** Why reading stopped for good: the idle timeout passed, or the client went away. */
  failure: "stalled" | "aborted" | undefined;
}

export type BodyRead =
  /** The whole body (empty when the request has none). */
  | { readonly kind: "read"; readonly body: Buffer }
  /** The start of a body longer than the limit (prefix reads only); the rest follows unread. */
  | { readonly kind: "partial"; readonly head: Buffer }
  /** Declared or found larger than the limit: not looked at (it is still forwarded). */
  | { readonly kind: "too-large" }
  | { readonly kind: "stalled" }
  | { readonly kind: "aborted" };

const EMPTY: BodyRead = { kind: "read", body: Buffer.alloc(0) };
const TOO_LARGE: BodyRead = { kind: "too-large" };
const STALLED: BodyRead = { kind: "stalled" };
const ABORTED: BodyRead = { kind: "aborted" };

function settled(state: PreReadBody, max: number, prefix: boolean): BodyRead {
  if (state.failure) return state.failure === "stalled" ? STALLED : ABORTED;
  if (state.length > max) {
    return prefix ? { kind: "partial", head: Buffer.concat(state.chunks, state.length) } : TOO_LARGE;
  }
  if (state.ended) return { kind: "read", body: Buffer.concat(state.chunks, state.length) };
  return TOO_LARGE; // not reached: a read settles only once it ended, failed or passed `max`
}

/**
 * Reads the request body up to `limit` bytes (capped by the route's maxBodySize). Several stages
 * may ask on one request: later reads reuse what earlier ones took and read on when their limit
 * is larger. Answers synchronously when nothing needs reading. A `prefix` read also reads the
 * start of a longer body (for multipart forms, whose small fields come before the files).
 */
export function readRequestBody(
  ctx: RequestContext,
  limit: number,
  idleMs: number,
  prefix = false,
): BodyRead | Promise<BodyRead> {
  const req = ctx.req;
  const maxBodySize = ctx.route.limits.maxBodySize;
  const max = Math.min(limit, maxBodySize);
  let state = ctx.preReadBody;
  if (state === undefined) {
    // An upgrade (WebSocket) has no body to read: what follows its head belongs to the tunnel.
    if ((req as { upgrade?: boolean }).upgrade || !requestHasBody(req)) return EMPTY;
    const declared = req.headers["content-length"];
    // Not a byte is read of a body declared too large: it streams as on any other route (and a
    // body over maxBodySize gets its 413 from the limits stage).
    if (declared !== undefined && Number(declared) > (prefix ? maxBodySize : max)) return TOO_LARGE;
    state = { chunks: [], length: 0, ended: false, failure: undefined };
    ctx.preReadBody = state;
  }
  if (state.ended || state.failure || state.length > max) return settled(state, max, prefix);
  if (req.readableEnded || req.destroyed) {
    if (req.readableEnded) state.ended = true;
    else state.failure = "aborted";
    return settled(state, max, prefix);
  }
  const body = state;
  return new Promise<BodyRead>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const finish = () => {
      clearTimeout(timer);
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onAbort);
      req.off("close", onAbort);
      // The rest stays in the request stream (and the socket) until the proxy pipes it on.
      if (!body.ended) req.pause();
      // For the access log when a stage answers itself; the proxy counts again what it forwards.
      ctx.bytesIn = body.length;
      resolve(settled(body, max, prefix));
    };
    const onData = (chunk: Buffer) => {
      body.chunks.push(chunk);
      body.length += chunk.length;
      if (body.length > max) finish();
      else timer?.refresh();
    };
    const onEnd = () => {
      // Node ends an HTTP/2 request stream the client reset (RST_STREAM) before it says
      // 'aborted': a body shorter than its declared length is what is left of one.
      const declared = req.headers["content-length"];
      if (declared !== undefined && Number(declared) !== body.length) body.failure = "aborted";
      else body.ended = true;
      finish();
    };
    // 'close' before 'end': the client reset the connection or the HTTP/2 stream.
    const onAbort = () => {
      if (body.ended) return;
      body.failure = "aborted";
      finish();
    };
    if (idleMs > 0) {
      timer = setTimeout(() => {
        body.failure = "stalled";
        finish();
      }, idleMs);
      timer.unref();
    }
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onAbort);
    req.on("close", onAbort);
    req.resume();
  });
}

/**
 * Sends what a pre-read took into `sink`, then the rest of the body as it arrives. The proxy
 * calls this instead of piping the request when a stage pre-read the body.
 */
export function forwardPreReadBody(req: RequestContext["req"], body: PreReadBody, sink: Writable): void {
  for (const chunk of body.chunks) sink.write(chunk);
  if (body.ended) {
    sink.end();
    return;
  }
  req.pipe(sink);
  req.once("error", (error) => sink.destroy(error));
}

/** The answer when a pre-read could not finish; undefined when it did (the body was read or skipped). */
export function unreadBodyReply(ctx: RequestContext, read: BodyRead): Reply | undefined {
  if (read.kind === "stalled") {
    return { status: 408, problem: { code: "request_timeout", detail: "the request body stalled" } };
  }
  if (read.kind === "aborted") {
    // Nobody reads this answer; the code tells the access log what happened.
    ctx.errorCode = "client_closed";
    return { status: 400, problem: { code: "bad_request", detail: "the request body ended early" } };
  }
  return undefined;
}

/**
 * The body formats a pre-read understands, from Content-Type (RFC 9110 §8.3.1): HTML form posts
 * (`application/x-www-form-urlencoded`, WHATWG URL §5) and JSON (`application/json` and the
 * `+json` structured suffix, RFC 6839). Both are UTF-8 (RFC 8259 §8.1); a body that declares
 * another charset is not understood.
 */
export function bodyFormat(req: RequestContext["req"]): "form" | "json" | undefined {
  const header = req.headers["content-type"];
  if (header === undefined) return undefined;
  const [type = "", ...parameters] = header.split(";");
  const media = type.trim().toLowerCase();
  for (const parameter of parameters) {
    const equals = parameter.indexOf("=");
    if (parameter.slice(0, equals).trim().toLowerCase() !== "charset") continue;
    const charset = parameter
      .slice(equals + 1)
      .trim()
      .replace(/^"|"$/g, "")
      .toLowerCase();
    if (charset !== "utf-8" && charset !== "utf8" && charset !== "us-ascii") return undefined;
  }
  if (media === "application/x-www-form-urlencoded") return "form";
  if (media === "application/json" || (media.startsWith("application/") && media.endsWith("+json")))
    return "json";
  return undefined;
}

// RFC 2046 §5.1.1: 1 to 70 characters, no trailing space.
const BOUNDARY = /^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$/;

/** The boundary of a `multipart/form-data` body (RFC 7578 §4.1), or undefined for any other. */
export function multipartBoundary(req: RequestContext["req"]): string | undefined {
  const header = req.headers["content-type"];
  if (header === undefined) return undefined;
  const [type = "", ...parameters] = header.split(";");
  if (type.trim().toLowerCase() !== "multipart/form-data") return undefined;
  for (const parameter of parameters) {
    const equals = parameter.indexOf("=");
    if (parameter.slice(0, equals).trim().toLowerCase() !== "boundary") continue;
    const boundary = parameter
      .slice(equals + 1)
      .trim()
      .replace(/^"(.*)"$/, "$1");
    return BOUNDARY.test(boundary) ? boundary : undefined;
  }
  return undefined;
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** The body as text, or undefined when it is not valid UTF-8 (then nothing is read from it). */
export function bodyText(body: Buffer): string | undefined {
  try {
    return UTF8.decode(body);
  } catch {
    return undefined;
  }
}
