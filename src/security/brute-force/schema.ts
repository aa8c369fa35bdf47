/**
 * Config schema of brute-force protection: the policy and store under `server.bruteForce`, and
 * the per-route `loginEndpoint` (referenced from src/config/schema.ts).
 */
import { z } from "zod";
import { duration, size } from "../../config/units.js";

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

/** Default of `loginEndpoint.bodyReadLimit`: a sign-in form or JSON document is far smaller. */
export const DEFAULT_BODY_READ_LIMIT = 64 * 1024;
const MAX_BODY_READ_LIMIT = 1024 * 1024;

// RFC 6901 §3: "" (the whole document) or "/"-prefixed reference tokens, "~" only as ~0 or ~1.
const jsonPointer = z.string().regex(/^(?:\/(?:[^~/]|~[01])*)*$/, {
  message: 'expected a JSON Pointer (RFC 6901) such as "/user/email" ("~" only as ~0 or ~1)',
});

// One object with every source as an optional key (not a union of one-key objects), so a wrong
// value gets an error at its own key rather than a list of union alternatives.
const accountSource = z
  .strictObject({
    header: headerName.optional().describe("request header naming the account"),
    query: z.string().min(1).optional().describe("query parameter naming the account"),
    form: z
      .string()
      .min(1)
      .optional()
      .describe("field naming the account in an application/x-www-form-urlencoded body"),
    json: jsonPointer
      .optional()
      .describe('JSON Pointer (RFC 6901) to the account in an application/json body, e.g. "/user/email"'),
  })
  .refine(
    (source) => {
      const body = source.form !== undefined || source.json !== undefined;
      return [source.header !== undefined, source.query !== undefined, body].filter(Boolean).length === 1;
    },
    { message: 'name one source: "header", "query", or the body ("form", "json" or both)' },
  );

export const loginEndpointSchema = z
  .union([
    z.boolean(),
    z.strictObject({
      account: accountSource
        .optional()
        .describe("where the account name is read (default: the Basic authentication user name)"),
      bodyReadLimit: size(
        "largest body read to find a form or JSON account (default 64kb, at most 1mb, never above limits.maxBodySize); a larger body is forwarded unread and counts per client address only",
      )
        .refine((bytes) => bytes >= 1 && bytes <= MAX_BODY_READ_LIMIT, {
          message: "expected a size from 1b to 1mb",
        })
        .optional(),
    }),
  ])
  .describe(
    "this route signs users in: upstream 401/403 answers count as failed authentications per client address and account, 2xx resets the account's count",
  );

export type BruteForceConfig = z.output<typeof bruteForceSchema>;
export type LoginEndpointConfig = z.output<typeof loginEndpointSchema>;
