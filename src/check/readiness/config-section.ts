/**
 * Reads the `readiness:` section of a bulwark.yaml for `bulwark check`: the same parsing,
 * references and positioned problems as the full loader (src/config/section.ts), then every path
 * in it resolved against the config file's directory and checked to exist, so a misspelt
 * repository or CA file is reported as `file:line:column readiness.repos[0].path: …` before any
 * request is sent rather than as a failed check halfway through the run.
 */
import { statSync } from "node:fs";
import { resolve } from "node:path";
import { ConfigError, type ConfigProblem } from "../../config/config-error.js";
import { pathKey } from "../../config/secret-references.js";
import { type ConfigDocument, loadConfigSection } from "../../config/section.js";
import { type ReadinessConfig, readinessSchema } from "./schema.js";

export const SECTION = ["readiness"] as const;

/** Undefined when the file has no readiness section. Paths in the result are absolute. */
export function loadReadinessSection(
  document: ConfigDocument,
  env: NodeJS.ProcessEnv = process.env,
): ReadinessConfig | undefined {
  const loaded = loadConfigSection(document, SECTION, readinessSchema, { env });
  if (!loaded) return undefined;
  const section = loaded.value;
  const problems: ConfigProblem[] = [];
  const at = (path: readonly PropertyKey[]) => ({
    where: loaded.locate(path),
    path: pathKey([...SECTION, ...path]),
  });
  const existing = (path: readonly PropertyKey[], value: string, kind: "file" | "directory"): string => {
    const absolute = resolve(loaded.baseDir, value);
    let found: "file" | "directory" | undefined;
    try {
      const stat = statSync(absolute);
      found = stat.isDirectory() ? "directory" : stat.isFile() ? "file" : undefined;
    } catch {
      found = undefined;
    }
    if (found !== kind)
      problems.push({
        ...at(path),
        message: `${kind} ${absolute} ${found === undefined ? "does not exist" : `is not a ${kind}`}; paths are relative to the config file's directory`,
      });
    return absolute;
  };
  const optionalFile = (
    path: readonly PropertyKey[],
    value: string | undefined,
    kind: "file" | "directory",
  ) => (value === undefined ? {} : { [path[path.length - 1] as string]: existing(path, value, kind) });

  const resolved: ReadinessConfig = {
    ...section,
    evidenceDir: resolve(loaded.baseDir, section.evidenceDir),
    ...optionalFile(["waivers"], section.waivers, "file"),
    urls: section.urls.map((target, index) => ({
      ...target,
      ...optionalFile(["urls", index, "ca"], target.ca, "file"),
    })),
    repos: section.repos.map((target, index) => ({
      ...target,
      path: existing(["repos", index, "path"], target.path, "directory"),
      ...optionalFile(["repos", index, "advisories"], target.advisories, "directory"),
      ...optionalFile(["repos", index, "allowlist"], target.allowlist, "file"),
    })),
    // A team item's file is its evidence: a missing one fails the item, not the config.
    items: section.items.map((item) =>
      item.evidence.file === undefined
        ? item
        : { ...item, evidence: { file: resolve(loaded.baseDir, item.evidence.file) } },
    ),
  };
  if (problems.length > 0) throw new ConfigError(document.file, problems);
  return resolved;
}
