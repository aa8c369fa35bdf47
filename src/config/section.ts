/**
 * One section of a bulwark.yaml, for commands that need only that part (`bulwark keys -c` needs
 * `server.apiKeys` and `audit`, not a config that would also start a gateway): the same parsing,
 * `${env:}`/`${file:}` references and positioned problems as the full loader, checked by the
 * section's own schema.
 */
import { dirname } from "node:path";
import type { z } from "zod";
import { ConfigError, type ConfigProblem } from "./config-error.js";
import { issueProblems } from "./issue-problems.js";
import { readConfigFile } from "./load.js";
import { pathKey, resolveReferences } from "./secret-references.js";
import { parseYamlMapping } from "./yaml-document.js";

export interface LoadedSection<T> {
  readonly value: T;
  /** Key paths inside the section whose values came from references (pathKey form). */
  readonly secretPaths: ReadonlySet<string>;
  /** The config file's directory, against which relative paths resolve. */
  readonly baseDir: string;
  /** file:line:column of a key path inside the section. */
  locate(path: readonly PropertyKey[]): string;
}

/** A config file read and parsed once, for commands that take several sections from it. */
export interface ConfigDocument {
  readonly file: string;
  readonly raw: Record<string, unknown>;
  readonly baseDir: string;
  locate(path: readonly PropertyKey[], key?: string): string;
}

export function readConfigDocument(file: string): ConfigDocument {
  const { text, absolute } = readConfigFile(file);
  const { raw, locate } = parseYamlMapping(text, file);
  return { file, raw, baseDir: dirname(absolute), locate };
}

/**
 * The section at `path`, validated; undefined when the file has none. Throws ConfigError with
 * every problem (file:line:column, full key path) when the section is invalid.
 */
export function loadConfigSection<S extends z.ZodType>(
  source: string | ConfigDocument,
  path: readonly string[],
  schema: S,
  options: {
    readonly env?: NodeJS.ProcessEnv;
    /** Keys of the section that must be `${file:}`/`${env:}` references, never literals (secrets). */
    readonly references?: readonly string[];
  } = {},
): LoadedSection<z.output<S>> | undefined {
  const env = options.env ?? process.env;
  const { file, raw, locate, baseDir } = typeof source === "string" ? readConfigDocument(source) : source;
  let section: unknown = raw;
  for (const key of path) {
    section =
      section !== null && typeof section === "object" ? (section as Record<string, unknown>)[key] : undefined;
  }
  if (section === undefined) return undefined;
  const references = resolveReferences(section, { env, baseDir });
  const within = (inner: readonly PropertyKey[]) => [...path, ...inner];
  const problems: ConfigProblem[] = references.problems.map((problem) => ({
    where: locate(within(problem.path)),
    path: pathKey(within(problem.path)),
    message: problem.message,
  }));
  const unresolved = new Set(problems.map((problem) => problem.path));
  const parsed = schema.safeParse(references.value);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      problems.push(
        ...issueProblems({ ...issue, path: within(issue.path) }, locate).filter(
          (problem) => !unresolved.has(problem.path),
        ),
      );
    }
  }
  for (const key of options.references ?? []) {
    const literal = typeof (section as Record<string, unknown> | null)?.[key] === "string";
    const where = pathKey(within([key]));
    if (literal && !references.secretPaths.has(key) && !unresolved.has(where)) {
      problems.push({
        where: locate(within([key])),
        path: where,
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a config reference, written as users write it
        message: "must be a ${file:/path} or ${env:NAME} reference, not a literal in the config file",
      });
    }
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(file, problems);
  return {
    value: parsed.data,
    secretPaths: references.secretPaths,
    baseDir,
    locate: (inner) => locate(within(inner)),
  };
}
