/**
 * Dockerfile hardening rules (CIS Docker Benchmark §4, hadolint). The parser joins continuation
 * lines (the escape character is `\`, or the one a `# escape=` directive names), drops comments
 * and keeps each instruction's first line for locations. Unknown or malformed instructions are
 * ignored with a warning, never a crash.
 */
import { type Finding, finding } from "../findings.js";
import { maskSecret } from "../mask.js";
import { hasIgnoreComment } from "./text-lines.js";

export interface Instruction {
  readonly keyword: string;
  readonly args: string;
  readonly line: number;
  readonly ignored: boolean;
}

const KEYWORDS = new Set([
  "FROM",
  "RUN",
  "CMD",
  "LABEL",
  "MAINTAINER",
  "EXPOSE",
  "ENV",
  "ADD",
  "COPY",
  "ENTRYPOINT",
  "VOLUME",
  "USER",
  "WORKDIR",
  "ARG",
  "ONBUILD",
  "STOPSIGNAL",
  "HEALTHCHECK",
  "SHELL",
]);

export function isDockerfile(path: string): boolean {
  const name = path.slice(path.lastIndexOf("/") + 1);
  if (/\.(ts|js|mjs|cjs|md|txt|json|ya?ml|py|go|rs|rb|sh)$/i.test(name)) return false;
  return (
    /^(Dockerfile|dockerfile|Containerfile)([.-][\w.-]+)?$/.test(name) ||
    /\.(dockerfile|Dockerfile|containerfile)$/.test(name)
  );
}

export function parseDockerfile(text: string): { instructions: Instruction[]; problems: string[] } {
  const lines = text.split(/\r?\n/);
  let escapeChar = "\\";
  const directive = /^#\s*escape\s*=\s*([\\`])\s*$/i.exec(lines[0] ?? "");
  if (directive) escapeChar = directive[1]!;
  const instructions: Instruction[] = [];
  const problems: string[] = [];
  let current: { text: string; line: number; ignored: boolean } | undefined;
  lines.forEach((raw, index) => {
    const trimmed = raw.trim();
    if (current === undefined && (trimmed === "" || trimmed.startsWith("#"))) return;
    if (current !== undefined && trimmed.startsWith("#")) return; // comments inside continuations
    const continues = trimmed.endsWith(escapeChar);
    const body = continues ? trimmed.slice(0, -1).trimEnd() : trimmed;
    if (current === undefined) current = { text: body, line: index + 1, ignored: hasIgnoreComment(raw) };
    else current.text += ` ${body}`;
    if (!continues) {
      push(current);
      current = undefined;
    }
  });
  if (current !== undefined) push(current);
  return { instructions, problems };

  function push(item: { text: string; line: number; ignored: boolean }) {
    const match = /^(\S+)\s*(.*)$/s.exec(item.text.trim());
    if (!match) return;
    const keyword = match[1]!.toUpperCase();
    if (!KEYWORDS.has(keyword)) {
      problems.push(`line ${item.line}: unknown instruction ${JSON.stringify(match[1]!.slice(0, 40))}`);
      return;
    }
    instructions.push({ keyword, args: match[2]!.trim(), line: item.line, ignored: item.ignored });
  }
}

const SECRET_NAME = /(pass(word|wd)?|secret|token|api_?key|private_?key|access_?key|credentials?|auth)/i;

/** ENV/ARG key-value pairs: `ENV A=1 B=2`, `ENV A 1`, `ARG A` or `ARG A=default`. */
function pairs(args: string, keyword: string): { name: string; value: string | undefined }[] {
  if (keyword === "ENV" && !/^[^\s=]+=/.test(args)) {
    const match = /^(\S+)\s+(.*)$/.exec(args);
    return match ? [{ name: match[1]!, value: match[2]! }] : [{ name: args, value: undefined }];
  }
  const out: { name: string; value: string | undefined }[] = [];
  for (const match of args.matchAll(/([^\s=]+)(?:=("(?:[^"\\]|\\.)*"|'[^']*'|\S*))?/g)) {
    const value = match[2]?.replace(/^["']|["']$/g, "");
    out.push({ name: match[1]!, value });
  }
  return out;
}

export function scanDockerfile(text: string, path: string): { findings: Finding[]; warnings: string[] } {
  const { instructions, problems } = parseDockerfile(text);
  const findings: Finding[] = [];
  const warnings = problems.map((problem) => `${path}: ${problem}`);
  const at = (line: number) => `${path}:${line}`;
  const froms = instructions.filter((item) => item.keyword === "FROM");
  if (froms.length === 0) {
    if (instructions.length > 0 || text.trim() !== "")
      warnings.push(`${path}: no FROM instruction; not a Dockerfile?`);
    return { findings, warnings };
  }
  const stageNames = new Set<string>();
  for (const from of froms) {
    const words = from.args.split(/\s+/).filter((word) => !word.startsWith("--"));
    const image = words[0] ?? "";
    const asIndex = words.findIndex((word) => word.toUpperCase() === "AS");
    const earlierStage = stageNames.has(image.toLowerCase());
    if (asIndex > 0 && words[asIndex + 1]) stageNames.add(words[asIndex + 1]!.toLowerCase());
    if (from.ignored || image === "" || image.toLowerCase() === "scratch" || earlierStage) continue;
    if (image.includes("$")) continue; // an ARG decides; cannot judge statically
    const digest = image.includes("@sha256:");
    const lastSegment = image.split("/").pop() ?? image;
    const tag = lastSegment.includes(":")
      ? lastSegment.slice(lastSegment.indexOf(":") + 1).split("@")[0]
      : undefined;
    if (!digest && (tag === undefined || tag === "latest")) {
      findings.push(finding("docker-base-latest", { evidence: `FROM ${image}`, location: at(from.line) }));
    } else if (!digest) {
      findings.push(finding("docker-base-unpinned", { evidence: `FROM ${image}`, location: at(from.line) }));
    }
  }
  // USER: what counts is the last USER of the final stage, or, when that stage is built FROM an
  // earlier stage and sets none, the USER that stage inherits.
  const lastFrom = froms[froms.length - 1]!;
  const stages = froms.map((from, index) => {
    const words = from.args.split(/\s+/).filter((word) => !word.startsWith("--"));
    const asIndex = words.findIndex((word) => word.toUpperCase() === "AS");
    const end = froms[index + 1]?.line ?? Number.POSITIVE_INFINITY;
    return {
      image: (words[0] ?? "").toLowerCase(),
      name: asIndex > 0 ? words[asIndex + 1]?.toLowerCase() : undefined,
      users: instructions.filter(
        (item) => item.keyword === "USER" && item.line > from.line && item.line < end,
      ),
    };
  });
  const inheritedUser = (index: number, depth = 0): Instruction | undefined => {
    const stage = stages[index]!;
    const own = stage.users[stage.users.length - 1];
    if (own || depth > stages.length) return own;
    const parent = stages.findIndex((candidate, at) => at < index && candidate.name === stage.image);
    return parent === -1 ? undefined : inheritedUser(parent, depth + 1);
  };
  const lastUser = inheritedUser(stages.length - 1);
  if (!lastFrom.ignored && !lastUser?.ignored) {
    if (lastUser === undefined) {
      findings.push(
        finding("docker-user-root", {
          evidence: "no USER instruction in the final stage",
          location: at(lastFrom.line),
        }),
      );
    } else if (/^(root|0)(:|$)/.test(lastUser.args.trim())) {
      findings.push(
        finding("docker-user-root", { evidence: `USER ${lastUser.args}`, location: at(lastUser.line) }),
      );
    }
  }
  for (const item of instructions) {
    if (item.ignored) continue;
    if (
      item.keyword === "ADD" &&
      /(^|\s)(https?|ftp):\/\//i.test(item.args) &&
      !/--checksum=/.test(item.args)
    ) {
      findings.push(finding("docker-add-url", { evidence: `ADD ${item.args}`, location: at(item.line) }));
    }
    if (item.keyword === "ENV" || item.keyword === "ARG") {
      for (const { name, value } of pairs(item.args, item.keyword)) {
        if (!SECRET_NAME.test(name)) continue;
        if (/(_FILE|_PATH|_URL_FILE|_ENABLED|_DIR|_LENGTH|_HEADER|_NAME)$/i.test(name)) continue;
        if (value !== undefined && (value === "" || value.startsWith("$"))) continue;
        const shown =
          value === undefined ? `${item.keyword} ${name}` : `${item.keyword} ${name}=${maskSecret(value, 0)}`;
        findings.push(finding("docker-secret-in-env", { evidence: shown, location: at(item.line) }));
      }
    }
  }
  const health = instructions.filter((item) => item.keyword === "HEALTHCHECK");
  const lastHealth = health[health.length - 1];
  if (
    !lastFrom.ignored &&
    !lastHealth?.ignored &&
    (lastHealth === undefined || /^NONE\b/i.test(lastHealth.args))
  ) {
    findings.push(
      finding("docker-no-healthcheck", {
        evidence: lastHealth ? "HEALTHCHECK NONE" : "no HEALTHCHECK instruction",
        location: at(lastHealth?.line ?? lastFrom.line),
      }),
    );
  }
  return { findings, warnings };
}
