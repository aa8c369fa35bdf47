/**
 * `bulwark keys` as users run it (the built binary): a created or rotated key is printed once on
 * stdout and nowhere else, list never shows secrets or hashes, rotate and revoke change what is
 * accepted, bad input exits 2 with a specific message, and an unreachable store exits 3.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { generateSigningKeyPair } from "../../../src/audit/signing.js";
import { FileStore } from "../../../src/security/api-keys/file-store.js";
import { KEY_PATTERN } from "../../../src/security/api-keys/key-format.js";
import { keyDigest, pepperFrom } from "../../../src/security/api-keys/key-hash.js";
import { acceptDigest, compileRecord } from "../../../src/security/api-keys/record.js";
import { type CliResult, runCli } from "../../support/cli.js";
import { startPostgres, type TestPostgres } from "../../support/postgres.js";
import { startRedis, type TestRedis } from "../../support/redis.js";

const PEPPER = "cli-test-pepper-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const KEY_LINE = /^bwk_[a-z2-7]{12}_[0-9A-Za-z]{49}\n$/;

describe("bulwark keys", () => {
  let dir: string;
  let keysFile: string;
  let pepperFile: string;
  const keys = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(["keys", ...args], { cwd: dir, env });
  const fileFlags = () => ["--pepper-file", pepperFile, "--file", keysFile];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "bulwark-keys-cli-"));
    keysFile = join(dir, "keys.json");
    pepperFile = join(dir, "pepper");
    writeFileSync(pepperFile, `${PEPPER}\n`, { mode: 0o600 });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function accepted(id: string, key: string): Promise<boolean> {
    const record = await new FileStore({ path: keysFile }).get(id);
    return acceptDigest(compileRecord(record!), keyDigest(pepperFrom(PEPPER), key), Date.now()).ok;
  }

  function assertNoSecrets(result: CliResult, ...secrets: string[]) {
    for (const secret of secrets) {
      assert.ok(!result.stdout.includes(secret.slice(17)), "secret on stdout");
      assert.ok(!result.stderr.includes(secret.slice(17)), "secret on stderr");
    }
  }

  test("create prints the key once on stdout, nothing else; the file holds only its hash", async () => {
    const result = await keys([
      "create",
      "--name",
      "billing",
      "--scopes",
      "orders:read,orders:write",
      "--expires",
      "90d",
      ...fileFlags(),
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, KEY_LINE);
    const key = result.stdout.trim();
    const id = key.slice(4, 16);
    assert.match(
      result.stderr,
      new RegExp(`created key ${id} \\(billing; scopes: orders:read, orders:write; expires 20`),
    );
    assert.match(result.stderr, /shown only once/);
    assert.ok(!result.stderr.includes(key.slice(17)), "the key is not repeated on stderr");
    const file = readFileSync(keysFile, "utf8");
    assert.ok(!file.includes(key.slice(17)));
    assert.ok(await accepted(id, key));
    const record = await new FileStore({ path: keysFile }).get(id);
    const ninetyDays = 90 * 86_400_000;
    assert.ok(Math.abs(record!.expiresAt! - record!.createdAt - ninetyDays) < 1000);
  });

  test("list shows ids, names, status and scopes, never a secret or a hash (table and json)", async () => {
    const created = await keys(["create", "--name", "listed", ...fileFlags()]);
    const key = created.stdout.trim();
    const table = await keys(["list", "--file", keysFile]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^ID\s+NAME\s+STATUS\s+SCOPES\s+CREATED\s+EXPIRES\s+LAST USED\n/);
    assert.match(table.stdout, new RegExp(`${key.slice(4, 16)}\\s+listed\\s+active\\s+-\\s+`));
    const json = await keys(["list", "--format", "json", "--file", keysFile]);
    assert.equal(json.code, 0, json.stderr);
    const rows = JSON.parse(json.stdout) as Record<string, unknown>[];
    assert.ok(
      rows.some((row) => row.id === key.slice(4, 16) && row.status === "active" && row.name === "listed"),
    );
    const hashes = JSON.parse(readFileSync(keysFile, "utf8")).keys.map(
      (entry: { hash: string }) => entry.hash,
    );
    for (const output of [table, json]) {
      assert.equal(output.stdout.match(KEY_PATTERN), null);
      assertNoSecrets(output, key);
      for (const hash of hashes) assert.ok(!output.stdout.includes(hash), "hash listed");
      assert.ok(!output.stdout.includes("hash"), "no hash field");
    }
  });

  test("rotate prints only the new key; both work during the overlap; --overlap 0 ends the old one", async () => {
    const oldKey = (await keys(["create", "--name", "rotating", ...fileFlags()])).stdout.trim();
    const id = oldKey.slice(4, 16);
    const rotated = await keys(["rotate", id, "--overlap", "2h", ...fileFlags()]);
    assert.equal(rotated.code, 0, rotated.stderr);
    assert.match(rotated.stdout, KEY_LINE);
    const newKey = rotated.stdout.trim();
    assert.ok(newKey.startsWith(`bwk_${id}_`) && newKey !== oldKey);
    assert.match(rotated.stderr, /old secret keeps working until 20.*\(2h\)/);
    assertNoSecrets(rotated, oldKey);
    assert.ok(await accepted(id, oldKey));
    assert.ok(await accepted(id, newKey));
    const listed = await keys(["list", "--file", keysFile]);
    assert.match(listed.stdout, new RegExp(`${id}\\s+rotating\\s+rotating \\(old secret until `));

    const again = await keys(["rotate", id, "--overlap", "0", ...fileFlags()]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /secret replaced by the previous rotation stopped working now/);
    assert.match(again.stderr, /old secret stopped working now/);
    const newest = again.stdout.trim();
    assert.ok(!(await accepted(id, oldKey)) && !(await accepted(id, newKey)) && (await accepted(id, newest)));
  });

  test("revoke stops a key; revoking again is fine; rotating a revoked or unknown key exits 1", async () => {
    const key = (await keys(["create", "--name", "doomed", ...fileFlags()])).stdout.trim();
    const id = key.slice(4, 16);
    const revoked = await keys(["revoke", id, "--file", keysFile]);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal(revoked.stdout, "");
    assert.match(revoked.stderr, new RegExp(`revoked key ${id} \\(doomed\\)`));
    assert.ok(!(await accepted(id, key)));
    const twice = await keys(["revoke", id, "--file", keysFile]);
    assert.equal(twice.code, 0);
    assert.match(twice.stderr, /was already revoked at 20/);
    const rotate = await keys(["rotate", id, ...fileFlags()]);
    assert.equal(rotate.code, 1);
    assert.equal(rotate.stdout, "");
    assert.match(rotate.stderr, /key \w+ is revoked; create a new key instead/);
    const unknown = await keys(["revoke", "aaaaaaaaaaaa", "--file", keysFile]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no key with id aaaaaaaaaaaa; see `bulwark keys list`/);
    const listed = await keys(["list", "--file", keysFile]);
    assert.match(listed.stdout, new RegExp(`${id}\\s+doomed\\s+revoked`));
  });

  test("bad usage exits 2 with a specific message, prints nothing on stdout and changes nothing", async () => {
    const before = readFileSync(keysFile, "utf8");
    const cases: [string[], RegExp][] = [
      [[], /expected a subcommand: create, list, rotate or revoke/],
      [["destroy"], /unknown subcommand "destroy"/],
      [["create", ...fileFlags()], /`keys create` needs --name NAME/],
      [
        ["create", "--name", "x", "--expires", "soon", ...fileFlags()],
        /--expires expects a duration such as 90d, 12h or 30m \(got "soon"\)/,
      ],
      [["create", "--name", "x", "--expires", "0", ...fileFlags()], /--expires expects a duration/],
      [["create", "--name", "x", "--scopes", ",", ...fileFlags()], /--scopes needs at least one scope/],
      [["create", "--name", "x", "--scopes", "bad scope", ...fileFlags()], /scope "bad scope" is invalid/],
      [["create", "--name", "", ...fileFlags()], /--name must be 1 to 200 printable characters/],
      [["create", "--name", "x", "--file", keysFile], /give -c FILE or --pepper-file FILE/],
      [
        ["create", "--name", "x", "--overlap", "1h", ...fileFlags()],
        /--overlap does not apply to `keys create`/,
      ],
      [["create", "--nme", "x"], /unknown option '--nme'/],
      [["rotate", ...fileFlags()], /`keys rotate` takes one key id/],
      [["rotate", "bwk_notanid", ...fileFlags()], /"bwk_notanid" is not a key id/],
      [["rotate", "aaaaaaaaaaaa", "--overlap", "1 day", ...fileFlags()], /--overlap expects a duration/],
      [["list", "--format", "yaml", "--file", keysFile], /--format must be table or json/],
      [["list", "--store", "mongo"], /--store must be file, redis or postgres/],
      [["list", "--store", "redis"], /--store redis needs --url/],
      [["list", "--url", "redis://x"], /--url applies only to --store redis or postgres/],
      [["list", "--store", "postgres", "--url", "mysql://x"], /expected a postgres:\/\/ URL/],
      [
        ["list", "--store", "redis", "--url", "${env:BULWARK_TEST_UNSET}"],
        /\$\{env:BULWARK_TEST_UNSET\} is not set/,
      ],
      [["list", "-c", "bulwark.yaml", "--file", keysFile], /--file cannot be combined with -c/],
    ];
    for (const [args, message] of cases) {
      const result = await keys(args);
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
      assert.equal(result.stdout, "", args.join(" "));
      assert.match(result.stderr, message, args.join(" "));
      assert.doesNotMatch(result.stderr, /\n\s+at /, "no stack trace");
    }
    const shortPepper = join(dir, "short-pepper");
    writeFileSync(shortPepper, "tooshort\n");
    const weak = await keys(["create", "--name", "x", "--pepper-file", shortPepper, "--file", keysFile]);
    assert.equal(weak.code, 2);
    assert.match(weak.stderr, /--pepper-file .*short-pepper has 8 bytes; it needs at least 32/);
    assert.ok(!weak.stderr.includes("tooshort"));
    assert.equal(readFileSync(keysFile, "utf8"), before);
  });

  test("-c reads server.apiKeys from a config file; a literal pepper or a bad key is refused with its line", async () => {
    const configDir = join(dir, "conf");
    const configFile = join(dir, "bulwark.yaml");
    writeFileSync(
      configFile,
      "server:\n  apiKeys:\n    pepper: ${file:pepper}\n    store: { type: file, path: conf/from-config.json }\n",
    );
    const created = await keys(["create", "--name", "via-config", "-c", configFile]);
    assert.equal(created.code, 0, created.stderr);
    const key = created.stdout.trim();
    const store = new FileStore({ path: join(configDir, "from-config.json") });
    const record = await store.get(key.slice(4, 16));
    assert.equal(record?.name, "via-config");

    writeFileSync(configFile, `server:\n  apiKeys:\n    pepper: ${PEPPER}\n    stroe: {}\n`);
    const literal = await keys(["list", "-c", configFile]);
    assert.equal(literal.code, 2);
    assert.match(
      literal.stderr,
      /bulwark\.yaml:3:\d+ server\.apiKeys\.pepper: must be a \$\{file:\/path\} or \$\{env:NAME\} reference/,
    );
    assert.match(literal.stderr, /bulwark\.yaml:4:\d+ server\.apiKeys\.stroe: unknown key/);
    assert.ok(!literal.stderr.includes(PEPPER));

    writeFileSync(configFile, "server:\n  workers: 2\n");
    const missing = await keys(["list", "-c", configFile]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /server\.apiKeys: missing; add server\.apiKeys/);
  });

  test("with -c and an audit section, create, rotate and revoke are admin records that verify", async () => {
    const auditDir = join(dir, "audit-run");
    const configFile = join(dir, "audited.yaml");
    const pair = generateSigningKeyPair();
    writeFileSync(join(dir, "audit.key"), pair.privatePem, { mode: 0o600 });
    writeFileSync(join(dir, "audit.pub"), pair.publicPem);
    writeFileSync(
      configFile,
      [
        "server:",
        "  apiKeys:",
        "    pepper: ${file:pepper}",
        "    store: { type: file, path: audited-keys.json }",
        "audit:",
        "  store: { type: jsonl, dir: audit-run }",
        "  signingKey: audit.key",
        "",
      ].join("\n"),
    );
    const created = await keys(["create", "--name", "audited", "-c", configFile]);
    assert.equal(created.code, 0, created.stderr);
    const id = created.stdout.trim().slice(4, 16);
    assert.equal((await keys(["rotate", id, "-c", configFile])).code, 0);
    assert.equal((await keys(["revoke", id, "-c", configFile])).code, 0);
    assert.equal((await keys(["rotate", "aaaaaaaaaaaa", "-c", configFile])).code, 1);
    const events = readdirSync(auditDir)
      .filter((name) => name.endsWith(".jsonl"))
      .flatMap((name) => readFileSync(join(auditDir, name), "utf8").split("\n").filter(Boolean))
      .map(
        (line) =>
          JSON.parse(line) as { kind: string; action?: string; outcome?: string; resource?: { id: string } },
      )
      .filter((record) => record.kind === "event");
    assert.deepEqual(events.map((event) => [event.action, event.outcome, event.resource?.id]).sort(), [
      ["admin.apikey.create", "success", id],
      ["admin.apikey.revoke", "success", id],
      ["admin.apikey.rotate", "failure", "aaaaaaaaaaaa"],
      ["admin.apikey.rotate", "success", id],
    ]);
    const text = readdirSync(auditDir)
      .map((name) => readFileSync(join(auditDir, name), "utf8"))
      .join("");
    assert.ok(!text.includes(created.stdout.trim()), "the key never reaches the audit trail");
    const verified = await runCli([
      "audit",
      "verify",
      auditDir,
      "--public-key",
      join(dir, "audit.pub"),
      "--strict",
    ]);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
  });

  test("six concurrent creates against one file all land (lock file)", async () => {
    const raceFile = join(dir, "race.json");
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        keys(["create", "--name", `race-${i}`, "--pepper-file", pepperFile, "--file", raceFile]),
      ),
    );
    assert.deepEqual(
      results.map((result) => result.code),
      Array(6).fill(0),
    );
    const listed = JSON.parse((await keys(["list", "--format", "json", "--file", raceFile])).stdout) as {
      name: string;
    }[];
    assert.deepEqual(
      listed.map((row) => row.name).sort(),
      Array.from({ length: 6 }, (_, i) => `race-${i}`),
    );
  });

  describe("shared stores", () => {
    let redis: TestRedis;
    let postgres: TestPostgres;
    before(async () => {
      redis = await startRedis();
      postgres = await startPostgres();
    });
    after(async () => {
      await redis.close();
      await postgres.close();
    });

    test("redis: create, list, revoke with the URL from an env reference; Redis down exits 3", async () => {
      const env = { KEYS_REDIS_URL: redis.url };
      const flags = ["--store", "redis", "--url", "${env:KEYS_REDIS_URL}"];
      const created = await keys(["create", "--name", "r1", "--pepper-file", pepperFile, ...flags], env);
      assert.equal(created.code, 0, created.stderr);
      const id = created.stdout.trim().slice(4, 16);
      const listed = await keys(["list", "--format", "json", ...flags], env);
      assert.deepEqual(
        JSON.parse(listed.stdout).map((row: { id: string }) => row.id),
        [id],
      );
      assert.equal((await keys(["revoke", id, ...flags], env)).code, 0);
      await redis.kill();
      try {
        const down = await keys(["list", ...flags], env);
        assert.equal(down.code, 3);
        assert.equal(down.stdout, "");
        assert.match(
          down.stderr,
          /api key store \(redis\) unreachable: .*; check that it is running and its URL/,
        );
        assert.doesNotMatch(down.stderr, /\n\s+at /);
      } finally {
        await redis.start();
      }
    });

    test("postgres: create, rotate and list; PostgreSQL down exits 3", async () => {
      const url = await postgres.createDatabase("keys_cli");
      const flags = ["--store", "postgres", "--url", "${env:KEYS_PG_URL}", "--table", "cli_keys"];
      const env = { KEYS_PG_URL: url };
      const created = await keys(
        ["create", "--name", "p1", "--scopes", "a", "--pepper-file", pepperFile, ...flags],
        env,
      );
      assert.equal(created.code, 0, created.stderr);
      const id = created.stdout.trim().slice(4, 16);
      const rotated = await keys(["rotate", id, "--pepper-file", pepperFile, ...flags], env);
      assert.equal(rotated.code, 0, rotated.stderr);
      assert.match(rotated.stdout, KEY_LINE);
      const rows = await postgres.query<{ id: string; revision: string }>(
        "select id, revision from cli_keys",
        [],
        "keys_cli",
      );
      assert.deepEqual(
        rows.map((row) => [row.id, Number(row.revision)]),
        [[id, 2]],
      );
      const listed = await keys(["list", ...flags], env);
      assert.match(listed.stdout, new RegExp(`${id}\\s+p1\\s+rotating`));
      await postgres.kill();
      try {
        const down = await keys(["list", ...flags], env);
        assert.equal(down.code, 3);
        assert.match(down.stderr, /api key store \(postgres\) unreachable: ECONNREFUSED/);
        assert.ok(!down.stderr.includes(postgres.password), "no password in the message");
      } finally {
        await postgres.start();
      }
    });
  });
});
