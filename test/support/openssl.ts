/**
 * Small certificate helper for config tests: self-signed certificates and bare keys made by the
 * real `openssl` binary (execFile, no shell), written to the paths a test names. Validity dates go
 * through `openssl ca -selfsign -startdate/-enddate`, because OpenSSL 3.0's `req -x509` cannot put
 * the start of validity in the past (`-not_before` arrived in 3.4) and an expired certificate
 * needs one there.
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

const MISSING_OPENSSL =
  "the openssl binary is needed to make test certificates but was not found on PATH; " +
  "install it with: apt-get install -y openssl (Debian/Ubuntu) or apk add openssl (Alpine)";

/** Runs openssl with arguments (no shell); an absent binary fails with the install command. */
export async function openssl(args: readonly string[], cwd?: string): Promise<string> {
  try {
    const { stdout } = await execFileAsync("openssl", args, { cwd, timeout: 30_000 });
    return stdout;
  } catch (error) {
    const failure = error as NodeJS.ErrnoException & { stderr?: string };
    if (failure.code === "ENOENT") throw new Error(MISSING_OPENSSL, { cause: error });
    throw new Error(`openssl ${args[0]} failed: ${failure.stderr?.trim() || failure.message}`, {
      cause: error,
    });
  }
}

/** Writes a new unencrypted P-256 private key (PKCS#8 PEM); EC keys are made in milliseconds. */
export async function writePrivateKey(keyFile: string): Promise<void> {
  await mkdir(dirname(keyFile), { recursive: true });
  await openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", keyFile]);
}

export interface SelfSignedOptions {
  readonly certFile: string;
  readonly keyFile: string;
  /** Default: one hour ago. */
  readonly notBefore?: Date;
  /** Default: thirty days after notBefore. */
  readonly notAfter?: Date;
  readonly commonName?: string;
}

/** Writes a self-signed certificate for `commonName` (default localhost) and its key. */
export async function writeSelfSignedCertificate(options: SelfSignedOptions): Promise<void> {
  const notBefore = options.notBefore ?? new Date(Date.now() - 3_600_000);
  const notAfter = options.notAfter ?? new Date(notBefore.getTime() + 30 * 86_400_000);
  const commonName = options.commonName ?? "localhost";
  if (!/^[A-Za-z0-9.*-]+$/.test(commonName)) throw new Error(`unsupported common name ${commonName}`);
  await writePrivateKey(options.keyFile);
  await mkdir(dirname(options.certFile), { recursive: true });
  // `openssl ca` keeps a database and copies each certificate it issues: keep those in a scratch dir.
  const work = await mkdtemp(join(tmpdir(), "bulwark-openssl-"));
  try {
    await writeFile(join(work, "openssl.cnf"), caConfig(commonName));
    await writeFile(join(work, "index.txt"), "");
    await writeFile(join(work, "serial"), "1000\n");
    await openssl(
      ["req", "-new", "-config", "openssl.cnf", "-key", options.keyFile, "-out", "request.csr"],
      work,
    );
    await openssl(
      [
        "ca",
        "-batch",
        "-config",
        "openssl.cnf",
        "-selfsign",
        "-keyfile",
        options.keyFile,
        "-in",
        "request.csr",
        "-out",
        options.certFile,
        "-startdate",
        generalizedTime(notBefore),
        "-enddate",
        generalizedTime(notAfter),
        "-notext",
      ],
      work,
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** YYYYMMDDHHMMSSZ, as `openssl ca -startdate/-enddate` takes it. */
function generalizedTime(date: Date): string {
  return `${date.toISOString().replace(/[-:T]/g, "").slice(0, 14)}Z`;
}

function caConfig(commonName: string): string {
  // Self-contained, so a system openssl.cnf (absent, or with other CA defaults) cannot interfere.
  return `[req]
distinguished_name = subject
prompt = no

[subject]
CN = ${commonName}

[ca]
default_ca = self

[self]
database = ./index.txt
new_certs_dir = ./
serial = ./serial
default_md = sha256
policy = any_subject
unique_subject = no
x509_extensions = server

[any_subject]
commonName = supplied

[server]
basicConstraints = critical,CA:FALSE
subjectAltName = DNS:${commonName}
`;
}
