import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { parseXmlDateTime } from '../../../src/codecs/date-time.js';

const two = (n: number): string => String(n).padStart(2, '0');
/** Fields in and out of range: month 13, day 31 of a short month, hour 24 and second 60 must be refused. */
const fields = fc.record({
  year: fc.integer({ min: 100, max: 9998 }),
  month: fc.integer({ min: 0, max: 13 }),
  day: fc.integer({ min: 0, max: 32 }),
  hour: fc.integer({ min: 0, max: 24 }),
  minute: fc.integer({ min: 0, max: 60 }),
  second: fc.integer({ min: 0, max: 60 }),
  fraction: fc.option(fc.stringMatching(/^\d{1,9}$/), { nil: undefined }),
  zone: fc.constantFrom('', 'Z', '+00:00', '+05:30', '-03:30', '+14:00', '-12:00'),
});

describe('parseXmlDateTime', () => {
  test.prop([fc.oneof(fc.string(), fc.string({ unit: 'binary' }))], { numRuns: 500 })('never throws on any text, and gives a real instant or null', (text) => {
    const ms = parseXmlDateTime(text);
    if (ms !== null) expect(new Date(ms).toISOString()).toMatch(/T/);
  });

  test.prop([fields], { numRuns: 1_000 })('reads a real date and time as Date.parse reads it with its offset (UTC without one), anything else as null', (f) => {
    const text = `${String(f.year).padStart(4, '0')}-${two(f.month)}-${two(f.day)}T${two(f.hour)}:${two(f.minute)}:${two(f.second)}${f.fraction === undefined ? '' : `.${f.fraction}`}${f.zone}`;
    const real = f.month >= 1 && f.month <= 12 && f.day >= 1 && f.day <= new Date(Date.UTC(f.year, f.month, 0)).getUTCDate() && f.hour < 24 && f.minute < 60 && f.second < 60;
    const reference = `${text.replace(/\.(\d{1,3})\d*/, '.$1')}${f.zone === '' ? 'Z' : ''}`;
    expect(parseXmlDateTime(text)).toBe(real ? Date.parse(reference) : null);
  });
});
