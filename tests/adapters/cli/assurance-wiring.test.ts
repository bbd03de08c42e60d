import { afterEach, describe, expect, it } from 'vitest';
import { ApiServer } from '../../../adapters/api/server.js';
import { TokenRegistry } from '../../../adapters/api/tokens.js';
import { wireAssurance } from '../../../adapters/cli/assurance-wiring.js';
import { AssuranceStore } from '../../../src/assurance/store.js';
import { EventBus } from '../../../src/bus.js';
import { createIdSource, seededRandom } from '../../../src/model/ids.js';
import { Counters } from '../../../src/observability/counters.js';
import { MemoryOutbox } from '../../../src/outbox/memory-outbox.js';
import { eventFromSignal, VERIFIED } from '../../../src/pipeline/event-builder.js';
import { Recorder } from '../../../src/pipeline/recorder.js';
import { silentLogger, type OutputAdapter } from '../../../src/ports.js';
import { apiSchema, settingsSchema } from '../../../src/settings/settings.js';
import { cid, FakeClock } from '../../helpers/assurance-harness.js';
import { RecordingOutput } from '../../helpers/recording-output.js';

const SETTINGS = settingsSchema.parse({
  dataDir: '/nonexistent-not-used',
  backlogLimit: 5,
  duressDeadline: '10s',
  inputs: [],
  outputs: [{ type: 'stdout', name: 'unused' }],
  sites: [{ id: 'bank-1', accounts: ['1234'], zones: [{ number: 5, name: 'Teller 1 hold-up button', type: 'holdup' }] }],
});
const INSTALLER_TOKEN = 'installer-token-0123456789';

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

describe('wireAssurance', () => {
  it("publishes an installer's test window to central while central is behind by backlogLimit (security.md rule 4)", async () => {
    const clock = new FakeClock();
    const outbox = new MemoryOutbox({ clock });
    outbox.registerOutputs(['cms']);
    const bus = new EventBus({ logger: silentLogger });
    const builder = { ids: createIdSource(clock, seededRandom(3)), sites: () => SETTINGS.sites };
    // As the gateway wires it: the central outputs' backlog counts toward backlogLimit.
    const recorder = new Recorder({ outbox, counters: new Counters(), logger: silentLogger, backlogLimit: SETTINGS.backlogLimit, backlogOutputs: ['cms'], bus });
    const loaded = TokenRegistry.load(apiSchema.parse({ port: 0, tokens: [{ name: 'field-team', role: 'installer', token: INSTALLER_TOKEN }] }), '/nonexistent');
    if (!loaded.ok) throw new Error('tokens');
    const api = new ApiServer({ host: '127.0.0.1', port: 0, logger: silentLogger, tokens: loaded.registry });
    const central = new RecordingOutput('cms', 'central'); // not dispatched: central is down, events wait
    const wiring = wireAssurance({ recorder, api, outputs: [central], outbox, builder, bus }, SETTINGS, {
      clock,
      logger: silentLogger,
      store: AssuranceStore.open(':memory:'),
      tickMs: 3_600_000,
    });
    await api.start();
    stops.push(() => wiring.stop(), () => api.stop());
    // Everyday traffic fills the backlog to its limit: the next panel frame would be refused.
    const origin = { input: 'panel', transport: 'tcp' as const, receivedAt: clock.now(), raw: new Uint8Array([0x31]), trust: VERIFIED };
    for (let i = 0; i < SETTINGS.backlogLimit; i++) expect(await recorder.record([eventFromSignal(cid('401', 4), origin, builder)])).toMatchObject({ ok: true });

    const answer = await fetch(`http://127.0.0.1:${api.address!.port}/test-windows`, {
      method: 'POST',
      headers: { authorization: `Bearer ${INSTALLER_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ site: 'bank-1', minutes: 60, devices: ['zone-5'] }),
    });
    expect(answer.status).toBe(201); // the window is open: the site's events are published as tests from now on
    await wiring.assurance.flush();

    const queued = outbox.pending('cms', 1_000).map((entry) => entry.event);
    expect(queued.filter((event) => event.control?.action === 'test-window-opened')).toHaveLength(1);
  });
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
