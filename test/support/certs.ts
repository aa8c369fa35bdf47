/**
 * Self-signed certificates made at test time by the real `openssl` binary, so tests never ship
 * private keys and can ask for unusual ones (expired, not yet valid, EC or RSA, odd names).
 * Every certificate goes through `openssl ca -selfsign`, because OpenSSL 3.0's `req -x509` cannot
 * set an arbitrary start date and an expired certificate needs one in the past.
 */
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openssl } from "./openssl.js";

export interface CertificateOptions {
  /** Subject common name (default "localhost"). */
  commonName?: string;
  /**
   * Subject alternative names: "DNS:x" / "IP:x" as OpenSSL writes them, or a bare name or IP
   * address (typed automatically). Default: DNS:localhost, IP:127.0.0.1, IP:::1.
   */
  altNames?: string[];
  /** Validity in days from notBefore (default 30); ignored when notAfter is set. */
  days?: number;
  /** Start of validity (default five minutes ago, so small clock differences do not matter). */
  notBefore?: Date;
  /** End of validity; set it in the past for an expired certificate. */
  notAfter?: Date;
  keyType?: "rsa" | "ec";
  /** Directory to write into (created if missing; not removed by cleanup); default a fresh temp dir. */
  dir?: string;
}

export interface Certificate {
  certFile: string;
  keyFile: string;
  certPem: string;
  keyPem: string;
  dir: string;
  /** Removes the temp directory (or, with options.dir, only the files written there). */
  cleanup(): Promise<void>;
}

export async function makeCertificate(options: CertificateOptions = {}): Promise<Certificate> {
  const commonName = options.commonName ?? "localhost";
  const altNames = (options.altNames ?? ["DNS:localhost", "IP:127.0.0.1", "IP:::1"]).map(subjectAltName);
  for (const value of [commonName, ...altNames]) {
    // The values go into an OpenSSL config file: a line break or a comma would change its meaning.
    if (/[\r\n,"\\]|^\s|\s$/.test(value))
      throw new Error(`unsupported certificate name ${JSON.stringify(value)}`);
  }
  const notBefore = options.notBefore ?? new Date(Date.now() - 5 * 60_000);
  const notAfter = options.notAfter ?? new Date(notBefore.getTime() + (options.days ?? 30) * 86_400_000);
  if (notAfter.getTime() <= notBefore.getTime()) throw new Error("notAfter must be later than notBefore");

  const ownDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), "bulwark-cert-")));
  if (!ownDir) await mkdir(dir, { recursive: true });
  // openssl ca keeps a database and writes a copy of each certificate: keep them out of `dir`.
  const work = await mkdtemp(join(tmpdir(), "bulwark-openssl-"));
  const certFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  try {
    const config = join(work, "openssl.cnf");
    // A unique organization makes every subject unique: OpenSSL finds a trusted certificate by its
    // subject, so two test certificates both named "CN=localhost" in one `ca` list would shadow each other.
    const organization = `bulwark test ${randomBytes(6).toString("hex")}`;
    await writeFile(config, opensslConfig(commonName, organization, altNames));
    await writeFile(join(work, "index.txt"), "");
    // A random serial: clients cache certificates by issuer and serial.
    await writeFile(join(work, "serial"), `${randomBytes(8).toString("hex").replace(/^0/, "1")}\n`);
    const keyArgs =
      options.keyType === "ec"
        ? ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
        : ["-newkey", "rsa:2048"];
    const request = join(work, "request.csr");
    await openssl(
      ["req", "-new", "-config", config, ...keyArgs, "-nodes", "-keyout", keyFile, "-out", request],
      work,
    );
    await openssl(
      [
        "ca",
        "-batch",
        "-config",
        config,
        "-selfsign",
        "-keyfile",
        keyFile,
        "-in",
        request,
        "-out",
        certFile,
        "-startdate",
        asn1Time(notBefore),
        "-enddate",
        asn1Time(notAfter),
        "-notext",
      ],
      work,
    );
  } catch (error) {
    await rm(work, { recursive: true, force: true });
    if (ownDir) await rm(dir, { recursive: true, force: true });
    throw error;
  }
  await rm(work, { recursive: true, force: true });
  const [certPem, keyPem] = await Promise.all([readFile(certFile, "utf8"), readFile(keyFile, "utf8")]);
  return {
    certFile,
    keyFile,
    certPem,
    keyPem,
    dir,
    async cleanup() {
      if (ownDir) await rm(dir, { recursive: true, force: true });
      else await Promise.all([rm(certFile, { force: true }), rm(keyFile, { force: true })]);
    },
  };
}

function subjectAltName(name: string): string {
  if (/^(DNS|IP|URI|email|RID):/.test(name)) return name;
  return isIP(name) === 0 ? `DNS:${name}` : `IP:${name}`;
}

/** GeneralizedTime as `openssl ca -startdate/-enddate` takes it: YYYYMMDDHHMMSSZ. */
function asn1Time(date: Date): string {
  return `${date.toISOString().replace(/[-:T]/g, "").slice(0, 14)}Z`;
}

function opensslConfig(commonName: string, organization: string, altNames: readonly string[]): string {
  // A self-contained config, so the system openssl.cnf (absent, or with CA defaults) cannot change the result.
  return `
[req]
distinguished_name = subject
prompt = no

[subject]
CN = ${commonName}
O = ${organization}

[ca]
default_ca = self

[self]
database = ./index.txt
new_certs_dir = ./
serial = ./serial
default_md = sha256
policy = any_subject
unique_subject = no
copy_extensions = none
x509_extensions = server

[any_subject]
commonName = supplied
organizationName = supplied

[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = ${altNames.join(",")}
`;
}
