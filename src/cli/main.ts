/**
 * The `bulwark` command table. Each command lives in commands/<name>.ts; this file only
 * dispatches, prints help, and turns errors into messages and exit codes.
 */
import { isBulwarkError } from "../errors.js";
import { ExitCode } from "../exit-codes.js";
import { VERSION } from "../version.js";
import type { Command } from "./command.js";
import { say } from "./command.js";
import { configCommand } from "./commands/config.js";
import { demoCommand } from "./commands/demo.js";
import { loadCommand } from "./commands/load.js";
import { reloadCommand } from "./commands/reload.js";
import { serveCommand } from "./commands/serve.js";

export const COMMANDS: readonly Command[] = [
  serveCommand,
  demoCommand,
  configCommand,
  reloadCommand,
  loadCommand,
];

function usage(): string {
  const width = Math.max(...COMMANDS.map((command) => command.name.length));
  return [
    `bulwark ${VERSION} — production hardening for any HTTP service`,
    "",
    "usage: bulwark <command> [options]",
    "",
    "commands:",
    ...COMMANDS.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`),
    "",
    "`bulwark <command> --help` describes a command and its flags.",
    `exit codes: ${ExitCode.Ok} ok, ${ExitCode.Failed} findings or refusal, ${ExitCode.UsageOrConfig} usage or config error, ${ExitCode.Runtime} runtime failure`,
  ].join("\n");
}

export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    say(usage());
    return name === undefined ? ExitCode.UsageOrConfig : ExitCode.Ok;
  }
  if (name === "--version" || name === "version") {
    process.stdout.write(`${VERSION}\n`);
    return ExitCode.Ok;
  }
  const command = COMMANDS.find((candidate) => candidate.name === name);
  if (!command) {
    say(`bulwark: unknown command ${JSON.stringify(name)}\n`);
    say(usage());
    return ExitCode.UsageOrConfig;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    say(command.help);
    return ExitCode.Ok;
  }
  try {
    return await command.run(rest);
  } catch (error) {
    if (isBulwarkError(error)) {
      say(`bulwark ${command.name}: ${error.message}`);
      for (const line of error.details) say(`  ${line}`);
      return error.exitCode;
    }
    say(`bulwark ${command.name}: unexpected failure: ${(error as Error).message}`);
    if (process.env.BULWARK_DEBUG) say((error as Error).stack ?? "");
    return ExitCode.Runtime;
  }
}
