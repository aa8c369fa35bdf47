/**
 * TLS inspection with node:tls, one handshake per question (docs/checks.md lists them):
 * the default handshake (certificate, chain trust, hostname, key size, validity), then TLS 1.0
 * only, TLS 1.1 only, weak suites only and static-RSA (no forward secrecy) suites only.
 *
 * Node's OpenSSL 3 refuses TLS 1.0/1.1 and weak suites at its default security level, so the
 * probing handshakes lower it with `@SECLEVEL=0`: that lets the client offer them, and only a
 * server that accepts them completes the handshake. What a client built without those suites
 * cannot offer (SSLv2/SSLv3, EXPORT suites in OpenSSL 3 builds without them) is not detected; a
 * failed probing handshake counts as "not offered".
 */
import { readFileSync } from "node:fs";
import {
  checkServerIdentity,
  connect,
  type DetailedPeerCertificate,
  rootCertificates,
  type TLSSocket,
} from "node:tls";
import { type Finding, finding } from "../findings.js";

export const TLS_HANDSHAKES = 5;
const EXPIRY_WINDOW_DAYS = 30;

interface Handshake {
  readonly ok: boolean;
  readonly error?: string;
  readonly protocol?: string | null;
  readonly cipher?: string;
  readonly authorized?: boolean;
  readonly authorizationError?: string;
  readonly certificate?: DetailedPeerCertificate;
}

function handshake(
  host: string,
  port: number,
  options: {
    minVersion?: "TLSv1" | "TLSv1.1" | "TLSv1.2";
    maxVersion?: "TLSv1" | "TLSv1.1" | "TLSv1.2" | "TLSv1.3";
    ciphers?: string;
    ca?: string[];
  },
  timeoutMs: number,
): Promise<Handshake> {
  return new Promise((resolve) => {
    let socket: TLSSocket;
    const done = (result: Handshake) => {
      clearTimeout(timer);
      socket?.destroy();
      resolve(result);
    };
    const timer = setTimeout(
      () => done({ ok: false, error: `no handshake within ${timeoutMs} ms` }),
      timeoutMs,
    );
    try {
      socket = connect({
        host,
        port,
        ...(isIpAddress(host) ? {} : { servername: host }),
        rejectUnauthorized: false, // bulwark:ignore (trust is read from authorizationError)
        ...(options.minVersion ? { minVersion: options.minVersion } : {}),
        ...(options.maxVersion ? { maxVersion: options.maxVersion } : {}),
        ...(options.ciphers ? { ciphers: options.ciphers } : {}),
        ...(options.ca ? { ca: options.ca } : {}),
      });
    } catch (error) {
      done({ ok: false, error: (error as Error).message });
      return;
    }
    socket.once("secureConnect", () => {
      const cipher = socket.getCipher();
      done({
        ok: true,
        protocol: socket.getProtocol(),
        cipher: cipher?.standardName ?? cipher?.name,
        authorized: socket.authorized,
        ...(socket.authorizationError ? { authorizationError: String(socket.authorizationError) } : {}),
        certificate: socket.getPeerCertificate(true),
      });
    });
    socket.once("error", (error: NodeJS.ErrnoException) =>
      done({ ok: false, error: error.code ?? error.message }),
    );
  });
}

function isIpAddress(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(":");
}

export interface TlsResult {
  readonly findings: Finding[];
  readonly handshakes: number;
  /** False when even the default handshake failed. */
  readonly reachable: boolean;
}

const WEAK_SUITES = "NULL:eNULL:aNULL:EXPORT:RC4:DES:3DES:IDEA:SEED:@SECLEVEL=0";
const STATIC_RSA_SUITES = "kRSA:@SECLEVEL=0";

export async function inspectTls(
  host: string,
  port: number,
  options: { caFile?: string; timeoutMs: number; now?: Date },
): Promise<TlsResult> {
  const location = `https://${host.includes(":") ? `[${host}]` : host}:${port}/`;
  const findings: Finding[] = [];
  const ca = options.caFile ? [...rootCertificates, readFileSync(options.caFile, "utf8")] : undefined;
  const main = await handshake(host, port, { ...(ca ? { ca } : {}) }, options.timeoutMs);
  if (!main.ok) {
    findings.push(finding("tls-handshake-failed", { evidence: `handshake failed: ${main.error}`, location }));
    return { findings, handshakes: 1, reachable: false };
  }
  // The first handshake offers TLS 1.3 (Node's default client), so a server that has it answers
  // with it: no extra connection is needed to know.
  if (main.protocol !== "TLSv1.3") {
    findings.push(
      finding("tls-no-tls13", { evidence: `negotiated ${main.protocol ?? "an unknown protocol"}`, location }),
    );
  }
  const cert = main.certificate;
  const now = options.now ?? new Date();
  if (cert?.valid_to) {
    const notAfter = new Date(cert.valid_to);
    const notBefore = new Date(cert.valid_from);
    if (notAfter.getTime() < now.getTime() || notBefore.getTime() > now.getTime()) {
      findings.push(
        finding("tls-cert-expired", { evidence: `valid ${cert.valid_from} to ${cert.valid_to}`, location }),
      );
    } else if (notAfter.getTime() - now.getTime() < EXPIRY_WINDOW_DAYS * 86_400_000) {
      const days = Math.floor((notAfter.getTime() - now.getTime()) / 86_400_000);
      findings.push(
        finding("tls-cert-expiring", { evidence: `expires ${cert.valid_to} (in ${days} days)`, location }),
      );
    }
    const identity = checkServerIdentity(host, cert);
    if (identity) {
      findings.push(
        finding("tls-cert-hostname", {
          evidence: `${host} not in ${cert.subjectaltname ?? `CN=${cert.subject?.CN ?? "?"}`}`,
          location,
        }),
      );
    }
    const untrusted =
      main.authorizationError &&
      !/CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|ERR_TLS_CERT_ALTNAME/.test(main.authorizationError);
    if (untrusted) {
      findings.push(
        finding("tls-cert-untrusted", {
          evidence: `${main.authorizationError} (issuer ${cert.issuer?.CN ?? cert.issuer?.O ?? "?"})`,
          location,
        }),
      );
    }
    const bits = cert.bits;
    // RSA certificates carry a modulus; EC ones a curve instead.
    const isEc = !cert.modulus;
    if (bits !== undefined && ((isEc && bits < 256) || (!isEc && bits < 2048))) {
      findings.push(
        finding("tls-weak-key", { evidence: `${isEc ? "EC" : "RSA"} key of ${bits} bits`, location }),
      );
    }
  }
  let count = 1;
  const legacy: string[] = [];
  for (const version of ["TLSv1", "TLSv1.1"] as const) {
    count += 1;
    const probe = await handshake(
      host,
      port,
      { minVersion: version, maxVersion: version, ciphers: "DEFAULT@SECLEVEL=0" },
      options.timeoutMs,
    );
    if (probe.ok) legacy.push(`${probe.protocol} (${probe.cipher})`);
  }
  if (legacy.length > 0)
    findings.push(finding("tls-legacy-protocol", { evidence: `accepted: ${legacy.join(", ")}`, location }));
  count += 1;
  const weak = await handshake(
    host,
    port,
    { maxVersion: "TLSv1.2", ciphers: WEAK_SUITES },
    options.timeoutMs,
  );
  if (weak.ok)
    findings.push(
      finding("tls-weak-cipher", { evidence: `${weak.cipher} accepted over ${weak.protocol}`, location }),
    );
  count += 1;
  const noFs = await handshake(
    host,
    port,
    { maxVersion: "TLSv1.2", ciphers: STATIC_RSA_SUITES },
    options.timeoutMs,
  );
  if (noFs.ok)
    findings.push(
      finding("tls-no-forward-secrecy", {
        evidence: `${noFs.cipher} (static RSA key exchange) accepted`,
        location,
      }),
    );
  return { findings, handshakes: count, reachable: true };
}
