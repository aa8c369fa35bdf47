/**
 * The new key of `bulwark backup rekey`: a key file (mode 0600, as every key file: readKeyFile)
 * or a passphrase in a file only its owner can read — never a passphrase on the command line
 * (ps, shell history).
 */
import { readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { BulwarkError, isBulwarkError } from "../errors.js";
import { type BackupKey, keyFromPassphrase, readKeyFile } from "./backup-key.js";

export async function loadNewKey(
  keyFile: string | undefined,
  passphraseFile: string | undefined,
): Promise<BackupKey> {
  if (keyFile !== undefined && passphraseFile !== undefined) {
    throw new BulwarkError("usage", "give the new key once: --new-key-file or --new-passphrase-file");
  }
  if (keyFile !== undefined) return readKeyFile(resolve(keyFile));
  if (passphraseFile !== undefined) {
    const path = resolve(passphraseFile);
    let text: string;
    try {
      const stat = statSync(path);
      if ((stat.mode & 0o077) !== 0) {
        throw new BulwarkError(
          "backup_key_invalid",
          `passphrase file ${path} is readable by other users (mode ${(stat.mode & 0o777).toString(8)}); run chmod 600 ${path}`,
        );
      }
      text = readFileSync(path, "utf8");
    } catch (error) {
      if (isBulwarkError(error)) throw error;
      throw new BulwarkError(
        "backup_key_invalid",
        `cannot read passphrase file ${path} (${(error as NodeJS.ErrnoException).code ?? "error"}); check the path and its permissions`,
      );
    }
    // One trailing newline is the editor's, not the passphrase's (as ${file:…} references).
    return keyFromPassphrase(text.replace(/\r?\n$/, ""));
  }
  throw new BulwarkError(
    "usage",
    "no new key: pass --new-key-file FILE (create one with `bulwark backup keygen --out FILE`) or --new-passphrase-file FILE",
  );
}
