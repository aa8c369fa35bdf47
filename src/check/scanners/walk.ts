/**
 * Lists the files of a repository for scanning. Symbolic links are never followed (a link may
 * point outside the repository, or into a loop); they are counted, and a link that cannot be
 * resolved at all (a loop, ELOOP) becomes a warning. Directories that hold dependencies or VCS
 * data are skipped unless asked for. A directory holding a `.bulwark-check-skip` file is skipped
 * when it is not the scan root: fixture repositories mark themselves so, which keeps a project's
 * scan of itself free of the findings its test fixtures plant on purpose.
 */
import { lstatSync, readdirSync, statSync } from "node:fs";
import { join, relative, sep } from "node:path";

export const DEFAULT_SKIP_DIRS = [
  "node_modules",
  ".git",
  ".hg",
  ".svn",
  "vendor",
  ".venv",
  "venv",
  "__pycache__",
  "target",
  "dist",
  ".next",
  ".cache",
  "coverage",
];
export const SKIP_MARKER = ".bulwark-check-skip";

export interface RepoFile {
  /** Repository-relative path with forward slashes. */
  readonly path: string;
  readonly absolute: string;
  readonly size: number;
}

export interface WalkResult {
  readonly files: RepoFile[];
  readonly warnings: string[];
  readonly symlinks: number;
  readonly skippedDirs: number;
}

export function walkRepository(root: string, options: { skipDirs?: readonly string[] } = {}): WalkResult {
  const skip = new Set(options.skipDirs ?? DEFAULT_SKIP_DIRS);
  const files: RepoFile[] = [];
  const warnings: string[] = [];
  let symlinks = 0;
  let skippedDirs = 0;
  const stack = [root];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch (error) {
      warnings.push(
        `cannot read directory ${rel(root, dir)}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      );
      continue;
    }
    if (dir !== root && entries.includes(SKIP_MARKER)) {
      skippedDirs += 1;
      continue;
    }
    entries.sort();
    for (const name of entries) {
      const absolute = join(dir, name);
      let stat: ReturnType<typeof lstatSync>;
      try {
        stat = lstatSync(absolute);
      } catch (error) {
        warnings.push(
          `cannot stat ${rel(root, absolute)}: ${(error as NodeJS.ErrnoException).code ?? "error"}`,
        );
        continue;
      }
      if (stat.isSymbolicLink()) {
        symlinks += 1;
        try {
          statSync(absolute);
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code === "ELOOP") warnings.push(`symlink loop at ${rel(root, absolute)}; not followed`);
        }
        continue;
      }
      if (stat.isDirectory()) {
        if (skip.has(name)) {
          skippedDirs += 1;
          continue;
        }
        stack.push(absolute);
      } else if (stat.isFile()) {
        files.push({ path: rel(root, absolute), absolute, size: stat.size });
      }
    }
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { files, warnings, symlinks, skippedDirs };
}

function rel(root: string, path: string): string {
  return relative(root, path).split(sep).join("/") || ".";
}
