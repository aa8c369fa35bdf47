/**
 * Talking to a running gateway's admin listener from the CLI (`bulwark reload`, `bulwark
 * tokens`): where it listens and its token come from flags, else from the config file.
 */
import { readFileSync } from "node:fs";
import { request } from "undici";
import { loadConfigFile } from "../config/load.js";
import { BulwarkError, type ErrorCode } from "../errors.js";

export const ADMIN_FLAGS = {
  config: { type: "string", short: "c" },
  admin: { type: "string" },
  "token-file": { type: "string" },
} as const;

export const ADMIN_FLAGS_HELP = `  -c, --config FILE      read the admin address and token from this config (default bulwark.yaml)
      --admin HOST:PORT  admin address (default from the config, else 127.0.0.1:9901)
      --token-file FILE  file holding the admin bearer token (default from the config)`;

export interface AdminTarget {
  readonly address: string;
  readonly token: string | undefined;
}

export function adminTarget(values: { config?: string; admin?: string; "token-file"?: string }): AdminTarget {
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
  return { address: address ?? "127.0.0.1:9901", token };
}

/** One admin API call; `unreachable` is the error code when the listener cannot be reached. */
export async function adminCall(
  target: AdminTarget,
  path: string,
  init: { method: "GET" | "POST"; body?: unknown; unreachable: ErrorCode },
): Promise<{ status: number; body: Record<string, unknown> }> {
  let response: Awaited<ReturnType<typeof request>>;
  try {
    response = await request(`http://${target.address}${path}`, {
      method: init.method,
      headers: {
        ...(target.token ? { authorization: `Bearer ${target.token}` } : {}),
        ...(init.body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
      headersTimeout: 15_000,
    });
  } catch (error) {
    throw new BulwarkError(
      init.unreachable,
      `cannot reach the admin listener at ${target.address} (${(error as NodeJS.ErrnoException).code ?? "error"})`,
    );
  }
  const body = (await response.body.json().catch(() => ({}))) as Record<string, unknown>;
  if (response.statusCode === 401)
    throw new BulwarkError("usage", "the admin listener refused the token; give --token-file or -c");
  return { status: response.statusCode, body };
}
