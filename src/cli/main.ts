/**
 * The `bulwark` command table. Each command lives in commands/<name>.ts; this file only
 * dispatches, prints help, and turns errors into messages and exit codes. Commands are imported
 * when they run, so `bulwark serve` (and each of its workers) does not load the load tester, and
 * the other way round.
 */
import { isBulwarkError } from "../errors.js";
import { ExitCode } from "../exit-codes.js";
import { VERSION } from "../version.js";
import type { Command } from "./command.js";
import { say } from "./command.js";

interface CommandEntry {
  readonly name: string;
  readonly summary: string;
  load(): Promise<Command>;
}

export const COMMANDS: readonly CommandEntry[] = [
  {
    name: "serve",
    summary: "run the hardening gateway (config file or quick mode)",
    load: async () => (await import("./commands/serve.js")).serveCommand,
  },
  {
    name: "demo",
    summary: "run a sample app behind the gateway and show what it does",
    load: async () => (await import("./commands/demo.js")).demoCommand,
  },
  {
    name: "config",
    summary: "check, explain or print the schema of a config file",
    load: async () => (await import("./commands/config.js")).configCommand,
  },
  {
    name: "reload",
    summary: "reload the config of a running gateway",
    load: async () => (await import("./commands/reload.js")).reloadCommand,
  },
  {
    name: "tokens",
    summary: "revoke bearer tokens by jti on a running gateway, list revocations",
    load: async () => (await import("./commands/tokens.js")).tokensCommand,
  },
  {
    name: "keys",
    summary: "create, list, rotate and revoke API keys",
    load: async () => (await import("./commands/keys.js")).keysCommand,
  },
  {
    name: "load",
    summary: "load-test a URL at a constant rate or with constant users, with thresholds",
    load: async () => (await import("./commands/load.js")).loadCommand,
  },
  {
    name: "check",
    summary: "assess a live service or a repository (findings, score, grade); launch readiness",
    load: async () => (await import("./commands/check.js")).checkCommand,
  },
  {
    name: "backup",
    summary: "encrypted PostgreSQL backups: take, list, show, prune, keygen",
    load: async () => (await import("./commands/backup.js")).backupCommand,
  },
  {
    name: "restore",
    summary: "verify, decrypt and restore a PostgreSQL backup",
    load: async () => (await import("./commands/restore.js")).restoreCommand,
  },
  {
    name: "drill",
    summary: "restore drill: restore into a scratch database, verify, measure RTO/RPO, evidence",
    load: async () => (await import("./commands/drill.js")).drillCommand,
  },
  {
    name: "wal",
    summary: "archive and fetch PostgreSQL WAL in the encrypted repository (point-in-time recovery)",
    load: async () => (await import("./commands/wal.js")).walCommand,
  },
  {
    name: "audit",
    summary: "tamper-evident audit trail: keygen, verify, query, export, prune",
    load: async () => (await import("./commands/audit.js")).auditCommand,
  },
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
  const entry = COMMANDS.find((candidate) => candidate.name === name);
  if (!entry) {
    say(`bulwark: unknown command ${JSON.stringify(name)}\n`);
    say(usage());
    return ExitCode.UsageOrConfig;
  }
  const command = await entry.load();
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
