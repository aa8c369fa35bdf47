// The identity phase of the gateway benchmark (issue 3): what JWT verification and a Redis-backed
// rate limit cost per request. Three Bulwark configurations, one worker each, strict profile,
// access log and metrics on, in front of the same upstream:
//
//   (a) strict profile only (the gateway core);
//   (b) + bearer JWT, RS256, + two Redis rate-limit rules (by ip, by subject);
//   (c) + bearer JWT, ES256, + the same rules.
//
// Keys come from a tiny OpenID issuer served by this process on loopback (discovery document and
// JWKS); Redis is a real redis-server in a temporary directory, without persistence. The rules'
// limit (10,000,000 per hour) is never reached, so every request is decided in Redis (one script
// run decides both rules of all the requests that arrived in the same event-loop turn) and none is
// refused. Target: (b) and (c) at least 0.8 x (a) in req/s.
import { once } from "node:events";
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { freePort, groupCpuTicks, httpGet, run, startProcess, stopProcess, ticksToMs } from "./processes.mjs";
import { runWrk } from "./wrk.mjs";

export const IDENTITY_TARGET = 0.8;
const AUDIENCE = "bench-api";
const SUBJECT = "bench-user-1";
const RULE_LIMIT = 10_000_000;
const LIMITED_ROUTE_LIMIT = 20;

/**
 * Finds redis-server and redis-cli, installing Debian's redis-server package when they are
 * missing and this process is root (argument arrays, no shell).
 */
export async function ensureRedis(locate, log) {
  const found = () => ({ server: locate("redis-server"), cli: locate("redis-cli") });
  let bins = found();
  if (bins.server && bins.cli) return bins;
  if (process.getuid?.() !== 0) {
    throw new Error("redis-server is missing; install it with: sudo apt-get install -y redis-server");
  }
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  log("  redis-server is missing; running: apt-get install -y redis-server");
  let result = await run("apt-get", ["install", "-y", "redis-server"], { env, timeoutMs: 10 * 60 * 1000 });
  if (!result.ok) {
    await run("apt-get", ["update"], { env, timeoutMs: 5 * 60 * 1000 });
    result = await run("apt-get", ["install", "-y", "redis-server"], { env, timeoutMs: 10 * 60 * 1000 });
  }
  bins = found();
  if (!bins.server || !bins.cli)
    throw new Error(`could not install redis-server: ${result.stderr.slice(-1000)}`);
  return bins;
}

async function startRedis(ctx, bins) {
  const dir = join(ctx.tmp, "redis");
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const handle = startProcess(
    "redis-server",
    bins.server,
    [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--dir",
      dir,
      "--save",
      "",
      "--appendonly",
      "no",
      "--daemonize",
      "no",
      "--protected-mode",
      "yes",
      "--logfile",
      "",
    ],
    { stdoutFile: join(dir, "redis.log"), stderrFile: join(dir, "redis-stderr.log") },
  );
  const cli = (...args) =>
    run(bins.cli, ["-h", "127.0.0.1", "-p", String(port), ...args], { timeoutMs: 10000 });
  const deadline = Date.now() + 10000;
  for (;;) {
    if (handle.exited) throw new Error(`redis-server exited (${handle.exitCode}); see ${dir}/redis.log`);
    const pong = await cli("PING");
    if (pong.ok && pong.stdout.trim() === "PONG") break;
    if (Date.now() > deadline) throw new Error(`redis-server did not answer on 127.0.0.1:${port}`);
    await new Promise((done) => setTimeout(done, 100));
  }
  const version = (await cli("INFO", "server")).stdout.match(/redis_version:(\S+)/)?.[1] ?? "unknown";
  return { handle, port, cli, version };
}

/** EVAL + EVALSHA calls Redis has run so far (the gateway's GCRA script). */
async function scriptCalls(redis) {
  const info = await redis.cli("INFO", "commandstats");
  let calls = 0;
  for (const match of info.stdout.matchAll(/^cmdstat_(?:eval|evalsha):calls=(\d+)/gm))
    calls += Number(match[1]);
  return calls;
}

/** The gateway's keys in Redis right now (they live while the limiter's clock runs ahead). */
async function rateLimitKeys(redis) {
  const scan = await redis.cli("--scan", "--pattern", "bulwark:rl:*");
  return scan.stdout.split("\n").filter(Boolean).sort();
}

/** A minimal OpenID provider: discovery document and JWKS with one RS256 and one ES256 key. */
async function startIssuer() {
  const keys = {};
  const jwks = [];
  for (const alg of ["RS256", "ES256"]) {
    const pair = await generateKeyPair(alg);
    const kid = `bench-${alg.toLowerCase()}`;
    keys[alg] = { ...pair, kid };
    jwks.push({ ...(await exportJWK(pair.publicKey)), kid, alg, use: "sig" });
  }
  let issuer;
  let requests = 0;
  const server = createServer((req, res) => {
    requests++;
    const send = (body) => {
      const text = JSON.stringify(body);
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
      res.end(text);
    };
    if (req.url === "/.well-known/openid-configuration") send({ issuer, jwks_uri: `${issuer}/jwks` });
    else if (req.url === "/jwks") send({ keys: jwks });
    else {
      res.writeHead(404);
      res.end();
    }
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  issuer = `http://127.0.0.1:${server.address().port}`;
  const sign = (alg, claims = {}) =>
    new SignJWT({ scope: "bench", ...claims })
      .setProtectedHeader({ alg, kid: keys[alg].kid, typ: "JWT" })
      .setIssuer(issuer)
      .setAudience(AUDIENCE)
      .setSubject(SUBJECT)
      .setIssuedAt()
      .setExpirationTime("24h")
      .sign(keys[alg].privateKey);
  return {
    issuer,
    sign,
    requests: () => requests,
    close: () => new Promise((done) => server.close(() => done())),
    server,
  };
}

/** A route's bearer-token authentication against the local issuer, with the variant's algorithm. */
function jwtAuthLines(variant, issuer) {
  return [
    "    auth:",
    "      jwt:",
    `        issuer: "${issuer.issuer}"`,
    `        audience: ${AUDIENCE}`,
    `        algorithms: [${variant.alg}]`,
  ];
}

/**
 * Only for the pre-flight check (never measured): a low limit shows that concurrent requests
 * sharing script runs are still each decided exactly once. Its own name per variant, so the
 * variants' counters in the shared Redis stay apart.
 */
function limitedRoute(variant, issuer) {
  if (!variant.alg) return [];
  return [
    `  - name: limited-${variant.name}`,
    "    match: { pathPrefix: /limited }",
    "    upstream: app",
    "    headers: { profile: strict }",
    ...jwtAuthLines(variant, issuer),
    "    rateLimit:",
    `      - { name: per-ip, key: ip, limit: ${LIMITED_ROUTE_LIMIT}, per: 1h }`,
  ];
}

function writeConfig(ctx, variant, port, admin, issuer, redis) {
  const lines = [
    "# generated by bench/gateway/run.mjs --phases identity",
    "version: 1",
    "listeners:",
    `  - address: 127.0.0.1:${port}`,
    "admin:",
    `  address: 127.0.0.1:${admin}`,
    "server:",
    "  workers: 1",
  ];
  if (variant.alg) {
    // failMode closed: should Redis stop answering, wrk counts 503s instead of the gateway
    // silently skipping the store.
    lines.push(
      "  rateLimitStore:",
      `    { type: redis, url: "redis://127.0.0.1:${redis.port}/0", failMode: closed, timeout: 250ms }`,
    );
  }
  lines.push(
    "upstreams:",
    `  app: { targets: [http://127.0.0.1:${ctx.upstream.port}] }`,
    "logging: { level: info, accessLog: true }",
    "routes:",
    ...limitedRoute(variant, issuer),
    "  - name: api",
    "    upstream: app",
    "    headers: { profile: strict }",
  );
  if (variant.alg) {
    lines.push(
      ...jwtAuthLines(variant, issuer),
      "    rateLimit:",
      `      - { name: per-ip, key: ip, limit: ${RULE_LIMIT}, per: 1h }`,
      `      - { name: per-subject, key: subject, limit: ${RULE_LIMIT}, per: 1h }`,
    );
  }
  const file = join(ctx.tmp, `bulwark-identity-${variant.name}.yaml`);
  writeFileSync(file, `${lines.join("\n")}\n`);
  return file;
}

async function waitReady(handle, admin, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer";
  while (Date.now() < deadline) {
    if (handle.exited)
      throw new Error(`${handle.name} exited (${handle.exitCode}); see ${handle.stderrFile}`);
    try {
      const res = await httpGet(admin, "/ready", { timeoutMs: 1000 });
      if (res.status === 200) return;
      last = `/ready answered ${res.status}`;
    } catch (error) {
      last = error.message;
    }
    await new Promise((done) => setTimeout(done, 100));
  }
  throw new Error(`${handle.name} was not ready within ${timeoutMs} ms (${last})`);
}

/** Pre-flight: valid token 200, no token / wrong algorithm / bad signature 401, Redis keys written. */
async function verifyVariant(target, tokens, redis, profile) {
  const problems = [];
  const get = (token) =>
    httpGet(target.port, "/", { headers: token ? { authorization: `Bearer ${token}` } : {} });
  const ok = await get(target.token);
  if (ok.status !== 200) problems.push(`valid token answered ${ok.status}`);
  if (ok.body !== "hello\n") problems.push(`valid token: body was ${JSON.stringify(ok.body.slice(0, 60))}`);
  for (const header of profile.headers) {
    if (ok.headers[header.name] !== header.value)
      problems.push(`${header.name} was ${JSON.stringify(ok.headers[header.name])}`);
  }
  const checks = { valid: ok.status };
  if (target.alg) {
    const none = await get(undefined);
    checks.none = none.status;
    if (none.status !== 401) problems.push(`no token answered ${none.status}, expected 401`);
    if (!/^Bearer/.test(none.headers["www-authenticate"] ?? ""))
      problems.push("no WWW-Authenticate: Bearer on the 401");
    const other = target.alg === "RS256" ? tokens.ES256 : tokens.RS256;
    const wrongAlg = await get(other);
    checks.otherAlgorithm = wrongAlg.status;
    if (wrongAlg.status !== 401) problems.push(`token of the other algorithm answered ${wrongAlg.status}`);
    const [head, body, signature] = target.token.split(".");
    const flipped = `${signature[0] === "A" ? "B" : "A"}${signature.slice(1)}`;
    const tampered = await get(`${head}.${body}.${flipped}`);
    checks.badSignature = tampered.status;
    if (tampered.status !== 401) problems.push(`tampered signature answered ${tampered.status}`);
    // GCRA keys expire as soon as their theoretical arrival time has passed (0.36 ms after a lone
    // request at this limit), so the check counts the scripts Redis ran instead of looking for keys.
    const before = await scriptCalls(redis);
    for (let i = 0; i < 5; i++) {
      const res = await get(target.token);
      if (res.status !== 200) problems.push(`valid token answered ${res.status} on a repeat`);
    }
    // Both rules are decided in one script run per request (src/security/rate-limit/redis-store.ts).
    checks.redisScriptsPerValidRequest = ((await scriptCalls(redis)) - before) / 5;
    if (checks.redisScriptsPerValidRequest < 1)
      problems.push(
        `Redis ran ${checks.redisScriptsPerValidRequest} rate-limit script(s) per request, expected 1`,
      );
    if (ok.headers["ratelimit-policy"] !== undefined) checks.rateLimitPolicy = ok.headers["ratelimit-policy"];
    // Concurrent requests share script runs and are still each decided once: of 48 at once on a
    // route limited to 20 per hour, exactly 20 pass.
    const concurrent = 48;
    const batchBefore = await scriptCalls(redis);
    const answers = await Promise.all(
      Array.from({ length: concurrent }, () =>
        httpGet(target.port, "/limited", { headers: { authorization: `Bearer ${target.token}` } }),
      ),
    );
    checks.concurrentRequests = concurrent;
    checks.concurrentScriptRuns = (await scriptCalls(redis)) - batchBefore;
    checks.concurrentAdmitted = answers.filter((res) => res.status === 200).length;
    const refused = answers.filter((res) => res.status === 429).length;
    if (checks.concurrentAdmitted !== LIMITED_ROUTE_LIMIT || refused !== concurrent - LIMITED_ROUTE_LIMIT)
      problems.push(
        `${concurrent} concurrent requests on a route limited to ${LIMITED_ROUTE_LIMIT}: ${checks.concurrentAdmitted} admitted, ${refused} refused with 429`,
      );
  }
  return { problems, checks };
}

/** One wrk run with the variant's token, plus Bulwark's and Redis' CPU and Redis' commands. */
async function measureVariant(ctx, target, redis, seconds) {
  const bulwarkBefore = groupCpuTicks(target.handle.pid);
  const redisBefore = groupCpuTicks(redis.handle.pid);
  const scriptsBefore = await scriptCalls(redis);
  const result = await runWrk(ctx.bins.wrk, target.port, {
    connections: ctx.options.connections,
    seconds,
    headers: [`Authorization: Bearer ${target.token}`],
  });
  const bulwarkMs = ticksToMs(bulwarkBefore, groupCpuTicks(target.handle.pid));
  const redisMs = ticksToMs(redisBefore, groupCpuTicks(redis.handle.pid));
  const scripts = (await scriptCalls(redis)) - scriptsBefore;
  const per = (value) =>
    value === null || !result.requests ? null : Math.round((value * 100000) / result.requests) / 100;
  result.cpuUsPerRequest = per(bulwarkMs);
  result.serverCpuPercent = bulwarkMs === null ? null : Math.round(bulwarkMs / (seconds * 10));
  result.redisCpuUsPerRequest = per(redisMs);
  // The gateway's GCRA scripts (EVALSHA), one per rule and request.
  result.redisScriptsPerRequest = result.requests
    ? Math.round((scripts / result.requests) * 100) / 100
    : null;
  return result;
}

/**
 * Runs the phase; helpers from run.mjs are passed in ({ log, table, median, fmt*, otherLoad,
 * locate, BULWARK_BIN }). Records ctx.report.identity.
 */
export async function identityPhase(ctx, h) {
  const { log, median, fmtInt, fmtMs, fmtRatio, round2, round3 } = h;
  log(
    `\n== Identity and rate limiting: Bulwark (1 worker, strict profile, access log, metrics) without and with JWT + Redis rate limit ==`,
  );
  const redisBins = await ensureRedis(h.locate, log);
  const redis = await startRedis(ctx, redisBins);
  ctx.running.push({ handle: redis.handle });
  const issuer = await startIssuer();
  ctx.closeIssuer = issuer.close;
  log(`  redis-server ${redis.version} on 127.0.0.1:${redis.port} (no persistence); issuer ${issuer.issuer}`);
  const tokens = { RS256: await issuer.sign("RS256"), ES256: await issuer.sign("ES256") };
  const variants = [
    { name: "core", label: "(a) strict profile only", token: tokens.RS256 },
    { name: "rs256", label: "(b) + JWT RS256 + Redis rate limit", alg: "RS256", token: tokens.RS256 },
    { name: "es256", label: "(c) + JWT ES256 + Redis rate limit", alg: "ES256", token: tokens.ES256 },
  ];
  const phase = {
    note: `wrk -t1 -c${ctx.options.connections} -d${ctx.options.duration}s --latency -H 'Authorization: Bearer <token>', median of ${ctx.options.rounds} interleaved rounds, 1 Bulwark worker each`,
    redis: { version: redis.version, port: redis.port },
    issuer: issuer.issuer,
    rules: [
      { name: "per-ip", key: "ip", limit: RULE_LIMIT, per: "1h" },
      { name: "per-subject", key: "subject", limit: RULE_LIMIT, per: "1h" },
    ],
    target: IDENTITY_TARGET,
    verification: {},
    rounds: {},
    medians: {},
    ratios: {},
  };
  ctx.report.identity = phase;
  try {
    const targets = [];
    for (const variant of variants) {
      const port = await freePort();
      const admin = await freePort();
      const config = writeConfig(ctx, variant, port, admin, issuer, redis);
      const handle = startProcess(
        `bulwark ${variant.name}`,
        process.execPath,
        [h.BULWARK_BIN, "serve", "-c", config, "--no-watch"],
        {
          stdoutFile: join(ctx.tmp, `identity-${variant.name}-access.log`),
          stderrFile: join(ctx.tmp, `identity-${variant.name}-stderr.log`),
          cwd: ctx.tmp,
        },
      );
      ctx.running.push({ handle });
      await waitReady(handle, admin);
      targets.push({ ...variant, port, admin, handle, config });
    }
    for (const target of targets) {
      const { problems, checks } = await verifyVariant(target, tokens, redis, ctx.profile);
      if (problems.length > 0) throw new Error(`${target.label}:\n  - ${problems.join("\n  - ")}`);
      const metrics = await httpGet(target.admin, "/metrics");
      if (metrics.status !== 200) throw new Error(`${target.label}: /metrics answered ${metrics.status}`);
      phase.verification[target.name] = checks;
      log(
        target.alg
          ? `  ok  ${target.label.padEnd(36)} valid ${checks.valid}, none ${checks.none}, other alg ${checks.otherAlgorithm}, bad signature ${checks.badSignature}; Redis scripts per lone request ${checks.redisScriptsPerValidRequest}; ${checks.concurrentRequests} concurrent requests at limit ${LIMITED_ROUTE_LIMIT}: ${checks.concurrentAdmitted} admitted, in ${checks.concurrentScriptRuns} script run(s)`
          : `  ok  ${target.label.padEnd(36)} valid ${checks.valid}, /metrics 200`,
      );
    }
    log(`  issuer served ${issuer.requests()} request(s) (discovery + JWKS, fetched once per gateway)`);
    const issuerBefore = issuer.requests();
    const wrkHeaders = (target) => ({
      connections: ctx.options.connections,
      headers: [`Authorization: Bearer ${target.token}`],
    });
    if (ctx.options.warmup > 0) {
      log(`  warm-up: ${ctx.options.warmup}s of wrk per configuration`);
      for (const target of targets) {
        const scriptsBefore = target.alg ? await scriptCalls(redis) : 0;
        const warm = await runWrk(ctx.bins.wrk, target.port, {
          ...wrkHeaders(target),
          seconds: ctx.options.warmup,
        });
        if (!target.alg) continue;
        // Every answered request must have been decided by a script run. A run decides the requests
        // of one event-loop turn, and wrk keeps at most `connections` requests in flight, so there
        // are at least requests / connections runs. (Keys are no proof: at this limit a key
        // expires 0.36 ms after its last request unless the load keeps it ahead.)
        const scripts = (await scriptCalls(redis)) - scriptsBefore;
        const keys = await rateLimitKeys(redis);
        phase.verification[target.name].redisKeysAfterWarmup = keys;
        phase.verification[target.name].redisScriptsPerWarmupRequest = scripts / Math.max(1, warm.requests);
        log(
          `  ${target.label.slice(0, 3)} warm-up: ${warm.requests} requests, ${scripts} Redis scripts, keys ${keys.join(", ") || "none (expired)"}`,
        );
        if (scripts < (warm.requests - warm.non2xx) / ctx.options.connections)
          throw new Error(
            `${target.label}: ${scripts} rate-limit script runs for ${warm.requests} requests during warm-up, fewer than one per ${ctx.options.connections} (the most that can be in flight)`,
          );
      }
    }
    for (const target of targets) phase.rounds[target.name] = [];
    for (let round = 0; round < ctx.options.rounds; round++) {
      const order = targets.map((_, index) => targets[(index + round) % targets.length]);
      for (const target of order) {
        const result = await measureVariant(ctx, target, redis, ctx.options.duration);
        phase.rounds[target.name].push(result);
        const errors = result.socketErrors + result.non2xx;
        log(
          `  round ${round + 1}/${ctx.options.rounds}  ${target.label.padEnd(36)} ${fmtInt(result.rps).padStart(8)} req/s  p50 ${fmtMs(result.p50Ms).padStart(9)}  p99 ${fmtMs(result.p99Ms).padStart(9)}  CPU ${result.cpuUsPerRequest?.toFixed(1) ?? "n/a"} us/req${errors ? `  errors ${errors}` : ""}${h.otherLoad(result.otherCpuPercent)}`,
        );
      }
    }
    phase.issuerRequestsDuringLoad = issuer.requests() - issuerBefore;
    for (const target of targets) {
      const runs = phase.rounds[target.name];
      phase.medians[target.name] = {
        label: target.label,
        rps: Math.round(median(runs.map((r) => r.rps))),
        p50Ms: round3(median(runs.map((r) => r.p50Ms))),
        p99Ms: round3(median(runs.map((r) => r.p99Ms))),
        cpuUsPerRequest: round2(median(runs.map((r) => r.cpuUsPerRequest ?? Number.NaN))),
        serverCpuPercent: Math.round(median(runs.map((r) => r.serverCpuPercent ?? Number.NaN))),
        redisCpuUsPerRequest: target.alg
          ? round2(median(runs.map((r) => r.redisCpuUsPerRequest ?? Number.NaN)))
          : null,
        redisScriptsPerRequest: target.alg
          ? round2(median(runs.map((r) => r.redisScriptsPerRequest ?? Number.NaN)))
          : null,
        errors: runs.reduce((sum, r) => sum + r.socketErrors + r.non2xx, 0),
        otherCpuPercent: Math.max(0, ...runs.map((r) => r.otherCpuPercent ?? 0)),
      };
    }
    const m = phase.medians;
    phase.ratios = {
      rs256ToCore: round2(m.rs256.rps / m.core.rps),
      es256ToCore: round2(m.es256.rps / m.core.rps),
    };
    phase.addedCpuUsPerRequest = {
      rs256: round2(m.rs256.cpuUsPerRequest - m.core.cpuUsPerRequest),
      es256: round2(m.es256.cpuUsPerRequest - m.core.cpuUsPerRequest),
    };
    for (const target of targets) await stopProcess(target.handle);

    const rows = [
      [
        "configuration",
        "req/s",
        "p50",
        "p99",
        "CPU us/req",
        "vs (a)",
        "Redis us/req",
        "Redis scripts/req",
        "errors",
      ],
    ];
    for (const target of targets) {
      const e = m[target.name];
      rows.push([
        target.label,
        fmtInt(e.rps),
        fmtMs(e.p50Ms),
        fmtMs(e.p99Ms),
        Number.isFinite(e.cpuUsPerRequest) ? e.cpuUsPerRequest.toFixed(1) : "n/a",
        fmtRatio(e.rps / m.core.rps),
        e.redisCpuUsPerRequest === null ? "-" : e.redisCpuUsPerRequest.toFixed(1),
        e.redisScriptsPerRequest === null ? "-" : e.redisScriptsPerRequest.toFixed(2),
        String(e.errors),
      ]);
    }
    log(`\n  ${phase.note}`);
    log(h.table(rows, ["l", "r", "r", "r", "r", "r", "r", "r", "r"]));
    log(
      "  (CPU us/req: Bulwark's processes, user+system; Redis us/req: redis-server's CPU per gateway request;\n" +
        "   Redis scripts/req: GCRA script runs per request; one EVALSHA decides every rule of the requests of one event-loop turn)",
    );
    log(
      `  (b)/(a) ${fmtRatio(phase.ratios.rs256ToCore)}  (c)/(a) ${fmtRatio(phase.ratios.es256ToCore)}  (target >= ${IDENTITY_TARGET}); added CPU per request: RS256 +${phase.addedCpuUsPerRequest.rs256} us, ES256 +${phase.addedCpuUsPerRequest.es256} us; issuer requests during load: ${phase.issuerRequestsDuringLoad}`,
    );
  } finally {
    await issuer.close();
    ctx.closeIssuer = undefined;
    await stopProcess(redis.handle);
    ctx.running = [];
  }
}

/** Target lines for printSummary. */
export function identityTargets(phase) {
  if (!phase?.ratios?.rs256ToCore) return [];
  return [
    {
      check: `RS256 JWT + Redis rate limit >= ${IDENTITY_TARGET} x strict profile alone (1 worker)`,
      value: phase.ratios.rs256ToCore,
      met: phase.ratios.rs256ToCore >= IDENTITY_TARGET,
    },
    {
      check: `ES256 JWT + Redis rate limit >= ${IDENTITY_TARGET} x strict profile alone (1 worker)`,
      value: phase.ratios.es256ToCore,
      met: phase.ratios.es256ToCore >= IDENTITY_TARGET,
    },
  ];
}
