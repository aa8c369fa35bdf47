/**
 * Loading bulwark.yaml: YAML → secret references → schema → fail-closed rules → resolved,
 * frozen runtime config. Every problem is collected and reported together, each with
 * file:line:column, the key path and what was expected (DESIGN.md principle 4).
 */
import { readFileSync } from "node:fs";
import { dirname, resolve as resolvePath } from "node:path";
import { BulwarkError } from "../errors.js";
import { ConfigError, type ConfigProblem } from "./config-error.js";
import { issueProblems } from "./issue-problems.js";
import { type ResolvedConfig, resolveConfig } from "./resolve.js";
import { checkRules } from "./rules.js";
import { type Config, configSchema } from "./schema.js";
import { pathKey, resolveReferences } from "./secret-references.js";
import { parseYamlMapping } from "./yaml-document.js";

export { ConfigError, type ConfigProblem, formatProblem } from "./config-error.js";

export interface LoadOptions {
  readonly env?: NodeJS.ProcessEnv;
}

/** A config file's text and absolute path; `config_unreadable` naming the file when it cannot be read. */
export function readConfigFile(file: string): { text: string; absolute: string } {
  const absolute = resolvePath(file);
  try {
    return { text: readFileSync(absolute, "utf8"), absolute };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "unknown error";
    throw new BulwarkError("config_unreadable", `cannot read configuration file ${file} (${code})`);
  }
}

/** Reads, validates and resolves a config file; throws ConfigError listing every problem. */
export function loadConfigFile(file: string, options: LoadOptions = {}): ResolvedConfig {
  const { text, absolute } = readConfigFile(file);
  return loadConfigText(text, { ...options, source: file, baseDir: dirname(absolute) });
}

export function loadConfigText(
  text: string,
  options: LoadOptions & { source: string; baseDir: string },
): ResolvedConfig {
  const { raw, locate } = parseYamlMapping(text, options.source);
  return validateConfig(raw, {
    source: options.source,
    baseDir: options.baseDir,
    env: options.env ?? process.env,
    locate,
  });
}

/** Validates a plain object (quick mode builds one from flags). */
export function validateConfig(
  raw: unknown,
  options: {
    source: string;
    baseDir: string;
    env?: NodeJS.ProcessEnv;
    locate?: (path: readonly PropertyKey[], key?: string) => string;
  },
): ResolvedConfig {
  const locate = options.locate ?? (() => options.source);
  const references = resolveReferences(raw, { env: options.env ?? process.env, baseDir: options.baseDir });
  const problems: ConfigProblem[] = references.problems.map((problem) => ({
    where: locate(problem.path),
    path: pathKey(problem.path),
    message: problem.message,
  }));
  // A reference that failed resolved to "": the schema's complaint about that empty value would mislead.
  const unresolved = new Set(problems.map((problem) => problem.path));
  const parsed = configSchema.safeParse(references.value);
  if (!parsed.success) {
    problems.push(
      ...parsed.error.issues
        .flatMap((issue) => issueProblems(issue, locate))
        .filter((problem) => !unresolved.has(problem.path)),
    );
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(options.source, problems);

  const config: Config = parsed.data;
  const violations = checkRules(config, { baseDir: options.baseDir, secretPaths: references.secretPaths });
  if (violations.length > 0) {
    // Rule messages quote values (an address, an origin); one that came from a reference is a secret.
    const secrets = secretValues(references.value, references.secretPaths);
    throw new ConfigError(
      options.source,
      violations.map((violation) => ({
        where: locate(violation.path),
        path: pathKey(violation.path),
        message: redact(`${violation.message}; fix: ${violation.fix}`, secrets),
        rule: violation.rule,
      })),
    );
  }
  return resolveConfig(config, {
    source: options.source,
    baseDir: options.baseDir,
    secretPaths: references.secretPaths,
  });
}

/** Resolved values at secret paths, longest first so a secret containing another is masked whole. */
function secretValues(value: unknown, secretPaths: ReadonlySet<string>): string[] {
  const found = new Set<string>();
  const visit = (node: unknown, path: (string | number)[]): void => {
    if (typeof node === "string") {
      if (node !== "" && secretPaths.has(pathKey(path))) {
        found.add(node);
        found.add(JSON.stringify(node).slice(1, -1));
      }
    } else if (Array.isArray(node)) {
      for (const [index, item] of node.entries()) visit(item, [...path, index]);
    } else if (node !== null && typeof node === "object") {
      for (const [key, item] of Object.entries(node)) visit(item, [...path, key]);
    }
  };
  if (secretPaths.size > 0) visit(value, []);
  return [...found].sort((a, b) => b.length - a.length);
}

function redact(text: string, secrets: readonly string[]): string {
  return secrets.reduce((masked, secret) => masked.replaceAll(secret, "[secret]"), text);
}
