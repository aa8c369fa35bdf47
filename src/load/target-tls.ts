/**
 * How `bulwark load` trusts an HTTPS target: the system's CAs (the default), a CA bundle of the
 * user's (`--ca FILE`, scenario `tls.ca`) for targets with certificates from a private CA, or no
 * verification at all (`--insecure`, scenario `tls.insecure`) for a throwaway self-signed one.
 * Without these, such a target's requests all fail as `tls` errors.
 */

import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";

export interface TargetTls {
  /** Certificates are not verified (chain, name, dates). */
  readonly insecure: boolean;
  /** PEM bundle trusted instead of the system's CAs. */
  readonly ca?: string;
  /** Where the bundle came from, for messages. */
  readonly caFile?: string;
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * Reads a CA bundle: one or more PEM certificates. Throws an Error whose message says what is
 * wrong with `file` (unreadable, no certificate, a block that does not parse); the caller adds
 * where it was named (a flag, a scenario key).
 */
export function readCaBundle(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "unknown error";
    throw new Error(`cannot read the CA file ${file} (${code})`);
  }
  const blocks = text.match(PEM_BLOCK) ?? [];
  if (blocks.length === 0) {
    throw new Error(`the CA file ${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  }
  blocks.forEach((block, index) => {
    try {
      new X509Certificate(block);
    } catch {
      throw new Error(`certificate ${index + 1} in the CA file ${file} is not a valid PEM certificate`);
    }
  });
  return blocks.join("\n");
}

/** undici's `connect` options for a target: the connect timeout and, for HTTPS, the trust settings. */
export function connectOptions(
  timeoutMs: number,
  tls: TargetTls | undefined,
): { timeout: number; rejectUnauthorized?: boolean; ca?: string } {
  if (!tls) return { timeout: timeoutMs };
  return {
    timeout: timeoutMs,
    ...(tls.insecure ? { rejectUnauthorized: false } : {}),
    ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
  };
}
