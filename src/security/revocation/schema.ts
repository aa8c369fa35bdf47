/**
 * Config schema of the token deny-list store (`server.tokenRevocation`, referenced from
 * src/config/schema.ts).
 */
import { z } from "zod";
import { duration } from "../../config/units.js";
import { DEFAULT_MAX_REVOCATIONS } from "./deny-list.js";

const maxEntries = z
  .number()
  .int()
  .min(1)
  .default(DEFAULT_MAX_REVOCATIONS)
  .describe("most live revocations kept; beyond, new revocations are refused (never evicted)");

export const tokenRevocationSchema = z
  .discriminatedUnion("type", [
    z
      .strictObject({
        type: z.literal("memory").describe("revocations kept in this process; lost on restart"),
        maxEntries,
      })
      .describe("in-process deny-list"),
    z
      .strictObject({
        type: z.literal("redis").describe("revocations shared through Redis and kept across restarts"),
        url: z
          .string()
          .min(1)
          .describe("redis:// or rediss:// URL; put a password in an env or file reference"),
        keyPrefix: z.string().default("bulwark:").describe("prefix of the deny-list's Redis keys"),
        syncInterval: duration("how often each process re-reads the whole list").default(30_000),
        maxEntries,
      })
      .describe("shared deny-list"),
  ])
  .default({ type: "memory", maxEntries: DEFAULT_MAX_REVOCATIONS })
  .describe("where revoked token ids (jti) are kept");

export type TokenRevocationConfig = z.output<typeof tokenRevocationSchema>;
