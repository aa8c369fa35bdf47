/**
 * The stable ids of the launch checklist's items (docs/checks.md, "Checklist items"), in report
 * order. Kept apart from the checklist logic so the config schema can name them without
 * loading it.
 */
export const ITEM_IDS = [
  "url-no-severe",
  "url-headers",
  "url-tls",
  "repo-secrets",
  "repo-containers",
  "repo-dependencies",
  "load-thresholds",
  "drill-succeeded",
  "drill-rto",
  "drill-rpo",
  "url-https-only",
  "url-no-exposure",
  "config-valid",
  "config-https",
  "config-headers",
  "config-rate-limits",
  "url-health",
  "url-metrics-private",
  "url-rate-limited",
] as const;

export type ItemId = (typeof ITEM_IDS)[number];

/** The areas the checklist is grouped by, in report order (team items name one too). */
export const ITEM_AREAS = [
  "security",
  "testing",
  "disaster recovery",
  "deployment",
  "observability",
] as const;
