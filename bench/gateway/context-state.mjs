// Per-request stage state: a WeakMap keyed by the request context against a field on it, in an
// isolated loop (2 million short-lived contexts, the state set and read once each, GC included).
// The gateway keeps the state of its hot stages in context fields (src/gateway/context.ts) from
// this measurement; docs/performance.md records it.
//
//   node bench/gateway/context-state.mjs
const N = 2_000_000;

function run(kind) {
  const map = new WeakMap();
  let sink = 0;
  const started = performance.now();
  for (let i = 0; i < N; i++) {
    const ctx = { id: i, identity: null, route: `r${i & 7}`, headers: [i], decisions: null };
    const decisions = [
      { allowed: true, remaining: i },
      { allowed: true, remaining: i },
    ];
    if (kind === "weakmap") {
      map.set(ctx, decisions);
      sink += map.get(ctx).length;
    } else {
      ctx.decisions = decisions;
      sink += ctx.decisions.length;
    }
  }
  if (sink !== 2 * N) throw new Error("the loop did not run");
  return ((performance.now() - started) / N) * 1000;
}

const rounds = { field: [], weakmap: [] };
for (let round = 0; round < 5; round++) for (const kind of ["field", "weakmap"]) rounds[kind].push(run(kind));
const median = (values) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];
const field = median(rounds.field);
const weakmap = median(rounds.weakmap);
console.log(`field    ${field.toFixed(3)} µs per request (median of 5 rounds of ${N.toLocaleString()})`);
console.log(`weakmap  ${weakmap.toFixed(3)} µs per request`);
console.log(`weakmap / field ${(weakmap / field).toFixed(1)}`);
