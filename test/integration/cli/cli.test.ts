/**
 * The `bulwark` command as users run it: help, exit codes, config subcommands, quick mode,
 * signals (drain, reload, second signal), workers and the demo.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Agent, request } from "undici";
import { makeCertificate } from "../../support/certs.js";
import { finished, runCli, spawnCli, waitForOutput } from "../../support/cli.js";
import { startUpstream, type TestUpstream } from "../../support/upstream.js";

let dir: string;
let upstream: TestUpstream;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "bulwark-cli-"));
  upstream = await startUpstream();
});

after(async () => {
  await upstream.close();
  rmSync(dir, { recursive: true, force: true });
});

function writeConfig(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

function basicConfig(extra = ""): string {
  return `listeners:
  - address: 127.0.0.1:0
admin:
  address: 127.0.0.1:0
upstreams:
  app:
    targets: [${upstream.url}]
routes:
  - upstream: app
${extra}`;
}

/** `bulwark serve` in quick mode in front of the test upstream, on free loopback ports. */
function spawnQuickMode(...extra: string[]) {
  return spawnCli([
    "serve",
    "--upstream",
    upstream.url,
    "--listen",
    "127.0.0.1:0",
    "--admin",
    "127.0.0.1:0",
    ...extra,
  ]);
}

/** Reads the bound traffic and admin addresses from the JSON log lines. */
async function addressesOf(child: ReturnType<typeof spawnCli>): Promise<{ url: string; admin: string }> {
  const listening = await waitForOutput(child, /"address":"(127\.0\.0\.1:\d+)"[^\n]*"msg":"listening"/);
  const started = await waitForOutput(
    child,
    /"admin":"(127\.0\.0\.1:\d+)"[^\n]*"msg":"bulwark (?:started|primary started)"/,
  );
  return { url: `http://${listening[1]}`, admin: `http://${started[1]}` };
}

describe("help and usage", () => {
  test("bulwark --help lists every command; each command has its own --help", async () => {
    const help = await runCli(["--help"]);
    assert.equal(help.code, 0);
    for (const command of ["serve", "demo", "config", "reload"]) {
      assert.match(help.stderr, new RegExp(`\\n  ${command}\\s`));
      const own = await runCli([command, "--help"]);
      assert.equal(own.code, 0, command);
      assert.match(own.stderr, /^usage: bulwark /, command);
    }
    const serve = await runCli(["serve", "--help"]);
    for (const flag of [
      "--upstream",
      "--listen",
      "--admin",
      "--tls-cert",
      "--tls-key",
      "--redirect-from",
      "-c, --config",
    ]) {
      assert.ok(serve.stderr.includes(flag), `serve --help documents ${flag}`);
    }
  });

  test("unknown commands and flags exit 2 with a message that points to --help", async () => {
    const unknown = await runCli(["frobnicate"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command "frobnicate"/);
    const flag = await runCli(["serve", "--bogus"]);
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /unknown option '--bogus'.*bulwark serve --help/);
    const nothing = await runCli(["serve"]);
    assert.equal(nothing.code, 2);
    assert.match(nothing.stderr, /give -c FILE or --upstream URL/);
  });

  test("--version prints the package version", async () => {
    const result = await runCli(["--version"]);
    assert.equal(result.code, 0);
    assert.match(result.stdout, /^\d+\.\d+\.\d+\n$/);
  });
});

describe("config subcommands", () => {
  test("check: exit 0 when valid, 2 with every problem positioned when not", async () => {
    const valid = await runCli(["config", "check", "-c", writeConfig("valid.yaml", basicConfig())]);
    assert.equal(valid.code, 0, valid.stderr);
    assert.match(valid.stderr, /valid \(1 listener, 1 upstream, 1 route\)/);

    const file = writeConfig(
      "invalid.yaml",
      `upstreams:\n  app:\n    targets: [${upstream.url}]\nroutes:\n  - upstream: nowhere\n    timeout: 5s\n  - upstream: app\n    limits: { maxBodySize: lots }\n`,
    );
    const invalid = await runCli(["config", "check", "-c", file]);
    assert.equal(invalid.code, 2);
    assert.match(invalid.stderr, /invalid\.yaml:6:5 routes\[0\]\.timeout: unknown key/);
    assert.match(invalid.stderr, /invalid\.yaml:8:28 routes\[1\]\.limits\.maxBodySize: expected a size/);
  });

  test("check: fail-closed rules are reported with their rule id", async () => {
    const file = writeConfig("risky.yaml", basicConfig().replace("127.0.0.1:0\nadmin", "0.0.0.0:0\nadmin"));
    const result = await runCli(["config", "check", "-c", file]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /\[plaintext-public\]/);
    assert.match(result.stderr, /fix: add tls/);
  });

  test("schema prints a JSON Schema", async () => {
    const result = await runCli(["config", "schema"]);
    assert.equal(result.code, 0);
    const schema = JSON.parse(result.stdout) as { type: string; properties: Record<string, unknown> };
    assert.equal(schema.type, "object");
    assert.ok(schema.properties.routes && schema.properties.upstreams && schema.properties.listeners);
  });

  test("explain shows the effective policy and masks values from references", async () => {
    const file = writeConfig(
      "explain.yaml",
      `${basicConfig().replace("address: 127.0.0.1:0\nupstreams", "address: 127.0.0.1:0\n  token: ${env:ADMIN_TOKEN}\nupstreams")}defaults:\n  headers: { profile: api }\n`,
    );
    const result = await runCli(["config", "explain", "-c", file], {
      env: { ADMIN_TOKEN: "super-secret-admin-token-123" },
    });
    assert.equal(result.code, 0, result.stderr);
    assert.ok(!result.stdout.includes("super-secret-admin-token-123"), "the token is never printed");
    assert.match(result.stdout, /token: <secret>/);
    assert.match(result.stdout, /profile: api/);
    assert.match(result.stdout, /maxBodySize: 1mb/);
    assert.match(result.stdout, /content-security-policy/i);
  });

  test("a missing secret reference names the variable, never a value", async () => {
    const file = writeConfig(
      "missing.yaml",
      basicConfig().replace(
        "admin:\n  address: 127.0.0.1:0",
        "admin:\n  address: 127.0.0.1:0\n  token: ${env:NOT_SET_ANYWHERE}",
      ),
    );
    const result = await runCli(["config", "check", "-c", file], { env: { NOT_SET_ANYWHERE: "" } });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /admin\.token: \$\{env:NOT_SET_ANYWHERE\} is not set/);
  });
});

describe("serve", () => {
  test("quick mode proxies with the hardened profile; SIGTERM drains an in-flight request and exits 0", async () => {
    const child = spawnQuickMode();
    try {
      const { url, admin } = await addressesOf(child);
      const response = await request(`${url}/banner`);
      assert.equal(response.statusCode, 200);
      await response.body.dump();
      assert.equal(response.headers.server, undefined);
      assert.equal(response.headers["x-powered-by"], undefined);
      assert.equal(response.headers["x-content-type-options"], "nosniff");
      const ready = await request(`${admin}/ready`);
      assert.equal(ready.statusCode, 200);
      await ready.body.dump();

      const inFlight = request(`${url}/delay/800`);
      await new Promise((resolve) => setTimeout(resolve, 150));
      child.kill("SIGTERM");
      const answered = await inFlight;
      assert.equal(answered.statusCode, 200);
      assert.equal(await answered.body.text(), "late");
      const result = await finished(child, 10_000);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /"msg":"stopped"/);
    } finally {
      child.kill("SIGKILL");
    }
  });

  test("quick mode with TLS: HTTPS with HSTS, and the redirect listener points at it", async () => {
    const cert = await makeCertificate();
    const child = spawnCli([
      "serve",
      "--upstream",
      upstream.url,
      "--listen",
      "127.0.0.1:0",
      "--admin",
      "127.0.0.1:0",
      "--tls-cert",
      cert.certFile,
      "--tls-key",
      cert.keyFile,
      "--redirect-from",
      "127.0.0.1:0",
    ]);
    const agent = new Agent({ connect: { ca: cert.certPem, servername: "localhost" } });
    try {
      const https = await waitForOutput(child, /"listener":"main","address":"127\.0\.0\.1:(\d+)","tls":true/);
      const plain = await waitForOutput(
        child,
        /"listener":"redirect","address":"127\.0\.0\.1:(\d+)","tls":false/,
      );
      const response = await request(`https://127.0.0.1:${https[1]}/echo`, { dispatcher: agent });
      assert.equal(response.statusCode, 200);
      assert.match(String(response.headers["strict-transport-security"]), /max-age=/);
      assert.equal(
        ((await response.body.json()) as { headers: Record<string, string> }).headers["x-forwarded-proto"],
        "https",
      );
      const redirect = await request(`http://127.0.0.1:${plain[1]}/a?b=c`, {
        headers: { host: "localhost" },
      });
      await redirect.body.dump();
      assert.equal(redirect.statusCode, 308);
      assert.equal(redirect.headers.location, `https://localhost:${https[1]}/a?b=c`);
    } finally {
      child.kill("SIGKILL");
      await agent.close();
      await cert.cleanup();
    }
  });

  test("a second signal exits at once with 130", async () => {
    const child = spawnQuickMode();
    try {
      const { url } = await addressesOf(child);
      const pending = request(`${url}/delay/5000`).catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 150));
      child.kill("SIGINT");
      await waitForOutput(child, /"msg":"draining"/);
      child.kill("SIGINT");
      const result = await finished(child, 5000);
      assert.equal(result.code, 130);
      await pending;
    } finally {
      child.kill("SIGKILL");
    }
  });

  test("SIGHUP reloads the file; an invalid file is refused and the old config keeps serving", async () => {
    const file = writeConfig("hup.yaml", basicConfig());
    const child = spawnCli(["serve", "-c", file, "--no-watch"]);
    try {
      const { url } = await addressesOf(child);
      writeFileSync(
        file,
        `${basicConfig()}  - match: { pathPrefix: /moved }\n    upstream: app\n    rewritePrefix: /echo\n`,
      );
      child.kill("SIGHUP");
      await waitForOutput(child, /"msg":"configuration reloaded"/);
      await (await request(`${url}/moved/1`)).body.dump();
      assert.equal(upstream.seen.at(-1)!.url, "/echo/1");

      writeFileSync(file, "routes: [ this is not valid");
      child.kill("SIGHUP");
      await waitForOutput(child, /configuration reload refused/);
      const still = await request(`${url}/moved/2`);
      assert.equal(still.statusCode, 200);
      await still.body.dump();
      assert.equal(upstream.seen.at(-1)!.url, "/echo/2");
      child.kill("SIGTERM");
      assert.equal((await finished(child, 10_000)).code, 0);
    } finally {
      child.kill("SIGKILL");
    }
  });

  test("bulwark reload asks the running gateway through the admin API", async () => {
    const file = writeConfig("reload-cmd.yaml", basicConfig());
    const child = spawnCli(["serve", "-c", file, "--no-watch"]);
    try {
      const { admin } = await addressesOf(child);
      const adminAddress = admin.replace("http://", "");
      writeFileSync(file, `${basicConfig()}  - match: { pathPrefix: /cmd }\n    upstream: app\n`);
      const ok = await runCli(["reload", "--admin", adminAddress]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stderr, /configuration reloaded/);
      writeFileSync(file, `${basicConfig()}  - upstream: ghost\n`);
      const refused = await runCli(["reload", "--admin", adminAddress]);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /reload refused/);
      assert.match(refused.stderr, /route-undefined-upstream/);
    } finally {
      child.kill("SIGKILL");
    }
  });

  test("a port in use exits 3 with a clear message", async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const result = await runCli([
        "serve",
        "--upstream",
        upstream.url,
        "--listen",
        `127.0.0.1:${port}`,
        "--admin",
        "127.0.0.1:0",
      ]);
      assert.equal(result.code, 3);
      assert.match(
        result.stderr,
        new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: the address is already in use`),
      );
    } finally {
      blocker.close();
    }
  });

  test("workers that cannot listen stop the primary with exit 3 instead of restarting forever", async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const result = await runCli(
        [
          "serve",
          "--upstream",
          upstream.url,
          "--listen",
          `127.0.0.1:${port}`,
          "--admin",
          "127.0.0.1:0",
          "--workers",
          "2",
        ],
        { timeoutMs: 15_000 },
      );
      assert.equal(result.code, 3);
      assert.match(result.stderr, /the address is already in use/);
      assert.match(result.stdout, /a worker failed to start; stopping/);
    } finally {
      blocker.close();
    }
  });

  test("quick mode refuses a public plaintext listener unless allowed", async () => {
    const result = await runCli(["serve", "--upstream", upstream.url, "--listen", "0.0.0.0:0"]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /\[plaintext-public\]/);
  });

  test("workers: two processes serve, metrics are summed, SIGTERM stops them all", async () => {
    const child = spawnQuickMode("--workers", "2");
    try {
      const started = await waitForOutput(
        child,
        /"admin":"(127\.0\.0\.1:\d+)"[^\n]*"msg":"bulwark primary started"/,
      );
      const admin = `http://${started[1]}`;
      // Workers listen on a port the kernel picked for the first one and shared with the second.
      const listening = await waitForOutput(child, /"address":"(127\.0\.0\.1:\d+)"[^\n]*"msg":"listening"/);
      const url = `http://${listening[1]}`;
      const deadline = Date.now() + 10_000;
      for (;;) {
        const ready = await request(`${admin}/ready`);
        const ok = ready.statusCode === 200;
        await ready.body.dump();
        if (ok) break;
        assert.ok(Date.now() < deadline, "workers became ready");
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const pids = new Set<string>();
      for (let index = 0; index < 20; index++) {
        const response = await request(`${url}/`, { reset: true } as never);
        await response.body.dump();
        assert.equal(response.statusCode, 200);
      }
      for (const match of child.output().stdout.matchAll(/"pid":(\d+)[^\n]*"type":"access"/g))
        pids.add(match[1]!);
      const metrics = await (await request(`${admin}/metrics`)).body.text();
      const served = Number(
        /bulwark_requests_total\{route="default",method="GET",status_class="2xx"\} (\d+)/.exec(metrics)?.[1],
      );
      assert.equal(served, 20, "the primary sums the workers' counters");
      child.kill("SIGTERM");
      const result = await finished(child, 15_000);
      assert.equal(result.code, 0, result.stderr);
      assert.ok(pids.size >= 1);
    } finally {
      child.kill("SIGKILL");
    }
  });
});

describe("workers and the config file", () => {
  test("the primary reloads every worker when the file changes", async () => {
    const file = writeConfig("workers.yaml", `${basicConfig()}server:\n  workers: 2\n`);
    const child = spawnCli(["serve", "-c", file]);
    try {
      await waitForOutput(child, /"msg":"bulwark primary started"/);
      const listening = await waitForOutput(child, /"address":"(127\.0\.0\.1:\d+)"[^\n]*"msg":"listening"/);
      await waitForOutput(child, /"msg":"bulwark started"[\s\S]*"msg":"bulwark started"/);
      writeFileSync(
        file,
        `${basicConfig()}  - match: { pathPrefix: /w }\n    upstream: app\n    rewritePrefix: /echo\nserver:\n  workers: 2\n`,
      );
      await waitForOutput(child, /"workers":2,"msg":"configuration reloaded"/);
      for (let index = 0; index < 4; index++) {
        const response = await request(`http://${listening[1]}/w/${index}`, { reset: true } as never);
        await response.body.dump();
        assert.equal(upstream.seen.at(-1)!.url, `/echo/${index}`, "every worker has the new route");
      }
      child.kill("SIGTERM");
      assert.equal((await finished(child, 15_000)).code, 0);
    } finally {
      child.kill("SIGKILL");
    }
  });
});

describe("demo", () => {
  test("starts the sample app behind the gateway and prints what to try", async () => {
    const child = spawnCli(["demo", "--port", "0", "--admin-port", "0"]);
    try {
      const match = await waitForOutput(child, /gateway +(http:\/\/127\.0\.0\.1:\d+)\//);
      await waitForOutput(child, /Ctrl-C stops the demo/);
      const gw = match[1]!;
      const { stderr } = child.output();
      assert.match(stderr, /curl -sI http:\/\/127\.0\.0\.1:\d+\//);
      assert.match(stderr, /metrics +http:\/\/127\.0\.0\.1:\d+\/metrics/);
      const page = await request(`${gw}/`);
      assert.equal(page.statusCode, 200);
      assert.match(await page.body.text(), /Hello from the sample app/);
      assert.equal(page.headers["x-powered-by"], undefined, "the app's banner is stripped");
      assert.match(String(page.headers["content-security-policy"]), /default-src/);
      const echo = (await (await request(`${gw}/api/echo`)).body.json()) as {
        headers: Record<string, string>;
      };
      assert.equal(echo.headers["x-forwarded-for"], "127.0.0.1");
      child.kill("SIGINT");
      assert.equal((await finished(child, 10_000)).code, 0);
    } finally {
      child.kill("SIGKILL");
    }
  });
});
