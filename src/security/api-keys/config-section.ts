import { dirname } from "node:path";
import { ConfigError, type ConfigProblem } from "../../config/config-error.js";
import { readConfigFile } from "../../config/load.js";
import { pathKey, resolveReferences } from "../../config/secret-references.js";
import { lowerFirst, parseYamlMapping } from "../../config/yaml-document.js";
import { type ApiKeysConfig, apiKeysSchema, resolveApiKeysConfig } from "./schema.js";

export const SECTION = ["server", "apiKeys"] as const;

export function loadApiKeysSection(file: string, env: NodeJS.ProcessEnv = process.env): ApiKeysConfig {
  const { text, absolute } = readConfigFile(file);
  const { raw, locate } = parseYamlMapping(text, file);
  const server = raw.server as Record<string, unknown> | undefined;
  const section = server !== null && typeof server === "object" ? server.apiKeys : undefined;
  if (section === undefined) {
    throw new ConfigError(file, [
      {
        where: locate(["server"]),
        path: SECTION.join("."),
        message:
          "missing; add server.apiKeys with a pepper reference and a store (see docs/security-model.md#api-keys)",
      },
    ]);
  }
  const baseDir = dirname(absolute);
  const references = resolveReferences(section, { env, baseDir });
  const problems: ConfigProblem[] = references.problems.map((problem) => ({
    where: locate([...SECTION, ...problem.path]),
    path: pathKey([...SECTION, ...problem.path]),
    message: problem.message,
  }));
  const unresolved = new Set(problems.map((problem) => problem.path));
  const parsed = apiKeysSchema.safeParse(references.value);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const path = [...SECTION, ...issue.path];
      const found: ConfigProblem[] =
        issue.code === "unrecognized_keys"
          ? issue.keys.map((key) => ({
              where: locate(path, key),
              path: pathKey([...path, key]),
              message: "unknown key; check its spelling against docs/security-model.md#api-keys",
            }))
          : [{ where: locate(path), path: pathKey(path), message: lowerFirst(issue.message) }];
      problems.push(...found.filter((problem) => !unresolved.has(problem.path)));
    }
  }
  const pepperPath = pathKey([...SECTION, "pepper"]);
  if (
    typeof (section as Record<string, unknown> | null)?.pepper === "string" &&
    !references.secretPaths.has("pepper") &&
    !unresolved.has(pepperPath)
  ) {
    problems.push({
      where: locate([...SECTION, "pepper"]),
      path: pepperPath,
      message: `must be a \${file:/path} or \${env:NAME} reference, not a literal in the config file`,
    });
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(file, problems);
  return resolveApiKeysConfig(parsed.data, baseDir);
}
