/**
 * The audit trail through a real gateway: JSONL records of audited routes and of security
 * outcomes on every route, never a token; `audit: required` refusing with 503 when PostgreSQL (a
 * real server) is down; and a real `bulwark serve` killed with SIGKILL: every request it answered
 * on a required route has its record, and `bulwark audit verify` passes.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { request } from "undici";
import { stringify } from "yaml";
import { generateSigningKeyPair } from "../../../src/audit/signing.js";
import { runCli, spawnCli } from "../../support/cli.js";
import { startGateway, type TestGateway } from "../../support/gateway.js";
import { startOidcProvider, type TestOidcProvider } from "../../support/oidc.js";
import { startPostgres, type TestPostgres } from "../../support/postgres.js";
import { startUpstream, type TestUpstream } from "../../support/upstream.js";

interface AuditLine {
  kind: string;
  action?: string;
  outcome?: string;
  subject?: string | null;
  resource?: { route: string | null; id: string | null };
  status?: number | null;
  requestId?: string | null;
  reason?: string | null;
}

function readRecords(dir: string): AuditLine[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith(".jsonl"))
    .flatMap((name) =>
      readFileSync(join(dir, name), "utf8")
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line) as AuditLine),
    );
}

function keyFiles(dir: string): { privateKey: string; publicKey: string } {
  const pair = generateSigningKeyPair();
  const privateKey = join(dir, "audit.key");
  const publicKey = join(dir, "audit.pub");
  writeFileSync(privateKey, pair.privatePem, { mode: 0o600 });
  writeFileSync(publicKey, pair.publicPem);
  return { privateKey, publicKey };
}

async function get(url: string, headers: Record<string, string> = {}) {
  const response = await request(url, { headers });
  const text = await response.body.text();
  return { status: response.statusCode, headers: response.headers, text };
}

describe("audit trail in the gateway (JSONL)", () => {
  let dir: string;
  let keys: { privateKey: string; publicKey: string };
  let idp: TestOidcProvider;
  let upstream: TestUpstream;
  let gw: TestGateway;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "bulwark-gw-audit-"));
    keys = keyFiles(dir);
    [idp, upstream] = await Promise.all([startOidcProvider(), startUpstream()]);
    const auth = { jwt: { issuer: idp.issuer, audience: "api" } };
    gw = await startGateway({
      audit: {
        store: { type: "jsonl", dir: join(dir, "trail") },
        signingKey: keys.privateKey,
        checkpointEvery: 5,
      },
      upstreams: { app: { targets: [upstream.url] } },
      routes: [
        {
          name: "patients",
          match: { pathPrefix: "/api/patients" },
          upstream: "app",
          auth,
          audit: "required",
        },
        { name: "notes", match: { pathPrefix: "/api/notes" }, upstream: "app", auth, audit: true },
        {
          name: "admin",
          match: { pathPrefix: "/api/admin" },
          upstream: "app",
          auth,
          authorize: { roles: ["admin"] },
        },
        {
          name: "limited",
          match: { pathPrefix: "/limited" },
          upstream: "app",
          rateLimit: [{ limit: 1, per: "1h" }],
        },
      ],
    });
    await gw.waitReady();
  });

  after(async () => {
    await gw.stop();
    await Promise.all([idp.close(), upstream.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  test("audited requests and security outcomes are recorded, never a token, and the trail verifies", async () => {
    const token = await idp.sign({ sub: "dr-house", realm_access: { roles: ["clinician"] } });
    const bearer = { authorization: `Bearer ${token}` };
    const read = await get(`${gw.url}/api/patients/42/chart`, bearer);
    assert.equal(read.status, 200);
    assert.equal((await get(`${gw.url}/api/notes/7`, bearer)).status, 200);
    assert.equal((await get(`${gw.url}/api/notes/7`, { authorization: "Bearer not.a.jwt" })).status, 401);
    assert.equal((await get(`${gw.url}/api/admin/users`, bearer)).status, 403);
    await get(`${gw.url}/limited`);
    assert.equal((await get(`${gw.url}/limited`)).status, 429);
    await gw.stop();

    const records = readRecords(join(dir, "trail"));
    const events = records.filter((record) => record.kind === "event");
    const find = (action: string, route: string) =>
      events.filter((event) => event.action === action && event.resource?.route === route);
    // Required route: one durable record before proxying (status not known yet), one after.
    const patients = find("request", "patients");
    assert.deepEqual(
      patients.map((event) => [event.subject, event.resource?.id, event.status, event.outcome]),
      [
        ["dr-house", "42", null, "success"],
        ["dr-house", "42", 200, "success"],
      ],
    );
    assert.deepEqual(
      find("request", "notes").map((event) => [event.subject, event.status, event.outcome]),
      [
        ["dr-house", 200, "success"],
        [null, 401, "denied"],
      ],
    );
    assert.equal(find("token.rejected", "notes").length, 1);
    assert.deepEqual(
      find("access.denied", "admin").map((event) => [event.subject, event.reason]),
      [["dr-house", "forbidden"]],
    );
    assert.equal(find("ratelimit.limited", "limited").length, 1);
    assert.ok(records.some((record) => record.kind === "checkpoint"));
    const text = readdirSync(join(dir, "trail"))
      .map((name) => readFileSync(join(dir, "trail", name), "utf8"))
      .join("");
    assert.ok(!text.includes(token.split(".")[2]!), "no token in the trail");

    const verified = await runCli([
      "audit",
      "verify",
      join(dir, "trail"),
      "--public-key",
      keys.publicKey,
      "--strict",
    ]);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
  });
});

describe("audit: required with PostgreSQL down", () => {
  let dir: string;
  let postgres: TestPostgres;
  let upstream: TestUpstream;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "bulwark-gw-audit-pg-"));
    [postgres, upstream] = await Promise.all([startPostgres(), startUpstream()]);
  });
  after(async () => {
    await Promise.all([postgres.close(), upstream.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  test("requests on a required route get 503 audit_unavailable while the store is down, and pass again after", async () => {
    const keys = keyFiles(dir);
    const gw = await startGateway({
      audit: {
        store: {
          type: "postgres",
          url: postgres.url(),
          spoolDir: join(dir, "spool"),
          connectTimeout: "500ms",
          retryInterval: "200ms",
        },
        signingKey: keys.privateKey,
      },
      upstreams: { app: { targets: [upstream.url] } },
      routes: [
        { name: "records", match: { pathPrefix: "/records" }, upstream: "app", audit: "required" },
        { name: "open", match: { pathPrefix: "/open" }, upstream: "app", audit: true },
      ],
    });
    try {
      assert.equal((await get(`${gw.url}/records/1`)).status, 200);
      await postgres.kill();
      let refused: Awaited<ReturnType<typeof get>> | undefined;
      for (let attempt = 0; attempt < 40 && refused === undefined; attempt++) {
        const result = await get(`${gw.url}/records/2`);
        if (result.status === 503) refused = result;
        else await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.ok(refused, "no 503 while PostgreSQL was down");
      assert.equal((JSON.parse(refused.text) as { code: string }).code, "audit_unavailable");
      // Best-effort routes keep serving; their records wait in the spool.
      assert.equal((await get(`${gw.url}/open/1`)).status, 200);
      await postgres.start();
      let back = 0;
      for (let attempt = 0; attempt < 60 && back !== 200; attempt++) {
        back = (await get(`${gw.url}/records/3`)).status;
        if (back !== 200) await new Promise((resolve) => setTimeout(resolve, 200));
      }
      assert.equal(back, 200);
    } finally {
      await gw.stop();
    }
  });
});

describe("audit trail survives SIGKILL of bulwark serve", () => {
  test("every request answered on a required route has its record, and verify passes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bulwark-gw-audit-kill-"));
    const upstream = await startUpstream();
    const keys = keyFiles(dir);
    const trail = join(dir, "trail");
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    const config = join(dir, "bulwark.yaml");
    writeFileSync(
      config,
      stringify({
        listeners: [{ address: `127.0.0.1:${port}` }],
        admin: { enabled: false },
        audit: { store: { type: "jsonl", dir: trail, durability: "record" }, signingKey: keys.privateKey },
        upstreams: { app: { targets: [upstream.url] } },
        routes: [{ name: "records", upstream: "app", audit: "required" }],
      }),
    );
    const child = spawnCli(["serve", "-c", config]);
    try {
      let up = false;
      for (let attempt = 0; attempt < 100 && !up; attempt++) {
        up = await get(`http://127.0.0.1:${port}/warmup`).then(
          (result) => result.status === 200,
          () => false,
        );
        if (!up) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.ok(up, child.output().stderr);
      // Concurrent requests; each 200 means its access record was durable before the upstream saw it.
      const answered: string[] = [];
      const load = Array.from({ length: 8 }, async (_, worker) => {
        for (let i = 0; i < 1000; i++) {
          const id = `w${worker}-${i}`;
          const result = await get(`http://127.0.0.1:${port}/${id}`).catch(() => undefined);
          if (result?.status !== 200) return;
          answered.push(id);
        }
      });
      // Kill once a good number of requests was answered (each waits for an fsync, which a busy
      // machine makes slow), so the kill lands in the middle of the load, not before it.
      for (let waited = 0; answered.length < 50 && waited < 15_000; waited += 20) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      child.kill("SIGKILL");
      await Promise.all(load);
      assert.ok(answered.length > 20, `only ${answered.length} requests answered before the kill`);
      const recorded = new Set(
        readRecords(trail)
          .filter((record) => record.kind === "event" && record.action === "request")
          .map((record) => record.resource?.id),
      );
      const missing = answered.filter((id) => !recorded.has(id));
      assert.deepEqual(missing, [], `${missing.length} answered requests have no record`);
      // Records past the last checkpoint are an unsigned tail after a crash: verify passes without --strict.
      const verified = await runCli(["audit", "verify", trail, "--public-key", keys.publicKey]);
      assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    } finally {
      child.kill("SIGKILL");
      await upstream.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
