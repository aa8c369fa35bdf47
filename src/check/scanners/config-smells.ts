/**
 * Configuration smells: committed env and key files (by name), TLS switched off in connection
 * settings, CORS allowing any origin in code, and debug modes switched on. Each pattern names a
 * concrete, widely used spelling, so ordinary code does not match by accident.
 */
import { type Finding, finding } from "../findings.js";
import { maskUrlPassword } from "../mask.js";
import { hasIgnoreComment, LineIndex } from "./text-lines.js";

const ENV_FILE = /^\.env(\.[\w-]+)*$/;
const ENV_TEMPLATE = /\.(example|sample|template|dist|defaults?|tpl)$/i;
const KEY_FILE = /(\.(p12|pfx|jks|keystore|key)$)|(^id_(rsa|dsa|ecdsa|ed25519)$)/i;

/** Findings that come from a file's name alone. */
export function fileNameSmells(path: string): Finding[] {
  const name = path.slice(path.lastIndexOf("/") + 1);
  if (ENV_FILE.test(name) && !ENV_TEMPLATE.test(name))
    return [finding("config-env-file-committed", { evidence: `file ${name}`, location: path })];
  if (KEY_FILE.test(name))
    return [finding("config-key-file-committed", { evidence: `file ${name}`, location: path })];
  return [];
}

interface ContentRule {
  readonly id: string;
  readonly keywords: readonly string[];
  readonly pattern: RegExp;
  /** Only in files whose path matches, when set. */
  readonly files?: RegExp;
}

const CODE_OR_CONFIG =
  /\.(js|mjs|cjs|ts|tsx|jsx|py|rb|go|java|kt|php|cs|rs|ya?ml|json|toml|ini|conf|cfg|properties|env|xml)$|(^|\/)\.env[^/]*$|(^|\/)(Dockerfile|Containerfile)[^/]*$/i;

const CONTENT_RULES: readonly ContentRule[] = [
  { id: "config-tls-disabled", keywords: ["sslmode"], pattern: /sslmode\s*[=:]\s*["']?disable\b/gi },
  {
    id: "config-tls-disabled",
    keywords: ["rejectunauthorized"],
    pattern: /rejectUnauthorized["']?\s*:\s*false\b/g,
  },
  {
    id: "config-tls-disabled",
    keywords: ["node_tls_reject_unauthorized"],
    pattern: /NODE_TLS_REJECT_UNAUTHORIZED["']?\s*[=:]\s*["']?0\b/g,
  },
  {
    id: "config-tls-disabled",
    keywords: ["insecureskipverify"],
    pattern: /InsecureSkipVerify\s*:\s*true\b/g,
  },
  {
    id: "config-tls-disabled",
    keywords: ["verify=false"],
    pattern: /\bverify\s*=\s*False\b/g,
    files: /\.py$/,
  },
  {
    id: "config-cors-wildcard",
    keywords: ["access-control-allow-origin"],
    pattern: /["']Access-Control-Allow-Origin["']\s*[,:=]\s*["']\*["']/gi,
  },
  { id: "config-cors-wildcard", keywords: ["cors"], pattern: /\bcors\(\s*\)/g, files: /\.(js|mjs|cjs|ts)$/ },
  {
    id: "config-cors-wildcard",
    keywords: ["origin"],
    pattern: /\borigin\s*:\s*(["']\*["']|true\b)/g,
    files: /\.(js|mjs|cjs|ts)$/,
  },
  {
    id: "config-cors-wildcard",
    keywords: ["allow_origins"],
    pattern: /allow_origins\s*=\s*\[\s*["']\*["']\s*\]/g,
  },
  {
    id: "config-cors-wildcard",
    keywords: ["cors_"],
    pattern: /CORS_(ORIGIN_)?ALLOW_ALL(_ORIGINS)?\s*=\s*True\b/g,
  },
  {
    id: "config-debug-enabled",
    keywords: ["debug"],
    pattern: /^\s*DEBUG\s*=\s*True\b/gm,
    files: /settings[^/]*\.py$/,
  },
  {
    id: "config-debug-enabled",
    keywords: ["debug"],
    pattern: /\.run\([^)]*\bdebug\s*=\s*True\b/g,
    files: /\.py$/,
  },
  { id: "config-debug-enabled", keywords: ["app_debug"], pattern: /^\s*APP_DEBUG\s*=\s*true\b/gim },
  { id: "config-debug-enabled", keywords: ["display_errors"], pattern: /^\s*display_errors\s*=\s*On\b/gim },
  {
    id: "config-debug-enabled",
    keywords: ["node_env"],
    pattern: /NODE_ENV["']?\s*[=:]\s*["']?development\b/g,
    files: /(^|\/)(\.env[^/]*|Dockerfile[^/]*|(docker-)?compose[^/]*\.ya?ml)$/,
  },
];

export function contentSmells(text: string, path: string): Finding[] {
  if (!CODE_OR_CONFIG.test(path)) return [];
  const lower = text.toLowerCase();
  const findings: Finding[] = [];
  let lines: LineIndex | undefined;
  for (const rule of CONTENT_RULES) {
    if (rule.files && !rule.files.test(path)) continue;
    if (!rule.keywords.some((keyword) => lower.includes(keyword))) continue;
    rule.pattern.lastIndex = 0;
    for (let match = rule.pattern.exec(text); match !== null; match = rule.pattern.exec(text)) {
      lines ??= new LineIndex(text);
      const line = lines.lineOf(match.index);
      const content = lines.line(line);
      if (hasIgnoreComment(content)) continue;
      findings.push(
        finding(rule.id, { evidence: maskUrlPassword(content.trim()), location: `${path}:${line}` }),
      );
    }
  }
  return findings;
}
