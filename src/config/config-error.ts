/**
 * Configuration problems (bulwark.yaml, load-test scenarios): each with where, key path and
 * message, all reported together in one error.
 */
import { BulwarkError } from "../errors.js";

export interface ConfigProblem {
  /** "file:line:column" when known, else the file name. */
  readonly where: string;
  /** Key path such as routes[0].upstream; empty for the document itself. */
  readonly path: string;
  readonly message: string;
  /** Fail-closed rule id, for rule violations. */
  readonly rule?: string;
}

export function formatProblem(problem: ConfigProblem): string {
  const rule = problem.rule ? ` [${problem.rule}]` : "";
  const path = problem.path ? ` ${problem.path}:` : "";
  return `${problem.where}${path} ${problem.message}${rule}`;
}

export class ConfigError extends BulwarkError {
  readonly problems: readonly ConfigProblem[];
  constructor(source: string, problems: readonly ConfigProblem[]) {
    super(
      "config_invalid",
      `${source}: ${problems.length} configuration problem${problems.length === 1 ? "" : "s"}`,
      { details: problems.map(formatProblem) },
    );
    this.problems = problems;
  }
}
