import { afterEach, describe, expect, it } from 'vitest';
import { ApiServer } from '../../../adapters/api/server.js';
import { TokenRegistry } from '../../../adapters/api/tokens.js';
import { wireAssurance } from '../../../adapters/cli/assurance-wiring.js';
import { AssuranceStore } from '../../../src/assurance/store.js';
import { EventBus } from '../../../src/bus.js';
import { createIdSource, seededRandom } from '../../../src/model/ids.js';
import { Counters } from '../../../src/observability/counters.js';
import { MemoryOutbox } from '../../../src/outbox/memory-outbox.js';
import { eventFromSignal, VERIFIED, type EventBuilderDeps } from '../../../src/pipeline/event-builder.js';
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
  const origin = (clock: FakeClock) => ({ input: 'panel', transport: 'tcp' as const, receivedAt: clock.now(), raw: new Uint8Array([0x31]), trust: VERIFIED });

  /** The gateway (re)started on `outbox`, with these central outputs. */
  function start(outbox: MemoryOutbox, clock: FakeClock, builder: EventBuilderDeps, centralOutputs: readonly string[]) {
    const bus = new EventBus({ logger: silentLogger });
    const recorder = new Recorder({ outbox, counters: new Counters(), logger: silentLogger, backlogLimit: 10_000, bus });
    const outputs = centralOutputs.map((name) => ({ name, audience: 'central' }) as OutputAdapter);
    const wiring = wireAssurance({ recorder, api: undefined, outputs, outbox, builder, bus }, SETTINGS, {
      clock,
      logger: silentLogger,
      store: AssuranceStore.open(':memory:'),
      tickMs: 3_600_000,
    });
    stops.push(() => wiring.stop());
    return { wiring, recorder };
  }

  /** A fresh outbox with the central outputs registered, and the event ids it will build. */
  function outboxOf(centralOutputs: readonly string[]) {
    const clock = new FakeClock();
    const outbox = new MemoryOutbox({ clock });
    outbox.registerOutputs(centralOutputs);
    return { clock, outbox, builder: { ids: createIdSource(clock, seededRandom(5)), sites: () => SETTINGS.sites } };
  }

  /** The undelivered duress the gateway reports once the deadline has passed. */
  async function reportedPastDeadline(wiring: ReturnType<typeof start>['wiring'], clock: FakeClock): Promise<string[]> {
    clock.advance(10_001);
    await wiring.tick();
    return wiring.health().undeliveredDuress.map((u) => u.eventId);
  }

  it('holds a hold-up to it however many events of its account were stored before it', async () => {
    const { clock, outbox, builder } = outboxOf(['cms']);
    // Before the restart, with the central output down: 1,000 periodic tests of the account, then a hold-up.
    await outbox.append(Array.from({ length: 1_000 }, () => eventFromSignal(cid('602', 0), origin(clock), builder)));
    const holdup = eventFromSignal(cid('122', 5), origin(clock), builder);
    await outbox.append([holdup]);

    const { wiring } = start(outbox, clock, builder, ['cms']);
    expect(await reportedPastDeadline(wiring, clock)).toEqual([holdup.id]);
  });

  it('reports a hold-up stored before the restart on time when NTP stepped the clock back meanwhile', async () => {
    const { clock, outbox, builder } = outboxOf(['cms']);
    const holdup = eventFromSignal(cid('122', 5), origin(clock), builder);
    await outbox.append([holdup]);
    // The clock ran 5 hours ahead; NTP set it right before the gateway came back up.
    clock.step(-5 * 3_600_000);

    const { wiring } = start(outbox, clock, builder, ['cms']);
    expect(await reportedPastDeadline(wiring, clock), 'the deadline waited the hours of the step').toEqual([holdup.id]);
  });

  it('holds a hold-up the only central output refused for good, as the running gateway does', async () => {
    // Without a restart: stored, then refused for good (a dead letter) by the only central output.
    const running = outboxOf(['cms']);
    const { wiring: live, recorder } = start(running.outbox, running.clock, running.builder, ['cms']);
    const recorded = await recorder.record([eventFromSignal(cid('122', 5), origin(running.clock), running.builder)]);
    if (!recorded.ok) throw new Error('not stored');
    const [stored] = running.outbox.pending('cms', 10);
    running.outbox.markDead('cms', stored!.seq, 'HTTP 401 Unauthorized');
    expect(await reportedPastDeadline(live, running.clock)).toEqual([recorded.events[0]!.id]);

    // The same hold-up stored and refused before a restart.
    const { clock, outbox, builder } = outboxOf(['cms']);
    const holdup = eventFromSignal(cid('122', 5), origin(clock), builder);
    const { entries } = await outbox.append([holdup]);
    outbox.markDead('cms', entries[0]!.seq, 'HTTP 401 Unauthorized');
    const { wiring } = start(outbox, clock, builder, ['cms']);
    expect(await reportedPastDeadline(wiring, clock)).toEqual([holdup.id]);
  });

  it('holds the newest hold-ups the central output refused for good, past 1,000 of them', async () => {
    const { clock, outbox, builder } = outboxOf(['cms']);
    const holdups = Array.from({ length: 1_001 }, () => eventFromSignal(cid('122', 5), origin(clock), builder));
    const { entries } = await outbox.append(holdups);
    for (const entry of entries) outbox.markDead('cms', entry.seq, 'HTTP 401 Unauthorized');

    const { wiring } = start(outbox, clock, builder, ['cms']);
    const reported = await reportedPastDeadline(wiring, clock);
    expect(reported).toHaveLength(1_000);
    expect(reported, 'the newest dead-lettered hold-up was left out').toContain(holdups.at(-1)!.id);
  });

  it('holds a hold-up one central output refused for good and the other has not delivered yet', async () => {
    const { clock, outbox, builder } = outboxOf(['cms-a', 'cms-b']);
    const holdup = eventFromSignal(cid('122', 5), origin(clock), builder);
    const { entries } = await outbox.append([holdup]);
    outbox.markDead('cms-a', entries[0]!.seq, 'HTTP 400 from the centre');

    const { wiring } = start(outbox, clock, builder, ['cms-a', 'cms-b']);
    expect(await reportedPastDeadline(wiring, clock)).toEqual([holdup.id]);
  });

  it('lets go of a hold-up one central output delivered, whatever the other did with it', async () => {
    const { clock, outbox, builder } = outboxOf(['cms-a', 'cms-b']);
    const { entries } = await outbox.append([eventFromSignal(cid('122', 5), origin(clock), builder)]);
    outbox.markDead('cms-a', entries[0]!.seq, 'HTTP 400 from the centre');
    outbox.markDelivered('cms-b', [entries[0]!.seq]);

    const { wiring } = start(outbox, clock, builder, ['cms-a', 'cms-b']);
    expect(await reportedPastDeadline(wiring, clock)).toEqual([]);
  });
});
