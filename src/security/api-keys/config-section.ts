/**
 * Reads only the `server.apiKeys` section of a bulwark.yaml, for `bulwark keys -c FILE`: the CLI
 * needs the pepper and the store, not a config that would also start a gateway (its upstreams,
 * its other secrets). Problems are reported like the full loader's: file:line:column, key path,
 * what was expected. The pepper must come from a `${file:}` or `${env:}` reference, so it is
 * never written in clear in the config file.
 */
import { ConfigError } from "../../config/config-error.js";
import { type ConfigDocument, loadConfigSection } from "../../config/section.js";
import { type ApiKeysConfig, apiKeysSchema, resolveApiKeysConfig } from "./schema.js";

export const SECTION = ["server", "apiKeys"] as const;

export function loadApiKeysSection(
  source: string | ConfigDocument,
  env: NodeJS.ProcessEnv = process.env,
): ApiKeysConfig {
  const file = typeof source === "string" ? source : source.file;
  const loaded = loadConfigSection(source, SECTION, apiKeysSchema, { env, references: ["pepper"] });
  if (!loaded) {
    throw new ConfigError(file, [
      {
        where: file,
        path: SECTION.join("."),
        message:
          "missing; add server.apiKeys with a pepper reference and a store (see docs/security-model.md#api-keys)",
      },
    ]);
  }
  return resolveApiKeysConfig(loaded.value, loaded.baseDir);
}
