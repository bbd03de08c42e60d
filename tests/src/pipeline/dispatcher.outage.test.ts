import { describe, expect, it, vi } from 'vitest';
import { MemoryOutbox } from '../../../src/outbox/memory-outbox.js';
import { Dispatcher } from '../../../src/pipeline/dispatcher.js';
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
