import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { copyFile, mkdir, mkdtemp, rename, rm, symlink, writeFile } from "node:fs/promises";
import { createSecureServer, connect as http2Connect } from "node:http2";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, type TestContext, test } from "node:test";
import {
  type ConnectionOptions,
  createServer as createTlsServer,
  type TLSSocket,
  type Server as TlsServer,
  connect as tlsConnect,
} from "node:tls";
import {
  type CertificateSummary,
  CertificateWatcher,
  type TlsListenerConfig,
  type TlsServerOptions,
  tlsServerOptions,
} from "../../../src/gateway/tls.js";
import { type Certificate, makeCertificate } from "../../support/certs.js";

let rsa: Certificate;
let ec: Certificate;
let second: Certificate;
let third: Certificate;
let fourth: Certificate;
let expired: Certificate;
const temporary: string[] = [];

before(async () => {
  [rsa, ec, second, third, fourth, expired] = await Promise.all([
    makeCertificate(),
    makeCertificate({ keyType: "ec" }),
    makeCertificate(),
    makeCertificate({ keyType: "ec" }),
    makeCertificate(),
    makeCertificate({
      notBefore: new Date("2020-01-01T00:00:00Z"),
      notAfter: new Date("2020-02-01T00:00:00Z"),
    }),
  ]);
});

after(async () => {
  await Promise.all([rsa, ec, second, third, fourth, expired].map((certificate) => certificate?.cleanup()));
  await Promise.all(temporary.map((dir) => rm(dir, { recursive: true, force: true })));
});

function config(certificate: Certificate, overrides: Partial<TlsListenerConfig> = {}): TlsListenerConfig {
  return {
    cert: certificate.certFile,
    key: certificate.keyFile,
    minVersion: "TLSv1.2",
    http2: false,
    ...overrides,
  };
}

function fingerprintOf(certificate: Certificate): string {
  return new X509Certificate(certificate.certPem).fingerprint256;
}

/** Listens on a free port; after the test, every connection is cut and the server closed. */
async function listen<S extends HttpsServer | TlsServer>(t: TestContext, server: S): Promise<number> {
  const sockets = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as AddressInfo).port;
}

async function httpsServer(t: TestContext, options: object): Promise<{ server: HttpsServer; port: number }> {
  const server = createHttpsServer(options, (_req, res) => res.end("ok"));
  server.keepAliveTimeout = 30_000;
  return { server, port: await listen(t, server) };
}

/** A server that accepts nearly anything, to prove a refusing client is otherwise able to connect. */
function permissiveServer(
  t: TestContext,
  certificate: Certificate,
): Promise<{ server: HttpsServer; port: number }> {
  return httpsServer(t, {
    cert: certificate.certPem,
    key: certificate.keyPem,
    minVersion: "TLSv1",
    ciphers: "ALL:@SECLEVEL=0",
    ecdhCurve: "auto",
  });
}

type Handshake =
  | {
      ok: true;
      socket: TLSSocket;
      protocol: string | null;
      cipher: string;
      alpn: string | false | null;
      fingerprint: string;
    }
  | { ok: false; code: string };

/** Trusts every test certificate, so a certificate swap is visible as a fingerprint change, not an error. */
function handshake(t: TestContext, port: number, options: ConnectionOptions = {}): Promise<Handshake> {
  return new Promise((resolve) => {
    const socket = tlsConnect({
      host: "127.0.0.1",
      port,
      servername: "localhost",
      ca: [rsa, ec, second, third, fourth].map((certificate) => certificate.certPem),
      ...options,
    });
    t.after(() => socket.destroy());
    socket.once("secureConnect", () =>
      resolve({
        ok: true,
        socket,
        protocol: socket.getProtocol(),
        cipher: socket.getCipher().name,
        alpn: socket.alpnProtocol,
        fingerprint: socket.getPeerCertificate().fingerprint256,
      }),
    );
    socket.once("error", (error: NodeJS.ErrnoException) => resolve({ ok: false, code: String(error.code) }));
  });
}

async function connected(t: TestContext, port: number, options: ConnectionOptions = {}) {
  const result = await handshake(t, port, options);
  assert.ok(result.ok, `handshake refused: ${result.ok ? "" : result.code}`);
  return result;
}

async function refused(
  t: TestContext,
  port: number,
  options: ConnectionOptions,
  code: string,
): Promise<void> {
  const result = await handshake(t, port, options);
  assert.equal(result.ok, false, `handshake with ${JSON.stringify(options)} should have been refused`);
  assert.equal(result.ok ? "" : result.code, code);
}

/** One HTTP/1.1 request on an open TLS socket; resolves with the status line. */
function requestOn(socket: TLSSocket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    const onData = (chunk: Buffer) => {
      text += chunk.toString("latin1");
      if (text.includes("\r\n\r\n") && text.endsWith("ok")) {
        socket.off("data", onData);
        resolve(text.split("\r\n")[0]!);
      }
    };
    socket.on("data", onData);
    socket.once("error", reject);
    socket.write("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
  });
}

describe("tlsServerOptions", () => {
  test("accepts TLS 1.2 and TLS 1.3 by default, with ECDHE key exchange", async (t) => {
    const { port } = await httpsServer(t, tlsServerOptions(config(rsa)));
    const tls12 = await connected(t, port, { maxVersion: "TLSv1.2" });
    assert.equal(tls12.protocol, "TLSv1.2");
    assert.match(tls12.cipher, /^ECDHE-RSA-/);
    const tls13 = await connected(t, port);
    assert.equal(tls13.protocol, "TLSv1.3");
  });

  test("refuses TLS 1.0 and 1.1 clients", async (t) => {
    const legacy: ConnectionOptions = {
      minVersion: "TLSv1",
      maxVersion: "TLSv1.1",
      ciphers: "ALL:@SECLEVEL=0",
    };
    const permissive = await permissiveServer(t, rsa);
    assert.equal((await connected(t, permissive.port, legacy)).protocol, "TLSv1.1");
    const { port } = await httpsServer(t, tlsServerOptions(config(rsa)));
    await refused(t, port, legacy, "ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION");
    await refused(t, port, { ...legacy, maxVersion: "TLSv1" }, "ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION");
  });

  test("minVersion TLSv1.3 refuses TLS 1.2 clients", async (t) => {
    const { port } = await httpsServer(t, tlsServerOptions(config(rsa, { minVersion: "TLSv1.3" })));
    await refused(t, port, { maxVersion: "TLSv1.2" }, "ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION");
    assert.equal((await connected(t, port)).protocol, "TLSv1.3");
  });

  test("refuses TLS 1.2 suites without forward secrecy or without AEAD", async (t) => {
    const permissive = await permissiveServer(t, rsa);
    const { port } = await httpsServer(t, tlsServerOptions(config(rsa)));
    for (const cipher of [
      "AES128-GCM-SHA256", // static RSA key exchange: no forward secrecy
      "AES256-GCM-SHA384",
      "AES128-SHA",
      "ECDHE-RSA-AES128-SHA", // CBC
      "ECDHE-RSA-AES256-SHA384", // CBC
    ]) {
      const client: ConnectionOptions = { maxVersion: "TLSv1.2", ciphers: `${cipher}:@SECLEVEL=0` };
      assert.equal(
        (await connected(t, permissive.port, client)).cipher,
        cipher,
        "the client can use it elsewhere",
      );
      await refused(t, port, client, "ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE");
    }
  });

  test("offers each ECDHE AEAD suite of Mozilla intermediate for RSA and ECDSA certificates", async (t) => {
    for (const [certificate, kind] of [
      [rsa, "RSA"],
      [ec, "ECDSA"],
    ] as const) {
      const { port } = await httpsServer(t, tlsServerOptions(config(certificate)));
      for (const cipher of ["AES128-GCM-SHA256", "AES256-GCM-SHA384", "CHACHA20-POLY1305"]) {
        const name = `ECDHE-${kind}-${cipher}`;
        assert.equal((await connected(t, port, { maxVersion: "TLSv1.2", ciphers: name })).cipher, name);
      }
    }
  });

  test("picks the server's suite order, unless the client puts ChaCha20 first", async (t) => {
    const { port } = await httpsServer(t, tlsServerOptions(config(rsa)));
    const aesFirst = await connected(t, port, {
      maxVersion: "TLSv1.2",
      ciphers: "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256",
    });
    assert.equal(aesFirst.cipher, "ECDHE-RSA-AES128-GCM-SHA256");
    const chachaFirst = await connected(t, port, {
      maxVersion: "TLSv1.2",
      ciphers: "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256",
    });
    assert.equal(chachaFirst.cipher, "ECDHE-RSA-CHACHA20-POLY1305");
  });

  test("negotiates X25519 and refuses groups outside X25519, P-256 and P-384", async (t) => {
    const permissive = await permissiveServer(t, rsa);
    assert.ok((await connected(t, permissive.port, { ecdhCurve: "P-521" })).ok);
    const { port } = await httpsServer(t, tlsServerOptions(config(rsa)));
    const result = await connected(t, port);
    assert.deepEqual(result.socket.getEphemeralKeyInfo(), { type: "ECDH", name: "X25519", size: 253 });
    assert.ok((await connected(t, port, { ecdhCurve: "P-384" })).ok);
    await refused(t, port, { ecdhCurve: "P-521" }, "ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE");
    await refused(
      t,
      port,
      { ecdhCurve: "P-521", maxVersion: "TLSv1.2" },
      "ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE",
    );
  });

  test("refuses client-initiated renegotiation on TLS 1.2", async (t) => {
    const renegotiate = (socket: TLSSocket) =>
      new Promise<string>((resolve) => {
        socket.once("error", (error: NodeJS.ErrnoException) => resolve(String(error.code)));
        socket.renegotiate({}, (error) =>
          resolve(error ? String((error as NodeJS.ErrnoException).code) : "renegotiated"),
        );
      });
    const permissive = await permissiveServer(t, rsa);
    assert.equal(
      await renegotiate((await connected(t, permissive.port, { maxVersion: "TLSv1.2" })).socket),
      "renegotiated",
    );
    const { port } = await httpsServer(t, tlsServerOptions(config(rsa)));
    const { socket } = await connected(t, port, { maxVersion: "TLSv1.2" });
    assert.equal(await renegotiate(socket), "ERR_SSL_NO_RENEGOTIATION");
  });

  test("ALPN offers h2 and http/1.1 when http2 is on, only http/1.1 otherwise", async (t) => {
    const withH2 = tlsServerOptions(config(rsa, { http2: true }));
    const withoutH2 = tlsServerOptions(config(rsa, { http2: false }));
    assert.deepEqual(withH2.ALPNProtocols, ["h2", "http/1.1"]);
    assert.deepEqual(withoutH2.ALPNProtocols, ["http/1.1"]);
    const offer = { ALPNProtocols: ["h2", "http/1.1"] };

    // a bare tls.Server uses the options' list as it is
    const tlsH2 = await listen(
      t,
      createTlsServer(withH2, (socket) => socket.end()),
    );
    assert.equal((await connected(t, tlsH2, offer)).alpn, "h2");
    const tlsH1 = await listen(
      t,
      createTlsServer(withoutH2, (socket) => socket.end()),
    );
    assert.equal((await connected(t, tlsH1, offer)).alpn, "http/1.1");

    const http2Server = createSecureServer({ allowHTTP1: true, ...withH2 }, (_req, res) => res.end("ok"));
    const h2Port = await listen(t, http2Server);
    assert.equal((await connected(t, h2Port, offer)).alpn, "h2");
    assert.equal((await connected(t, h2Port, { ALPNProtocols: ["http/1.1"] })).alpn, "http/1.1");
    const session = http2Connect(`https://localhost:${h2Port}`, { ca: rsa.certPem, host: "127.0.0.1" });
    t.after(() => session.destroy());
    const status = await new Promise<number>((resolve, reject) => {
      const stream = session.request({ ":path": "/" });
      stream.on("response", (headers) => resolve(Number(headers[":status"])));
      stream.on("error", reject);
      stream.resume();
    });
    assert.equal(status, 200);

    const { port } = await httpsServer(t, withoutH2);
    assert.equal((await connected(t, port, offer)).alpn, "http/1.1");
  });

  test("refuses unusable certificate files with a config_invalid error naming the file", async () => {
    const missing = join(tmpdir(), "bulwark-no-such-dir", "cert.pem");
    assert.throws(() => tlsServerOptions({ ...config(rsa), cert: missing }), {
      code: "config_invalid",
      message: `cannot read the TLS certificate file ${missing}: ENOENT`,
    });
    assert.throws(() => tlsServerOptions({ ...config(rsa), key: second.keyFile }), {
      code: "config_invalid",
      message: `the private key in ${second.keyFile} does not match the certificate in ${rsa.certFile}`,
    });
    assert.throws(() => tlsServerOptions({ ...config(rsa), cert: rsa.keyFile }), {
      code: "config_invalid",
      message: `the file ${rsa.keyFile} holds no valid PEM certificate`,
    });
    assert.throws(() => tlsServerOptions({ ...config(rsa), key: rsa.certFile }), {
      code: "config_invalid",
      message: new RegExp(`^the file ${rsa.certFile} holds no usable private key`),
    });
    assert.throws(() => tlsServerOptions(config(expired)), {
      code: "config_invalid",
      message: `the certificate in ${expired.certFile} expired on 2020-02-01T00:00:00.000Z`,
    });
    const future = await makeCertificate({ notBefore: new Date(Date.now() + 86_400_000) });
    try {
      assert.throws(() => tlsServerOptions(config(future)), {
        code: "config_invalid",
        message: /is not valid before/,
      });
    } finally {
      await future.cleanup();
    }
  });

  test("never puts key material in an error message", async (t) => {
    const dir = await tempDir();
    const keyFile = join(dir, "key.pem");
    // a truncated key: the first half of a real one
    const partial = rsa.keyPem.slice(0, rsa.keyPem.length / 2);
    await writeFile(keyFile, partial);
    t.after(() => rm(dir, { recursive: true, force: true }));
    let message = "";
    assert.throws(
      () => tlsServerOptions({ ...config(rsa), key: keyFile }),
      (error: Error) => {
        message = error.message;
        return true;
      },
    );
    assert.match(message, /holds no usable private key/);
    const body = partial.split("\n").slice(1, 4).join("");
    assert.ok(body.length > 100);
    assert.ok(!message.includes(body.slice(0, 20)), message);
  });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "bulwark-tls-test-"));
  temporary.push(dir);
  return dir;
}

async function installPair(
  dir: string,
  certificate: Certificate,
  key: Certificate = certificate,
): Promise<void> {
  await copyFile(certificate.certFile, join(dir, "cert.pem"));
  await copyFile(key.keyFile, join(dir, "key.pem"));
}

interface Watched {
  dir: string;
  port: number;
  watcher: CertificateWatcher;
  reloads: CertificateSummary[];
  errors: string[];
  nextReload(): Promise<CertificateSummary>;
  nextError(): Promise<string>;
}

/**
 * An HTTPS server whose certificate files live in a fresh directory, wired to a watcher the way
 * the gateway wires it: onReload calls setSecureContext.
 */
async function watchedServer(
  t: TestContext,
  options: { settleMs?: number; pollIntervalMs?: number; tls?: TlsListenerConfig; dir?: string } = {},
): Promise<Watched> {
  const dir = options.dir ?? (await tempDir());
  if (options.tls === undefined) await installPair(dir, rsa);
  const tls = options.tls ?? {
    cert: join(dir, "cert.pem"),
    key: join(dir, "key.pem"),
    minVersion: "TLSv1.2",
    http2: false,
  };
  const initial = tlsServerOptions(tls);
  const { server, port } = await httpsServer(t, initial);
  const reloads: CertificateSummary[] = [];
  const errors: string[] = [];
  const waiting = {
    reload: [] as ((summary: CertificateSummary) => void)[],
    error: [] as ((message: string) => void)[],
  };
  const watcher = new CertificateWatcher(
    tls,
    (fresh: TlsServerOptions, summary) => {
      server.setSecureContext(fresh);
      reloads.push(summary);
      waiting.reload.shift()?.(summary);
    },
    (message) => {
      errors.push(message);
      waiting.error.shift()?.(message);
    },
    { initial, settleMs: options.settleMs ?? 300, pollIntervalMs: options.pollIntervalMs ?? 0 },
  );
  t.after(() => watcher.close());
  const waitFor = <T>(queue: ((value: T) => void)[], what: string) =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${what} within 5 s`)), 5000);
      queue.push((value) => {
        clearTimeout(timer);
        resolve(value);
      });
    });
  return {
    dir,
    port,
    watcher,
    reloads,
    errors,
    nextReload: () => waitFor(waiting.reload, "certificate reload"),
    nextError: () => waitFor(waiting.error, "certificate error"),
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("CertificateWatcher", () => {
  test("serves a certificate overwritten in place to new connections; open ones keep working", async (t) => {
    const watched = await watchedServer(t);
    const open = await connected(t, watched.port);
    assert.equal(open.fingerprint, fingerprintOf(rsa));
    assert.equal(await requestOn(open.socket), "HTTP/1.1 200 OK");

    const reloaded = watched.nextReload();
    await writeFile(join(watched.dir, "cert.pem"), second.certPem);
    await writeFile(join(watched.dir, "key.pem"), second.keyPem);
    assert.equal((await reloaded).fingerprint256, fingerprintOf(second));

    assert.equal((await connected(t, watched.port)).fingerprint, fingerprintOf(second));
    assert.equal(
      await requestOn(open.socket),
      "HTTP/1.1 200 OK",
      "a connection opened before the swap still works",
    );
    assert.equal(open.socket.getPeerCertificate().fingerprint256, fingerprintOf(rsa));
    assert.deepEqual(watched.errors, []);
    assert.equal(watched.reloads.length, 1);
  });

  test("serves a certificate replaced by atomic rename", async (t) => {
    const watched = await watchedServer(t);
    const open = await connected(t, watched.port);
    const reloaded = watched.nextReload();
    await writeFile(join(watched.dir, ".cert.pem.tmp"), third.certPem);
    await writeFile(join(watched.dir, ".key.pem.tmp"), third.keyPem);
    await rename(join(watched.dir, ".key.pem.tmp"), join(watched.dir, "key.pem"));
    await rename(join(watched.dir, ".cert.pem.tmp"), join(watched.dir, "cert.pem"));
    assert.equal((await reloaded).fingerprint256, fingerprintOf(third));
    assert.equal((await connected(t, watched.port)).fingerprint, fingerprintOf(third));
    assert.equal(await requestOn(open.socket), "HTTP/1.1 200 OK");
    assert.deepEqual(watched.errors, []);
  });

  test("follows a Kubernetes secret volume update (..data symlink swap)", async (t) => {
    const dir = await tempDir();
    await mkdir(join(dir, "..2024_01"));
    await installPair(join(dir, "..2024_01"), rsa);
    await symlink("..2024_01", join(dir, "..data"));
    await symlink("..data/cert.pem", join(dir, "cert.pem"));
    await symlink("..data/key.pem", join(dir, "key.pem"));
    const watched = await watchedServer(t, {
      dir,
      tls: { cert: join(dir, "cert.pem"), key: join(dir, "key.pem"), minVersion: "TLSv1.2", http2: false },
    });
    assert.equal((await connected(t, watched.port)).fingerprint, fingerprintOf(rsa));

    const reloaded = watched.nextReload();
    await mkdir(join(dir, "..2024_02"));
    await installPair(join(dir, "..2024_02"), second);
    await symlink("..2024_02", join(dir, "..data_tmp"));
    await rename(join(dir, "..data_tmp"), join(dir, "..data"));
    assert.equal((await reloaded).fingerprint256, fingerprintOf(second));
    assert.equal((await connected(t, watched.port)).fingerprint, fingerprintOf(second));
  });

  test("follows files symlinked from another directory and rewritten there", async (t) => {
    const dir = await tempDir();
    await Promise.all(["live", "store"].map((name) => mkdir(join(dir, name))));
    await installPair(join(dir, "store"), rsa);
    await symlink(join(dir, "store", "cert.pem"), join(dir, "live", "cert.pem"));
    await symlink(join(dir, "store", "key.pem"), join(dir, "live", "key.pem"));
    const watched = await watchedServer(t, {
      tls: {
        cert: join(dir, "live", "cert.pem"),
        key: join(dir, "live", "key.pem"),
        minVersion: "TLSv1.2",
        http2: false,
      },
    });
    const reloaded = watched.nextReload();
    await installPair(join(dir, "store"), second);
    assert.equal((await reloaded).fingerprint256, fingerprintOf(second));
    assert.equal((await connected(t, watched.port)).fingerprint, fingerprintOf(second));
  });

  test("keeps serving the old certificate when the new key is garbage, reporting it once", async (t) => {
    const watched = await watchedServer(t);
    const failed = watched.nextError();
    const garbage =
      "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWJ1dC1ub3QtYS1rZXktYXQtYWxs\n-----END PRIVATE KEY-----\n";
    await writeFile(join(watched.dir, "key.pem"), garbage);
    const message = await failed;
    assert.match(message, /holds no usable private key/);
    assert.match(message, /the certificate in service is kept$/);
    assert.ok(!message.includes("c2VjcmV0"), "the message must not quote the key file");
    assert.equal((await connected(t, watched.port)).fingerprint, fingerprintOf(rsa));

    // another event in the directory with the same bad content: no second report
    await writeFile(join(watched.dir, "unrelated.txt"), "x");
    await sleep(800);
    assert.equal(watched.errors.length, 1);
    assert.equal(watched.reloads.length, 0);
  });

  test("refuses a mismatched pair and an expired certificate, then recovers on a good pair", async (t) => {
    const watched = await watchedServer(t);
    let failed = watched.nextError();
    await installPair(watched.dir, second, third);
    assert.match(
      await failed,
      /^the private key in .*key\.pem does not match the certificate in .*cert\.pem/,
    );
    assert.equal((await connected(t, watched.port)).fingerprint, fingerprintOf(rsa));

    failed = watched.nextError();
    await installPair(watched.dir, expired);
    assert.match(await failed, /expired on 2020-02-01T00:00:00\.000Z/);
    assert.equal((await connected(t, watched.port)).fingerprint, fingerprintOf(rsa));

    const reloaded = watched.nextReload();
    await installPair(watched.dir, fourth);
    assert.equal((await reloaded).fingerprint256, fingerprintOf(fourth));
    assert.equal((await connected(t, watched.port)).fingerprint, fingerprintOf(fourth));
    assert.equal(watched.errors.length, 2);
  });

  test("waits for the key when the certificate is written first, without a spurious error", async (t) => {
    const watched = await watchedServer(t, { settleMs: 1000 });
    const reloaded = watched.nextReload();
    await writeFile(join(watched.dir, "cert.pem"), second.certPem);
    await sleep(500); // past the debounce: the first read sees a mismatched pair
    await writeFile(join(watched.dir, "key.pem"), second.keyPem);
    assert.equal((await reloaded).fingerprint256, fingerprintOf(second));
    assert.deepEqual(watched.errors, []);
  });

  test("reports a failing onReload and retries on the next change", async (t) => {
    const dir = await tempDir();
    await installPair(dir, rsa);
    const tls: TlsListenerConfig = {
      cert: join(dir, "cert.pem"),
      key: join(dir, "key.pem"),
      minVersion: "TLSv1.2",
      http2: false,
    };
    let fail = true;
    const reloads: string[] = [];
    const errors: string[] = [];
    const watcher = new CertificateWatcher(
      tls,
      (_options, summary) => {
        if (fail) throw new Error("setSecureContext exploded");
        reloads.push(summary.fingerprint256);
      },
      (message) => errors.push(message),
      { settleMs: 200, pollIntervalMs: 0 },
    );
    t.after(() => watcher.close());
    await installPair(dir, second);
    await until(() => errors.length === 1);
    assert.match(errors[0]!, /could not be put in service: setSecureContext exploded/);
    fail = false;
    await installPair(dir, third);
    await until(() => reloads.length === 1);
    assert.deepEqual(reloads, [fingerprintOf(third)]);
  });

  test("finds a change through the periodic check when no directory event arrives", async (t) => {
    // cert.pem -> links/current.pem -> store/<version>.pem: the swap happens in links/, which is not watched.
    const dir = await tempDir();
    await Promise.all(["live", "links", "store"].map((name) => mkdir(join(dir, name))));
    for (const [name, certificate] of [
      ["v1", rsa],
      ["v2", second],
    ] as const) {
      await copyFile(certificate.certFile, join(dir, "store", `${name}.cert.pem`));
      await copyFile(certificate.keyFile, join(dir, "store", `${name}.key.pem`));
    }
    for (const kind of ["cert", "key"]) {
      await symlink(join(dir, "store", `v1.${kind}.pem`), join(dir, "links", `${kind}.pem`));
      await symlink(join(dir, "links", `${kind}.pem`), join(dir, "live", `${kind}.pem`));
    }
    const tls: TlsListenerConfig = {
      cert: join(dir, "live", "cert.pem"),
      key: join(dir, "live", "key.pem"),
      minVersion: "TLSv1.2",
      http2: false,
    };
    const swap = async () => {
      for (const kind of ["cert", "key"]) {
        await symlink(join(dir, "store", `v2.${kind}.pem`), join(dir, "links", `${kind}.tmp`));
        await rename(join(dir, "links", `${kind}.tmp`), join(dir, "links", `${kind}.pem`));
      }
    };

    const withoutPoll = await watchedServer(t, { tls, pollIntervalMs: 0 });
    const withPoll = await watchedServer(t, { tls, pollIntervalMs: 400 });
    const reloaded = withPoll.nextReload();
    await swap();
    assert.equal((await reloaded).fingerprint256, fingerprintOf(second));
    assert.equal((await connected(t, withPoll.port)).fingerprint, fingerprintOf(second));
    assert.equal(withoutPoll.reloads.length, 0, "directory events alone do not see this change");
  });

  test("stops after close()", async (t) => {
    const watched = await watchedServer(t);
    watched.watcher.close();
    await installPair(watched.dir, second);
    await sleep(700);
    assert.equal(watched.reloads.length, 0);
    assert.equal((await connected(t, watched.port)).fingerprint, fingerprintOf(rsa));
  });

  test("reports a directory it cannot watch instead of throwing", async (t) => {
    const dir = join(tmpdir(), `bulwark-missing-${process.pid}`, "tls");
    const errors: string[] = [];
    const watcher = new CertificateWatcher(
      { cert: join(dir, "cert.pem"), key: join(dir, "key.pem"), minVersion: "TLSv1.2", http2: false },
      () => assert.fail("nothing to reload"),
      (message) => errors.push(message),
      { pollIntervalMs: 0 },
    );
    t.after(() => watcher.close());
    await until(() => errors.length === 1);
    assert.equal(
      errors[0],
      `cannot watch ${dir} for certificate changes (ENOENT); checking every poll interval only`,
    );
  });
});

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met within the time limit");
    await sleep(20);
  }
}
