// Summarizes a V8 .cpuprofile (from `node --cpu-prof`): self time per function, time per
// component (a native or builtin frame is charged to the nearest caller that has a source file),
// and inclusive time of the gateway's own functions.
import { readFileSync } from "node:fs";

function componentOf(url, functionName) {
  if (!url) {
    if (functionName === "(garbage collector)") return "V8 garbage collector";
    if (functionName === "(idle)") return "idle";
    if (functionName === "(program)") return "V8/native (program)";
    return undefined; // native or builtin: charged to its caller
  }
  if (url.includes("/node_modules/undici/")) return "undici (upstream client)";
  if (
    /\/node_modules\/(pino|sonic-boom|fast-redact|pino-std-serializers|thread-stream|quick-format-unescaped|fast-safe-stringify)\//.test(
      url,
    )
  )
    return "pino (access log)";
  if (url.includes("/node_modules/prom-client/") || url.includes("/node_modules/tdigest/"))
    return "prom-client (metrics)";
  if (url.includes("/node_modules/")) return "other dependencies";
  if (url.includes("/dist/")) return "bulwark (dist/)";
  if (/^node:(_http_|http$|internal\/http)/.test(url) || url.startsWith("node:internal/http"))
    return "node http (server)";
  if (/^node:(net|stream|internal\/streams|internal\/stream_base_commons|internal\/net)/.test(url))
    return "node net/streams";
  if (/^node:(internal\/timers|timers|internal\/process\/task_queues|events|internal\/async_hooks)/.test(url))
    return "node timers/events/microtasks";
  if (url.startsWith("node:")) return "node (other)";
  return "other";
}

function shortLocation(url, line) {
  if (!url) return "(native)";
  const trimmed = url
    .replace(/^file:\/\/.*\/node_modules\//, "")
    .replace(/^file:\/\/.*\/dist\//, "dist/")
    .replace(/^file:\/\//, "");
  return `${trimmed}:${line + 1}`;
}

/**
 * `window` ({ startUs, endUs }, CLOCK_MONOTONIC microseconds as from process.hrtime.bigint() / 1000n,
 * the clock V8 stamps samples with on Linux) limits the summary to the samples taken while the
 * measured load ran, leaving out start-up and warm-up; `requests` (answered in that window) turns
 * times into microseconds per request.
 */
export function summarizeProfile(file, { top = 20, window, requests } = {}) {
  const profile = JSON.parse(readFileSync(file, "utf8"));
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

  const collect = (inWindow) => {
    const selfByNode = new Map();
    let sampled = 0;
    let time = profile.startTime;
    for (let index = 0; index < profile.samples.length; index++) {
      const delta = Math.max(0, profile.timeDeltas[index] ?? 0);
      time += delta;
      if (!inWindow(time)) continue;
      const id = profile.samples[index];
      selfByNode.set(id, (selfByNode.get(id) ?? 0) + delta);
      sampled += delta;
    }
    return { selfByNode, sampled };
  };
  let windowed = false;
  let { selfByNode, sampled: total } = collect(() => true);
  if (window) {
    const limited = collect((time) => time >= window.startUs && time <= window.endUs);
    // Trust the window only if it holds most of the load's duration (same clock as expected).
    if (limited.sampled >= 0.5 * (window.endUs - window.startUs)) {
      ({ selfByNode, sampled: total } = limited);
      windowed = true;
    }
  }

  const selfByFunction = new Map();
  const byComponent = new Map();
  const inclusive = new Map();
  for (const [id, micros] of selfByNode) {
    const node = nodes.get(id);
    const { functionName, url, lineNumber } = node.callFrame;
    const key = `${functionName || "(anonymous)"} ${shortLocation(url, lineNumber)}`;
    selfByFunction.set(key, (selfByFunction.get(key) ?? 0) + micros);

    let component = componentOf(url, functionName);
    let cursor = id;
    const seen = new Set();
    while (cursor !== undefined) {
      const frame = nodes.get(cursor).callFrame;
      if (component === undefined) component = componentOf(frame.url, frame.functionName);
      if (frame.url.includes("/dist/")) {
        const name = `${frame.functionName || "(anonymous)"} ${shortLocation(frame.url, frame.lineNumber)}`;
        if (!seen.has(name)) {
          seen.add(name);
          inclusive.set(name, (inclusive.get(name) ?? 0) + micros);
        }
      }
      cursor = parent.get(cursor);
    }
    component ??= "V8/native (no JS caller)";
    byComponent.set(component, (byComponent.get(component) ?? 0) + micros);
  }

  const share = (micros) => Math.round((micros / total) * 1000) / 10;
  const sorted = (map, limit) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([name, micros]) => ({ name, ms: Math.round(micros / 1000), percent: share(micros) }));
  const idle = [...byComponent.entries()].find(([name]) => name === "idle")?.[1] ?? 0;
  const perRequest = windowed && requests > 0;
  return {
    file,
    windowed,
    requests: perRequest ? requests : null,
    componentUsPerRequest: perRequest
      ? Object.fromEntries(
          [...byComponent.entries()].map(([name, micros]) => [
            name,
            Math.round((micros / requests) * 10) / 10,
          ]),
        )
      : null,
    sampledMs: Math.round(total / 1000),
    busyPercent: share(total - idle),
    components: sorted(byComponent, 20),
    topSelf: sorted(selfByFunction, top),
    bulwarkInclusive: sorted(inclusive, 15),
  };
}
