/**
 * `${env:NAME}` and `${file:/run/secrets/name}` references, so secrets never need to be in
 * clear in bulwark.yaml (the Docker/Kubernetes secrets convention). `$${` writes a literal `${`.
 * Errors name the key and the reference, never a resolved value.
 */
import { readFileSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";

const REFERENCE = /\$\$\{|\$\{(env|file):([^}]*)\}/g;

export interface ReferenceProblem {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

export interface ResolvedReferences {
  readonly value: unknown;
  /** Key paths ("admin.token") whose values came from a reference: treated as secrets. */
  readonly secretPaths: ReadonlySet<string>;
  readonly problems: readonly ReferenceProblem[];
}

export function pathKey(path: readonly PropertyKey[]): string {
  return path
    .map((part) => (typeof part === "number" ? `[${part}]` : `.${String(part)}`))
    .join("")
    .replace(/^\./, "");
}

export function resolveReferences(
  value: unknown,
  options: { env: NodeJS.ProcessEnv; baseDir: string },
): ResolvedReferences {
  const secretPaths = new Set<string>();
  const problems: ReferenceProblem[] = [];

  const visit = (node: unknown, path: (string | number)[]): unknown => {
    if (typeof node === "string") return resolveString(node, path);
    if (Array.isArray(node)) return node.map((item, index) => visit(item, [...path, index]));
    if (node !== null && typeof node === "object") {
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(node)) out[key] = visit(item, [...path, key]);
      return out;
    }
    return node;
  };

  const resolveString = (text: string, path: (string | number)[]): string => {
    if (!text.includes("${")) return text;
    let usedReference = false;
    const result = text.replace(REFERENCE, (whole, kind: string | undefined, name: string | undefined) => {
      if (whole === "$${") return "${";
      usedReference = true;
      const reference = `\${${kind}:${name}}`;
      if (kind === "env") {
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name!)) {
          problems.push({ path, message: `${reference} is not a valid environment variable name` });
          return "";
        }
        const found = options.env[name!];
        if (found === undefined || found === "") {
          problems.push({ path, message: `${reference} is not set; export ${name} or change the reference` });
          return "";
        }
        return found;
      }
      const file = isAbsolute(name!) ? name! : resolve(options.baseDir, name!);
      try {
        // Secret files conventionally end with one newline (echo > file); it is not part of the secret.
        return readFileSync(file, "utf8").replace(/\r?\n$/, "");
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? "unknown error";
        problems.push({
          path,
          message: `${reference} cannot be read (${code}); check the path and its permissions`,
        });
        return "";
      }
    });
    if (usedReference) secretPaths.add(pathKey(path));
    return result;
  };

  return { value: visit(value, []), secretPaths, problems };
}
