import { describe, expect, it } from 'vitest';
import { wireAssurance } from '../../../adapters/cli/assurance-wiring.js';
import { AssuranceStore } from '../../../src/assurance/store.js';
import { EventBus } from '../../../src/bus.js';
import { createIdSource, seededRandom } from '../../../src/model/ids.js';
import { Counters } from '../../../src/observability/counters.js';
import { MemoryOutbox } from '../../../src/outbox/memory-outbox.js';
import { eventFromSignal, VERIFIED } from '../../../src/pipeline/event-builder.js';
import { Recorder } from '../../../src/pipeline/recorder.js';
import { silentLogger, type OutputAdapter } from '../../../src/ports.js';
import { settingsSchema } from '../../../src/settings/settings.js';
import { cid, FakeClock } from '../../helpers/assurance-harness.js';

const SETTINGS = settingsSchema.parse({
  dataDir: '/not-used',
  duressDeadline: '10s',
  inputs: [],
  outputs: [{ type: 'stdout', name: 'unused' }],
  sites: [{ id: 'bank-1', accounts: ['1234'], zones: [{ number: 5, name: 'Teller 1 hold-up button', type: 'holdup' }] }],
});

describe('the delivery deadline after a restart', () => {
  it('holds a hold-up to it however many events of its account were stored before it', async () => {
    const clock = new FakeClock();
    const outbox = new MemoryOutbox({ clock });
    outbox.registerOutputs(['cms']);
    const builder = { ids: createIdSource(clock, seededRandom(5)), sites: () => SETTINGS.sites };
    const origin = { input: 'panel', transport: 'tcp' as const, receivedAt: clock.now(), raw: new Uint8Array([0x31]), trust: VERIFIED };
    // Before the restart, with the central output down: 1,000 periodic tests of the account, then a hold-up.
    await outbox.append(Array.from({ length: 1_000 }, () => eventFromSignal(cid('602', 0), origin, builder)));
    const holdup = eventFromSignal(cid('122', 5), origin, builder);
    await outbox.append([holdup]);

    const bus = new EventBus({ logger: silentLogger });
    const recorder = new Recorder({ outbox, counters: new Counters(), logger: silentLogger, backlogLimit: 10_000, bus });
    const central = { name: 'cms', audience: 'central' } as OutputAdapter;
    const wiring = wireAssurance(
      { recorder, api: undefined, outputs: [central], outbox, builder, bus },
      SETTINGS,
      { clock, logger: silentLogger, store: AssuranceStore.open(':memory:'), tickMs: 3_600_000 },
    );
    try {
      clock.advance(10_001);
      await wiring.tick();
      expect(wiring.health().undeliveredDuress.map((u) => u.eventId)).toEqual([holdup.id]);
    } finally {
      await wiring.stop();
    }
  });
});
