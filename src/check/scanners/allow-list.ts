/**
 * The repository allow-list (`--allowlist FILE`, default `.bulwark-check-allow.yaml` in the
 * scanned directory when present): paths that are not scanned at all, and secret values that are
 * known to be harmless (documented example keys, fixtures). Finding-level acceptance with a
 * reason and an expiry belongs in a waiver file instead.
 *
 *   paths: ["test/fixtures/**", "docs/examples/*.pem"]
 *   secrets: ["^AKIA[A-Z0-9]{12}TEST$"]      # regular expressions over the secret value
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { BulwarkError } from "../../errors.js";
import { globToRegExp } from "./glob.js";
import type { SecretAllowList } from "./secrets.js";

export interface RepoAllowList extends SecretAllowList {
  readonly paths: readonly RegExp[];
  readonly source?: string;
}

export const DEFAULT_ALLOWLIST = ".bulwark-check-allow.yaml";

export function loadAllowList(root: string, file?: string): RepoAllowList {
  const path = file ?? join(root, DEFAULT_ALLOWLIST);
  if (file === undefined && !existsSync(path)) return { paths: [], values: [] };
  let document: unknown;
  try {
    document = parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new BulwarkError(
      "check_target_invalid",
      `cannot read allow-list ${path}: ${(error as Error).message.split("\n")[0]}`,
    );
  }
  const record = (document ?? {}) as { paths?: unknown; secrets?: unknown };
  const problems: string[] = [];
  const strings = (value: unknown, key: string): string[] => {
    if (value === undefined) return [];
    if (!Array.isArray(value) || value.some((item) => typeof item !== "string")) {
      problems.push(`${key}: expected a list of strings`);
      return [];
    }
    return value as string[];
  };
  const paths = strings(record.paths, "paths").map(globToRegExp);
  const values = strings(record.secrets, "secrets").flatMap((pattern) => {
    try {
      return [new RegExp(pattern)];
    } catch (error) {
      problems.push(
        `secrets: ${JSON.stringify(pattern)} is not a regular expression (${(error as Error).message})`,
      );
      return [];
    }
  });
  if (problems.length > 0)
    throw new BulwarkError("check_target_invalid", `invalid allow-list ${path}`, { details: problems });
  return { paths, values, source: path };
}
