import { describe, expect, it } from 'vitest';
import { receivedAtMs } from '../../../src/model/event.js';

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
