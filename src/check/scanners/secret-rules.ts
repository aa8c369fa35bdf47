/**
 * Secret detection rules. Each rule has keywords (a cheap, case-insensitive substring prefilter, as
 * gitleaks does: a rule's regex only runs over files that contain one of them) and a global regex
 * whose group 1 is the secret itself, which is what gets masked. `validate` rejects look-alikes.
 * Patterns follow the providers' documented token formats (GitHub "About authentication",
 * GitLab token prefixes, Slack token types, Stripe API keys, AWS IAM identifiers).
 */
import { shannonEntropy } from "./entropy.js";

export interface SecretRule {
  readonly id: string;
  readonly keywords: readonly string[];
  /** Group `secret` (or group 1) is the secret itself. */
  readonly pattern: RegExp;
  /** Characters of the secret kept in clear at the start of the mask (a known prefix). */
  readonly keepStart?: number;
  readonly validate?: (secret: string, match: RegExpExecArray) => boolean;
}

/** Values that are placeholders, templates or environment references, not secrets. */
export function isPlaceholder(value: string): boolean {
  const v = value.trim();
  return (
    /^(\$\{?|\$\(|%\(|\{\{|<|\[|process\.env|os\.environ|env\(|getenv|ENV\[|secrets\.|vault:|ref\+)/i.test(
      v,
    ) ||
    /^(x+|\*+|\.+|-+|_+|0+|changeme|change_me|password|passwd|secret|pass|example|sample|dummy|test|redacted|none|null|undefined|todo|your[-_a-z]*)$/i.test(
      v,
    ) ||
    /example|placeholder|dummy|redacted|xxxxxx|your[_-]?(api|secret|token|key|password)/i.test(v)
  );
}

function jwtHeaderOk(token: string): boolean {
  try {
    const header = JSON.parse(Buffer.from(token.split(".")[0]!, "base64url").toString("utf8")) as {
      alg?: unknown;
    };
    return typeof header.alg === "string";
  } catch {
    return false;
  }
}

function looksRandom(value: string, minEntropy: number): boolean {
  return (
    /[0-9]/.test(value) &&
    /[A-Za-z]/.test(value) &&
    shannonEntropy(value) >= minEntropy &&
    !isPlaceholder(value)
  );
}

export const SECRET_RULES: readonly SecretRule[] = [
  {
    id: "secret-aws-access-key",
    keywords: ["akia", "asia", "abia", "acca"],
    pattern: /\b((?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\b/g,
    keepStart: 4,
    validate: (secret) => !/EXAMPLE$/.test(secret),
  },
  {
    id: "secret-aws-secret-key",
    keywords: ["aws"],
    pattern:
      /aws_?(?:secret)?_?(?:access)?_?key(?:_id)?["']?\s*(?:=|:|=>|:=)\s*["']?([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])/gi,
    keepStart: 0,
    validate: (secret) => looksRandom(secret, 4) && !/EXAMPLEKEY/.test(secret),
  },
  {
    id: "secret-gcp-service-account",
    keywords: ["service_account"],
    pattern: /"type"\s*:\s*"(service_account)"/g,
    keepStart: 15,
    validate: (_secret, match) => /"private_key"\s*:\s*"-----BEGIN/.test(match.input),
  },
  {
    id: "secret-github-token",
    keywords: ["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"],
    pattern: /\b((?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{82})\b/g,
    keepStart: 4,
    validate: (secret) => looksRandom(secret.slice(4), 3.5),
  },
  {
    id: "secret-gitlab-token",
    keywords: ["glpat-", "glrt-", "gr1348941"],
    pattern: /\b((?:glpat-|glrt-|GR1348941)[A-Za-z0-9_-]{20,})\b/g,
    keepStart: 6,
    validate: (secret) => looksRandom(secret.replace(/^(glpat-|glrt-|GR1348941)/, ""), 3.3),
  },
  {
    id: "secret-slack-token",
    keywords: ["xoxb-", "xoxa-", "xoxp-", "xoxr-", "xoxs-", "xoxe"],
    pattern: /\b(xox(?:[abprs]|e(?:\.xox[bp])?)-[A-Za-z0-9-]{10,})\b/g,
    keepStart: 5,
    validate: (secret) => /\d/.test(secret) && !isPlaceholder(secret.slice(5)),
  },
  {
    id: "secret-slack-webhook",
    keywords: ["hooks.slack.com"],
    pattern: /(https:\/\/hooks\.slack\.com\/(?:services|workflows)\/[A-Za-z0-9+/]{20,})/g,
    keepStart: 32,
  },
  {
    id: "secret-stripe-key",
    keywords: ["sk_live_", "rk_live_"],
    pattern: /\b((?:sk|rk)_live_[A-Za-z0-9]{20,})\b/g,
    keepStart: 8,
    validate: (secret) => looksRandom(secret.slice(8), 3.3),
  },
  {
    id: "secret-private-key",
    keywords: ["private key"],
    // The armour header followed by a base64 body: a header alone (in docs or a parser) is not a key.
    pattern:
      /(-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----)(?:\\r|\\n|\s)+(?:[A-Za-z0-9+/=:, -]+(?:\\r|\\n|\s)+)?[A-Za-z0-9+/]{40,}/g,
    keepStart: 40,
  },
  {
    id: "secret-jwt",
    keywords: ["eyj"],
    pattern: /\b(eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{16,})/g,
    keepStart: 10,
    validate: jwtHeaderOk,
  },
  {
    id: "secret-connection-string",
    keywords: ["://"],
    pattern:
      /\b(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|amqps?|mssql|sqlserver|clickhouse):\/\/[^:\s/@'"`]+:([^@\s'"`/]+)@[^\s'"`]+/gi,
    keepStart: 0,
    validate: (secret) => !isPlaceholder(secret) && !/^\$|^%|^\{/.test(secret),
  },
  {
    id: "secret-generic",
    keywords: ["pass", "pwd", "secret", "token", "key", "credential"],
    // name = "value" (code) or NAME=value (env files); the name must say it is a credential and
    // not merely about one (…_id, …_file, …_name).
    pattern:
      /(?:^|[\s{,;("'])(?<name>[\w.-]{0,32}(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|auth[_-]?key|private[_-]?key|client[_-]?secret|credentials?)[\w.-]{0,32})["']?\s*(?:=|:|:=|=>)\s*["'`]?(?<secret>[A-Za-z0-9_\-+/=.~!@#%^&*]{16,200})["'`]?/gim,
    keepStart: 0,
    validate: (secret, match) =>
      !/(_?id|_?file|_?path|_?name|_?type|_?url|_?length|_?header)$/i.test(match.groups?.name ?? "") &&
      looksRandom(secret, 3.5) &&
      !/^[a-z]+(\.[a-z_]+)+$/i.test(secret),
  },
];
