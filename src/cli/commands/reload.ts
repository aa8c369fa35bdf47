/**
 * `bulwark reload`: ask a running gateway to reload its config file, through the admin API
 * (POST /reload), and report whether the new config was applied or refused and why.
 */
import { readFileSync } from "node:fs";
import { request } from "undici";
import { loadConfigFile } from "../../config/load.js";
import { BulwarkError } from "../../errors.js";
import { ExitCode } from "../../exit-codes.js";
import { type Command, parseFlags, say } from "../command.js";

const HELP = `usage: bulwark reload [-c FILE] [--admin HOST:PORT] [--token-file FILE]

Asks the gateway to re-read and apply its config file (the same as SIGHUP). The new file is
validated first; if it is invalid, the running config keeps serving and the problems are printed.

options:
  -c, --config FILE      read the admin address and token from this config (default bulwark.yaml)
      --admin HOST:PORT  admin address (default from the config, else 127.0.0.1:9901)
      --token-file FILE  file holding the admin bearer token (default from the config)
exit codes: 0 applied, 1 refused by the gateway, 2 usage, 3 gateway unreachable.`;

export const reloadCommand: Command = {
  name: "reload",
  help: HELP,
  async run(argv) {
    const { values } = parseFlags("reload", argv, {
      config: { type: "string", short: "c" },
      admin: { type: "string" },
      "token-file": { type: "string" },
    });
    let address = values.admin;
    let token: string | undefined;
    if (values["token-file"]) token = readFileSync(values["token-file"], "utf8").trim();
    if (!address || token === undefined) {
      const file = values.config ?? "bulwark.yaml";
      try {
        const config = loadConfigFile(file);
        address ??= config.admin.address;
        token ??= config.admin.token;
      } catch (error) {
        if (values.config || values.admin === undefined) throw error;
      }
    }
    address ??= "127.0.0.1:9901";
    let response: Awaited<ReturnType<typeof request>>;
    try {
      response = await request(`http://${address}/reload`, {
        method: "POST",
        headers: token ? { authorization: `Bearer ${token}` } : {},
        headersTimeout: 15_000,
      });
    } catch (error) {
      throw new BulwarkError(
        "reload_failed",
        `cannot reach the admin listener at ${address} (${(error as NodeJS.ErrnoException).code ?? "error"})`,
      );
    }
    const body = (await response.body.json().catch(() => ({}))) as {
      applied?: boolean;
      error?: string;
      details?: string[];
    };
    if (response.statusCode === 401)
      throw new BulwarkError("usage", "the admin listener refused the token; give --token-file or -c");
    if (body.applied) {
      say("configuration reloaded");
      return ExitCode.Ok;
    }
    say(`reload refused: ${body.error ?? `status ${response.statusCode}`}`);
    for (const line of body.details ?? []) say(`  ${line}`);
    return ExitCode.Failed;
  },
};
