/**
 * Waivers: a team accepts a finding for a reason until a date. A waiver matches a finding by id
 * and, optionally, a location pattern (`*` matches any run of characters). After its expiry date
 * the waiver no longer applies: the finding counts again and is marked with the date it expired.
 *
 * File format (YAML or JSON):
 *   waivers:
 *     - id: docker-user-root
 *       location: "deploy/Dockerfile*"
 *       reason: the image drops to uid 1000 in its entrypoint
 *       expires: 2026-12-31
 */
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { BulwarkError } from "../errors.js";
import { CATALOG } from "./catalog.js";
import type { Finding } from "./findings.js";

export interface Waiver {
  readonly id: string;
  readonly location?: string;
  readonly reason: string;
  /** YYYY-MM-DD; the waiver holds through the end of that day (UTC). */
  readonly expires: string;
}

export interface WaivedFinding extends Finding {
  readonly waiver: { readonly reason: string; readonly expires: string };
}

export interface WaiverOutcome {
  readonly findings: Finding[];
  readonly waived: WaivedFinding[];
  readonly warnings: string[];
}

export function loadWaivers(file: string): Waiver[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new BulwarkError(
      "check_waivers_invalid",
      `cannot read waiver file ${file}: ${(error as Error).message}`,
    );
  }
  let document: unknown;
  try {
    document = parse(text);
  } catch (error) {
    throw new BulwarkError(
      "check_waivers_invalid",
      `waiver file ${file} is not valid YAML: ${(error as Error).message.split("\n")[0]}`,
    );
  }
  return parseWaivers(document, file);
}

export function parseWaivers(document: unknown, source: string): Waiver[] {
  const list = (document as { waivers?: unknown } | null)?.waivers;
  if (!Array.isArray(list)) {
    throw new BulwarkError("check_waivers_invalid", `${source}: expected a top-level \`waivers:\` list`);
  }
  const problems: string[] = [];
  const waivers: Waiver[] = [];
  list.forEach((raw: unknown, index) => {
    const where = `${source}: waivers[${index}]`;
    if (typeof raw !== "object" || raw === null) {
      problems.push(`${where}: expected an object with id, reason and expires`);
      return;
    }
    const item = raw as Record<string, unknown>;
    const expires = item.expires instanceof Date ? item.expires.toISOString().slice(0, 10) : item.expires;
    if (typeof item.id !== "string" || !CATALOG.has(item.id))
      problems.push(`${where}.id: ${JSON.stringify(item.id)} is not a finding id (see docs/checks.md)`);
    if (typeof item.reason !== "string" || item.reason.trim() === "")
      problems.push(`${where}.reason: a reason is required`);
    if (
      typeof expires !== "string" ||
      !/^\d{4}-\d{2}-\d{2}$/.test(expires) ||
      Number.isNaN(Date.parse(expires))
    )
      problems.push(`${where}.expires: expected a date YYYY-MM-DD, got ${JSON.stringify(item.expires)}`);
    if (item.location !== undefined && typeof item.location !== "string")
      problems.push(`${where}.location: expected a string pattern`);
    if (problems.length === 0) {
      waivers.push({
        id: item.id as string,
        reason: item.reason as string,
        expires: expires as string,
        ...(typeof item.location === "string" ? { location: item.location } : {}),
      });
    }
  });
  if (problems.length > 0) {
    throw new BulwarkError("check_waivers_invalid", `invalid waiver file ${source}`, { details: problems });
  }
  return waivers;
}

function patternToRegExp(pattern: string): RegExp {
  const body = pattern
    .split("*")
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
    .join(".*");
  return new RegExp(`^${body}$`);
}

export function applyWaivers(
  findings: readonly Finding[],
  waivers: readonly Waiver[],
  now = new Date(),
): WaiverOutcome {
  const compiled = waivers.map((waiver) => ({
    waiver,
    location: waiver.location === undefined ? undefined : patternToRegExp(waiver.location),
    // Valid through the whole expiry day in UTC.
    expired: now.getTime() >= Date.parse(`${waiver.expires}T00:00:00Z`) + 86_400_000,
  }));
  const kept: Finding[] = [];
  const waived: WaivedFinding[] = [];
  const warnings: string[] = [];
  const reportedExpired = new Set<Waiver>();
  for (const item of findings) {
    const matches = compiled.filter(
      (entry) =>
        entry.waiver.id === item.id && (entry.location === undefined || entry.location.test(item.location)),
    );
    const active = matches.find((entry) => !entry.expired);
    if (active) {
      waived.push({ ...item, waiver: { reason: active.waiver.reason, expires: active.waiver.expires } });
      continue;
    }
    const expired = matches[0];
    if (expired) {
      kept.push({ ...item, waiverExpired: expired.waiver.expires });
      if (!reportedExpired.has(expired.waiver)) {
        reportedExpired.add(expired.waiver);
        warnings.push(
          `waiver for ${expired.waiver.id}${expired.waiver.location ? ` at ${expired.waiver.location}` : ""} expired on ${expired.waiver.expires}; its findings count again`,
        );
      }
      continue;
    }
    kept.push(item);
  }
  return { findings: kept, waived, warnings };
}
