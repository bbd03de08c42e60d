import { describe, expect, it } from 'vitest';
import { pacingDelay, ReplayClock } from '../../../src/replay/clock.js';
import { createIdSource, seededRandom } from '../../../src/model/ids.js';

describe('ReplayClock', () => {
  it('starts at the given time and reads the recorded time of each frame, backwards too', () => {
    const clock = new ReplayClock(1_000);
    expect(clock.now()).toBe(1_000);
    clock.follow(5_000);
    expect(clock.now()).toBe(5_000);
    clock.follow(4_999);
    expect(clock.now()).toBe(4_999);
  });

  it('keeps the previous time for a frame without one (plain-log line)', () => {
    const clock = new ReplayClock(0);
    clock.follow(7_000);
    clock.follow(null);
    expect(clock.now()).toBe(7_000);
  });

  it('gives the same ids on every replay when the random source is seeded', () => {
    const idsOf = () => {
      const clock = new ReplayClock(0);
      const ids = createIdSource(clock, seededRandom(42));
      return [1_700_000_000_000, 1_700_000_000_000, 1_700_000_000_500].map((t) => (clock.follow(t), ids.next()));
    };
    const first = idsOf();
    expect(idsOf()).toEqual(first);
    expect(new Set(first).size).toBe(3);
    // The id's time prefix is the recorded time (UUIDv7: 48-bit milliseconds).
    expect(parseInt(first[2]!.replace(/-/g, '').slice(0, 12), 16)).toBe(1_700_000_000_500);
  });
});

describe('pacingDelay', () => {
  it('divides the recorded gap by the speed', () => {
    expect(pacingDelay(10_000, 12_000, { speed: 1 })).toBe(2_000);
    expect(pacingDelay(10_000, 12_000, { speed: 100 })).toBe(20);
    expect(pacingDelay(0, 86_400_000, { speed: 100 })).toBe(864_000);
  });

  it('never waits with --fast, for the first frame, for a frame without a time, or for a time going back', () => {
    expect(pacingDelay(10_000, 12_000, 'fast')).toBe(0);
    expect(pacingDelay(null, 12_000, { speed: 1 })).toBe(0);
    expect(pacingDelay(10_000, null, { speed: 1 })).toBe(0);
    expect(pacingDelay(12_000, 10_000, { speed: 1 })).toBe(0);
  });
});
