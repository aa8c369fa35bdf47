/**
 * `${data.column}` and `${vars.name}` substitution in a scenario's paths, header values and
 * bodies. Templates are split into parts once, when the scenario loads; a request only joins them.
 */

export type TemplatePart = string | { readonly scope: "data" | "vars"; readonly key: string };

export interface Template {
  readonly parts: readonly TemplatePart[];
  /** Substituted values are JSON-string-escaped (for bodies given as YAML mappings). */
  readonly json: boolean;
}

export interface TemplateContext {
  readonly data: Readonly<Record<string, string>> | undefined;
  readonly vars: ReadonlyMap<string, string>;
}

const REFERENCE = /\$\{([^}]*)\}/g;
const KEY = /^(data|vars)\.([A-Za-z0-9_-]+)$/;

/** Splits text into parts; returns the problems (bad references) instead of throwing. */
export function compileTemplate(text: string, json = false): { template: Template; problems: string[] } {
  const parts: TemplatePart[] = [];
  const problems: string[] = [];
  let last = 0;
  for (const match of text.matchAll(REFERENCE)) {
    if (match.index > last) parts.push(text.slice(last, match.index));
    const key = KEY.exec(match[1]!.trim());
    if (key) parts.push({ scope: key[1] as "data" | "vars", key: key[2]! });
    else problems.push(`invalid reference ${match[0]}: expected \${data.COLUMN} or \${vars.NAME}`);
    last = match.index + match[0].length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return { template: { parts, json }, problems };
}

export function references(template: Template): { scope: "data" | "vars"; key: string }[] {
  return template.parts.filter(
    (part): part is { scope: "data" | "vars"; key: string } => typeof part !== "string",
  );
}

/** A missing value (no data row, extraction failed) becomes "". */
export function render(template: Template, context: TemplateContext): string {
  if (template.parts.length === 1 && typeof template.parts[0] === "string") return template.parts[0];
  let out = "";
  for (const part of template.parts) {
    if (typeof part === "string") out += part;
    else {
      const value = (part.scope === "data" ? context.data?.[part.key] : context.vars.get(part.key)) ?? "";
      out += template.json ? JSON.stringify(value).slice(1, -1) : value;
    }
  }
  return out;
}
