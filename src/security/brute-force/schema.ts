/**
 * Config schema of brute-force protection: the policy and store under `server.bruteForce`, and
 * the per-route `loginEndpoint` (referenced from src/config/schema.ts).
 */
import { z } from "zod";
import { duration } from "../../config/units.js";

const headerName = z
  .string()
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, { message: "expected an HTTP header name (RFC 9110 token)" });

export const bruteForceSchema = z
  .strictObject({
    enabled: z.boolean().default(true).describe("count failed authentications and lock clients out"),
    maxFailures: z
      .number()
      .int()
      .min(1)
      .default(5)
      .describe(
        "failed sign-ins (loginEndpoint routes) within `window` that lock the address or account out",
      ),
    maxCredentialFailures: z
      .number()
      .int()
      .min(1)
      .default(50)
      .describe(
        "credentials the gateway refused (tokens, API keys) from one address within `window` that lock it out of `auth` routes; higher, because clients retry expired tokens and many users may share an address",
      ),
    window: duration("time in which failures are counted").default(900_000),
    lockout: duration("first lock-out; each further one of the same key lasts twice as long").default(60_000),
    maxLockout: duration("longest lock-out").default(3_600_000),
    store: z
      .discriminatedUnion("type", [
        z.strictObject({
          type: z.literal("memory").describe("counts in this process (per worker)"),
          maxKeys: z.number().int().min(1).default(100_000).describe("most keys kept; the oldest go first"),
        }),
        z.strictObject({
          type: z.literal("redis").describe("counts shared through Redis"),
          url: z
            .string()
            .min(1)
            .describe("redis:// or rediss:// URL; put a password in an env or file reference"),
          keyPrefix: z.string().default("bulwark:bf:").describe("prefix of every Redis key"),
          timeout: duration("longest wait for Redis before a check answers not locked").default(250),
        }),
      ])
      .default({ type: "memory", maxKeys: 100_000 })
      .describe("where failure counts and lock-outs live"),
  })
  .prefault({})
  .describe("brute-force protection: failed authentications per client address and per account");

export const loginEndpointSchema = z
  .union([
    z.boolean(),
    z.strictObject({
      account: z
        .union([
          z.strictObject({ header: headerName.describe("request header naming the account") }),
          z.strictObject({ query: z.string().min(1).describe("query parameter naming the account") }),
        ])
        .optional()
        .describe("where the account name is read (default: the Basic authentication user name)"),
    }),
  ])
  .describe(
    "this route signs users in: upstream 401/403 answers count as failed authentications per client address and account, 2xx resets the account's count",
  );

export type BruteForceConfig = z.output<typeof bruteForceSchema>;
export type LoginEndpointConfig = z.output<typeof loginEndpointSchema>;
