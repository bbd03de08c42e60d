import { describe, expect, it } from 'vitest';
import { isoTime, receivedAtMs } from '../../../src/model/event.js';

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
