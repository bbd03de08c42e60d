import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CAPACITY_ALARM_MS, CapacityAlarm, REFUSAL_BURST_MS, type LimitReached } from '../../../src/pipeline/capacity-alarm.js';
import { SteppingClock } from '../../helpers/fake-clock.js';

const FULL: LimitReached = { reason: 'maxConnections reached', detail: 'maxConnections (2) reached', transport: 'tcp' };
const EMFILE: LimitReached = { reason: 'could not accept (EMFILE)', detail: 'not accepted (EMFILE)', transport: 'tcp' };

/** An alarm on a clock the test moves, with the supervisory events it raised by their reason. */
function alarm() {
  const clock = new SteppingClock();
  const raised: string[] = [];
  const capacity = new CapacityAlarm<'connections' | 'descriptors'>({ clock, raise: async (reason) => void raised.push(reason) });
  // The burst is timed with setTimeout: the clock and the timers move together.
  const advance = (ms: number) => {
    clock.advance(ms);
    vi.advanceTimersByTime(ms);
  };
  return { clock, raised, capacity, advance };
}

describe('an input at a limit of its capacity', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('is degraded for a minute after the limit was last reached, with what it meant', () => {
    const { capacity, advance } = alarm();
    expect(capacity.lately('connections')).toBeUndefined();
    capacity.reached('connections', FULL);
    advance(CAPACITY_ALARM_MS - 1);
    expect(capacity.lately('connections')).toEqual(FULL);
    expect(capacity.lately('descriptors')).toBeUndefined();
    advance(1);
    expect(capacity.lately('connections')).toBeUndefined();
  });

  it('raises at most one supervisory event a minute, whichever limits are reached and however often', () => {
    const { capacity, raised, advance } = alarm();
    capacity.reached('connections', FULL);
    capacity.reached('descriptors', EMFILE);
    advance(CAPACITY_ALARM_MS - 1);
    capacity.reached('descriptors', EMFILE);
    expect(raised).toEqual([FULL.reason]);
    advance(1);
    capacity.reached('descriptors', EMFILE);
    expect(raised).toEqual([FULL.reason, EMFILE.reason]);
  });

  it('times its minute on the monotonic clock: a wall clock stepped back does not keep it degraded', () => {
    const { clock, capacity, advance } = alarm();
    capacity.reached('connections', FULL);
    clock.step(-3_600_000);
    advance(CAPACITY_ALARM_MS);
    expect(capacity.lately('connections')).toBeUndefined();
  });

  it('forgives connections turned away in a burst that ends: no longer refusing once it is over', () => {
    const { capacity, raised, advance } = alarm();
    let refusing = true;
    capacity.refused('connections', () => refusing, FULL);
    capacity.refused('connections', () => refusing, FULL);
    refusing = false;
    advance(REFUSAL_BURST_MS);
    expect(capacity.lately('connections')).toBeUndefined();
    expect(raised).toEqual([]);
  });

  it('counts the limit reached once it still refuses past the burst, with what the latest refusal meant; then at once', () => {
    const { capacity, raised, advance } = alarm();
    const other = { ...FULL, reason: 'refused from 192.0.2.7' };
    capacity.refused('connections', () => true, FULL);
    advance(REFUSAL_BURST_MS - 1);
    capacity.refused('connections', () => true, other);
    expect(capacity.lately('connections')).toBeUndefined();
    advance(1);
    expect(capacity.lately('connections')).toEqual(other);
    expect(raised).toEqual([other.reason]);
    // Reached lately: a refusal now keeps it degraded without waiting for another burst.
    advance(CAPACITY_ALARM_MS - 1);
    capacity.refused('connections', () => false, FULL);
    advance(CAPACITY_ALARM_MS - 1);
    expect(capacity.lately('connections')).toEqual(FULL);
  });

  it('asks a limit kept on another thread whether it still refuses, and counts it reached on its answer; not once stopped', async () => {
    const { capacity, raised, advance } = alarm();
    let answer!: (refused: boolean) => void;
    capacity.refused('connections', () => new Promise<boolean>((resolve) => (answer = resolve)), FULL);
    advance(REFUSAL_BURST_MS);
    expect(capacity.lately('connections')).toBeUndefined();
    answer(true);
    await Promise.resolve();
    expect(capacity.lately('connections')).toEqual(FULL);
    expect(raised).toEqual([FULL.reason]);
    // An answer that comes after stop raises nothing.
    const later = alarm();
    later.capacity.refused('descriptors', () => new Promise<boolean>((resolve) => (answer = resolve)), EMFILE);
    later.advance(REFUSAL_BURST_MS);
    await later.capacity.stop();
    answer(true);
    await Promise.resolve();
    expect(later.raised).toEqual([]);
  });

  it('stops timing bursts at stop, and waits for the events being stored', async () => {
    const clock = new SteppingClock();
    let stored!: () => void;
    const storing = new Promise<void>((resolve) => (stored = resolve));
    const raised: string[] = [];
    const capacity = new CapacityAlarm<'connections' | 'descriptors'>({ clock, raise: (reason) => (raised.push(reason), storing) });
    capacity.reached('descriptors', EMFILE);
    capacity.refused('connections', () => true, FULL);
    let stopped = false;
    const stopping = capacity.stop().then(() => (stopped = true));
    await Promise.resolve();
    expect(stopped).toBe(false);
    stored();
    await stopping;
    vi.advanceTimersByTime(REFUSAL_BURST_MS);
    expect(raised).toEqual([EMFILE.reason]);
    expect(capacity.lately('connections')).toBeUndefined();
  });
});
