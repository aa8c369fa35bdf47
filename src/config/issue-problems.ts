/**
 * Zod's issues as configuration problems people can act on: one per unknown key, "missing:
 * expected X" for an absent required key, and for unions the branch the user evidently meant.
 * Shared by bulwark.yaml (load.ts, section.ts) and load scenario files (src/load/scenario.ts),
 * so both word the same mistake the same way.
 */
import type { z } from "zod";
import type { ConfigProblem } from "./config-error.js";
import { pathKey } from "./secret-references.js";
import { lowerFirst } from "./yaml-document.js";

const CONFIG_REFERENCE = "check its spelling against `bulwark config schema`";

/** `reference` says where the valid keys are listed (bulwark.yaml's schema by default). */
export function issueProblems(
  issue: z.core.$ZodIssue,
  locate: (path: readonly PropertyKey[], key?: string) => string,
  reference = CONFIG_REFERENCE,
): ConfigProblem[] {
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((key) => ({
      where: locate(issue.path, key),
      path: pathKey([...issue.path, key]),
      message: `unknown key; ${reference}`,
    }));
  }
  if (issue.code === "invalid_union") {
    // A message the schema gives the union itself says what it accepts better than its branches.
    if (issue.message !== "Invalid input") {
      return [{ where: locate(issue.path), path: pathKey(issue.path), message: lowerFirst(issue.message) }];
    }
    // The branch that got deepest into the value is the one the user meant (an object given
    // for `object | false` is judged as the object, with every problem inside it); between
    // branches that failed at the top (number | "30s"), the most telling message wins.
    const depth = (branch: readonly z.core.$ZodIssue[]) =>
      Math.max(0, ...branch.map((inner) => inner.path.length));
    const deepest = issue.errors.reduce<readonly z.core.$ZodIssue[] | undefined>(
      (best, branch) => (best === undefined || depth(branch) > depth(best) ? branch : best),
      undefined,
    );
    if (deepest && depth(deepest) > 0) {
      return deepest.flatMap((inner) =>
        issueProblems({ ...inner, path: [...issue.path, ...inner.path] }, locate, reference),
      );
    }
    const firsts = issue.errors.map((branch) => branch[0]).filter((inner) => inner !== undefined);
    // Only type mismatches (true given for `object | false`): name every accepted kind.
    if (
      firsts.length > 1 &&
      firsts.every((inner) => inner.code === "invalid_type" || inner.code === "invalid_value")
    ) {
      const kinds = firsts.map((inner) =>
        inner.code === "invalid_type"
          ? inner.expected
          : inner.values.map((value) => JSON.stringify(value)).join(" or "),
      );
      const missing = firsts.every((inner) => /received undefined$/.test(inner.message));
      const message = `${missing ? "missing: " : ""}expected ${kinds.join(" or ")}`;
      return [{ where: locate(issue.path), path: pathKey(issue.path), message }];
    }
    const nested =
      issue.errors.flat().find((inner) => inner.code !== "invalid_type") ?? issue.errors.flat()[0];
    if (nested) return issueProblems({ ...nested, path: [...issue.path, ...nested.path] }, locate, reference);
  }
  if (issue.code === "invalid_type" && /received undefined$/.test(issue.message)) {
    return [
      {
        where: locate(issue.path),
        path: pathKey(issue.path),
        message: `missing: expected ${issue.expected}`,
      },
    ];
  }
  return [{ where: locate(issue.path), path: pathKey(issue.path), message: lowerFirst(issue.message) }];
}
