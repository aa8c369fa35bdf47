/**
 * `bulwark reload`: ask a running gateway to reload its config file, through the admin API
 * (POST /reload), and report whether the new config was applied or refused and why.
 */
import { ExitCode } from "../../exit-codes.js";
import { ADMIN_FLAGS, ADMIN_FLAGS_HELP, adminCall, adminTarget } from "../admin-client.js";
import { type Command, parseFlags, say } from "../command.js";

const HELP = `usage: bulwark reload [-c FILE] [--admin HOST:PORT] [--token-file FILE]

Asks the gateway to re-read and apply its config file (the same as SIGHUP). The new file is
validated first; if it is invalid, the running config keeps serving and the problems are printed.

options:
${ADMIN_FLAGS_HELP}
exit codes: 0 applied, 1 refused by the gateway, 2 usage, 3 gateway unreachable.`;

export const reloadCommand: Command = {
  name: "reload",
  help: HELP,
  async run(argv) {
    const { values } = parseFlags("reload", argv, ADMIN_FLAGS);
    const { status, body } = await adminCall(adminTarget(values), "/reload", {
      method: "POST",
      unreachable: "reload_failed",
    });
    const result = body as { applied?: boolean; error?: string; details?: string[] };
    if (result.applied) {
      say("configuration reloaded");
      return ExitCode.Ok;
    }
    say(`reload refused: ${result.error ?? `status ${status}`}`);
    for (const line of result.details ?? []) say(`  ${line}`);
    return ExitCode.Failed;
  },
};
