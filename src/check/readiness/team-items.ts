/**
 * Checklist items of the team's own (`readiness.items`: "an on-call rota exists", "the runbook is
 * published"), judged like the built-in ones: from evidence, never from the claim. An item names
 * a file that must exist and not be empty (a runbook, a rota export, a signed-off document in the
 * repository), or a URL that must answer 2xx (a status page, a published runbook), one GET
 * without redirects, certificates verified. Anything else is a `fail` that says what was found;
 * with `--no-run` a URL item is `not verified` (nothing is sent).
 */
import { statSync } from "node:fs";
import { request } from "undici";
import type { ChecklistItem } from "./checklist.js";
import type { TeamItemConfig } from "./schema.js";

export interface TeamItemOptions {
  /** Send the GETs of URL items (false with --no-run). */
  readonly fetch: boolean;
  readonly timeoutMs: number;
}

export async function judgeTeamItems(
  items: readonly TeamItemConfig[],
  options: TeamItemOptions,
): Promise<ChecklistItem[]> {
  const judged: ChecklistItem[] = [];
  for (const item of items) {
    const verdict =
      item.evidence.file !== undefined
        ? judgeFile(item.evidence.file)
        : await judgeUrl(item.evidence.url!, options);
    judged.push({ id: item.id, area: item.area, title: item.title, ...verdict });
  }
  return judged;
}

type Verdict = Pick<ChecklistItem, "status" | "evidence">;

function judgeFile(file: string): Verdict {
  let stat: ReturnType<typeof statSync>;
  try {
    stat = statSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "unreadable";
    return {
      status: "fail",
      evidence: `${file} ${code === "ENOENT" ? "does not exist" : `cannot be read (${code})`}`,
    };
  }
  if (!stat.isFile()) return { status: "fail", evidence: `${file} is not a file` };
  if (stat.size === 0) return { status: "fail", evidence: `${file} is empty` };
  return {
    status: "pass",
    evidence: `${file} (${stat.size} bytes, modified ${stat.mtime.toISOString().slice(0, 10)})`,
  };
}

async function judgeUrl(url: string, options: TeamItemOptions): Promise<Verdict> {
  if (!options.fetch) return { status: "not verified", evidence: `${url} not fetched (--no-run)` };
  try {
    const response = await request(url, {
      method: "GET",
      headers: { "user-agent": "bulwark-check (readiness item)" },
      signal: AbortSignal.timeout(options.timeoutMs),
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
    });
    await response.body.dump();
    const status = response.statusCode;
    if (status >= 200 && status < 300) return { status: "pass", evidence: `GET ${url} answered ${status}` };
    const where = response.headers.location;
    return {
      status: "fail",
      evidence: `GET ${url} answered ${status}${typeof where === "string" ? ` (to ${where}; give the final URL)` : ""}`,
    };
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).name;
    return { status: "fail", evidence: `GET ${url} failed (${reason})` };
  }
}
