/**
 * A run split across worker threads (`--workers N|auto`; docs/load.md, "Worker threads"). The
 * main thread starts N workers (load-worker.ts), each with its own connections and its share of
 * the schedule (worker-share.ts), starts them together at one epoch time, and at every progress
 * tick and timeline interval asks each for what it recorded since the last time. Those deltas
 * — counts and exact HDR histograms — are added into the main thread's RunMetrics, so the
 * interval sampler, thresholds (windowed and abortOnFail), progress, trends and reports work on
 * the whole run exactly as with one thread.
 *
 * A worker that fails or exits before it has finished fails the whole run (load_worker_failed):
 * carrying on would silently offer a lower rate than asked.
 */
import { setFlagsFromString } from "node:v8";
import { Worker } from "node:worker_threads";
import { BulwarkError } from "../errors.js";
import {
  busiestRun,
  busiestSample,
  type HealthSample,
  type HealthSource,
  isBound,
  judgeGenerator,
  type RunHealth,
  type WorkerHealth,
} from "./generator-health.js";
import type { MetricsDelta, RunMetrics } from "./metrics.js";
import type { LoadPlan } from "./plan.js";
import { type Share, workerExecutor } from "./worker-share.js";

/** What a worker is started with (workerData). */
export interface WorkerInput {
  readonly plan: LoadPlan;
  readonly share: Share;
  readonly abortGraceMs: number;
}

/** One worker's answer to a flush. */
export interface WorkerReport {
  readonly total: MetricsDelta;
  /** Per request name (scenarios); empty for a URL run, whose one name is the totals. */
  readonly byName: readonly (readonly [string, MetricsDelta])[];
  readonly health?: HealthSample | undefined;
}

type WorkerMessage =
  | { readonly type: "ready"; readonly newSpaceBytes: number }
  | { readonly type: "report"; readonly id: number; readonly report: WorkerReport }
  | {
      readonly type: "done";
      readonly report: WorkerReport;
      readonly run: RunHealth;
      /** When the worker's last request was recorded, epoch ms. */
      readonly endedAt: number;
    };

interface Slot {
  readonly worker: Worker;
  readonly index: number;
  ready: boolean;
  /** The worker's young-generation size when it started (its new space, bytes). */
  newSpaceBytes: number;
  done: boolean;
  run: RunHealth | undefined;
  endedAt: number | undefined;
  /** Health of the interval being closed (set by a health flush or by "done"). */
  latest: HealthSample | undefined;
  /**
   * The "done" sample when it arrived while `latest` was still waiting to be read (a flush
   * answered just before): it covers only the moments since, so it goes to the next interval.
   */
  tail: HealthSample | undefined;
  /** This worker's health per closed interval, with when the interval was closed. */
  readonly samples: { readonly sample: HealthSample; readonly at: number }[];
  /** Flush id → resolve, for answers not yet received. */
  readonly pending: Map<number, () => void>;
}

export interface LoadWorkersOptions {
  /** The run's metrics, into which every worker's reports are added. */
  readonly metrics: RunMetrics;
  readonly byName: ReadonlyMap<string, RunMetrics>;
  readonly abortGraceMs: number;
  readonly onWorkerStart?: ((worker: Worker, index: number) => void) | undefined;
}

/** How long workers get between "start" being sent and the common start time. */
const START_DELAY_MS = 50;

/**
 * The young generation's semi-spaces of every worker thread, in MB, fixed from the start.
 *
 * V8 starts a thread's semi-spaces small (1–4 MB) and doubles them, up to 16 MB on 64-bit, each
 * time the bytes that survived collections since the last growth exceed their size. A generator
 * allocates at a steady pace for hours, so they grow in steps well into a long run, and each step
 * adds tens of MB of resident memory: a 3-minute run at 1,000 req/s drifted 26 % (docs/
 * performance.md, "Load"). Starting them at their maximum removes the drift: the same run, and a
 * 10-minute one, stayed within ±7 %.
 *
 * The sizes are V8 flags, read when an isolate is created, so they are set in this process
 * before the first worker starts and apply to the workers' isolates, not to this thread's (which
 * only aggregates). Node refuses these flags in NODE_OPTIONS; setting them here is what makes
 * `bulwark load` flat without a special command line.
 */
export const WORKER_SEMI_SPACE_MB = 16;
let youngGenerationFixed = false;

function fixYoungGeneration(): void {
  if (youngGenerationFixed) return;
  setFlagsFromString(`--min-semi-space-size=${WORKER_SEMI_SPACE_MB}`);
  setFlagsFromString(`--max-semi-space-size=${WORKER_SEMI_SPACE_MB}`);
  youngGenerationFixed = true;
}

/**
 * Starts a worker thread on load-worker. From source (tests run TypeScript through tsx), the
 * worker first registers tsx's loader: Node 20 does not pass the parent's module hooks on.
 */
function spawn(input: WorkerInput): Worker {
  fixYoungGeneration();
  const here = import.meta.url;
  if (here.endsWith(".ts")) {
    const tsx = import.meta.resolve("tsx/esm/api");
    const entry = new URL("./load-worker.ts", here).href;
    return new Worker(
      `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`,
      { eval: true, workerData: input },
    );
  }
  return new Worker(new URL("./load-worker.js", here), { workerData: input });
}

export class LoadWorkers {
  readonly #slots: Slot[];
  readonly #metrics: RunMetrics;
  readonly #byName: ReadonlyMap<string, RunMetrics>;
  #failure: BulwarkError | undefined;
  #onFailure: ((error: BulwarkError) => void) | undefined;
  #onAllDone: (() => void) | undefined;
  #nextId = 0;
  #flushing: Promise<void> = Promise.resolve();

  private constructor(plan: LoadPlan, count: number, options: LoadWorkersOptions) {
    this.#metrics = options.metrics;
    this.#byName = options.byName;
    this.#slots = Array.from({ length: count }, (_, index) => {
      const share = { index, count };
      const worker = spawn({
        plan: { ...plan, executor: workerExecutor(plan.executor, share) },
        share,
        abortGraceMs: options.abortGraceMs,
      });
      const slot: Slot = {
        worker,
        index,
        ready: false,
        newSpaceBytes: 0,
        done: false,
        run: undefined,
        endedAt: undefined,
        latest: undefined,
        tail: undefined,
        samples: [],
        pending: new Map(),
      };
      let error: Error | undefined;
      worker.on("message", (message: WorkerMessage) => this.#receive(slot, message));
      worker.on("error", (cause: Error) => {
        error = cause;
      });
      worker.on("exit", (code) => {
        if (slot.done) return;
        this.#fail(
          slot,
          error ? `failed: ${error.message}` : `exited unexpectedly (exit code ${code}) before the run ended`,
          error,
        );
      });
      options.onWorkerStart?.(worker, index);
      return slot;
    });
  }

  /** Starts `count` workers and waits until each has loaded and is ready to send. */
  static async start(plan: LoadPlan, count: number, options: LoadWorkersOptions): Promise<LoadWorkers> {
    const workers = new LoadWorkers(plan, count, options);
    await new Promise<void>((resolve, reject) => {
      workers.#onFailure = reject;
      workers.#onAllDone = resolve;
      workers.#checkReady();
    });
    return workers;
  }

  get count(): number {
    return this.#slots.length;
  }

  /** Each worker's young-generation size as it started (bytes): WORKER_SEMI_SPACE_MB at least. */
  get newSpaceBytes(): readonly number[] {
    return this.#slots.map((slot) => slot.newSpaceBytes);
  }

  /** The epoch time (ms) at which every worker starts; returns it. Then wait with `finished`. */
  begin(): number {
    const at = performance.timeOrigin + performance.now() + START_DELAY_MS;
    for (const slot of this.#slots) slot.worker.postMessage({ type: "start", at });
    return at;
  }

  /**
   * Resolves when every worker has finished and reported, with the performance.now() (this
   * thread's clock) at which the last of them recorded its last request; rejects when one fails.
   */
  finished(signal: AbortSignal): Promise<number> {
    const stop = () => {
      for (const slot of this.#slots) if (!slot.done) slot.worker.postMessage({ type: "stop" });
    };
    if (signal.aborted) stop();
    else signal.addEventListener("abort", stop, { once: true });
    return new Promise<void>((resolve, reject) => {
      if (this.#failure) return reject(this.#failure);
      this.#onFailure = reject;
      this.#onAllDone = resolve;
      this.#checkDone();
    })
      .then(() => Math.max(...this.#slots.map((slot) => slot.endedAt ?? 0)) - performance.timeOrigin)
      .finally(() => signal.removeEventListener("abort", stop));
  }

  /**
   * Asks every running worker for what it recorded since the last time and adds it to the
   * run's metrics; with `health`, each also samples its health for the interval being closed.
   * Flushes run one after another; never rejects (a failed worker fails `finished`).
   */
  collect(health: boolean): Promise<void> {
    this.#flushing = this.#flushing.then(() => this.#flush(health));
    return this.#flushing;
  }

  async #flush(health: boolean): Promise<void> {
    if (this.#failure) return;
    const id = this.#nextId++;
    await Promise.all(
      this.#slots
        .filter((slot) => !slot.done)
        .map(
          (slot) =>
            new Promise<void>((resolve) => {
              slot.pending.set(id, resolve);
              slot.worker.postMessage({ type: "flush", id, health });
            }),
        ),
    );
  }

  /** Health as the interval sampler reads it: per interval, the busiest worker's figures. */
  readonly health: HealthSource = {
    sample: () => {
      const fresh = this.#slots.flatMap((slot) => (slot.latest ? [slot.latest] : []));
      const at = performance.now();
      for (const slot of this.#slots) {
        if (slot.latest) slot.samples.push({ sample: slot.latest, at });
        slot.latest = slot.tail;
        slot.tail = undefined;
      }
      return busiestSample(fresh, process.memoryUsage.rss());
    },
    finish: () => busiestRun(this.#slots.flatMap((slot) => (slot.run ? [slot.run] : []))),
    workers: () =>
      this.#slots.map((slot): WorkerHealth => {
        const run = slot.run ?? { cpu: 0, utilization: 0, lagP99Ms: 0, lagMaxMs: 0 };
        const samples = foldShortTail(slot.samples);
        return {
          worker: slot.index + 1,
          ...run,
          boundIntervals: samples.filter(isBound).length,
          valid: judgeGenerator(
            samples.map((sample) => ({ ...sample, dropped: 0 })),
            run,
          ).valid,
        };
      }),
  };

  /** Stops every worker thread at once (after the run, or when one failed). */
  async terminate(): Promise<void> {
    await Promise.all(this.#slots.map((slot) => slot.worker.terminate().catch(() => undefined)));
  }

  #receive(slot: Slot, message: WorkerMessage): void {
    if (message.type === "ready") {
      slot.ready = true;
      slot.newSpaceBytes = message.newSpaceBytes;
      this.#checkReady();
    } else if (message.type === "report") {
      // A flush that crossed the worker's "done" is answered after it: its health would cover
      // only the few milliseconds since, so only its (empty) counts are taken.
      this.#absorb(slot, slot.done ? { ...message.report, health: undefined } : message.report);
      slot.pending.get(message.id)?.();
      slot.pending.delete(message.id);
    } else {
      const { health, ...counts } = message.report;
      this.#absorb(slot, counts);
      if (slot.latest) slot.tail = health;
      else slot.latest = health;
      slot.run = message.run;
      slot.endedAt = message.endedAt;
      slot.done = true;
      // A flush sent just before "done" is answered by nothing but "done" itself.
      for (const resolve of slot.pending.values()) resolve();
      slot.pending.clear();
      this.#checkDone();
    }
  }

  #absorb(slot: Slot, report: WorkerReport): void {
    this.#metrics.absorb(report.total);
    for (const [name, delta] of report.byName) this.#byName.get(name)?.absorb(delta);
    if (report.health) slot.latest = report.health;
  }

  #checkReady(): void {
    if (this.#slots.every((slot) => slot.ready)) this.#onAllDone?.();
  }

  #checkDone(): void {
    if (this.#slots.every((slot) => slot.done)) this.#onAllDone?.();
  }

  #fail(slot: Slot, what: string, cause: Error | undefined): void {
    if (this.#failure) return;
    this.#failure = new BulwarkError(
      "load_worker_failed",
      `load worker ${slot.index + 1} of ${this.#slots.length} ${what}; the run is void, because without it the generator would offer less load than asked`,
      cause ? { cause } : undefined,
    );
    for (const other of this.#slots) {
      for (const resolve of other.pending.values()) resolve();
      other.pending.clear();
    }
    void this.terminate();
    this.#onFailure?.(this.#failure);
  }
}

/**
 * A worker's last sample covers the drain after its schedule (a few ms to a few hundred, mostly
 * closing connections and reporting): as the interval sampler does for the timeline, it is folded
 * into the interval before when shorter than half of it, so a busy few milliseconds of teardown
 * do not count as a generator-bound interval.
 */
function foldShortTail(samples: readonly { sample: HealthSample; at: number }[]): HealthSample[] {
  const plain = samples.map((item) => item.sample);
  if (samples.length < 3) return plain;
  const [before, previous, last] = samples.slice(-3) as [
    { at: number },
    { sample: HealthSample; at: number },
    { sample: HealthSample; at: number },
  ];
  const full = previous.at - before.at;
  const tail = last.at - previous.at;
  if (tail >= full / 2) return plain;
  const weigh = (a: number, b: number) => (a * full + b * tail) / Math.max(full + tail, 1);
  plain.splice(-2, 2, {
    cpu: weigh(previous.sample.cpu, last.sample.cpu),
    utilization: weigh(previous.sample.utilization, last.sample.utilization),
    lagMaxMs: Math.max(previous.sample.lagMaxMs, last.sample.lagMaxMs),
    rssBytes: last.sample.rssBytes,
  });
  return plain;
}
