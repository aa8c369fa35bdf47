import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { loadBackupSection, retentionFrom } from "../../../src/backup/config.js";
import { childEnv, resolveDbTarget } from "../../../src/backup/connection.js";
import { ConfigError } from "../../../src/config/config-error.js";
import { parseDuration } from "../../../src/config/units.js";
import type { BulwarkError } from "../../../src/errors.js";

const dir = mkdtempSync(join(tmpdir(), "bulwark-backup-config-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

describe("backup config section", () => {
  it("reads settings, resolves references and makes paths relative to the file", () => {
    write("pass", "s3cret value\n");
    const file = write(
      "ok.yaml",
      "backup:\n  db: postgres://app@db:5432/app\n  password: ${file:pass}\n  repo: ./repo\n  keyFile: keys/backup.key\n  retention: { keepLast: 7, maxAge: 30d }\n  drill: { rto: 4h, rpo: 24h, assertions: ['select true'] }\n",
    );
    const section = loadBackupSection(file, {});
    assert.equal(section.password, "s3cret value");
    assert.equal(section.repo, join(dir, "repo"));
    assert.equal(section.keyFile, join(dir, "keys/backup.key"));
    assert.deepEqual(section.retention, { keepLast: 7, maxAge: 30 * 86_400_000 });
    assert.deepEqual(section.drill, { rto: 4 * 3_600_000, rpo: 24 * 3_600_000, assertions: ["select true"] });
    const policy = retentionFrom(section, { keepLast: "3" });
    assert.deepEqual(policy, {
      keepLast: 3,
      keepDaily: undefined,
      keepWeekly: undefined,
      keepMonthly: undefined,
      maxAgeMs: 30 * 86_400_000,
    });
  });

  it("reports every problem at once with file:line:column, and refuses a password in clear", () => {
    const file = write(
      "bad.yaml",
      "backup:\n  db: postgres://app:hunter3@db/app\n  password: hunter2\n  compression: 12\n  retention:\n    keepLast: -1\n    maxAge: forever\n  unknownKey: 1\n  passphrase: ${env:NO_SUCH_VARIABLE}\n",
    );
    try {
      loadBackupSection(file, {});
      assert.fail("accepted a bad config");
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      const lines = error.details.join("\n");
      assert.match(
        lines,
        /bad\.yaml:3:\d+ backup\.password: must be a \$\{file:\/path\} or \$\{env:NAME\} reference/,
      );
      assert.match(lines, /bad\.yaml:4:\d+ backup\.compression:/);
      assert.match(lines, /bad\.yaml:6:\d+ backup\.retention\.keepLast:/);
      assert.match(lines, /bad\.yaml:7:\d+ backup\.retention\.maxAge: expected a duration/);
      assert.match(lines, /bad\.yaml:2:\d+ backup\.db: holds a password in clear/);
      assert.match(lines, /unknownKey/);
      assert.match(lines, /NO_SUCH_VARIABLE\} is not set/);
      assert.ok(!lines.includes("hunter2") && !lines.includes("hunter3"), "a secret value was printed");
    }
  });

  it("fails clearly on a missing file, a missing section and YAML syntax errors", () => {
    assert.throws(
      () => loadBackupSection(join(dir, "none.yaml")),
      (error: BulwarkError) => error.code === "config_unreadable",
    );
    assert.throws(
      () => loadBackupSection(write("empty.yaml", "listeners: []\n")),
      (error: ConfigError) => /no `backup:` section/.test(error.details[0]!),
    );
    assert.throws(
      () => loadBackupSection(write("syntax.yaml", "backup: [\n")),
      (error: BulwarkError) => error.code === "config_invalid",
    );
  });

  it("reads an S3 repository with its settings; S3 secrets must be references", () => {
    write("s3-secret", "wJalrXUtnFEMI/K7MDENG\n");
    const file = write(
      "s3.yaml",
      "backup:\n  repo: s3://acme-backups/prod\n  s3:\n    endpoint: https://minio.internal:9000\n    region: eu-west-1\n    accessKeyId: AKIAEXAMPLE\n    secretAccessKey: ${file:s3-secret}\n    partSizeMiB: 64\n",
    );
    const section = loadBackupSection(file, {});
    assert.equal(section.repo, "s3://acme-backups/prod", "an s3:// repo is not a path relative to the file");
    assert.deepEqual(section.s3, {
      endpoint: "https://minio.internal:9000",
      region: "eu-west-1",
      accessKeyId: "AKIAEXAMPLE",
      secretAccessKey: "wJalrXUtnFEMI/K7MDENG",
      partSizeMiB: 64,
    });
    const bad = write(
      "s3-bad.yaml",
      "backup:\n  repo: s3://acme-backups/prod\n  s3:\n    endpoint: minio:9000/x\n    secretAccessKey: wJalrXUtnFEMI-in-clear\n    sessionToken: tok-in-clear\n    forcePathStyle: maybe\n    partSizeMiB: 2\n  password: hunter2\n",
    );
    try {
      loadBackupSection(bad, {});
      assert.fail("accepted a bad S3 section");
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      const lines = error.details.join("\n");
      assert.match(lines, /s3-bad\.yaml:4:\d+ backup\.s3\.endpoint: expected an http:\/\/ or https:\/\/ URL/);
      assert.match(lines, /s3-bad\.yaml:5:\d+ backup\.s3\.secretAccessKey: must be a \$\{file:\/path\}/);
      assert.match(lines, /s3-bad\.yaml:6:\d+ backup\.s3\.sessionToken: must be a \$\{file:\/path\}/);
      assert.match(lines, /s3-bad\.yaml:7:\d+ backup\.s3\.forcePathStyle:/);
      assert.match(lines, /s3-bad\.yaml:8:\d+ backup\.s3\.partSizeMiB:/);
      assert.match(lines, /s3-bad\.yaml:9:\d+ backup\.password: must be a/);
      for (const secret of ["wJalrXUtnFEMI-in-clear", "tok-in-clear", "hunter2"])
        assert.ok(!lines.includes(secret), `${secret} was printed`);
    }
  });

  it("parses durations with days and weeks", () => {
    assert.equal(parseDuration("30d"), 30 * 86_400_000);
    assert.equal(parseDuration("2w"), 14 * 86_400_000);
    assert.equal(parseDuration("90m"), 5_400_000);
    assert.equal(parseDuration("soon"), undefined);
  });
});

describe("database target", () => {
  it("keeps the password out of the display and gives the child every parameter as PG* variables", () => {
    const target = resolveDbTarget("postgres://app:p%40ss@db.internal:6543/sales?sslmode=require", {
      env: {},
    });
    assert.equal(target.display, "postgres://app@db.internal:6543/sales");
    assert.equal(target.password, "p@ss");
    const env = childEnv(target, {
      PATH: "/bin",
      PGHOST: "elsewhere",
      PGPASSFILE: "/x/.pgpass",
      DATABASE_URL: "postgres://x",
    });
    assert.deepEqual(
      {
        host: env.PGHOST,
        port: env.PGPORT,
        user: env.PGUSER,
        db: env.PGDATABASE,
        pw: env.PGPASSWORD,
        ssl: env.PGSSLMODE,
        passfile: env.PGPASSFILE,
        url: env.DATABASE_URL,
        path: env.PATH,
      },
      {
        host: "db.internal",
        port: "6543",
        user: "app",
        db: "sales",
        pw: "p@ss",
        ssl: "require",
        passfile: "/x/.pgpass",
        url: undefined,
        path: "/bin",
      },
    );
  });

  it("falls back to DATABASE_URL, then PG* variables; a config password wins", () => {
    assert.equal(
      resolveDbTarget(undefined, { env: { DATABASE_URL: "postgres://u@h/d" } }).display,
      "postgres://u@h:5432/d",
    );
    const fromPg = resolveDbTarget(undefined, {
      env: { PGHOST: "pg", PGUSER: "me", PGPASSWORD: "x" },
      password: "y",
    });
    assert.equal(fromPg.display, "postgres://me@pg:5432/me");
    assert.equal(fromPg.password, "y");
  });

  it("refuses what it cannot use, with the flag named", () => {
    for (const [url, pattern] of [
      ["not a url", /--db is not a valid URL/],
      ["mysql://h/d", /must be a postgres:\/\/ URL/],
      ["postgres://h/d?options=-c%20x", /unsupported URL parameter "options"/],
    ] as const) {
      assert.throws(
        () => resolveDbTarget(url, { env: {} }),
        (error: BulwarkError) => error.code === "usage" && pattern.test(error.message),
      );
    }
  });
});
