import { describe, expect, it, vi } from 'vitest';
import { backoffDelay } from '../../../src/backoff.js';
import { MemoryOutbox } from '../../../src/outbox/memory-outbox.js';
import { DEFAULT_BACKOFF, Dispatcher } from '../../../src/pipeline/dispatcher.js';
import { silentLogger, type DeliveryResult, type OutputAdapter } from '../../../src/ports.js';
import { testEvent } from '../../helpers/output-events.js';
import type { NormalizedEvent } from '../../../src/model/event.js';

/**
 * During an outage the inputs must keep storing and ACKing: the dispatcher must not rescan the backlog on every
 * append, and must not read entries of accounts that wait out a retry.
 */
describe('dispatcher during an output outage', () => {
  it('waits for its retry timer instead of scanning on every append, then delivers everything', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    try {
      let up = false;
      const delivered: string[] = [];
      const output: OutputAdapter<NormalizedEvent> = {
        name: 'broker',
        kind: 'test',
        audience: 'central',
        start: async () => {},
        stop: async () => {},
        health: () => ({ state: up ? 'up' : 'down' }),
        deliver: async (event): Promise<DeliveryResult> => {
          if (!up) return { ok: false, retryable: true, error: 'broker down' };
          delivered.push(event.id);
          return { ok: true };
        },
      };
      const outbox = new MemoryOutbox();
      const pending = vi.spyOn(outbox, 'pending');
      const dispatcher = new Dispatcher({ outbox, outputs: [output], clock: { now: () => Date.now() }, logger: silentLogger, random: () => 0.5 });
      dispatcher.start();
      await outbox.append([testEvent({ account: '1000' })]);
      await vi.advanceTimersByTimeAsync(10);
      const scansBefore = pending.mock.calls.length;

      for (let i = 0; i < 200; i++) {
        await outbox.append([testEvent({ account: String(2000 + i) })]);
        await new Promise((resolve) => setImmediate(resolve));
      }

      expect(pending.mock.calls.length - scansBefore).toBeLessThan(5);

      up = true;
      await vi.advanceTimersByTimeAsync(61_000);
      for (let turn = 0; turn < 100 && delivered.length < 201; turn++) await new Promise((resolve) => setImmediate(resolve));
      expect(delivered).toHaveLength(201);
      await dispatcher.stop();
    } finally {
      vi.useRealTimers();
    }
  });

  it('skips the entries of waiting accounts without reading them', async () => {
    const outbox = new MemoryOutbox();
    outbox.registerOutputs(['o']);
    await outbox.append([testEvent({ account: 'A' }), testEvent({ account: 'B' }), testEvent({ account: 'A' })]);
    const picked = outbox.pending('o', 10, undefined, new Set(['A'])).map((e) => e.event.account);
    expect(picked).toEqual(['B']);
  });
});

/** Moves fake time on in 100 ms steps, letting the dispatcher's scans (real setImmediate) run in between. */
async function advance(ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 100) {
    await vi.advanceTimersByTimeAsync(100);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** An output whose `deliver` the test decides; one delivery at a time by default, like the DC-09 output. */
function scriptedOutput(deliver: OutputAdapter<NormalizedEvent>['deliver'], maxInFlight = 1): OutputAdapter<NormalizedEvent> {
  return { name: 'arc', kind: 'test', audience: 'central', maxInFlight, start: async () => {}, stop: async () => {}, health: () => ({ state: 'up' }), deliver };
}

describe('dispatcher when an output comes back', () => {
  it('sends a pending duress first, not behind the backoff timers of the accounts that failed before it', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    try {
      let up = false;
      const delivered: Array<{ category: string }> = [];
      const output = scriptedOutput(async (event) => {
        if (!up) return { ok: false, retryable: true, error: 'receiver down' };
        delivered.push({ category: event.category });
        return { ok: true };
      });
      let seed = 7; // deterministic jitter, so the timers of the 30 accounts fall apart as in real outages
      const random = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
      const outbox = new MemoryOutbox();
      const dispatcher = new Dispatcher({ outbox, outputs: [output], clock: { now: () => Date.now() }, logger: silentLogger, random });
      dispatcher.start();
      for (let i = 0; i < 30; i++) await outbox.append([testEvent({ account: String(1000 + i), category: 'burglary' })]);
      await advance(5 * 60_000);
      await outbox.append([testEvent({ account: '9999', category: 'duress' })]);
      await advance(5 * 60_000); // every account, the duress's too, now waits up to a minute between tries

      up = true;
      await advance(90_000);
      expect(delivered).toHaveLength(31);
      // The first delivery is whichever retry timer fired first: it proves the output up, and the duress goes next.
      expect(delivered.findIndex((d) => d.category === 'duress')).toBeLessThanOrEqual(1);
      await dispatcher.stop();
    } finally {
      vi.useRealTimers();
    }
  });

  it('retries accounts that keep failing beside healthy ones at most twice per backoff, however often others succeed', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    try {
      let refusedAttempts = 0;
      // Deliveries overlap (20 ms each, up to 16 at once), so healthy ones keep succeeding right after refused ones
      // failed: were every such success to release the refused accounts, they would be retried at its pace.
      const output = scriptedOutput(async (event) => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        if (!event.account!.startsWith('REFUSED')) return { ok: true };
        refusedAttempts++;
        return { ok: false, retryable: true, error: 'HTTP 503' };
      }, 16);
      const outbox = new MemoryOutbox();
      const dispatcher = new Dispatcher({ outbox, outputs: [output], clock: { now: () => Date.now() }, logger: silentLogger, random: () => 0.5 });
      dispatcher.start();
      await outbox.append([testEvent({ account: 'REFUSED-1' }), testEvent({ account: 'REFUSED-2' })]);
      const minutes = 5;
      for (let second = 0; second < minutes * 60; second++) {
        await outbox.append(Array.from({ length: 10 }, (_, i) => testEvent({ account: `HEALTHY-${i}` })));
        await advance(1_000);
      }

      // What one account gets from its own retry timers alone: the first try and one retry per backoff.
      let timerOnlyAttempts = 1;
      for (let at = 0, attempt = 1; (at += backoffDelay(DEFAULT_BACKOFF, attempt, () => 0.5)) <= minutes * 60_000; attempt++) timerOnlyAttempts++;
      expect(refusedAttempts).toBeGreaterThan(2);
      expect(refusedAttempts).toBeLessThanOrEqual(2 * 2 * timerOnlyAttempts);
      await dispatcher.stop();
    } finally {
      vi.useRealTimers();
    }
  });

  it('sends a pending duress at once when the output says it recovered, before any retry timer fires', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    try {
      let up = false;
      const delivered: string[] = [];
      const recovered = new Set<() => void>();
      const output: OutputAdapter<NormalizedEvent> = {
        ...scriptedOutput(async (event) => {
          if (!up) return { ok: false, retryable: true, error: 'no PUBACK within 30000 ms' };
          delivered.push(event.category);
          return { ok: true };
        }, 16),
        onRecovered: (listener) => {
          recovered.add(listener);
          return () => recovered.delete(listener);
        },
      };
      const outbox = new MemoryOutbox();
      const dispatcher = new Dispatcher({ outbox, outputs: [output], clock: { now: () => Date.now() }, logger: silentLogger, random: () => 0.5, backoff: { initialMs: 60_000, maxMs: 60_000 } });
      dispatcher.start();
      await outbox.append([...Array.from({ length: 5 }, (_, i) => testEvent({ account: String(1000 + i) })), testEvent({ account: '9999', category: 'duress' })]);
      await advance(1_000); // every entry failed once and waits a minute

      up = true;
      for (const listener of recovered) listener();
      await advance(500);
      expect(delivered[0], `delivered: ${delivered.join()}`).toBe('duress');
      expect(delivered).toHaveLength(6);
      await dispatcher.stop();
      expect(recovered.size, 'the dispatcher stopped listening').toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('retries at most twice per backoff on an output that says it recovered and fails again, however often', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    try {
      let attempts = 0;
      const recovered = new Set<() => void>();
      const output: OutputAdapter<NormalizedEvent> = {
        ...scriptedOutput(async () => {
          attempts++;
          return { ok: false, retryable: true, error: 'no PUBACK within 30000 ms' };
        }),
        onRecovered: (listener) => {
          recovered.add(listener);
          return () => recovered.delete(listener);
        },
      };
      const outbox = new MemoryOutbox();
      const dispatcher = new Dispatcher({ outbox, outputs: [output], clock: { now: () => Date.now() }, logger: silentLogger, random: () => 0.5 });
      dispatcher.start();
      await outbox.append([testEvent({ account: '9999', category: 'duress' })]);
      const minutes = 5;
      for (let step = 0; step < minutes * 60 * 5; step++) {
        for (const listener of recovered) listener();
        await advance(200);
      }
      let timerOnlyAttempts = 1;
      for (let at = 0, attempt = 1; (at += backoffDelay(DEFAULT_BACKOFF, attempt, () => 0.5)) <= minutes * 60_000; attempt++) timerOnlyAttempts++;
      expect(attempts).toBeGreaterThan(2);
      expect(attempts).toBeLessThanOrEqual(2 * timerOnlyAttempts);
      await dispatcher.stop();
    } finally {
      vi.useRealTimers();
    }
  });
});
