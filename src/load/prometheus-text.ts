/**
 * Reads one sample from the Prometheus text exposition format (version 0.0.4,
 * https://prometheus.io/docs/instrumenting/exposition_formats/): lines of
 * `name{label="value",…} value [timestamp]`, `#` comments, blank lines. Only what a memory probe
 * needs: the value of the first sample with a given metric name (any labels).
 */

/** A metric name as the format defines it. */
export const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** The first sample of `name`, or undefined when there is none (or its value is not a number). */
export function sampleValue(text: string, name: string): number | undefined {
  for (const rawLine of text.split("\n")) {
    const line = rawLine.trim();
    if (line === "" || line.startsWith("#")) continue;
    if (!line.startsWith(name)) continue;
    let rest = line.slice(name.length);
    if (rest.startsWith("{")) {
      const end = labelsEnd(rest);
      if (end === -1) continue;
      rest = rest.slice(end + 1);
    }
    // The name must end here: `process_resident_memory_bytes_total` is another metric.
    if (!/^[ \t]/.test(rest)) continue;
    const value = parseValue(rest.trim().split(/[ \t]+/)[0] ?? "");
    if (value !== undefined) return value;
  }
  return undefined;
}

/** Index of the `}` closing a label set, skipping quoted values (which may hold `}` or `\"`). */
function labelsEnd(text: string): number {
  let quoted = false;
  for (let index = 1; index < text.length; index++) {
    const char = text[index];
    if (quoted) {
      if (char === "\\") index++;
      else if (char === '"') quoted = false;
    } else if (char === '"') quoted = true;
    else if (char === "}") return index;
  }
  return -1;
}

function parseValue(token: string): number | undefined {
  if (token === "+Inf") return Number.POSITIVE_INFINITY;
  if (token === "-Inf") return Number.NEGATIVE_INFINITY;
  if (token === "NaN") return undefined;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(token)) return undefined;
  return Number(token);
}
