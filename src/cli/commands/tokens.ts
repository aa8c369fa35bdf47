/**
 * `bulwark tokens revoke|revoked`: the bearer-token deny-list of a running gateway, through the
 * admin API (/revocations). A revocation lasts until the token's own expiry.
 */
import { parseDuration } from "../../config/units.js";
import { BulwarkError } from "../../errors.js";
import { ExitCode } from "../../exit-codes.js";
import { ADMIN_FLAGS, ADMIN_FLAGS_HELP, adminCall, adminTarget } from "../admin-client.js";
import { type Command, parseFlags, say } from "../command.js";

const HELP = `usage: bulwark tokens revoke JTI (--exp EPOCH_SECONDS | --until TIME | --for DURATION) [admin options]
       bulwark tokens revoked [--format table|json] [admin options]

revoke   refuses every bearer token with this jti (its "jti" claim) on every route, in every
         worker, until the given time; give the token's own exp so the entry lasts exactly as
         long as the token could be used. With a Redis deny-list (server.tokenRevocation) every
         gateway sharing it refuses the token, also after restarts.
revoked  lists the live revocations.

options:
      --exp EPOCH_SECONDS  the token's exp claim
      --until TIME         an ISO 8601 time, such as 2026-12-01T00:00:00Z
      --for DURATION       from now, such as 1h or 30m
      --format FORMAT      table (default) or json, for revoked
${ADMIN_FLAGS_HELP}
exit codes: 0 done, 2 usage, 3 gateway unreachable or revocation not stored.`;

function expiryOf(values: { exp?: string; until?: string; for?: string }): number {
  const given = [values.exp, values.until, values.for].filter((value) => value !== undefined);
  if (given.length !== 1) {
    throw new BulwarkError(
      "usage",
      "give exactly one of --exp, --until or --for; see `bulwark tokens --help`",
    );
  }
  if (values.exp !== undefined) {
    if (!/^\d+$/.test(values.exp))
      throw new BulwarkError("usage", "--exp must be epoch seconds, such as 1767225600");
    return Number(values.exp);
  }
  if (values.until !== undefined) {
    const time = Date.parse(values.until);
    if (Number.isNaN(time)) {
      throw new BulwarkError("usage", "--until must be an ISO 8601 time, such as 2026-12-01T00:00:00Z");
    }
    return Math.ceil(time / 1000);
  }
  const ms = parseDuration(values.for ?? "");
  if (ms === undefined || ms <= 0)
    throw new BulwarkError("usage", "--for must be a duration, such as 1h or 30m");
  return Math.ceil((Date.now() + ms) / 1000);
}

export const tokensCommand: Command = {
  name: "tokens",
  help: HELP,
  async run(argv) {
    const { values, positionals } = parseFlags(
      "tokens",
      argv,
      {
        ...ADMIN_FLAGS,
        exp: { type: "string" },
        until: { type: "string" },
        for: { type: "string" },
        format: { type: "string", default: "table" },
      },
      true,
    );
    const [action, jti, ...extra] = positionals;
    const target = adminTarget(values);
    if (action === "revoke") {
      if (jti === undefined || extra.length > 0) {
        throw new BulwarkError("usage", "give one token id: bulwark tokens revoke JTI --exp EPOCH_SECONDS");
      }
      const exp = expiryOf(values);
      const { status, body } = await adminCall(target, "/revocations", {
        method: "POST",
        body: { jti, exp },
        unreachable: "admin_unreachable",
      });
      if (status === 400) throw new BulwarkError("usage", `refused: ${String(body.error)}`);
      if (status !== 200)
        throw new BulwarkError("admin_unreachable", String(body.error ?? `status ${status}`));
      say(`revoked until ${String(body.expiresAt)}`);
      return ExitCode.Ok;
    }
    if (action === "revoked" && jti === undefined) {
      if (values.format !== "table" && values.format !== "json") {
        throw new BulwarkError("usage", "--format must be table or json");
      }
      const { status, body } = await adminCall(target, "/revocations", {
        method: "GET",
        unreachable: "admin_unreachable",
      });
      if (status !== 200)
        throw new BulwarkError("admin_unreachable", String(body.error ?? `status ${status}`));
      const revocations = (body.revocations ?? []) as { jti: string; expiresAt: string }[];
      if (values.format === "json") process.stdout.write(`${JSON.stringify({ revocations })}\n`);
      else if (revocations.length === 0) say("no live revocations");
      else for (const entry of revocations) say(`${entry.expiresAt}  ${entry.jti}`);
      return ExitCode.Ok;
    }
    throw new BulwarkError(
      "usage",
      "expected `tokens revoke JTI` or `tokens revoked`; see `bulwark tokens --help`",
    );
  },
};
