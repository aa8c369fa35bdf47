/**
 * How `bulwark load` connects to a target. An HTTPS target is trusted through the system's CAs
 * (the default), a CA bundle of the user's (`--ca FILE`, scenario `tls.ca`) for certificates from
 * a private CA, or not verified at all (`--insecure`, scenario `tls.insecure`) for a throwaway
 * self-signed one; without these, such a target's requests all fail as `tls` errors. `--http2`
 * (scenario `http2: true`) offers HTTP/2 in the handshake.
 */

import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";

export interface TargetTls {
  /** Certificates are not verified (chain, name, dates). */
  readonly insecure: boolean;
  /** PEM bundle trusted instead of the system's CAs. */
  readonly ca?: string;
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

/** Where a trust choice was made, for messages: the CLI's flags or a scenario's `tls:` keys. */
export interface TlsChoiceNames {
  readonly insecure: string;
  readonly ca: string;
}

/** A refused trust choice; `key` is "ca" when the CA file itself is at fault. */
export class TlsChoiceError extends Error {
  constructor(
    message: string,
    readonly key?: "ca",
  ) {
    super(message);
    this.name = "TlsChoiceError";
  }
}

/**
 * The trust settings `insecure` / `ca` ask for, checked the same way for flags and scenario keys:
 * not both, only for a run with an https:// origin, and a CA file that holds valid certificates
 * (`ca` resolved against `baseDir`). Undefined when neither is given; throws TlsChoiceError.
 */
export function chooseTargetTls(
  choice: { readonly insecure?: boolean | undefined; readonly ca?: string | undefined },
  origins: readonly string[],
  baseDir: string,
  names: TlsChoiceNames,
): TargetTls | undefined {
  if (!choice.insecure && choice.ca === undefined) return undefined;
  if (choice.insecure && choice.ca !== undefined)
    throw new TlsChoiceError(
      `give ${names.insecure} or ${names.ca}, not both (${names.ca} verifies the target against the file, ${names.insecure} verifies nothing)`,
    );
  const name = choice.insecure ? names.insecure : names.ca;
  if (!origins.some((origin) => origin.startsWith("https:")))
    throw new TlsChoiceError(`${name} applies to https:// targets; ${origins[0]} is plain HTTP`);
  if (choice.insecure) return { insecure: true };
  try {
    return { insecure: false, ca: readCaBundle(resolve(baseDir, choice.ca!)) };
  } catch (error) {
    throw new TlsChoiceError((error as Error).message, "ca");
  }
}

/**
 * undici's Client/Pool options for a target, the same for a URL run and a scenario: one request
 * at a time per connection, the connect timeout, the trust settings for HTTPS, and HTTP/2
 * offered in the TLS handshake when asked (the server picks).
 */
export function targetDispatcherOptions(
  timeoutMs: number,
  target: { readonly tls?: TargetTls | undefined; readonly http2?: boolean | undefined },
): {
  pipelining: 1;
  connect: { timeout: number; rejectUnauthorized?: boolean; ca?: string };
  allowH2?: true;
} {
  const tls = target.tls;
  return {
    pipelining: 1,
    connect: {
      timeout: timeoutMs,
      ...(tls?.insecure ? { rejectUnauthorized: false } : {}),
      ...(tls?.ca !== undefined ? { ca: tls.ca } : {}),
    },
    ...(target.http2 ? { allowH2: true as const } : {}),
  };
}
