/**
 * Scenario files (`bulwark load scenario.yaml`): YAML → zod schema → cross-checks → a frozen
 * Scenario. Every problem is reported together with file:line:column and the key path, as
 * bulwark.yaml is (src/config/load.ts, DESIGN.md principle 4). Reference: docs/load.md.
 */
import { readFileSync } from "node:fs";
import { dirname, resolve as resolvePath } from "node:path";
import { z } from "zod";
import { ConfigError, type ConfigProblem } from "../config/config-error.js";
import { issueProblems } from "../config/issue-problems.js";
import { pathKey } from "../config/secret-references.js";
import { parseDuration } from "../config/units.js";
import { parseYamlMapping } from "../config/yaml-document.js";
import { BulwarkError } from "../errors.js";
import { type DataRow, readDataFile } from "./data-file.js";
import { type Stage, totalDurationMs } from "./stages.js";
import { chooseTargetTls, type TargetTls, TlsChoiceError } from "./target-tls.js";
import { compileTemplate, references, type Template } from "./template.js";
import { parseThreshold, type Threshold } from "./thresholds.js";

const DURATION_MESSAGE = 'expected a duration such as "30s", "5m" or "500ms"';
const duration = z
  .string({ error: DURATION_MESSAGE })
  .refine((text) => (parseDuration(text) ?? 0) > 0, { message: DURATION_MESSAGE });
const positive = z.number({ error: "expected a positive number" }).positive("expected a positive number");
const positiveInt = z.number({ error: "expected a positive whole number" }).int().positive();
const nonNegative = z.number({ error: "expected a number ≥ 0" }).nonnegative("expected a number ≥ 0");
const stages = z
  .array(z.strictObject({ duration, target: z.number({ error: "expected a number ≥ 0" }).nonnegative() }))
  .min(1, "expected at least one stage");

const executorSchema = z.discriminatedUnion(
  "type",
  [
    z.strictObject({ type: z.literal("constant-vus"), vus: positiveInt, duration }),
    z.strictObject({ type: z.literal("ramping-vus"), startVUs: nonNegative.optional(), stages }),
    z.strictObject({
      type: z.literal("constant-arrival-rate"),
      rate: positive,
      duration,
      connections: positiveInt.optional(),
      maxQueue: z.number().int().nonnegative().optional(),
    }),
    z.strictObject({
      type: z.literal("ramping-arrival-rate"),
      startRate: nonNegative.optional(),
      stages,
      connections: positiveInt.optional(),
      maxQueue: z.number().int().nonnegative().optional(),
    }),
  ],
  {
    error:
      "expected type to be one of constant-vus, ramping-vus, constant-arrival-rate, ramping-arrival-rate",
  },
);

const extractSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_-]+$/, "expected a name of letters, digits, _ and -"),
  from: z.enum(["json", "header", "regex"], { error: "expected json, header or regex" }),
  path: z.string().optional(),
  header: z.string().optional(),
  pattern: z.string().optional(),
});

const requestSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.-]+$/, "expected a name of letters, digits, _, . and -"),
  method: z
    .string()
    .regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, "expected an HTTP method")
    .optional(),
  path: z.string().startsWith("/", "expected a path starting with /").optional(),
  url: z.string().optional(),
  headers: z.record(z.string(), z.union([z.string(), z.number()])).optional(),
  body: z.union([z.string(), z.record(z.string(), z.unknown()), z.array(z.unknown())]).optional(),
  extract: z.union([extractSchema, z.array(extractSchema)]).optional(),
});

const thinkTime = z.union([duration, z.strictObject({ min: duration, max: duration })]);

export const scenarioSchema = z.strictObject({
  target: z.url({ protocol: /^https?$/, error: "expected an http:// or https:// base URL" }),
  requests: z.array(requestSchema).min(1, "expected at least one request"),
  mix: z.record(z.string(), positive).optional(),
  data: z
    .strictObject({
      file: z.string().min(1),
      mode: z.enum(["sequential", "random"], { error: "expected sequential or random" }).optional(),
    })
    .optional(),
  thinkTime: thinkTime.optional(),
  thresholds: z.array(z.string()).optional(),
  executor: executorSchema.optional(),
  timeout: duration.optional(),
  workers: z
    .union([positiveInt, z.literal("auto")], { error: 'expected a positive whole number or "auto"' })
    .optional(),
  http2: z.boolean({ error: "expected true or false" }).optional(),
  tls: z
    .strictObject({
      insecure: z.boolean({ error: "expected true or false" }).optional(),
      ca: z.string().min(1, "expected a CA file path").optional(),
    })
    .optional(),
});

export type Extractor =
  | { readonly name: string; readonly from: "json"; readonly keys: readonly (string | number)[] }
  | { readonly name: string; readonly from: "header"; readonly header: string }
  | { readonly name: string; readonly from: "regex"; readonly pattern: RegExp };

export interface ScenarioRequest {
  readonly name: string;
  readonly method: string;
  readonly origin: string;
  /** For reports: origin + path as written, templates unexpanded. */
  readonly displayUrl: string;
  readonly path: Template;
  readonly headers: readonly (readonly [string, Template])[];
  readonly body: Template | undefined;
  readonly extract: readonly Extractor[];
}

export type ScenarioExecutor =
  | { readonly kind: "constant-vus"; readonly vus: number; readonly durationMs: number }
  | {
      readonly kind: "ramping-vus";
      readonly startVus: number;
      readonly stages: readonly Stage[];
      readonly durationMs: number;
    }
  | {
      readonly kind: "constant-arrival-rate";
      readonly rate: number;
      readonly durationMs: number;
      readonly connections: number | undefined;
      readonly maxQueue: number | undefined;
    }
  | {
      readonly kind: "ramping-arrival-rate";
      readonly startRate: number;
      readonly stages: readonly Stage[];
      readonly durationMs: number;
      readonly connections: number | undefined;
      readonly maxQueue: number | undefined;
    };

export interface Scenario {
  readonly file: string;
  readonly target: string;
  readonly requests: readonly ScenarioRequest[];
  /** Weighted mix: one request per iteration, picked by weight. Absent: all requests in order. */
  readonly mix: { readonly indexes: readonly number[]; readonly cumulative: readonly number[] } | undefined;
  readonly data: { readonly rows: readonly DataRow[]; readonly mode: "sequential" | "random" } | undefined;
  readonly thinkTime: { readonly minMs: number; readonly maxMs: number } | undefined;
  readonly thresholds: readonly Threshold[];
  readonly executor: ScenarioExecutor | undefined;
  readonly timeoutMs: number | undefined;
  /** Worker threads (docs/load.md, "Worker threads"); --workers overrides it. */
  readonly workers: number | "auto" | undefined;
  /** How HTTPS targets are trusted (`tls:`); --ca and --insecure override it. */
  readonly tls: TargetTls | undefined;
  /** Offer HTTP/2 to https:// origins (`http2: true`, as --http2). */
  readonly http2: boolean | undefined;
}

export function loadScenarioFile(file: string): Scenario {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "unknown error";
    throw new BulwarkError("usage", `cannot read scenario file ${file} (${code})`);
  }
  return parseScenario(text, { source: file, baseDir: dirname(resolvePath(file)) });
}

export function parseScenario(text: string, options: { source: string; baseDir: string }): Scenario {
  const { raw, locate } = parseYamlMapping(text, options.source);
  const problems: ConfigProblem[] = [];
  const problem = (path: readonly PropertyKey[], message: string, key?: string) =>
    problems.push({
      where: locate(path, key),
      path: pathKey(key === undefined ? path : [...path, key]),
      message,
    });
  const parsed = scenarioSchema.safeParse(raw);
  if (!parsed.success) {
    // The config file's wording (missing keys, unions), pointing to the scenario reference.
    for (const issue of parsed.error.issues)
      problems.push(...issueProblems(issue, locate, "see the scenario reference in docs/load.md"));
    throw new ConfigError(options.source, problems);
  }
  const input = parsed.data;
  const target = new URL(input.target);

  const defined = new Set<string>();
  const requests = input.requests.map((request, index): ScenarioRequest => {
    const where = ["requests", index];
    for (const extract of asArray(request.extract)) defined.add(extract.name);
    if ((request.path === undefined) === (request.url === undefined)) {
      problem(where, "give either path (relative to target) or url");
    }
    let origin = target.origin;
    let pathText = request.path ?? "/";
    let displayUrl = new URL(pathText, target).href;
    if (request.url !== undefined) {
      try {
        const url = new URL(request.url);
        if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error("protocol");
        origin = url.origin;
        pathText = `${url.pathname}${url.search}`;
        displayUrl = request.url;
      } catch {
        problem([...where, "url"], "expected an absolute http:// or https:// URL");
      }
    } else {
      // A path joins the target's base path: target http://h/api + /users → /api/users.
      const base = target.pathname.replace(/\/$/, "");
      pathText = `${base}${pathText}`;
      displayUrl = `${target.origin}${pathText}`;
    }
    const compile = (text: string, path: readonly PropertyKey[], json = false): Template => {
      const { template, problems: bad } = compileTemplate(text, json);
      for (const message of bad) problem(path, message);
      return template;
    };
    const headers = Object.entries(request.headers ?? {}).map(
      ([name, value]) => [name.toLowerCase(), compile(String(value), [...where, "headers", name])] as const,
    );
    let body: Template | undefined;
    if (typeof request.body === "string") body = compile(request.body, [...where, "body"]);
    else if (request.body !== undefined) {
      body = compile(JSON.stringify(request.body), [...where, "body"], true);
      if (!headers.some(([name]) => name === "content-type")) {
        headers.push(["content-type", { parts: ["application/json"], json: false }]);
      }
    }
    const extract = asArray(request.extract).map((item, position): Extractor => {
      const path = Array.isArray(request.extract) ? [...where, "extract", position] : [...where, "extract"];
      if (item.from === "json") {
        const keys = item.path === undefined ? undefined : parseJsonPath(item.path);
        if (!keys)
          problem(
            [...path, item.path === undefined ? "from" : "path"],
            'expected path like "$.token" or "$.data.items[0].id"',
          );
        return { name: item.name, from: "json", keys: keys ?? [] };
      }
      if (item.from === "header") {
        if (!item.header) problem([...path, "from"], "from: header needs header: NAME");
        return { name: item.name, from: "header", header: (item.header ?? "").toLowerCase() };
      }
      let pattern = /$^/;
      if (item.pattern === undefined) problem([...path, "from"], "from: regex needs pattern: REGEX");
      else {
        try {
          pattern = new RegExp(item.pattern);
        } catch (error) {
          problem([...path, "pattern"], `invalid regular expression: ${(error as Error).message}`);
        }
      }
      return { name: item.name, from: "regex", pattern };
    });
    return Object.freeze({
      name: request.name,
      method: (request.method ?? "GET").toUpperCase(),
      origin,
      displayUrl,
      path: compile(pathText, [...where, request.path === undefined ? "url" : "path"]),
      headers,
      body,
      extract,
    });
  });

  const names = new Map<string, number>();
  requests.forEach((request, index) => {
    if (names.has(request.name))
      problem(["requests", index, "name"], `duplicate request name ${request.name}`);
    names.set(request.name, index);
  });

  let mix: Scenario["mix"];
  if (input.mix) {
    const indexes: number[] = [];
    const cumulative: number[] = [];
    let total = 0;
    for (const [name, weight] of Object.entries(input.mix)) {
      const index = names.get(name);
      if (index === undefined) problem(["mix"], `no request named ${name}`, name);
      else {
        total += weight;
        indexes.push(index);
        cumulative.push(total);
      }
    }
    mix = { indexes, cumulative: cumulative.map((value) => value / total) };
  }

  let data: Scenario["data"];
  if (input.data) {
    try {
      data = {
        rows: readDataFile(resolvePath(options.baseDir, input.data.file)),
        mode: input.data.mode ?? "sequential",
      };
    } catch (error) {
      problem(["data", "file"], (error as Error).message);
    }
  }
  requests.forEach((request, index) => {
    const templates = [
      request.path,
      ...request.headers.map(([, value]) => value),
      ...(request.body ? [request.body] : []),
    ];
    for (const reference of templates.flatMap(references)) {
      if (reference.scope === "vars" && !defined.has(reference.key)) {
        problem(["requests", index], `\${vars.${reference.key}} is not extracted by any request`);
      }
      if (reference.scope === "data") {
        if (!input.data)
          problem(["requests", index], `\${data.${reference.key}} needs a data file (data: { file })`);
        else if (data && !(reference.key in data.rows[0]!)) {
          problem(
            ["requests", index],
            `\${data.${reference.key}}: the data file has no column ${reference.key}`,
          );
        }
      }
    }
  });

  const thresholds: Threshold[] = [];
  (input.thresholds ?? []).forEach((expression, index) => {
    try {
      const threshold = parseThreshold(expression);
      if (threshold.scope !== undefined && !names.has(threshold.scope))
        problem(["thresholds", index], `no request named ${threshold.scope}`);
      thresholds.push(threshold);
    } catch (error) {
      problem(["thresholds", index], (error as Error).message);
    }
  });

  let tls: TargetTls | undefined;
  if (input.tls) {
    try {
      tls = chooseTargetTls(
        input.tls,
        requests.map((request) => request.origin),
        options.baseDir,
        { insecure: "insecure", ca: "ca" },
      );
    } catch (error) {
      if (!(error instanceof TlsChoiceError)) throw error;
      problem(error.key === "ca" ? ["tls", "ca"] : ["tls"], error.message);
    }
  }

  let thinkTime: Scenario["thinkTime"];
  if (typeof input.thinkTime === "string") {
    const ms = parseDuration(input.thinkTime)!;
    thinkTime = { minMs: ms, maxMs: ms };
  } else if (input.thinkTime) {
    thinkTime = { minMs: parseDuration(input.thinkTime.min)!, maxMs: parseDuration(input.thinkTime.max)! };
    if (thinkTime.maxMs < thinkTime.minMs) problem(["thinkTime", "max"], "expected max ≥ min");
  }

  if (problems.length > 0) throw new ConfigError(options.source, problems);
  return Object.freeze({
    file: options.source,
    target: target.href,
    requests,
    mix,
    data,
    thinkTime,
    thresholds,
    executor: input.executor ? scenarioExecutor(input.executor) : undefined,
    timeoutMs: input.timeout === undefined ? undefined : parseDuration(input.timeout),
    workers: input.workers,
    tls,
    http2: input.http2,
  });
}

function scenarioExecutor(input: z.infer<typeof executorSchema>): ScenarioExecutor {
  const toStages = (list: { duration: string; target: number }[]): Stage[] =>
    list.map((stage) => ({ durationMs: parseDuration(stage.duration)!, target: stage.target }));
  switch (input.type) {
    case "constant-vus":
      return { kind: "constant-vus", vus: input.vus, durationMs: parseDuration(input.duration)! };
    case "ramping-vus": {
      const list = toStages(input.stages);
      return {
        kind: "ramping-vus",
        startVus: input.startVUs ?? 0,
        stages: list,
        durationMs: totalDurationMs(list),
      };
    }
    case "constant-arrival-rate":
      return {
        kind: "constant-arrival-rate",
        rate: input.rate,
        durationMs: parseDuration(input.duration)!,
        connections: input.connections,
        maxQueue: input.maxQueue,
      };
    case "ramping-arrival-rate": {
      const list = toStages(input.stages);
      return {
        kind: "ramping-arrival-rate",
        startRate: input.startRate ?? 0,
        stages: list,
        durationMs: totalDurationMs(list),
        connections: input.connections,
        maxQueue: input.maxQueue,
      };
    }
  }
}

/** "$.a.b[0]" → ["a", "b", 0]; undefined when not of that shape. */
export function parseJsonPath(path: string): (string | number)[] | undefined {
  if (!path.startsWith("$")) return undefined;
  const keys: (string | number)[] = [];
  const step = /^(?:\.([A-Za-z_$][\w$-]*)|\[(\d+)\]|\[["']([^"']*)["']\])/;
  let rest = path.slice(1);
  while (rest.length > 0) {
    const match = step.exec(rest);
    if (!match) return undefined;
    keys.push(match[2] !== undefined ? Number(match[2]) : (match[1] ?? match[3]!));
    rest = rest.slice(match[0].length);
  }
  return keys;
}

function asArray<T>(value: T | T[] | undefined): T[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}
