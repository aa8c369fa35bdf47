/**
 * The shape of a CLI command. main.ts holds the table; each command parses its own flags (with
 * node:util parseArgs), calls into a feature folder, prints, and returns an exit code.
 */
import { type ParseArgsConfig, parseArgs } from "node:util";
import { BulwarkError } from "../errors.js";

export interface Command {
  readonly name: string;
  /** Full help text printed by `bulwark <name> --help`. */
  readonly help: string;
  run(argv: readonly string[]): Promise<number>;
}

type Options = NonNullable<ParseArgsConfig["options"]>;

/** parseArgs with errors turned into usage errors that name the flag and point to --help. */
export function parseFlags<T extends Options>(
  command: string,
  argv: readonly string[],
  options: T,
  allowPositionals = false,
) {
  try {
    return parseArgs({ args: [...argv], options, allowPositionals, strict: true });
  } catch (error) {
    const message = (error as Error).message
      .replace(/\. To specify a positional argument.*$/s, "")
      .replace(/\.$/, "");
    throw new BulwarkError("usage", `${lowerFirst(message)}; see \`bulwark ${command} --help\``);
  }
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}

/** Human output goes to stderr (stdout carries logs and machine output). */
export function say(line = ""): void {
  process.stderr.write(`${line}\n`);
}

/** A warning for people: the command goes on. */
export function warn(message: string): void {
  say(`warning: ${message}`);
}
