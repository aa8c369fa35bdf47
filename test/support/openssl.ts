/**
 * The real `openssl` binary for tests (execFile, never a shell), bare keys, and self-signed
 * certificates written to the paths a test names (made by certs.ts).
 */
import { execFile } from "node:child_process";
import { copyFile, mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { promisify } from "node:util";
import { makeCertificate } from "./certs.js";

const execFileAsync = promisify(execFile);

const MISSING_OPENSSL =
  "the openssl binary is needed to make test certificates but was not found on PATH; " +
  "install it with: apt-get install -y openssl (Debian/Ubuntu) or apk add openssl (Alpine)";

/** Runs openssl with arguments (no shell); an absent binary fails with the install command. */
export async function openssl(args: readonly string[], cwd?: string): Promise<string> {
  // cwd matters to `openssl ca`, whose config names its database with relative paths.
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
  /** Default: five minutes ago. */
  readonly notBefore?: Date;
  /** Default: thirty days after notBefore. */
  readonly notAfter?: Date;
  readonly commonName?: string;
}

/** Writes a self-signed certificate (P-256 key) at the paths a test names; see certs.ts. */
export async function writeSelfSignedCertificate(options: SelfSignedOptions): Promise<void> {
  const made = await makeCertificate({
    keyType: "ec",
    ...(options.commonName ? { commonName: options.commonName } : {}),
    ...(options.notBefore ? { notBefore: options.notBefore } : {}),
    ...(options.notAfter ? { notAfter: options.notAfter } : {}),
  });
  try {
    await mkdir(dirname(options.certFile), { recursive: true });
    await mkdir(dirname(options.keyFile), { recursive: true });
    await copyFile(made.certFile, options.certFile);
    await copyFile(made.keyFile, options.keyFile);
  } finally {
    await made.cleanup();
  }
}
