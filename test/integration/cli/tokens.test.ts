/**
 * `bulwark tokens revoke|revoked` (the built CLI) against a real gateway's admin listener: a
 * revoked token is refused, the list shows it, and usage mistakes exit 2 with a specific message.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { request } from "undici";
import { stringify } from "yaml";
import { finished, runCli, spawnCli, waitForOutput } from "../../support/cli.js";
import { startGateway, type TestGateway } from "../../support/gateway.js";
import { startOidcProvider, type TestOidcProvider } from "../../support/oidc.js";
import { startUpstream, type TestUpstream } from "../../support/upstream.js";

const ADMIN_TOKEN = "cli-admin-token-0123456789";

describe("bulwark tokens", () => {
  let dir: string;
  let tokenFile: string;
  let idp: TestOidcProvider;
  let upstream: TestUpstream;
  let gw: TestGateway;
  let admin: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "bulwark-tokens-"));
    tokenFile = join(dir, "admin-token");
    writeFileSync(tokenFile, `${ADMIN_TOKEN}\n`, { mode: 0o600 });
    [idp, upstream] = await Promise.all([startOidcProvider(), startUpstream()]);
    gw = await startGateway({
      admin: { token: ADMIN_TOKEN },
      upstreams: { app: { targets: [upstream.url] } },
      routes: [{ upstream: "app", auth: { jwt: { issuer: idp.issuer, audience: "api" } } }],
    });
    await gw.waitReady();
    admin = gw.adminUrl.replace("http://", "");
  });

  after(async () => {
    await gw.stop();
    await Promise.all([idp.close(), upstream.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  const cli = (...args: string[]) => runCli(["tokens", ...args, "--admin", admin, "--token-file", tokenFile]);

  test("revoke refuses the token at once; revoked lists it", async () => {
    const exp = Math.floor(Date.now() / 1000) + 900;
    const token = await idp.sign({ jti: "leaked-1", exp });
    const status = async () => {
      const response = await request(`${gw.url}/`, { headers: { authorization: `Bearer ${token}` } });
      await response.body.dump();
      return response.statusCode;
    };
    assert.equal(await status(), 200);
    const revoked = await cli("revoke", "leaked-1", "--exp", String(exp));
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stderr, new RegExp(`revoked until ${new Date(exp * 1000).toISOString()}`));
    assert.equal(await status(), 401);
    const listed = await cli("revoked", "--format", "json");
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(JSON.parse(listed.stdout), {
      revocations: [{ jti: "leaked-1", expiresAt: new Date(exp * 1000).toISOString() }],
    });
    const forDuration = await cli("revoke", "leaked-2", "--for", "1h");
    assert.equal(forDuration.code, 0, forDuration.stderr);
  });

  test("usage mistakes exit 2 with what to fix", async () => {
    for (const [args, message] of [
      [["revoke", "x"], /exactly one of --exp, --until or --for/],
      [["revoke", "x", "--exp", "1", "--for", "1h"], /exactly one of/],
      [["revoke", "x", "--exp", "soon"], /--exp must be epoch seconds/],
      [["revoke", "x", "--until", "tomorrow"], /--until must be an ISO 8601 time/],
      [["revoke", "x", "--for", "forever"], /--for must be a duration/],
      [["revoke", "x", "--exp", "1"], /in the past/],
      [["revoke"], /give one token id/],
      [["forget", "x"], /expected `tokens revoke JTI` or `tokens revoked`/],
      [["revoked", "--format", "xml"], /--format must be table or json/],
    ] as const) {
      const result = await cli(...args);
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, message);
    }
  });

  test("a wrong admin token and an unreachable admin listener are clear errors", async () => {
    const wrong = join(dir, "wrong");
    writeFileSync(wrong, "not-the-admin-token-at-all\n");
    const refused = await runCli(["tokens", "revoked", "--admin", admin, "--token-file", wrong]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /refused the token/);
    const unreachable = await runCli([
      "tokens",
      "revoked",
      "--admin",
      "127.0.0.1:1",
      "--token-file",
      tokenFile,
    ]);
    assert.equal(unreachable.code, 3);
    assert.match(unreachable.stderr, /cannot reach the admin listener at 127\.0\.0\.1:1/);
  });
});

describe("bulwark tokens with workers", () => {
  test("a revocation reaches every worker before the command returns", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bulwark-tokens-workers-"));
    const [idp, upstream] = await Promise.all([startOidcProvider(), startUpstream()]);
    const tokenFile = join(dir, "admin-token");
    writeFileSync(tokenFile, `${ADMIN_TOKEN}\n`, { mode: 0o600 });
    const config = join(dir, "bulwark.yaml");
    writeFileSync(
      config,
      stringify({
        listeners: [{ address: "127.0.0.1:0" }],
        admin: { address: "127.0.0.1:0", token: ADMIN_TOKEN },
        server: { workers: 2 },
        upstreams: { app: { targets: [upstream.url] } },
        routes: [{ upstream: "app", auth: { jwt: { issuer: idp.issuer, audience: "api" } } }],
      }),
    );
    const child = spawnCli(["serve", "-c", config]);
    try {
      const started = await waitForOutput(
        child,
        /"admin":"(127\.0\.0\.1:\d+)"[^\n]*"msg":"bulwark primary started"/,
      );
      const listening = await waitForOutput(child, /"address":"(127\.0\.0\.1:\d+)"[^\n]*"msg":"listening"/);
      const deadline = Date.now() + 15_000;
      for (;;) {
        const ready = await request(`http://${started[1]}/ready`);
        await ready.body.dump();
        if (ready.statusCode === 200) break;
        assert.ok(Date.now() < deadline, "workers became ready");
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const exp = Math.floor(Date.now() / 1000) + 900;
      const token = await idp.sign({ jti: "worker-leak", exp });
      const statuses = async () => {
        const seen: number[] = [];
        // A new connection per request, so the kernel spreads them over both workers.
        for (let i = 0; i < 12; i++) {
          const response = await request(`http://${listening[1]}/`, {
            headers: { authorization: `Bearer ${token}` },
            reset: true,
          } as never);
          await response.body.dump();
          seen.push(response.statusCode);
        }
        return [...new Set(seen)];
      };
      assert.deepEqual(await statuses(), [200]);
      const revoked = await runCli([
        "tokens",
        "revoke",
        "worker-leak",
        "--exp",
        String(exp),
        "--admin",
        started[1]!,
        "--token-file",
        tokenFile,
      ]);
      assert.equal(revoked.code, 0, revoked.stderr);
      assert.deepEqual(await statuses(), [401]);
      child.kill("SIGTERM");
      await finished(child, 15_000);
    } finally {
      child.kill("SIGKILL");
      await Promise.all([idp.close(), upstream.close()]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
