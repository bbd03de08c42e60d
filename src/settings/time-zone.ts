import { WEEKDAYS, type Weekday } from './sites.js';

/** A wall-clock date and time in some time zone. */
export interface LocalTime {
  year: number;
  month: number;
  day: number;
  weekday: Weekday;
  /** Minutes after local midnight. */
  minutes: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let format = formatters.get(timeZone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, format);
  }
  return format;
}

function partsOf(ms: number, timeZone: string): Record<string, number> {
  const parts: Record<string, number> = {};
  for (const part of formatter(timeZone).formatToParts(ms)) if (part.type !== 'literal') parts[part.type] = Number(part.value);
  return parts;
}

/** The wall clock in `timeZone` at instant `ms`. */
export function localTime(ms: number, timeZone: string): LocalTime {
  const p = partsOf(ms, timeZone);
  const weekday = WEEKDAYS[new Date(Date.UTC(p.year!, p.month! - 1, p.day!)).getUTCDay()]!;
  return { year: p.year!, month: p.month!, day: p.day!, weekday, minutes: p.hour! * 60 + p.minute! };
}

/** How far `timeZone`'s wall clock is ahead of UTC at instant `ms`. */
function offsetMs(ms: number, timeZone: string): number {
  const p = partsOf(ms, timeZone);
  return Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!) - Math.floor(ms / 1000) * 1000;
}

const DAY_MS = 86_400_000;

/** The first instant at which `timeZone`'s offset is no longer the one it has at `before` (at most `after`), to the second. */
function changeBetween(before: number, after: number, timeZone: string): number {
  const offset = offsetMs(before, timeZone);
  let [low, high] = [before, after];
  while (high - low > 1_000) {
    const middle = low + Math.floor((high - low) / 2_000) * 1_000;
    if (offsetMs(middle, timeZone) === offset) low = middle;
    else high = middle;
  }
  return high;
}

/**
 * The instants at which `timeZone`'s wall clock reaches a time (month 1-12, minutes after midnight; the day may
 * overflow), earliest first: usually one; two on the night the clocks go back over it; where they go forward past
 * it, the instant they jump.
 */
export function zonedInstants(year: number, month: number, day: number, minutes: number, timeZone: string): number[] {
  const wall = Date.UTC(year, month - 1, day, 0, minutes);
  // The offsets a day either side: they differ when a DST change falls in between.
  const [before, after] = [offsetMs(wall - DAY_MS, timeZone), offsetMs(wall + DAY_MS, timeZone)];
  const reading = [...new Set([wall - before, wall - after])].filter((at) => at + offsetMs(at, timeZone) === wall);
  return reading.length > 0 ? reading.sort((a, b) => a - b) : [changeBetween(wall - after, wall - before, timeZone)];
}

/** The first instant at which `timeZone`'s wall clock reaches a time (see zonedInstants). */
export function zonedInstant(year: number, month: number, day: number, minutes: number, timeZone: string): number {
  return zonedInstants(year, month, day, minutes, timeZone)[0]!;
}

/** `YYYY-MM-DD` of a local date. */
export function localDate(time: Pick<LocalTime, 'year' | 'month' | 'day'>): string {
  return `${time.year}-${String(time.month).padStart(2, '0')}-${String(time.day).padStart(2, '0')}`;
}
