import { z } from 'zod';

/** Durations: how the configuration writes them, how they are read, and how they are written back for people. */

const DURATION_UNITS_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
const DURATION_PATTERN = /^(\d+)\s*(ms|s|m|h|d|w)$/;
const DURATION_HINT = 'a whole number and a unit (ms, s, m, h, d, w), e.g. 90s, 30m, 1d, 7d';

/** `90s`, `30m`, `12h`, `1d`, `7d`, `2w`, `500ms` → milliseconds; anything else → null. */
export function parseDuration(text: string): number | null {
  const match = DURATION_PATTERN.exec(text.trim());
  if (match === null) return null;
  const [, amount, unit] = match;
  const ms = Number(amount) * DURATION_UNITS_MS[unit as keyof typeof DURATION_UNITS_MS];
  return Number.isSafeInteger(ms) ? ms : null;
}

/** A duration written as text in the configuration; parses to milliseconds. */
export const durationSchema = z
  .string({ error: `expected a duration: ${DURATION_HINT}` })
  .transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === null) {
      ctx.issues.push({ code: 'custom', input: text, message: `"${text}" is not a duration: use ${DURATION_HINT}` });
      return z.NEVER;
    }
    return ms;
  });

/** A configured duration back in the configuration's notation: 90s, 30m, 7d (the largest exact unit up to days). */
export function formatDuration(ms: number): string {
  const exact = (['d', 'h', 'm', 's'] as const).find((unit) => ms > 0 && ms % DURATION_UNITS_MS[unit] === 0);
  return exact === undefined ? `${ms}ms` : `${ms / DURATION_UNITS_MS[exact]}${exact}`;
}

/** A measured span for people: whole seconds under an hour, else hours and minutes, else days and hours. */
export function describeSpan(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds < 3600) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 24 * 60) return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
  const hours = Math.floor(minutes / 60);
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}
