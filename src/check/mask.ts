/**
 * Evidence masking: a secret is never printed, written to a report or logged in full. Enough of
 * it is kept to let its owner recognize which credential it is (a known prefix and the last few
 * characters), as gitleaks' --redact and GitHub secret scanning do.
 */

/** Masks a secret value: its first `keepStart` and last 4 characters survive, the rest becomes `*`. */
export function maskSecret(secret: string, keepStart = 4): string {
  if (secret.length <= 8) return "*".repeat(secret.length);
  const start = Math.min(keepStart, Math.floor(secret.length / 4));
  const end = secret.length >= 20 ? 4 : 2;
  const hidden = secret.length - start - end;
  return `${secret.slice(0, start)}${"*".repeat(Math.min(hidden, 12))}${secret.slice(secret.length - end)}`;
}

/** Replaces every occurrence of `secret` in `line` by its mask and clips the line around it. */
export function maskInLine(line: string, secret: string, keepStart = 4): string {
  const masked = line.split(secret).join(maskSecret(secret, keepStart));
  const at = masked.indexOf(maskSecret(secret, keepStart));
  const from = Math.max(0, at - 60);
  const clipped = masked.slice(from, from + 160).trim();
  return `${from > 0 ? "…" : ""}${clipped}${from + 160 < masked.length ? "…" : ""}`;
}

/** Masks the password of a URL-shaped connection string (scheme://user:password@host). */
export function maskUrlPassword(text: string): string {
  return text.replace(
    /(\/\/[^:/@\s]*:)([^@\s]+)(@)/g,
    (_all, head: string, _password: string, at: string) => {
      return `${head}****${at}`;
    },
  );
}
