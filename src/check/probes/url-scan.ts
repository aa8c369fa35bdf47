/**
 * `bulwark check url URL`: a fixed, documented list of requests (docs/checks.md, "Requests
 * sent"), paced by one client, each answer judged by pure rules. The list, in order:
 *
 *  1. GET URL, following at most 5 redirects on the same host (each hop is a request)
 *  2. GET /bulwark-check-<random> — the soft-404 baseline
 *  3. GET URL with Origin: https://bulwark-check.invalid   4. GET URL with Origin: null
 *  5. TRACE URL
 *  6. GET /%E0%A4%A?bulwark=%ff (bad encoding)   7. POST URL with a truncated JSON body
 *  8. GET URL?q=<marker>&search=<marker>&name=<marker> (reflection)
 *  9. GET URL?id=1'"&q=1'" (database errors)
 * 10. GET URL, /login and /redirect with next/url/redirect/return_to/... = https://bulwark-check.invalid/
 * 11. the sensitive paths (SENSITIVE_PATHS), 12. the listing paths (LISTING_PATHS)
 * 13. the health paths (HEALTH_PATHS) until one answers 2xx
 * 14. GET http://host[:--http-port]/ (HTTP→HTTPS redirect) when the target is HTTPS
 * plus TLS_HANDSHAKES handshakes, and with --probe-rate-limit a burst of --burst GETs.
 */
import { randomBytes } from "node:crypto";
import { BulwarkError } from "../../errors.js";
import { type Finding, finding, type Strength, strength } from "../findings.js";
import type { RawResult } from "../report.js";
import {
  databaseError,
  directoryListing,
  frameworkBanners,
  HEALTH_PATHS,
  LISTING_PATHS,
  looksLikeBaseline,
  SENSITIVE_PATHS,
  serverVersion,
  stackTrace,
} from "./disclosure.js";
import { cookieRules, corsRules, headerRules } from "./header-rules.js";
import { ProbeClient, type ProbeResponse, StopProbing } from "./http-client.js";
import { inspectTls } from "./tls-inspect.js";

export const MAX_REDIRECTS = 5;
export const FOREIGN_ORIGIN = "https://bulwark-check.invalid";
const REDIRECT_PARAMS = [
  "next",
  "url",
  "redirect",
  "redirect_uri",
  "return_to",
  "returnUrl",
  "continue",
  "dest",
];
const REDIRECT_PATHS = ["", "/login", "/redirect"];

/** The most HTTP requests one run sends, without the opt-in burst. */
export const REQUEST_BUDGET =
  1 +
  MAX_REDIRECTS +
  1 +
  2 +
  1 +
  2 +
  2 +
  REDIRECT_PATHS.length +
  SENSITIVE_PATHS.length +
  LISTING_PATHS.length +
  HEALTH_PATHS.length +
  1;

export interface UrlScanOptions {
  readonly url: string;
  readonly rate: number;
  readonly timeoutMs: number;
  readonly caFile?: string;
  readonly httpPort?: number;
  /** 0: no burst. */
  readonly rateLimitBurst: number;
  readonly onProgress?: ((line: string) => void) | undefined;
  /** Aborting stops sending; the result has what was seen so far and is marked partial. */
  readonly signal?: AbortSignal | undefined;
}

function parseTarget(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new BulwarkError(
      "check_target_invalid",
      `${JSON.stringify(text)} is not a URL; expected http(s)://host[:port]/path`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new BulwarkError(
      "check_target_invalid",
      `unsupported scheme ${url.protocol} in ${text}; expected http or https`,
    );
  if (url.username || url.password)
    throw new BulwarkError(
      "check_target_invalid",
      "credentials in the URL are not accepted; remove user:password@",
    );
  return url;
}

export async function scanUrl(options: UrlScanOptions): Promise<RawResult> {
  const target = parseTarget(options.url);
  const client = new ProbeClient({
    rate: options.rate,
    timeoutMs: options.timeoutMs,
    budget: REQUEST_BUDGET + options.rateLimitBurst,
    signal: options.signal,
  });
  const findings: Finding[] = [];
  const strengths: Strength[] = [];
  const warnings: string[] = [];
  let handshakes = 0;
  let partial = false;
  const progress = (step: string) =>
    options.onProgress?.(`check url: ${step} (${client.requestsSent} requests)`);
  try {
    // 1. the page itself, following same-host redirects
    progress("main page");
    let current = target;
    let main = await client.send({ url: current.href });
    const hops: string[] = [];
    while (main.status >= 300 && main.status < 400 && main.headers.location) {
      const next = new URL(main.headers.location, current);
      if (next.hostname !== current.hostname) {
        warnings.push(
          `${current.href} redirects to another host (${next.origin}); that host was not checked`,
        );
        break;
      }
      if (hops.length >= MAX_REDIRECTS) {
        findings.push(
          finding("check-redirect-loop", {
            evidence: `${[target.href, ...hops].join(" → ")} → …`,
            location: target.href,
          }),
        );
        break;
      }
      hops.push(next.href);
      current = next;
      main = await client.send({ url: current.href });
    }
    if (main.error) {
      const tlsProblem = /TLS|SSL|CERT|EPROTO|handshake/i.test(`${main.error.code} ${main.error.message}`);
      findings.push(
        finding(tlsProblem && current.protocol === "https:" ? "tls-handshake-failed" : "target-unreachable", {
          evidence: `${main.method} ${main.url}: ${main.error.code} ${main.error.message}`,
          location: main.url,
        }),
      );
      return finish();
    }
    const secure = current.protocol === "https:";
    const origin = current.origin;
    const at = (path: string) => new URL(path, origin).href;

    const header = headerRules(main, secure);
    findings.push(...header.findings);
    strengths.push(...header.strengths);
    const version = serverVersion(main);
    if (version) findings.push(finding("disc-server-version", { evidence: version, location: main.url }));
    for (const banner of frameworkBanners(main))
      findings.push(finding("disc-powered-by", { evidence: banner, location: main.url }));

    // 2. soft-404 baseline
    progress("baseline");
    const baseline = await client.send({ url: at(`/bulwark-check-${randomBytes(6).toString("hex")}`) });
    const seen: ProbeResponse[] = [main, baseline];

    // 3–4. CORS
    progress("cors");
    const foreign = await client.send({ url: current.href, headers: { origin: FOREIGN_ORIGIN } });
    const nullOrigin = await client.send({ url: current.href, headers: { origin: "null" } });
    findings.push(...corsRules(foreign, nullOrigin, FOREIGN_ORIGIN));
    seen.push(foreign, nullOrigin);

    // 5. TRACE
    progress("trace");
    const marker = `bwk${randomBytes(5).toString("hex")}`;
    const trace = await client.send({
      method: "TRACE",
      url: current.href,
      headers: { "x-bulwark-check": marker },
    });
    if (trace.status >= 200 && trace.status < 300 && trace.text.includes(marker))
      findings.push(
        finding("disc-trace-enabled", {
          evidence: `TRACE answered ${trace.status} and echoed the request`,
          location: trace.url,
        }),
      );

    // 6–7. malformed requests that provoke error pages
    progress("error pages");
    const malformed = [
      await client.send({ url: `${origin}/%E0%A4%A?bulwark=%ff` }),
      await client.send({
        method: "POST",
        url: current.href,
        headers: { "content-type": "application/json" },
        body: '{"bulwark": [',
      }),
    ];
    seen.push(...malformed);

    // 8. reflected input; 9. database errors
    progress("reflection");
    const payload = `<${marker}x>`;
    const reflectUrl = new URL(current.href);
    for (const name of ["q", "search", "name"]) reflectUrl.searchParams.set(name, payload);
    const reflected = await client.send({ url: reflectUrl.href });
    seen.push(reflected);
    const html = /html/i.test(reflected.headers["content-type"] ?? "");
    if (html && reflected.text.includes(payload))
      findings.push(
        finding("app-reflected-input", {
          evidence: `parameter value ${payload} came back unescaped in text/html`,
          location: reflectUrl.href,
        }),
      );
    const dbUrl = new URL(current.href);
    dbUrl.searchParams.set("id", `1'"`);
    dbUrl.searchParams.set("q", `1'"`);
    const db = await client.send({ url: dbUrl.href });
    seen.push(db);
    const dbMessage = databaseError(db.text);
    if (dbMessage && !databaseError(main.text))
      findings.push(finding("app-db-error", { evidence: dbMessage, location: dbUrl.href }));

    // 10. open redirects
    progress("open redirect");
    for (const path of REDIRECT_PATHS) {
      const url = new URL(path === "" ? current.href : at(path));
      for (const name of REDIRECT_PARAMS) url.searchParams.set(name, `${FOREIGN_ORIGIN}/`);
      const response = await client.send({ url: url.href });
      seen.push(response);
      const location = response.headers.location;
      if (response.status >= 300 && response.status < 400 && location) {
        let host = "";
        try {
          host = new URL(location, url).hostname;
        } catch {}
        if (host === new URL(FOREIGN_ORIGIN).hostname) {
          findings.push(
            finding("app-open-redirect", {
              evidence: `${response.status} location: ${location}`,
              location: url.href,
            }),
          );
          break;
        }
      }
    }

    // 11. sensitive paths
    progress("sensitive paths");
    for (const item of SENSITIVE_PATHS) {
      const response = await client.send({ url: at(item.path) });
      seen.push(response);
      if (response.status !== 200 || looksLikeBaseline(response, baseline)) continue;
      const evidence = item.signature(response);
      if (evidence)
        findings.push(
          finding(item.id, { evidence: `200 ${item.path}: ${evidence}`, location: response.url }),
        );
    }
    // 12. listings (any response seen so far can show one too)
    for (const path of LISTING_PATHS) seen.push(await client.send({ url: at(path) }));
    // One listing or stack trace per method and path: the query-string probes of one page would
    // otherwise repeat the same finding.
    const once = new Set<string>();
    const first = (kind: string, response: ProbeResponse) => {
      const key = `${kind} ${response.method} ${new URL(response.url).pathname}`;
      if (once.has(key)) return false;
      once.add(key);
      return true;
    };
    for (const response of seen) {
      const listing = response.status === 200 ? directoryListing(response.text) : undefined;
      if (listing && first("listing", response))
        findings.push(finding("disc-directory-listing", { evidence: listing, location: response.url }));
      const stack = stackTrace(response.text);
      if (stack && first("trace", response))
        findings.push(
          finding("disc-stack-trace", {
            evidence: `${response.method} → ${response.status}: ${stack}`,
            location: response.url,
          }),
        );
    }
    const cookies = cookieRules(seen);
    findings.push(...cookies.findings);
    strengths.push(...cookies.strengths);

    // 13. health endpoint
    progress("health");
    let healthy: string | undefined;
    let softHealth = false;
    for (const path of HEALTH_PATHS) {
      const response = await client.send({ url: at(path) });
      if (response.status >= 200 && response.status < 300) {
        if (looksLikeBaseline(response, baseline)) {
          softHealth = true;
          continue;
        }
        healthy = path;
        break;
      }
    }
    if (!healthy) {
      if (softHealth)
        warnings.push("every path answers like the random-path baseline: health endpoints not verified");
      else
        findings.push(
          finding("ops-health-missing", {
            evidence: `none of ${HEALTH_PATHS.join(", ")} answered 2xx`,
            location: origin,
          }),
        );
    }

    // 14. transport
    if (!secure) {
      findings.push(
        finding("tls-not-used", {
          evidence: `${current.href} is served over plain HTTP`,
          location: current.href,
        }),
      );
    } else {
      progress("tls");
      const port = Number(current.port || 443);
      const tls = await inspectTls(current.hostname.replace(/^\[|\]$/g, ""), port, {
        timeoutMs: options.timeoutMs,
        ...(options.caFile ? { caFile: options.caFile } : {}),
      });
      handshakes = tls.handshakes;
      findings.push(...tls.findings);
      const httpPort = options.httpPort ?? (port === 443 ? 80 : undefined);
      if (httpPort === undefined) {
        warnings.push(
          `HTTP→HTTPS redirect not checked: the HTTPS port is ${port}; give the plain-HTTP port with --http-port`,
        );
      } else if (target.protocol === "http:") {
        // the given http:// URL already led here
      } else {
        const plain = new URL(current.href);
        plain.protocol = "http:";
        plain.port = httpPort === 80 ? "" : String(httpPort);
        const response = await client.send({ url: plain.href });
        const location = response.headers.location ?? "";
        if (response.error) {
          warnings.push(
            `plain HTTP on port ${httpPort} did not answer (${response.error.code}); redirect not checked`,
          );
        } else if (!(response.status >= 300 && response.status < 400 && location.startsWith("https://"))) {
          findings.push(
            finding("tls-no-redirect", {
              evidence: `GET ${plain.href} → ${response.status}${location ? ` location: ${location}` : ""}`,
              location: plain.href,
            }),
          );
        }
      }
    }

    // opt-in burst
    if (options.rateLimitBurst > 0) {
      progress("rate-limit burst");
      const statuses = await burst(client, current.href, options.rateLimitBurst);
      const limited = statuses.filter((status) => status === 429).length;
      if (limited > 0) strengths.push(strength("bonus-rate-limited", 5));
      else
        findings.push(
          finding("ops-no-rate-limit", {
            evidence: `${statuses.length} requests in a burst, no 429 (statuses: ${summarize(statuses)})`,
            location: current.href,
          }),
        );
    }
  } catch (error) {
    if (!(error instanceof StopProbing)) throw error;
    warnings.push(`${error.message}; the remaining probes were not sent`);
    if (options.signal?.aborted) partial = true;
  }
  return finish();

  async function finish(): Promise<RawResult> {
    await client.close();
    return {
      findings,
      strengths,
      warnings,
      stats: { requests: client.requestsSent, tlsHandshakes: handshakes },
      partial,
    };
  }
}

async function burst(client: ProbeClient, url: string, count: number): Promise<number[]> {
  const statuses: number[] = [];
  let next = 0;
  let stop = false;
  const worker = async () => {
    while (!stop && next < count) {
      next += 1;
      const response = await client.send({ url }, { paced: false });
      statuses.push(response.status);
      if (response.status === 429) stop = true;
    }
  };
  await Promise.all(Array.from({ length: Math.min(10, count) }, worker));
  return statuses;
}

function summarize(statuses: readonly number[]): string {
  const counts = new Map<number, number>();
  for (const status of statuses) counts.set(status, (counts.get(status) ?? 0) + 1);
  return [...counts.entries()].map(([status, n]) => `${status === 0 ? "error" : status}×${n}`).join(", ");
}
