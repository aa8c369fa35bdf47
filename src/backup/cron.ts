/**
 * Cron expressions for `bulwark backup --schedule`, in UTC: the five fields of crontab(5)
 * (minute hour day-of-month month day-of-week) or six with seconds first (as node-cron and
 * Quartz), with `*`, lists, ranges, steps, month and weekday names (7 is Sunday too) and the
 * @hourly/@daily/@weekly/@monthly/@yearly macros. As Vixie cron, when both day-of-month and
 * day-of-week are restricted, a day matching either runs.
 */
import { BulwarkError } from "../errors.js";

export interface CronSchedule {
  readonly source: string;
  /** The first matching time strictly after `after` (whole seconds, UTC). */
  next(after: Date): Date;
}

interface Field {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly names?: readonly string[];
}

const SECOND: Field = { name: "second", min: 0, max: 59 };
const MINUTE: Field = { name: "minute", min: 0, max: 59 };
const HOUR: Field = { name: "hour", min: 0, max: 23 };
const DAY: Field = { name: "day of month", min: 1, max: 31 };
const MONTH: Field = {
  name: "month",
  min: 1,
  max: 12,
  names: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
};
const WEEKDAY: Field = {
  name: "day of week",
  min: 0,
  max: 7,
  names: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

const MACROS: Readonly<Record<string, string>> = {
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
  "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@hourly": "0 * * * *",
};

function invalid(source: string, message: string): BulwarkError {
  return new BulwarkError(
    "usage",
    `--schedule ${JSON.stringify(source)}: ${message}; expected five cron fields such as "0 2 * * *" (02:00 UTC daily) or @daily`,
  );
}

function value(text: string, field: Field, source: string): number {
  const named = field.names?.indexOf(text.toLowerCase()) ?? -1;
  if (named >= 0) return named + (field.name === "month" ? 1 : 0);
  if (!/^\d+$/.test(text)) throw invalid(source, `${JSON.stringify(text)} is not a valid ${field.name}`);
  const number = Number(text);
  if (number < field.min || number > field.max) {
    throw invalid(source, `${field.name} ${number} is outside ${field.min}-${field.max}`);
  }
  return number;
}

/** The set of values a field allows, and whether it was `*` (unrestricted). */
function parseField(text: string, field: Field, source: string): { values: Set<number>; any: boolean } {
  const values = new Set<number>();
  for (const part of text.split(",")) {
    const [range, stepText, extra] = part.split("/");
    if (range === undefined || range === "" || extra !== undefined)
      throw invalid(source, `bad ${field.name} ${JSON.stringify(part)}`);
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText) || Number(stepText) === 0)
        throw invalid(source, `bad step ${JSON.stringify(stepText)} in the ${field.name}`);
      step = Number(stepText);
    }
    let low: number;
    let high: number;
    if (range === "*") {
      low = field.min;
      high = field.name === "day of week" ? 6 : field.max;
    } else if (range.includes("-")) {
      const [from, to, more] = range.split("-");
      if (from === undefined || to === undefined || more !== undefined)
        throw invalid(source, `bad range ${JSON.stringify(range)}`);
      low = value(from, field, source);
      high = value(to, field, source);
      if (low > high) throw invalid(source, `range ${JSON.stringify(range)} runs backwards`);
    } else {
      low = value(range, field, source);
      high = stepText === undefined ? low : field.max;
    }
    for (let at = low; at <= high; at += step) values.add(field.name === "day of week" && at === 7 ? 0 : at);
  }
  return { values, any: text === "*" };
}

export function parseCron(source: string): CronSchedule {
  const expanded = MACROS[source.trim().toLowerCase()] ?? source.trim();
  const parts = expanded.split(/\s+/);
  if (parts.length !== 5 && parts.length !== 6) throw invalid(source, `${parts.length} fields`);
  const withSeconds = parts.length === 6 ? parts : ["0", ...parts];
  const [seconds, minutes, hours, days, months, weekdays] = [SECOND, MINUTE, HOUR, DAY, MONTH, WEEKDAY].map(
    (field, index) => parseField(withSeconds[index]!, field, source),
  ) as [
    ReturnType<typeof parseField>,
    ReturnType<typeof parseField>,
    ReturnType<typeof parseField>,
    ReturnType<typeof parseField>,
    ReturnType<typeof parseField>,
    ReturnType<typeof parseField>,
  ];

  const dayMatches = (date: Date): boolean => {
    const dom = days.values.has(date.getUTCDate());
    const dow = weekdays.values.has(date.getUTCDay());
    if (days.any && weekdays.any) return true;
    if (days.any) return dow;
    if (weekdays.any) return dom;
    return dom || dow;
  };

  const schedule: CronSchedule = {
    source,
    next(after) {
      const at = new Date(Math.floor(after.getTime() / 1000) * 1000 + 1000);
      // Each step jumps to the start of the next candidate month, day, hour, minute or second,
      // so even "Feb 29 on a Monday" is found in a few thousand steps.
      for (let steps = 0; steps < 100_000; steps++) {
        if (!months.values.has(at.getUTCMonth() + 1)) {
          at.setUTCMonth(at.getUTCMonth() + 1, 1);
          at.setUTCHours(0, 0, 0, 0);
        } else if (!dayMatches(at)) {
          at.setUTCDate(at.getUTCDate() + 1);
          at.setUTCHours(0, 0, 0, 0);
        } else if (!hours.values.has(at.getUTCHours())) {
          at.setUTCHours(at.getUTCHours() + 1, 0, 0, 0);
        } else if (!minutes.values.has(at.getUTCMinutes())) {
          at.setUTCMinutes(at.getUTCMinutes() + 1, 0, 0);
        } else if (!seconds.values.has(at.getUTCSeconds())) {
          at.setUTCSeconds(at.getUTCSeconds() + 1, 0);
        } else {
          return at;
        }
      }
      throw invalid(source, "it never matches (such as 30 February)");
    },
  };
  schedule.next(new Date(0)); // refuse a schedule that never runs now, not at its first run
  return schedule;
}
