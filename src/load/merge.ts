/**
 * `bulwark load merge A.json B.json …`: one summary from the summaries of several generators
 * that loaded the same target at the same time (several processes or machines, each with a part
 * of the rate). Percentiles cannot be averaged — the p99 of two runs is not the mean of their
 * p99s — so every summary carries its full HDR histograms (compressed Base64) and the merge adds
 * them bucket by bucket: the merged percentiles are exactly those of one run that recorded every
 * request (docs/load.md, "Several generators").
 *
 * Counts (requests, errors, dropped, bytes, statuses, error classes) are summed; rps is summed
 * (the generators ran side by side). The timelines are aligned by interval index (each from its
 * own start, so start the generators together): counts are summed, and an interval's
 * percentiles are the highest of the inputs' — an upper bound, since per-interval histograms
 * are not kept. Whole-run thresholds are evaluated again on the merged figures; `over`
 * thresholds keep each input's verdict (they pass only if they passed everywhere).
 */
import { BulwarkError } from "../errors.js";
import { readSummary } from "./compare.js";
import { ERROR_CLASSES, type ErrorClass } from "./error-class.js";
import { LatencyHistogram, type LatencySummary } from "./histogram.js";
import type { LoadSummary, RequestSummary } from "./report.js";
import { evaluateThreshold, parseThreshold, type ThresholdResult } from "./thresholds.js";
import type { IntervalSample } from "./timeline.js";
import { analyseTrends } from "./trends.js";

export function mergeFiles(files: readonly string[]): LoadSummary {
  if (files.length < 2) throw new BulwarkError("usage", "load merge needs at least two summaries to merge");
  const summaries = files.map((file) => {
    const summary = readSummary(file);
    const complete =
      typeof summary.histograms?.latency === "string" &&
      typeof summary.histograms.serviceTime === "string" &&
      Object.values(summary.byRequest).every(
        (item) =>
          typeof item.histograms?.latency === "string" && typeof item.histograms.serviceTime === "string",
      );
    if (!complete)
      throw new BulwarkError(
        "usage",
        `${file}: this summary has no histograms (written by an older bulwark); it cannot be merged exactly`,
      );
    return summary;
  });
  return mergeSummaries(summaries, files);
}

export function mergeSummaries(summaries: readonly LoadSummary[], files: readonly string[]): LoadSummary {
  const first = summaries[0]!;
  const latency = mergeHistograms(summaries.map((summary) => summary.histograms.latency));
  const serviceTime = mergeHistograms(summaries.map((summary) => summary.histograms.serviceTime));
  const sum = (pick: (summary: LoadSummary) => number) =>
    summaries.reduce((total, item) => total + pick(item), 0);
  const requests = sum((summary) => summary.requests);
  const errors = sum((summary) => summary.errors);
  const rps = Math.round(sum((summary) => summary.rps) * 100) / 100;
  const dropped = sum((summary) => summary.dropped);
  const errorRate = requests === 0 ? null : errors / requests;
  const startedAt = summaries.map((summary) => summary.startedAt).sort()[0]!;
  const finishedAt = summaries
    .map((summary) => summary.finishedAt)
    .sort()
    .at(-1)!;

  const timeline = mergeTimelines(summaries);
  const trends = analyseTrends(
    timeline,
    timeline.some((sample) => sample.targetMemoryBytes !== undefined),
  );
  const thresholds = first.thresholds.map((result, index): ThresholdResult => {
    const threshold = parseThreshold(result.expression);
    const inputs = summaries.map((summary) => summary.thresholds[index]);
    if (threshold.windowMs !== undefined || inputs.some((item) => item?.expression !== result.expression)) {
      // Windows need per-interval histograms, which are not kept: pass only where every input passed.
      return {
        expression: result.expression,
        ok: inputs.every((item) => item?.ok === true),
        actual: worst(
          inputs.map((item) => item?.actual ?? null),
          threshold.operator,
        ),
        ...(result.scope ? { scope: result.scope } : {}),
      };
    }
    const scope = threshold.scope;
    const named =
      scope === undefined ? undefined : mergeRequests(summaries.map((summary) => summary.byRequest[scope]));
    const histogram = scope === undefined ? latency : named!.histogram;
    const serviceHistogram = scope === undefined ? serviceTime : named!.serviceTime;
    const scopeRequests = scope === undefined ? requests : named!.summary.requests;
    const scopeErrors = scope === undefined ? errors : named!.summary.errors;
    const scopeRps =
      scope === undefined
        ? rps
        : sum(
            (summary) =>
              (summary.byRequest[scope]?.requests ?? 0) / Math.max(summary.elapsedMs / 1000, 0.001),
          );
    const evaluated = evaluateThreshold(threshold, {
      latency: histogram,
      serviceTime: serviceHistogram,
      errorRate: scopeRequests === 0 ? null : scopeErrors / scopeRequests,
      rps: scopeRps,
      dropped,
      drifting: trends.drifting.length,
    });
    return scope ? { ...evaluated, scope } : evaluated;
  });

  const names = [...new Set(summaries.flatMap((summary) => Object.keys(summary.byRequest)))];
  const byRequest = Object.fromEntries(
    names.map((name) => [name, mergeRequests(summaries.map((summary) => summary.byRequest[name])).summary]),
  );
  const generators = summaries.map((summary) => summary.generator);
  const valid = summaries.every((summary) => summary.valid);
  return {
    kind: "load-summary",
    version: 1,
    partial: summaries.some((summary) => summary.partial),
    ok: thresholds.every((result) => result.ok),
    valid,
    startedAt,
    finishedAt,
    elapsedMs: Math.max(...summaries.map((summary) => summary.elapsedMs)),
    // One generator that did not verify the certificate makes the merged run unverified too.
    target: summaries.some((summary) => summary.target.insecure)
      ? { ...first.target, insecure: true }
      : first.target,
    executor: first.executor,
    requests,
    rps,
    errors,
    errorRate,
    clientErrors: sum((summary) => summary.clientErrors),
    dropped,
    bytesReceived: sum((summary) => summary.bytesReceived),
    latency: latency.summary(),
    serviceTime: serviceTime.summary(),
    statusCodes: sumRecords(summaries.map((summary) => summary.statusCodes)),
    errorsByClass: sumClasses(summaries.map((summary) => summary.errorsByClass)),
    thresholds,
    ...(first.scenario === undefined ? {} : { scenario: first.scenario }),
    byRequest,
    // The busiest generator's figures: the merged run was only as sound as its worst part.
    generator: {
      valid,
      reasons: generators.flatMap((item, index) =>
        item.reasons.map((reason) => `${files[index]}: ${reason}`),
      ),
      cpu: {
        mean: Math.max(...generators.map((item) => item.cpu.mean)),
        max: Math.max(...generators.map((item) => item.cpu.max)),
      },
      eventLoop: {
        utilization: Math.max(...generators.map((item) => item.eventLoop.utilization)),
        lagP99Ms: Math.max(...generators.map((item) => item.eventLoop.lagP99Ms)),
        lagMaxMs: Math.max(...generators.map((item) => item.eventLoop.lagMaxMs)),
      },
      boundIntervals: Math.max(...generators.map((item) => item.boundIntervals)),
      intervals: timeline.length,
      droppedWhileBound: generators.reduce((total, item) => total + item.droppedWhileBound, 0),
      rss: {
        first: Math.max(...generators.map((item) => item.rss.first)),
        last: Math.max(...generators.map((item) => item.rss.last)),
        max: Math.max(...generators.map((item) => item.rss.max)),
      },
    },
    intervalMs: first.intervalMs,
    timeline,
    trends,
    histograms: { latency: latency.encode(), serviceTime: serviceTime.encode() },
    merged: {
      inputs: summaries.map((summary, index) => ({
        file: files[index]!,
        startedAt: summary.startedAt,
        executor: summary.executor,
        requests: summary.requests,
        rps: summary.rps,
        valid: summary.valid,
      })),
    },
  };
}

function mergeHistograms(encoded: readonly string[]): LatencyHistogram {
  const merged = new LatencyHistogram();
  for (const text of encoded) {
    try {
      merged.add(LatencyHistogram.decode(text));
    } catch {
      throw new BulwarkError("usage", "a summary's histogram is not valid HdrHistogram compressed Base64");
    }
  }
  return merged;
}

function mergeRequests(items: readonly (RequestSummary | undefined)[]): {
  summary: RequestSummary;
  histogram: LatencyHistogram;
  serviceTime: LatencyHistogram;
} {
  const present = items.filter((item): item is RequestSummary => item !== undefined);
  const latency = mergeHistograms(present.map((item) => item.histograms.latency));
  const serviceTime = mergeHistograms(present.map((item) => item.histograms.serviceTime));
  const requests = present.reduce((total, item) => total + item.requests, 0);
  const errors = present.reduce((total, item) => total + item.errors, 0);
  return {
    histogram: latency,
    serviceTime,
    summary: {
      requests,
      errors,
      errorRate: requests === 0 ? null : errors / requests,
      clientErrors: present.reduce((total, item) => total + item.clientErrors, 0),
      bytesReceived: present.reduce((total, item) => total + item.bytesReceived, 0),
      latency: latency.summary(),
      serviceTime: serviceTime.summary(),
      statusCodes: sumRecords(present.map((item) => item.statusCodes)),
      errorsByClass: sumClasses(present.map((item) => item.errorsByClass)),
      histograms: { latency: latency.encode(), serviceTime: serviceTime.encode() },
    },
  };
}

function mergeTimelines(summaries: readonly LoadSummary[]): IntervalSample[] {
  const length = Math.max(...summaries.map((summary) => summary.timeline.length));
  const timeline: IntervalSample[] = [];
  for (let index = 0; index < length; index++) {
    const samples = summaries.flatMap((summary) => summary.timeline[index] ?? []);
    const requests = samples.reduce((total, sample) => total + sample.requests, 0);
    const errors = samples.reduce((total, sample) => total + sample.errors, 0);
    const highest = (key: keyof LatencySummary) => {
      const values = samples.flatMap((sample) =>
        sample.latency[key] === null ? [] : [sample.latency[key]!],
      );
      return values.length === 0 ? null : Math.max(...values);
    };
    const memory = samples.map((sample) => sample.targetMemoryBytes).find((value) => value !== undefined);
    timeline.push({
      startMs: Math.min(...samples.map((sample) => sample.startMs)),
      endMs: Math.max(...samples.map((sample) => sample.endMs)),
      requests,
      rps: Math.round(samples.reduce((total, sample) => total + sample.rps, 0) * 100) / 100,
      errors,
      errorRate: requests === 0 ? null : errors / requests,
      dropped: samples.reduce((total, sample) => total + sample.dropped, 0),
      latency: {
        p50: highest("p50"),
        p90: highest("p90"),
        p95: highest("p95"),
        p99: highest("p99"),
        max: highest("max"),
      },
      generator: {
        cpu: Math.max(...samples.map((sample) => sample.generator.cpu)),
        utilization: Math.max(...samples.map((sample) => sample.generator.utilization)),
        lagMaxMs: Math.max(...samples.map((sample) => sample.generator.lagMaxMs)),
        rssBytes: Math.max(...samples.map((sample) => sample.generator.rssBytes)),
      },
      ...(memory === undefined ? {} : { targetMemoryBytes: memory }),
    });
  }
  return timeline;
}

function sumRecords(records: readonly Readonly<Record<string, number>>[]): Record<string, number> {
  const total: Record<string, number> = {};
  for (const record of records)
    for (const [key, value] of Object.entries(record)) total[key] = (total[key] ?? 0) + value;
  return Object.fromEntries(Object.entries(total).sort(([a], [b]) => Number(a) - Number(b)));
}

function sumClasses(records: readonly Readonly<Record<ErrorClass, number>>[]): Record<ErrorClass, number> {
  return Object.fromEntries(
    ERROR_CLASSES.map((name) => [name, records.reduce((total, record) => total + (record[name] ?? 0), 0)]),
  ) as Record<ErrorClass, number>;
}

/** The input value furthest on the failing side (null, no data, counts as worst). */
function worst(values: readonly (number | null)[], operator: string): number | null {
  if (values.some((value) => value === null)) return null;
  const numbers = values as number[];
  return operator.startsWith(">") ? Math.min(...numbers) : Math.max(...numbers);
}
