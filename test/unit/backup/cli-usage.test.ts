/**
 * Usage errors of `bulwark backup`, `restore`, `drill` and `wal`: each is refused with exit 2
 * and a message that names the problem, before anything connects or writes.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { main } from "../../../src/cli/main.js";
import { ExitCode } from "../../../src/exit-codes.js";

const dir = mkdtempSync(join(tmpdir(), "bulwark-backup-usage-"));
after(() => rmSync(dir, { recursive: true, force: true }));

async function stderrOf(argv: string[]): Promise<{ code: number; text: string }> {
  const write = process.stderr.write.bind(process.stderr);
  let text = "";
  process.stderr.write = ((chunk: string | Uint8Array) => {
    text += chunk.toString();
    return true;
  }) as typeof process.stderr.write;
  try {
    return { code: await main(argv), text };
  } finally {
    process.stderr.write = write;
  }
}

test("bad usage is refused with exit 2 and a specific message", async () => {
  const key = join(dir, "k.key");
  writeFileSync(key, Buffer.alloc(32, 1), { mode: 0o600 });
  const repo = join(dir, "repo");
  const cases: [string[], RegExp][] = [
    [["backup", "--db", "postgres://u@h/d", "--key-file", key], /no repository: pass --repo DIR/],
    [["backup", "--repo", repo, "--db", "postgres://u@h/d"], /no encryption key: pass --key-file FILE/],
    [["backup", "--repo", repo, "--key-file", key, "--compress", "12"], /--compress must be 0\.\.9/],
    [["backup", "--repo", repo, "--key-file", key, "--db", "mysql://h/d"], /must be a postgres:\/\/ URL/],
    [
      ["backup", "--repo", repo, "--key-file", key, "--schedule", "0 2 * *"],
      /--schedule "0 2 \* \*": 4 fields/,
    ],
    [["backup", "--repo", repo, "--key-file", key, "--keep-last", "3"], /retention flags go with --schedule/],
    [["backup", "frobnicate"], /unknown subcommand "frobnicate"/],
    [["backup", "list", "--repo", repo, "--format", "xml"], /--format must be json or text/],
    [["backup", "show", "--repo", repo], /give one backup id/],
    [["backup", "prune", "--repo", repo, "--keep-last", "x"], /--keep-last must be a whole number/],
    [["backup", "keygen"], /needs --out FILE/],
    [["backup", "--nope"], /unknown option '--nope'/],
    [["restore", "latest", "--repo", repo, "--key-file", key], /needs --to URL/],
    [["restore", "--repo", repo, "--to", "postgres://u@h/d"], /give one backup id or latest/],
    [
      ["restore", "latest", "--repo", repo, "--key-file", key, "--to-time", "yesterday", "--data-dir", dir],
      /--to-time expects an ISO 8601 time/,
    ],
    [
      ["restore", "not-an-id", "--repo", repo, "--key-file", key, "--to", "postgres://u@h/d"],
      /is not a backup id/,
    ],
    [["drill"], /expected `bulwark drill restore`/],
    [["drill", "restore", "--repo", repo, "--key-file", key, "--rto", "soon"], /--rto expects a duration/],
    [
      ["drill", "restore", "--repo", repo, "--key-file", key, "--incident-time", "noon"],
      /--incident-time expects an ISO 8601 time/,
    ],
    [["backup", "list", "--repo", "s3://Bad_Bucket/x"], /bucket name must be 3-63 lowercase letters/],
    [["wal", "push", "x", "--repo", "s3:///nobucket", "--key-file", key], /is not a usable S3 repository/],
    [["wal", "archive"], /expected `bulwark wal push PATH`/],
    [
      ["wal", "fetch", "000000010000000000000001", "--repo", repo, "--key-file", key],
      /give the name and destination/,
    ],
  ];
  for (const [argv, pattern] of cases) {
    const { code, text } = await stderrOf(argv);
    assert.equal(code, ExitCode.UsageOrConfig, `${argv.join(" ")}: exit ${code}: ${text}`);
    assert.match(text, pattern, argv.join(" "));
    assert.doesNotMatch(text, /unexpected failure|at .*\.ts:\d+/, "a stack trace or crash");
  }
  // S3 credentials come from the environment or the config, never flags: none set, a clear refusal.
  const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
  process.env.AWS_ACCESS_KEY_ID = "";
  process.env.AWS_SECRET_ACCESS_KEY = "";
  try {
    const none = await stderrOf(["backup", "list", "--repo", "s3://acme-backups/prod"]);
    assert.equal(none.code, ExitCode.UsageOrConfig, none.text);
    assert.match(none.text, /no S3 credentials for s3:\/\/acme-backups\/prod: set AWS_ACCESS_KEY_ID/);
  } finally {
    for (const [name, value] of [
      ["AWS_ACCESS_KEY_ID", saved.id],
      ["AWS_SECRET_ACCESS_KEY", saved.secret],
    ] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
  const key0644 = join(dir, "open.key");
  writeFileSync(key0644, Buffer.alloc(32, 2), { mode: 0o644 });
  const open = await stderrOf(["backup", "--repo", repo, "--key-file", key0644, "--db", "postgres://u@h/d"]);
  assert.equal(open.code, ExitCode.UsageOrConfig);
  assert.match(open.text, /readable by other users .*chmod 600/);
});
