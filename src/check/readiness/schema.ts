/**
 * The `readiness:` section of bulwark.yaml (referenced from src/config/schema.ts): what
 * `bulwark check` runs by itself — live services and repositories with the options of
 * `check url` / `check repo` — and how the launch checklist is judged. The gateway ignores the
 * section; `bulwark config check` validates it with the rest of the file. Relative paths are
 * relative to the config file's directory, like every other path in bulwark.yaml.
 */
import { z } from "zod";
import { duration, size } from "../../config/units.js";
import { ITEM_AREAS, ITEM_IDS } from "./item-ids.js";

const FAIL_ON = ["critical", "high", "medium", "low", "none"] as const;

const httpUrl = z.string().refine(
  (text) => {
    try {
      const url = new URL(text);
      return (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== "";
    } catch {
      return false;
    }
  },
  { message: "expected an http:// or https:// URL such as https://app.example.com/" },
);

export const urlTargetSchema = z
  .strictObject({
    url: httpUrl.describe("the live service to assess (as bulwark check url URL)"),
    rate: z.number().int().min(1).max(50).default(10).describe("request starts per second, at most"),
    timeout: duration("per-request and per-handshake timeout (100ms to 10m)")
      .refine((ms) => ms >= 100 && ms <= 600_000, { message: "must be between 100ms and 10m" })
      .default(10_000),
    ca: z
      .string()
      .min(1)
      .optional()
      .describe("PEM CA bundle trusted in addition to the system roots (private CAs, test certificates)"),
    httpPort: z
      .number()
      .int()
      .min(1)
      .max(65535)
      .optional()
      .describe(
        "plain-HTTP port on which to test the HTTP→HTTPS redirect (default 80 when the URL uses 443)",
      ),
    probeRateLimit: z
      .boolean()
      .default(false)
      .describe("send a bounded burst to see whether a 429 comes (needed for the rate-limiting item)"),
    burst: z.number().int().min(1).max(300).default(60).describe("size of that burst"),
  })
  .describe("a live service to check");

export const repoTargetSchema = z
  .strictObject({
    path: z.string().min(1).default(".").describe("repository directory to scan (as bulwark check repo DIR)"),
    advisories: z
      .string()
      .min(1)
      .optional()
      .describe("offline OSV database directory for the lockfile checks (all ecosystems)"),
    npmAudit: z
      .boolean()
      .default(false)
      .describe(
        "also ask the npm registry's bulk advisory endpoint about npm packages (sends names and versions)",
      ),
    npmRegistry: httpUrl
      .default("https://registry.npmjs.org/")
      .describe("registry asked with npmAudit (its /-/npm/v1/security/advisories/bulk endpoint)"),
    allowlist: z
      .string()
      .min(1)
      .optional()
      .describe("allow-list file (default PATH/.bulwark-check-allow.yaml when it exists)"),
    history: z.boolean().default(false).describe("also scan the lines git history added for secrets"),
    historyMaxCommits: z
      .number()
      .int()
      .min(1)
      .max(1_000_000)
      .default(1000)
      .describe("newest commits read with history"),
    maxFileSize: size("larger files are skipped with a warning (lockfiles may be 16 times larger)")
      .refine((bytes) => bytes >= 1024 && bytes <= 1024 ** 3, { message: "must be between 1kb and 1gb" })
      .default(8 * 1024 * 1024),
    includeVendor: z
      .boolean()
      .default(false)
      .describe("also walk node_modules, vendor, dist, target and similar folders"),
  })
  .describe("a repository to check");

const BUILT_IN_IDS: ReadonlySet<string> = new Set(ITEM_IDS);

export const teamItemSchema = z
  .strictObject({
    id: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{1,47}$/, {
        message: "expected a short id of lowercase letters, digits and dashes, e.g. oncall-rota",
      })
      .refine((id) => !BUILT_IN_IDS.has(id), { message: "is the id of a built-in item; choose another" })
      .describe("stable id of the item, shown in every report format"),
    title: z.string().min(3).max(200).describe('what must be true, e.g. "an on-call rota exists"'),
    area: z.enum(ITEM_AREAS).default("deployment").describe("where the item is listed"),
    evidence: z
      .strictObject({
        file: z
          .string()
          .min(1)
          .optional()
          .describe("a file that must exist and not be empty (relative to the config file's directory)"),
        url: httpUrl.optional().describe("a URL that must answer 2xx to one GET (no redirects followed)"),
      })
      .refine((evidence) => (evidence.file === undefined) !== (evidence.url === undefined), {
        message: "give one of file or url",
      })
      .describe("what proves the item: the claim alone verifies nothing"),
  })
  .describe("a checklist item of the team's own");

export const readinessSchema = z
  .strictObject({
    urls: z.array(urlTargetSchema).max(20).default([]).describe("live services bulwark check assesses"),
    repos: z.array(repoTargetSchema).max(20).default([]).describe("repositories bulwark check scans"),
    failOn: z
      .enum(FAIL_ON)
      .default("high")
      .describe("a finding at or above this severity in a configured check fails the run (exit 1)"),
    waivers: z.string().min(1).optional().describe("waiver file applied to every configured check"),
    evidenceDir: z
      .string()
      .min(1)
      .default(".bulwark/evidence")
      .describe("where check, load and drill records are read, and configured checks write theirs"),
    writeEvidence: z
      .boolean()
      .default(true)
      .describe("write each configured check's JSON report to evidenceDir, as check url and check repo do"),
    maxAgeDays: z
      .number()
      .int()
      .min(1)
      .max(3650)
      .default(30)
      .describe("evidence records older than this verify nothing"),
    strict: z.boolean().default(false).describe("checklist items that are not verified fail the run too"),
    notApplicable: z
      .array(
        z
          .strictObject({
            item: z.enum(ITEM_IDS).describe("checklist item id (docs/checks.md, Checklist items)"),
            reason: z.string().min(3).describe("why the item does not apply, shown in the report"),
          })
          .describe("a checklist item that does not apply to this service"),
      )
      .default([])
      .describe("items left out of the percentage and GO, e.g. restore drills for a stateless service"),
    items: z
      .array(teamItemSchema)
      .max(50)
      .superRefine((items, ctx) => {
        const seen = new Set<string>();
        items.forEach((item, index) => {
          if (seen.has(item.id))
            ctx.addIssue({
              code: "custom",
              path: [index, "id"],
              message: `${item.id} is used by another item`,
            });
          seen.add(item.id);
        });
      })
      .default([])
      .describe("checklist items of the team's own, each verified by a file or a URL"),
    gatewayConfig: z
      .boolean()
      .default(true)
      .describe("judge the gateway config in the same file (valid, HTTPS, header profiles, rate limits)"),
  })
  .describe("what bulwark check runs by itself and how the launch checklist is judged (docs/checks.md)");

export type ReadinessConfig = z.output<typeof readinessSchema>;
export type UrlTargetConfig = z.output<typeof urlTargetSchema>;
export type TeamItemConfig = z.output<typeof teamItemSchema>;
export type RepoTargetConfig = z.output<typeof repoTargetSchema>;
