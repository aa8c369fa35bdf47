/**
 * Finding and running PostgreSQL's client programs (pg_dump, pg_restore). pg_dump refuses a
 * server newer than itself, so the programs of the server's major version are preferred:
 * --pg-bin, then Debian's /usr/lib/postgresql/<major>/bin, then PATH.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { BulwarkError } from "../errors.js";

export function pgProgram(
  name: "pg_dump" | "pg_restore" | "pg_basebackup",
  options: { pgBin?: string | undefined; serverMajor?: number },
): string {
  if (options.pgBin) {
    const path = join(options.pgBin, name);
    if (!existsSync(path)) throw new BulwarkError("usage", `${name} not found in --pg-bin ${options.pgBin}`);
    return path;
  }
  if (options.serverMajor !== undefined) {
    const debian = `/usr/lib/postgresql/${options.serverMajor}/bin/${name}`;
    if (existsSync(debian)) return debian;
  }
  return name;
}

export function programVersion(program: string): string {
  const result = spawnSync(program, ["--version"], { encoding: "utf8" });
  if (result.error || result.status !== 0) {
    throw new BulwarkError(
      "backup_failed",
      `cannot run ${program}: ${result.error?.message ?? result.stderr.trim()}`,
      {
        details: [
          "install the PostgreSQL client programs of the server's version (apt-get install -y postgresql-client-15) or pass --pg-bin DIR",
        ],
      },
    );
  }
  return result.stdout.trim();
}

export interface RunningProgram {
  readonly child: ChildProcess;
  /** Resolves with the exit code (or rejects when it cannot start); stderr's tail is kept. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

export interface ProgramStdio {
  /** With stdin "pipe": keep stdout as a pipe (pg_restore --list) instead of discarding it. */
  readonly stdout?: "pipe";
}

export function startProgram(
  program: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  stdin: "pipe" | "ignore",
  stdio: ProgramStdio = {},
): RunningProgram {
  const child = spawn(program, [...args], {
    env,
    stdio: [stdin, stdin === "pipe" && stdio.stdout === undefined ? "ignore" : "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-8000);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>(
    (resolve, reject) => {
      child.once("error", reject);
      child.once("close", (code, signal) => resolve({ code, signal, stderr: stderr.trim() }));
    },
  );
  exited.catch(() => {});
  return { child, exited };
}
