// A node:test reporter that prints nothing until the run ends, then lists every failed test with
// its file, line and the first lines of its error. CI keeps only the end of a long log; without
// this, the one failure among a thousand passing tests can be out of sight.
// Used by scripts/run-tests.mjs next to the usual reporter.

const MAX_ERROR_LINES = 12;

function describe(error) {
  // node:test wraps a test's own error: `cause` is what the test threw.
  const cause = error?.cause ?? error;
  const text = cause instanceof Error ? (cause.stack ?? cause.message) : String(cause);
  // Node's own frames say nothing about the failure.
  return text
    .split("\n")
    .filter((line) => !/^\s+at .*\(?node:/.test(line))
    .slice(0, MAX_ERROR_LINES);
}

export default async function* failureSummary(source) {
  const failures = [];
  for await (const event of source) {
    if (event.type !== "test:fail") continue;
    // event.data.line is not reliable through tsx's transform; the stack below has the lines.
    const { name, file, details } = event.data;
    // A suite fails when a test in it fails: that test is listed already.
    if (details?.error?.failureType === "subtestsFailed") continue;
    failures.push({ name, where: file ?? "?", error: describe(details?.error) });
  }
  if (failures.length === 0) return;
  let out = `\n# ${failures.length} failed test${failures.length === 1 ? "" : "s"}:\n`;
  for (const failure of failures) {
    out += `# - ${failure.name} (${failure.where})\n`;
    for (const line of failure.error) out += `#     ${line}\n`;
  }
  yield out;
}
