import { describe, expect, it } from 'vitest';
import { Assurance } from '../../../src/assurance/assurance.js';
import { AssuranceStore } from '../../../src/assurance/store.js';
import { supervisionPolicy } from '../../../src/assurance/supervision.js';
import { createIdSource, seededRandom } from '../../../src/model/ids.js';
import { eventFromSignal, VERIFIED } from '../../../src/pipeline/event-builder.js';
import { silentLogger } from '../../../src/ports.js';
import { cid, FakeClock, INSTALLER, MINUTE, SITES } from '../../helpers/assurance-harness.js';

function assuranceOn(store: AssuranceStore, clock: FakeClock) {
  const builder = { ids: createIdSource(clock, seededRandom(11)), sites: () => SITES };
  const assurance = new Assurance({
    store,
    sites: () => SITES,
    clock,
    builder,
    record: async () => ({ ok: true, duplicate: false, events: [] }),
    logger: silentLogger,
    duressDeadlineMs: 10_000,
    supervision: supervisionPolicy(undefined, [], () => SITES),
    centralOutputs: new Set(['central']),
  });
  return { assurance, builder };
}

/**
 * A test press is marked (annotate) and then stored (stored) once the outbox's fsync is done. A window that closes
 * in between (stopped by the installer, or expired by the tick) must stay closed: recording the press must not
 * write the window's old, open state back into assurance.sqlite, where the next start finds it open again.
 */
describe('a test window closed while a test press is being stored', () => {
  for (const how of ['stopped', 'expired'] as const) {
    it(`stays closed after a restart (${how})`, async () => {
      const clock = new FakeClock();
      const store = AssuranceStore.open(':memory:');
      const { assurance, builder } = assuranceOn(store, clock);
      const opened = assurance.startWindow({ site: 'bank-1', minutes: 60, devices: ['zone-5'] }, INSTALLER);
      expect(opened.ok).toBe(true);
      if (how === 'expired') clock.advance(60 * MINUTE - 1_000);

      const press = eventFromSignal(cid('122', 5), { input: 'panel', transport: 'tcp', receivedAt: clock.now(), raw: new Uint8Array([0x31]), trust: VERIFIED }, builder);
      assurance.annotate(press); // the recorder, before the outbox append
      expect(press.test).toBe(true);
      // While the outbox writes the press: the window closes.
      if (how === 'stopped') assurance.stopWindow(opened.ok ? opened.window.id : '', INSTALLER, 'done');
      else {
        clock.advance(2_000);
        assurance.tick();
      }
      expect(assurance.windows.list()).toHaveLength(0);
      assurance.stored([press]); // the bus's frameStored, after the fsync
      await assurance.flush();
      store.flush();

      // Restart on the same ledger.
      const restarted = assuranceOn(store, clock).assurance;
      expect.soft(restarted.windows.list().map((w) => w.id)).toEqual([]);
      // The record keeps how it closed, with the result its closing reported.
      const [record] = store.recentWindows(1);
      expect(record).toMatchObject({ closeReason: how, exercised: [] });
      expect(record!.closedAt).not.toBeNull();
      if (how === 'stopped') {
        // A real hold-up after the window was stopped, within the hour it was first opened for.
        const builder2 = { ids: createIdSource(clock, seededRandom(12)), sites: () => SITES };
        const real = eventFromSignal(cid('122', 5), { input: 'panel', transport: 'tcp', receivedAt: clock.now(), raw: new Uint8Array([0x31]), trust: VERIFIED }, builder2);
        restarted.annotate(real);
        expect(real.test).toBe(false);
      }
    });
  }
});
