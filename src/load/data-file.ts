/**
 * Per-iteration data for scenarios: a CSV file with a header row (RFC 4180 quoting) or a JSON
 * array of objects. Read once when the scenario loads; values are strings.
 */
import { readFileSync } from "node:fs";

export type DataRow = Readonly<Record<string, string>>;

export function parseCsv(text: string): DataRow[] {
  const records: string[][] = [];
  let field = "";
  let record: string[] = [];
  let quoted = false;
  let i = 0;
  const body = text.replace(/^\uFEFF/, "");
  while (i < body.length) {
    const char = body[i]!;
    if (quoted) {
      if (char === '"' && body[i + 1] === '"') {
        field += '"';
        i += 2;
        continue;
      }
      if (char === '"') quoted = false;
      else field += char;
      i++;
      continue;
    }
    if (char === '"' && field === "") quoted = true;
    else if (char === ",") {
      record.push(field);
      field = "";
    } else if (char === "\n" || char === "\r") {
      if (char === "\r" && body[i + 1] === "\n") i++;
      record.push(field);
      records.push(record);
      record = [];
      field = "";
    } else field += char;
    i++;
  }
  if (field !== "" || record.length > 0) {
    record.push(field);
    records.push(record);
  }
  const rows = records.filter((row) => !(row.length === 1 && row[0] === ""));
  const [header, ...rest] = rows;
  if (!header) throw new Error("the CSV file is empty; expected a header row");
  return rest.map((row) => Object.fromEntries(header.map((name, index) => [name.trim(), row[index] ?? ""])));
}

export function parseJsonRows(text: string): DataRow[] {
  const value = JSON.parse(text) as unknown;
  if (!Array.isArray(value)) throw new Error("expected a JSON array of objects");
  return value.map((item, index) => {
    if (item === null || typeof item !== "object" || Array.isArray(item)) {
      throw new Error(`item ${index}: expected an object`);
    }
    return Object.fromEntries(
      Object.entries(item).map(([key, v]) => [key, typeof v === "string" ? v : JSON.stringify(v)]),
    );
  });
}

/** Reads a data file; throws Error with a lowercase reason on failure. */
export function readDataFile(file: string): DataRow[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new Error(`cannot read data file (${(error as NodeJS.ErrnoException).code ?? "unknown error"})`);
  }
  const rows = file.toLowerCase().endsWith(".json") ? parseJsonRows(text) : parseCsv(text);
  if (rows.length === 0) throw new Error("the data file has no rows");
  return rows;
}
