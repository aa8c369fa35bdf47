/**
 * Lockfile readers: each turns one lockfile into the exact package versions it pins, with the
 * line where each appears. A malformed lockfile throws a LockfileError, which the repository
 * scan turns into a warning. Ecosystem names are OSV's (https://ossf.github.io/osv-schema/).
 */
import { parse as parseYaml } from "yaml";
import { LineIndex } from "../text-lines.js";

export type Ecosystem = "npm" | "crates.io" | "PyPI" | "Go" | "RubyGems";

export interface LockedPackage {
  readonly ecosystem: Ecosystem;
  readonly name: string;
  readonly version: string;
  readonly line: number;
}

export class LockfileError extends Error {}

interface LockfileReader {
  readonly ecosystem: Ecosystem;
  readonly matches: (name: string) => boolean;
  readonly read: (text: string) => LockedPackage[];
}

function lineFinder(text: string) {
  const lines = new LineIndex(text);
  return (needle: string): number => {
    const at = text.indexOf(needle);
    return at === -1 ? 1 : lines.lineOf(at);
  };
}

function readPackageLock(text: string): LockedPackage[] {
  let json: {
    packages?: Record<string, { version?: string; link?: boolean; name?: string }>;
    dependencies?: unknown;
  };
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new LockfileError(`not valid JSON: ${(error as Error).message}`);
  }
  if (typeof json !== "object" || json === null) throw new LockfileError("not a package-lock object");
  const find = lineFinder(text);
  const out: LockedPackage[] = [];
  if (json.packages && typeof json.packages === "object") {
    for (const [path, entry] of Object.entries(json.packages)) {
      if (path === "" || !entry || entry.link || typeof entry.version !== "string") continue;
      const at = path.lastIndexOf("node_modules/");
      const name = entry.name ?? (at === -1 ? path : path.slice(at + "node_modules/".length));
      out.push({ ecosystem: "npm", name, version: entry.version, line: find(`"${path}"`) });
    }
    return out;
  }
  // lockfileVersion 1: nested "dependencies"
  const walk = (deps: unknown) => {
    if (!deps || typeof deps !== "object") return;
    for (const [name, entry] of Object.entries(
      deps as Record<string, { version?: string; dependencies?: unknown }>,
    )) {
      if (entry && typeof entry.version === "string" && !entry.version.startsWith("file:"))
        out.push({ ecosystem: "npm", name, version: entry.version, line: find(`"${name}"`) });
      walk(entry?.dependencies);
    }
  };
  if (json.dependencies === undefined) throw new LockfileError("neither `packages` nor `dependencies` found");
  walk(json.dependencies);
  return out;
}

/** yarn.lock v1 (`version "1.2.3"`) and Berry (`version: 1.2.3`). */
function readYarnLock(text: string): LockedPackage[] {
  const out: LockedPackage[] = [];
  const lines = text.split(/\r?\n/);
  let current: { names: string[]; line: number } | undefined;
  lines.forEach((line, index) => {
    if (line.startsWith("#") || line.trim() === "") return;
    if (!line.startsWith(" ") && line.endsWith(":")) {
      const specs = line
        .slice(0, -1)
        .split(",")
        .map((spec) => spec.trim().replace(/^"|"$/g, ""));
      const names = specs
        .map((spec) => spec.slice(0, spec.indexOf("@", 1)))
        .filter((name) => name && name !== "__metadata");
      current = names.length > 0 ? { names: [...new Set(names)], line: index + 1 } : undefined;
      return;
    }
    const version = /^\s+version:?\s+"?([^"\s]+)"?\s*$/.exec(line);
    if (version && current) {
      for (const name of current.names)
        out.push({ ecosystem: "npm", name, version: version[1]!, line: current.line });
      current = undefined;
    }
  });
  if (out.length === 0 && text.trim() !== "" && !/^# yarn lockfile|__metadata/m.test(text))
    throw new LockfileError("no entries recognized");
  return out;
}

/** pnpm-lock.yaml v5 (`/name/1.2.3`), v6 (`/name@1.2.3`) and v9 (`name@1.2.3`), peers stripped. */
function readPnpmLock(text: string): LockedPackage[] {
  let doc: { packages?: Record<string, unknown> };
  try {
    doc = parseYaml(text) as typeof doc;
  } catch (error) {
    throw new LockfileError(`not valid YAML: ${(error as Error).message.split("\n")[0]}`);
  }
  if (!doc || typeof doc !== "object") throw new LockfileError("not a pnpm lockfile");
  const find = lineFinder(text);
  const out: LockedPackage[] = [];
  for (const key of Object.keys(doc.packages ?? {})) {
    const bare = key
      .replace(/^\//, "")
      .replace(/\(.*$/, "")
      .replace(/_[^/]*$/, "");
    let name: string;
    let version: string;
    const at = bare.lastIndexOf("@");
    if (at > 0) {
      name = bare.slice(0, at);
      version = bare.slice(at + 1);
    } else {
      const slash = bare.lastIndexOf("/");
      name = bare.slice(0, slash);
      version = bare.slice(slash + 1);
    }
    if (name && version) out.push({ ecosystem: "npm", name, version, line: find(key) });
  }
  return out;
}

/** Cargo.lock and poetry.lock: TOML `[[package]]` tables with name and version. */
function readTomlPackages(ecosystem: Ecosystem) {
  return (text: string): LockedPackage[] => {
    const out: LockedPackage[] = [];
    const lines = text.split(/\r?\n/);
    let block: { name?: string; version?: string; line: number } | undefined;
    const flush = () => {
      if (block?.name && block.version)
        out.push({ ecosystem, name: block.name, version: block.version, line: block.line });
    };
    lines.forEach((line, index) => {
      if (/^\s*\[\[package\]\]\s*$/.test(line)) {
        flush();
        block = { line: index + 1 };
        return;
      }
      if (/^\s*\[/.test(line)) {
        flush();
        block = undefined;
        return;
      }
      const kv = /^\s*(name|version)\s*=\s*"([^"]*)"/.exec(line);
      if (kv && block) block[kv[1] as "name" | "version"] = kv[2];
    });
    flush();
    if (out.length === 0 && /\[\[package\]\]/.test(text))
      throw new LockfileError("[[package]] tables without name/version");
    return out;
  };
}

function readRequirements(text: string): LockedPackage[] {
  const out: LockedPackage[] = [];
  text.split(/\r?\n/).forEach((line, index) => {
    const match = /^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*===?\s*([A-Za-z0-9.!+_-]+)/.exec(line);
    if (match)
      out.push({
        ecosystem: "PyPI",
        name: match[1]!.toLowerCase().replace(/[._]+/g, "-"),
        version: match[2]!,
        line: index + 1,
      });
  });
  return out;
}

function readGoSum(text: string): LockedPackage[] {
  const seen = new Map<string, LockedPackage>();
  text.split(/\r?\n/).forEach((line, index) => {
    const match = /^(\S+)\s+v([^\s/]+)(?:\/go\.mod)?\s+h1:/.exec(line);
    if (!match) {
      if (line.trim() !== "") throw new LockfileError(`line ${index + 1}: not "module version h1:hash"`);
      return;
    }
    const key = `${match[1]}@${match[2]}`;
    if (!seen.has(key))
      seen.set(key, {
        ecosystem: "Go",
        name: match[1]!,
        version: match[2]!.replace(/\+incompatible$/, ""),
        line: index + 1,
      });
  });
  return [...seen.values()];
}

function readGemfileLock(text: string): LockedPackage[] {
  const out: LockedPackage[] = [];
  let inSpecs = false;
  text.split(/\r?\n/).forEach((line, index) => {
    if (/^\S/.test(line)) inSpecs = false;
    if (/^\s{2}specs:\s*$/.test(line)) {
      inSpecs = true;
      return;
    }
    if (!inSpecs) return;
    // "    name (version)" or "    name (version-platform)"; the platform is not part of the version.
    const match = /^ {4}([A-Za-z0-9._-]+) \(([0-9][^)\s,-]*)(?:-[^)]+)?\)\s*$/.exec(line);
    if (match) out.push({ ecosystem: "RubyGems", name: match[1]!, version: match[2]!, line: index + 1 });
  });
  return out;
}

const READERS: readonly LockfileReader[] = [
  {
    ecosystem: "npm",
    matches: (name) => name === "package-lock.json" || name === "npm-shrinkwrap.json",
    read: readPackageLock,
  },
  { ecosystem: "npm", matches: (name) => name === "yarn.lock", read: readYarnLock },
  { ecosystem: "npm", matches: (name) => name === "pnpm-lock.yaml", read: readPnpmLock },
  { ecosystem: "crates.io", matches: (name) => name === "Cargo.lock", read: readTomlPackages("crates.io") },
  { ecosystem: "PyPI", matches: (name) => name === "poetry.lock", read: readTomlPackages("PyPI") },
  {
    ecosystem: "PyPI",
    matches: (name) => /^requirements([._-][\w.-]*)?\.txt$/.test(name),
    read: readRequirements,
  },
  { ecosystem: "Go", matches: (name) => name === "go.sum", read: readGoSum },
  { ecosystem: "RubyGems", matches: (name) => name === "Gemfile.lock", read: readGemfileLock },
];

export function lockfileReader(path: string): LockfileReader | undefined {
  const name = path.slice(path.lastIndexOf("/") + 1);
  return READERS.find((reader) => reader.matches(name));
}
