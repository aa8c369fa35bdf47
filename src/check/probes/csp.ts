/**
 * Content-Security-Policy quality, after the Observatory's CSP test: which script sources a
 * policy really allows (script-src, else default-src), whether 'unsafe-inline' is neutralized by a
 * nonce, hash or 'strict-dynamic' (CSP Level 3 §8.2: browsers then ignore it), and whether
 * object-src and frame-ancestors are set. Only the enforced header counts, not report-only.
 */
export type Directives = ReadonlyMap<string, readonly string[]>;

export function parseCsp(header: string): Directives {
  const directives = new Map<string, string[]>();
  // Several policies in one header (comma-joined): all are enforced; judging the first is the
  // Observatory's behaviour too.
  const first = header.split(",")[0] ?? "";
  for (const part of first.split(";")) {
    const [name, ...sources] = part.trim().split(/\s+/);
    if (!name) continue;
    const key = name.toLowerCase();
    if (!directives.has(key))
      directives.set(
        key,
        sources.map((source) => source.toLowerCase()),
      );
  }
  return directives;
}

export interface CspVerdict {
  readonly unsafeInline: boolean;
  readonly unsafeEval: boolean;
  /** Why scripts may come from anywhere, when they may. */
  readonly broadScripts?: string;
  readonly objectSrcOpen: boolean;
  readonly frameAncestors: boolean;
}

const BROAD = new Set(["*", "http:", "https:", "data:", "blob:", "http://*", "https://*"]);

export function judgeCsp(directives: Directives): CspVerdict {
  const scripts = directives.get("script-src") ?? directives.get("default-src");
  const objects = directives.get("object-src") ?? directives.get("default-src");
  const neutralized = (scripts ?? []).some(
    (source) =>
      source.startsWith("'nonce-") || /^'sha(256|384|512)-/.test(source) || source === "'strict-dynamic'",
  );
  const broad =
    scripts === undefined
      ? "no script-src or default-src: scripts from any origin"
      : scripts.find((source) => BROAD.has(source)) !== undefined &&
          !(scripts ?? []).includes("'strict-dynamic'")
        ? `script sources include ${scripts.find((source) => BROAD.has(source))}`
        : undefined;
  const objectOk =
    objects !== undefined &&
    (objects.includes("'none'") || (!objects.some((source) => BROAD.has(source)) && objects.length > 0));
  return {
    unsafeInline: (scripts ?? []).includes("'unsafe-inline'") && !neutralized,
    unsafeEval: (scripts ?? []).includes("'unsafe-eval'"),
    ...(broad ? { broadScripts: broad } : {}),
    objectSrcOpen: !objectOk,
    frameAncestors: directives.has("frame-ancestors"),
  };
}
