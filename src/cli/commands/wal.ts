/**
 * `bulwark wal push PATH` (archive_command) and `bulwark wal fetch NAME DEST` (restore_command):
 * WAL archiving into the encrypted repository for point-in-time recovery. Wiring only: the logic
 * is in src/backup/wal-archive.ts.
 */
import { backupSection, loadKeys, repositoryFrom } from "../../backup/config.js";
import { fetchWal, pushWal } from "../../backup/wal-archive.js";
import { BulwarkError } from "../../errors.js";
import { ExitCode } from "../../exit-codes.js";
import { type Command, parseFlags, say } from "../command.js";

const HELP = `usage: bulwark wal push PATH --repo DIR --key-file FILE [-c FILE]
       bulwark wal fetch NAME DEST --repo DIR --key-file FILE [-c FILE]

WAL archiving for point-in-time recovery (docs/disaster-recovery.md). In postgresql.conf:

  archive_mode = on
  archive_command = 'bulwark wal push %p --repo /var/backups/bulwark --key-file /etc/bulwark/backup.key'

push encrypts the WAL file into <repo>/wal/ (the same key and format as backups); archiving the
same content again succeeds, different content under an archived name is refused. fetch is the
restore_command \`bulwark restore --data-dir\` writes; it exits 1 when the file is not archived,
which is how recovery finds the end of the archive.

  --repo DIR|s3://BUCKET/PREFIX, --key-file FILE, -c FILE
                                          as for \`bulwark backup\` (the server's user must be able
                                          to read the key and write the repository)
  --key-file NEW --key-file OLD           during a key rotation (\`bulwark backup rekey\`): push
                                          encrypts with the first; push and fetch read each
                                          archived file with the key it names

exit codes: 0 archived / fetched, 1 fetch: not in the archive, 2 usage error, 3 failure.`;

export const walCommand: Command = {
  name: "wal",
  help: HELP,
  async run(argv) {
    const [action, ...rest] = argv;
    if (action !== "push" && action !== "fetch") {
      throw new BulwarkError(
        "usage",
        `expected \`bulwark wal push PATH\` or \`bulwark wal fetch NAME DEST\`; see \`bulwark wal --help\``,
      );
    }
    const { values, positionals } = parseFlags(
      "wal",
      rest,
      {
        config: { type: "string", short: "c" },
        repo: { type: "string" },
        "key-file": { type: "string", multiple: true },
        help: { type: "boolean", short: "h" },
      },
      true,
    );
    const expected = action === "push" ? 1 : 2;
    if (positionals.length !== expected) {
      throw new BulwarkError(
        "usage",
        action === "push"
          ? "give the WAL file: bulwark wal push %p"
          : "give the name and destination: bulwark wal fetch %f %p",
      );
    }
    const section = backupSection(values.config);
    const repo = repositoryFrom(values.repo, section, "wal").store;
    // Several --key-file during a key rotation (`bulwark backup rekey`): the first encrypts what
    // push stores; each archived file is read with the key it names.
    const key = await loadKeys(values["key-file"], section, "wal");
    if (action === "push") {
      await pushWal(repo, key, positionals[0]!);
      return ExitCode.Ok;
    }
    const found = await fetchWal(repo, key, positionals[0]!, positionals[1]!);
    if (!found) {
      say(`bulwark wal fetch: ${positionals[0]} is not in the archive`);
      return ExitCode.Failed;
    }
    return ExitCode.Ok;
  },
};
