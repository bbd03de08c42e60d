import { describe, expect, it } from 'vitest';
import { isoTime, isoTimeMs, receivedAtMs } from '../../../src/model/event.js';

describe('receivedAtMs', () => {
  it('parses each event’s own receivedAt, also when consecutive events differ or repeat', () => {
    const times = ['2026-11-28T01:00:00.000Z', '2026-11-28T01:00:00.000Z', '2026-11-28T01:00:00.001Z', '2026-11-28T01:00:00.000Z'];
    expect(times.map((receivedAt) => receivedAtMs({ receivedAt }, -1))).toEqual(times.map((t) => Date.parse(t)));
  });

  it('falls back to the given time when receivedAt does not parse, every time', () => {
    expect(receivedAtMs({ receivedAt: 'not a time' }, 42)).toBe(42);
    expect(receivedAtMs({ receivedAt: 'not a time' }, 43)).toBe(43);
    expect(receivedAtMs({ receivedAt: '2026-11-28T01:00:00.000Z' }, 43)).toBe(Date.parse('2026-11-28T01:00:00.000Z'));
  });
});

describe('isoTime', () => {
  it('writes every time as Date#toISOString does, across second, day and epoch boundaries, in any order', () => {
    const times = [
      Date.parse('2026-06-01T23:59:59.998Z'), Date.parse('2026-06-01T23:59:59.999Z'), Date.parse('2026-06-02T00:00:00.000Z'),
      Date.parse('2026-06-02T00:00:00.001Z'), Date.parse('2026-06-01T23:59:59.500Z'), -1, 0, 999, 1000, -1000, -1001, 1.5, 2.75,
      Date.parse('+010000-01-01T00:00:00.000Z'), Date.parse('+010000-01-01T00:00:00.001Z'),
    ];
    for (let ms = Date.parse('2026-06-01T00:00:00.000Z'); ms < Date.parse('2026-06-01T00:00:03.000Z'); ms += 7) times.push(ms);
    for (const ms of times) expect(isoTime(ms)).toBe(new Date(ms).toISOString());
  });
});

describe('isoTimeMs', () => {
  it('reads every time as Date.parse does, in runs within a second, across boundaries and in other forms', () => {
    const texts = [
      '2026-06-01T23:59:59.998Z', '2026-06-01T23:59:59.999Z', '2026-06-02T00:00:00.000Z', '2026-06-01T23:59:59.500Z',
      '1969-12-31T23:59:59.999Z', '1969-12-31T23:59:59.001Z', '1970-01-01T00:00:00.000Z', '0000-01-01T00:00:00.123Z',
      '+010000-01-01T00:00:00.001Z', '2026-06-01T23:59:59.998+02:00', '2026-06-01T23:59:59Z', '2026-06-01T23:59:59.9Z',
      '2026-06-01T23:59:59.9999Z', '2026-06-01',
    ];
    for (let ms = Date.parse('2026-06-01T00:00:00.000Z'); ms < Date.parse('2026-06-01T00:00:03.000Z'); ms += 7) texts.push(new Date(ms).toISOString());
    for (const text of texts) expect(isoTimeMs(text), text).toBe(Date.parse(text));
  });

  it('gives NaN for what Date.parse refuses, also right after a valid time of the same second', () => {
    for (const text of ['2026-06-01T23:59:59.998Z', '2026-06-01T23:59:59.9x8Z', '2026-06-01T23:59:59.998z', '2026-06-01T23:59:60.000Z', 'not a time', '']) {
      expect(isoTimeMs(text), text).toBe(Date.parse(text));
    }
  });
});
