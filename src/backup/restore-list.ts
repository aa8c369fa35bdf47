/**
 * Splits the post-data part of a pg_restore TOC list (`pg_restore --list --section=post-data`)
 * into two waves for a parallel restore of a split backup:
 *
 * 1. indexes and table constraints (primary keys, unique, exclusion, check): each builds one
 *    object from one table's data and depends on nothing else in post-data, so they run in
 *    several pg_restore processes at once — what pg_restore -j does for them. Each statement
 *    commits alone (no --single-transaction), so a process holds a table's lock only while it
 *    builds that object: two processes wait for each other at most one statement, never deadlock.
 * 2. everything else, in the archive's order, in one process: foreign keys (they need the
 *    referenced keys of wave 1, and two of them can lock the same two tables in opposite
 *    orders), INDEX ATTACH (needs both indexes), triggers, rules, policies, materialized view
 *    data, comments and privileges.
 *
 * Entries keep their relative order: pg_restore reading a non-seekable archive cannot go back.
 * List format: pg_backup_archiver.c, PrintTOCSummary — `ID; CATALOG-OID OID DESC TAG…`, `;`
 * starts a comment.
 */

const ENTRY = /^\d+; \d+ \d+ (.*)$/;

export interface PostDataWaves {
  /** Lists of wave 1 (at most `lists` of them, none empty), each for one pg_restore -L. */
  readonly parallel: readonly string[];
  /** The list of wave 2, or "" when nothing is left. */
  readonly rest: string;
  /** Entries in each wave (for progress lines and tests). */
  readonly counts: { readonly parallel: number; readonly rest: number };
}

function isWaveOne(description: string): boolean {
  if (description.startsWith("INDEX ATTACH ")) return false;
  return description.startsWith("INDEX ") || description.startsWith("CONSTRAINT ");
}

export function postDataWaves(list: string, lists: number): PostDataWaves {
  const first: string[] = [];
  const rest: string[] = [];
  for (const raw of list.split("\n")) {
    const line = raw.trimEnd();
    const match = ENTRY.exec(line);
    if (!match) continue;
    (isWaveOne(match[1]!) ? first : rest).push(line);
  }
  const count = Math.min(Math.max(1, lists), first.length);
  // Round robin keeps each list in archive order.
  const parallel = Array.from({ length: count }, (_, index) =>
    first.filter((_line, position) => position % count === index),
  );
  const text = (lines: readonly string[]) => (lines.length === 0 ? "" : `${lines.join("\n")}\n`);
  return {
    parallel: parallel.map(text),
    rest: text(rest),
    counts: { parallel: first.length, rest: rest.length },
  };
}
