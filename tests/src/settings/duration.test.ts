import { describe, expect, it } from 'vitest';
import { durationSchema, formatDuration, parseDuration } from '../../../src/settings/duration.js';

const DAY = 86_400_000;

describe('parseDuration', () => {
  it.each([
    ['90s', 90_000],
    ['30m', 1_800_000],
    ['12h', 43_200_000],
    ['1d', DAY],
    ['7d', 7 * DAY],
    ['2w', 14 * DAY],
    ['500ms', 500],
    [' 5 m ', 300_000],
    ['0s', 0],
  ])('%j → %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '10', '1.5h', '-1s', 'h', '1y', '1d2h', 'one day', '99999999999999999999d'])('%j is not a duration', (text) => {
    expect(parseDuration(text)).toBeNull();
  });
});

describe('formatDuration', () => {
  it('writes a duration back in the largest exact unit up to days, which parseDuration reads again', () => {
    for (const [ms, text] of [[90_000, '90s'], [1_800_000, '30m'], [7 * 86_400_000, '7d'], [1_500, '1500ms'], [0, '0ms']] as const) {
      expect(formatDuration(ms)).toBe(text);
      expect(parseDuration(text)).toBe(ms);
    }
  });
});

describe('durationSchema', () => {
  it('parses text to milliseconds', () => {
    expect(durationSchema.parse('30m')).toBe(1_800_000);
  });

  it('explains what a duration looks like', () => {
    const text = durationSchema.safeParse('1 day');
    expect(text.success).toBe(false);
    expect(text.error?.issues[0]?.message).toMatch(/"1 day" is not a duration: use a whole number and a unit.*90s/);
    const number = durationSchema.safeParse(60);
    expect(number.error?.issues[0]?.message).toMatch(/expected a duration/);
  });
});
