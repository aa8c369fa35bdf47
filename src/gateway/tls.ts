/**
 * TLS for traffic listeners: the server options (protocol versions, cipher suites, curves, ALPN)
 * and a watcher that reloads the certificate when its files change on disk, as certbot,
 * cert-manager and Kubernetes secret volumes replace them, without dropping open connections.
 *
 * The choices follow Mozilla's "intermediate" server configuration
 * (https://wiki.mozilla.org/Security/Server_Side_TLS, version 5.7), which supports every client of
 * the last several years, minus its finite-field DHE suites: ECDHE alone gives forward secrecy,
 * and DHE needs large parameters to be safe (RFC 7919) and is slower.
 */
import { constants, createHash, createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import { type FSWatcher, readFileSync, realpathSync, watch } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname } from "node:path";
import { createSecureContext, type SecureContextOptions } from "node:tls";
import { BulwarkError } from "../errors.js";

/** A listener's `tls` block after config resolution (paths absolute). */
export interface TlsListenerConfig {
  readonly cert: string;
  readonly key: string;
  readonly minVersion: "TLSv1.2" | "TLSv1.3";
  readonly http2: boolean;
}

/**
 * Options for `https.createServer`, `http2.createSecureServer({ allowHTTP1: true, ...options })`
 * and `server.setSecureContext(options)` alike.
 */
export interface TlsServerOptions extends SecureContextOptions {
  cert: Buffer;
  key: Buffer;
  minVersion: "TLSv1.2" | "TLSv1.3";
  maxVersion: "TLSv1.3";
  ciphers: string;
  ecdhCurve: string;
  honorCipherOrder: true;
  secureOptions: number;
  ALPNProtocols: string[];
}

/** What an operator wants to see in a log line about the certificate in service. */
export interface CertificateSummary {
  readonly subject: string;
  readonly subjectAltName: string | undefined;
  readonly issuer: string;
  readonly fingerprint256: string;
  readonly validFrom: Date;
  readonly validTo: Date;
}

/**
 * TLS 1.2 suites: ECDHE key exchange (forward secrecy) with AEAD ciphers only, in Mozilla
 * intermediate order. No CBC suites (Lucky13, POODLE-style padding oracles), no static-RSA key
 * exchange (no forward secrecy, ROBOT). All of them are allowed for HTTP/2 (RFC 9113 §9.2.2 and
 * Appendix A). TLS 1.3 suites are not listed, so OpenSSL's defaults apply: they are all AEAD and
 * TLS 1.3 always has forward secrecy (RFC 8446 §1.2).
 */
const TLS12_CIPHERS = [
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
].join(":");

/** Mozilla intermediate's groups, X25519 first (RFC 7748): fast and hard to implement wrongly. */
const ECDH_CURVES = "X25519:P-256:P-384";

/**
 * - NO_RENEGOTIATION: client-initiated renegotiation lets one client make the server repeat
 *   expensive handshakes (CVE-2011-1473) and RFC 9113 §9.2.1 requires it off for HTTP/2 over TLS 1.2.
 *   TLS 1.3 has no renegotiation at all.
 * - NO_COMPRESSION: TLS compression leaks secrets (CRIME); RFC 9113 §9.2.1 requires it off.
 *   OpenSSL 3 already disables it; the flag keeps that true whatever OpenSSL is linked.
 * - PRIORITIZE_CHACHA: the server's order wins (honorCipherOrder), except that a client listing
 *   ChaCha20 first (phones without AES instructions) gets it.
 */
const SECURE_OPTIONS =
  constants.SSL_OP_NO_RENEGOTIATION | constants.SSL_OP_NO_COMPRESSION | constants.SSL_OP_PRIORITIZE_CHACHA;

/** Longest a stream of directory events can delay reading the files. */
const MAX_DEBOUNCE_MS = 2000;

/** Tolerated clock difference between the certificate's issuer and this machine. */
const CLOCK_SKEW_MS = 5 * 60_000;

/**
 * Reads the PEM files (synchronously: this runs while the listener is built) and returns
 * the server options. Throws `config_invalid` when the files cannot be read, do not parse, do not
 * match, or the certificate is outside its validity period.
 */
export function tlsServerOptions(tls: TlsListenerConfig): TlsServerOptions {
  const cert = readPem(tls.cert, "certificate");
  const key = readPem(tls.key, "private key");
  try {
    return buildTlsOptions(tls, cert, key).options;
  } catch (error) {
    throw new BulwarkError("config_invalid", (error as Error).message, { cause: error });
  }
}

/** The certificate's identity and validity, for logs. Throws on an unparsable certificate. */
export function summarizeCertificate(certPem: string | Buffer): CertificateSummary {
  return summarize(new X509Certificate(certPem));
}

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    const message = `cannot read the TLS ${what} file ${path}: ${errorCode(error)}`;
    throw new BulwarkError("config_invalid", message, { cause: error });
  }
}

/**
 * Validates a certificate/key pair and makes the options. Messages name the files, never their
 * contents. The final createSecureContext makes sure the options are ones Node accepts, so
 * setSecureContext cannot fail later on them.
 */
function buildTlsOptions(
  tls: TlsListenerConfig,
  cert: Buffer,
  key: Buffer,
  now = Date.now(),
): { options: TlsServerOptions; certificate: CertificateSummary } {
  let x509: X509Certificate;
  try {
    if (!cert.includes("-----BEGIN CERTIFICATE-----")) throw new Error("no PEM certificate block");
    x509 = new X509Certificate(cert);
  } catch {
    throw new Error(`the file ${tls.cert} holds no valid PEM certificate`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    // Node's and OpenSSL's messages here never quote the input (e.g. "Passphrase required for encrypted key").
    throw new Error(`the file ${tls.key} holds no usable private key: ${(error as Error).message}`);
  }
  if (privateKey.type !== "private") throw new Error(`the file ${tls.key} holds no private key`);
  if (!x509.checkPrivateKey(privateKey)) {
    throw new Error(`the private key in ${tls.key} does not match the certificate in ${tls.cert}`);
  }
  const certificate = summarize(x509);
  if (certificate.validTo.getTime() <= now) {
    throw new Error(`the certificate in ${tls.cert} expired on ${certificate.validTo.toISOString()}`);
  }
  if (certificate.validFrom.getTime() > now + CLOCK_SKEW_MS) {
    throw new Error(
      `the certificate in ${tls.cert} is not valid before ${certificate.validFrom.toISOString()}`,
    );
  }
  const options: TlsServerOptions = {
    cert,
    key,
    // TLS 1.0 and 1.1 are deprecated (RFC 8996); TLS 1.2 stays for clients without 1.3.
    minVersion: tls.minVersion,
    maxVersion: "TLSv1.3",
    ciphers: TLS12_CIPHERS,
    ecdhCurve: ECDH_CURVES,
    honorCipherOrder: true,
    secureOptions: SECURE_OPTIONS,
    // http2.createSecureServer sets its own list (h2, plus http/1.1 with allowHTTP1), which is the same.
    ALPNProtocols: tls.http2 ? ["h2", "http/1.1"] : ["http/1.1"],
  };
  try {
    createSecureContext(options);
  } catch (error) {
    throw new Error(
      `the certificate ${tls.cert} and key ${tls.key} cannot be used for TLS: ${(error as Error).message}`,
    );
  }
  return { options, certificate };
}

function summarize(x509: X509Certificate): CertificateSummary {
  return {
    subject: x509.subject,
    subjectAltName: x509.subjectAltName,
    issuer: x509.issuer,
    fingerprint256: x509.fingerprint256,
    validFrom: new Date(x509.validFrom),
    validTo: new Date(x509.validTo),
  };
}

export interface CertificateWatcherOptions {
  /** The options already in service; changes made after they were read are then not missed. */
  readonly initial?: Pick<TlsServerOptions, "cert" | "key">;
  /** Quiet time after the last file event before the files are read (default 200 ms). */
  readonly debounceMs?: number;
  /**
   * A pair that fails is read once more after this delay before it is reported (default 1000 ms):
   * a writer that replaces the certificate and then the key leaves a mismatched pair in between.
   */
  readonly settleMs?: number;
  /**
   * The files are also compared every this often (default 30 s; 0 turns it off), for file systems
   * where directory events do not arrive (NFS, some container bind mounts) and for symlink chains
   * that change in a directory not watched.
   */
  readonly pollIntervalMs?: number;
}

type ReloadListener = (options: TlsServerOptions, certificate: CertificateSummary) => void;

/**
 * Watches a listener's certificate and key files. The containing directories are watched rather
 * than the files: an atomic replacement (rename over the file, a Kubernetes secret volume's
 * `..data` symlink swap, certbot's symlink update) leaves a watch on the old file's inode silent.
 * Any change in the directory leads, after a debounce, to a byte comparison, so unrelated files
 * cost two small reads.
 *
 * A changed pair that validates is handed to onReload (the caller calls server.setSecureContext,
 * which affects new connections only). Anything wrong goes to onError, once per distinct content,
 * and the certificate in service stays. Nothing here throws or rejects into the event loop.
 */
export class CertificateWatcher {
  readonly #tls: TlsListenerConfig;
  readonly #onReload: ReloadListener;
  readonly #onError: (message: string) => void;
  readonly #debounceMs: number;
  readonly #settleMs: number;
  readonly #directories: readonly string[];
  readonly #watchers = new Map<string, FSWatcher>();
  #current: { cert: Buffer; key: Buffer };
  #timer: NodeJS.Timeout | undefined;
  #firstEventAt = 0;
  #poll: NodeJS.Timeout | undefined;
  #running = false;
  #rerun = false;
  #retried = false;
  #reported: string | undefined;
  readonly #unwatchable = new Set<string>();
  #closed = false;

  constructor(
    tls: TlsListenerConfig,
    onReload: ReloadListener,
    onError: (message: string) => void,
    options: CertificateWatcherOptions = {},
  ) {
    this.#tls = tls;
    this.#onReload = onReload;
    this.#onError = onError;
    this.#debounceMs = options.debounceMs ?? 200;
    this.#settleMs = options.settleMs ?? 1000;
    this.#current = options.initial
      ? { cert: options.initial.cert, key: options.initial.key }
      : { cert: readOrEmpty(tls.cert), key: readOrEmpty(tls.key) };
    const directories = new Set<string>();
    for (const path of [tls.cert, tls.key]) {
      directories.add(dirname(path));
      try {
        directories.add(dirname(realpathSync(path)));
      } catch {
        // a missing file is reported by the first check that reads it
      }
    }
    this.#directories = [...directories];
    this.#watchAll();
    const pollIntervalMs = options.pollIntervalMs ?? 30_000;
    if (pollIntervalMs > 0) {
      this.#poll = setInterval(() => {
        this.#watchAll();
        void this.#check();
      }, pollIntervalMs);
      this.#poll.unref();
    }
  }

  /** Stops watching; a check already reading the files finishes without calling back. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    clearInterval(this.#poll);
    for (const watcher of this.#watchers.values()) watcher.close();
    this.#watchers.clear();
  }

  /** (Re)establishes directory watches; a failed one is retried at the next poll. */
  #watchAll(): void {
    for (const directory of this.#directories) {
      if (this.#closed || this.#watchers.has(directory)) continue;
      try {
        const watcher = watch(directory, { persistent: false }, () => this.#changed());
        watcher.on("error", (error) => {
          watcher.close();
          this.#watchers.delete(directory);
          this.#watchFailed(directory, error);
        });
        this.#watchers.set(directory, watcher);
        this.#unwatchable.delete(directory);
      } catch (error) {
        this.#watchFailed(directory, error);
      }
    }
  }

  /** Reported once per directory until a watch on it works again; the poll still covers it. */
  #watchFailed(directory: string, error: unknown): void {
    if (this.#unwatchable.has(directory)) return;
    this.#unwatchable.add(directory);
    this.#deliver(
      `cannot watch ${directory} for certificate changes (${errorCode(error)}); checking every poll interval only`,
    );
  }

  /**
   * A directory event: check after a quiet period, but a steady stream of events (a log file next
   * to the certificate) cannot postpone the check for more than MAX_DEBOUNCE_MS.
   */
  #changed(): void {
    this.#retried = false;
    const now = Date.now();
    if (this.#timer === undefined) this.#firstEventAt = now;
    else if (now - this.#firstEventAt >= MAX_DEBOUNCE_MS) return;
    this.#schedule(this.#debounceMs);
  }

  #schedule(delayMs: number): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#check();
    }, delayMs);
    this.#timer.unref();
  }

  async #check(): Promise<void> {
    if (this.#closed) return;
    if (this.#running) {
      this.#rerun = true;
      return;
    }
    this.#running = true;
    try {
      await this.#checkOnce();
    } catch (error) {
      this.#report(`the certificate check failed: ${(error as Error).message}`, "check");
    } finally {
      this.#running = false;
      if (this.#rerun) {
        this.#rerun = false;
        this.#schedule(this.#debounceMs);
      }
    }
  }

  async #checkOnce(): Promise<void> {
    let cert: Buffer;
    let key: Buffer;
    try {
      [cert, key] = await Promise.all([readFile(this.#tls.cert), readFile(this.#tls.key)]);
    } catch (error) {
      const path = (error as NodeJS.ErrnoException).path ?? `${this.#tls.cert} or ${this.#tls.key}`;
      this.#fail(`cannot read ${path}: ${errorCode(error)}`, `read:${path}:${errorCode(error)}`);
      return;
    }
    if (this.#closed) return;
    if (cert.equals(this.#current.cert) && key.equals(this.#current.key)) {
      this.#retried = false;
      this.#reported = undefined;
      return;
    }
    const digest = createHash("sha256").update(cert).update("\0").update(key).digest("hex");
    let built: ReturnType<typeof buildTlsOptions>;
    try {
      built = buildTlsOptions(this.#tls, cert, key);
    } catch (error) {
      this.#fail((error as Error).message, digest);
      return;
    }
    try {
      this.#onReload(built.options, built.certificate);
    } catch (error) {
      this.#retried = true;
      this.#fail(`the new certificate could not be put in service: ${(error as Error).message}`, digest);
      return;
    }
    this.#current = { cert, key };
    this.#retried = false;
    this.#reported = undefined;
  }

  /** The first failure of a change is re-read after settleMs; one still failing is reported. */
  #fail(reason: string, identity: string): void {
    if (!this.#retried) {
      this.#retried = true;
      this.#schedule(this.#settleMs);
      return;
    }
    this.#report(`${reason}; the certificate in service is kept`, identity);
  }

  /** Calls onError once per distinct problem with the files. */
  #report(message: string, identity: string): void {
    if (this.#closed || identity === this.#reported) return;
    this.#reported = identity;
    this.#deliver(message);
  }

  /**
   * Never synchronously (the constructor may report, before the caller holds the watcher) and
   * never letting a throwing onError escape into the event loop.
   */
  #deliver(message: string): void {
    queueMicrotask(() => {
      if (this.#closed) return;
      try {
        this.#onError(message);
      } catch {
        // the caller's logger failed; there is nobody left to tell
      }
    });
  }
}

function readOrEmpty(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch {
    return Buffer.alloc(0);
  }
}

function errorCode(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === "string" ? code : String((error as Error | undefined)?.message ?? error);
}
