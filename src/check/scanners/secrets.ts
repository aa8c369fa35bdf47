/**
 * Runs the secret rules over one text (a file, or the added lines of a commit). Evidence is the
 * line with the secret masked; the secret itself never leaves this function.
 */
import { type Finding, finding } from "../findings.js";
import { maskInLine } from "../mask.js";
import { SECRET_RULES } from "./secret-rules.js";
import { hasIgnoreComment, LineIndex } from "./text-lines.js";

export interface SecretAllowList {
  /** Secret values matching one of these are accepted (e.g. documented test keys). */
  readonly values: readonly RegExp[];
}

export const EMPTY_ALLOW: SecretAllowList = { values: [] };

export interface SecretHit {
  readonly finding: Finding;
  /** The rule id and a hash-free identity of the value, to de-duplicate across history. */
  readonly key: string;
}

export function scanSecrets(
  text: string,
  path: string,
  allow: SecretAllowList,
  locate: (line: number) => string = (line) => `${path}:${line}`,
): SecretHit[] {
  const lower = text.toLowerCase();
  let lines: LineIndex | undefined;
  const hits: (SecretHit & { secret: string; line: number })[] = [];
  for (const rule of SECRET_RULES) {
    if (!rule.keywords.some((keyword) => lower.includes(keyword))) continue;
    rule.pattern.lastIndex = 0;
    for (let match = rule.pattern.exec(text); match !== null; match = rule.pattern.exec(text)) {
      const secret = match.groups?.secret ?? match[1];
      if (secret === undefined || secret.length === 0) continue;
      if (rule.validate && !rule.validate(secret, match)) continue;
      if (allow.values.some((pattern) => pattern.test(secret))) continue;
      lines ??= new LineIndex(text);
      const at = match.index + match[0].indexOf(secret);
      const lineNumber = lines.lineOf(at);
      const line = lines.line(lineNumber);
      if (hasIgnoreComment(line)) continue;
      hits.push({
        secret,
        line: lineNumber,
        finding: finding(rule.id, {
          // A private key's armour header names the key type and is not itself secret.
          evidence:
            rule.id === "secret-private-key"
              ? secret
              : maskInLine(line.includes(secret) ? line : secret, secret, rule.keepStart ?? 4),
          location: locate(lineNumber),
        }),
        key: `${rule.id}:${secret}`,
      });
    }
  }
  // A value a provider rule recognized is not reported again by the generic rule.
  const specific = hits.filter((hit) => hit.finding.id !== "secret-generic");
  return hits
    .filter(
      (hit) =>
        hit.finding.id !== "secret-generic" ||
        !specific.some(
          (other) =>
            other.line === hit.line &&
            (other.secret.includes(hit.secret) || hit.secret.includes(other.secret)),
        ),
    )
    .map(({ finding: found, key }) => ({ finding: found, key }));
}
