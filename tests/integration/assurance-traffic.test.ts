import { afterEach, describe, expect, it, vi } from 'vitest';
import { wireAssurance, type AssuranceWiring } from '../../adapters/cli/assurance-wiring.js';
import { createInput } from '../../adapters/inputs/index.js';
import type { Input } from '../../adapters/inputs/input.js';
import { AssuranceStore } from '../../src/assurance/store.js';
import { EventBus } from '../../src/bus.js';
import { createIdSource, seededRandom } from '../../src/model/ids.js';
import { Counters } from '../../src/observability/counters.js';
import { MemoryOutbox } from '../../src/outbox/memory-outbox.js';
import { eventFromSignal, VERIFIED } from '../../src/pipeline/event-builder.js';
import { Recorder } from '../../src/pipeline/recorder.js';
import { silentLogger } from '../../src/ports.js';
import { settingsSchema } from '../../src/settings/settings.js';
import { cid, FakeClock } from '../helpers/assurance-harness.js';
import { panelFrame } from '../helpers/panel.js';

const SETTINGS = settingsSchema.parse({
  dataDir: '/nonexistent-not-used',
  inputs: [{ type: 'dc09', name: 'receiver', host: '127.0.0.1', port: 0 }],
  outputs: [{ type: 'stdout', name: 'unused' }],
  supervision: '90s',
});

/** The gateway's wiring of one DC-09 input and the assurance on one bus, with link supervision watched. */
async function gateway() {
  const clock = new FakeClock();
  const bus = new EventBus({ logger: silentLogger });
  const counters = new Counters();
  const builder = { ids: createIdSource(clock, seededRandom(11)), sites: () => SETTINGS.sites };
  const outbox = new MemoryOutbox({ clock });
  const recorder = new Recorder({ outbox, counters, logger: silentLogger, backlogLimit: 10_000, bus });
  const wiring = wireAssurance(
    { recorder, api: undefined, outputs: [], outbox, builder, bus },
    SETTINGS,
    { clock, logger: silentLogger, store: AssuranceStore.open(':memory:'), tickMs: 3_600_000 },
  );
  const created = await createInput(SETTINGS.inputs[0]!, {
    index: 0,
    clock,
    random: (size) => Buffer.alloc(size),
    recorder,
    builder,
    counters,
    logger: silentLogger,
    bus,
    metrics: { observeAnswer: () => {} },
    defaults: { timestampWindow: SETTINGS.timestampWindow },
  });
  if (!created.ok) throw new Error(JSON.stringify(created.issues));
  const traffic = vi.spyOn(wiring.assurance.supervision, 'traffic');
  return { clock, recorder, builder, wiring, input: created.input, traffic };
}

describe('link supervision hears each frame once', () => {
  const stops: Array<AssuranceWiring | Input> = [];
  afterEach(async () => {
    for (const stoppable of stops.splice(0)) await stoppable.stop();
  });

  it('a stored DC-09 frame: the input reported its traffic, the stored event does not report it again', async () => {
    const { clock, wiring, input, traffic } = await gateway();
    stops.push(wiring, input);
    await input.handleFrame(panelFrame({ token: 'SIA-DCS', seq: '0001', account: '7777', data: '#7777|Nri1/BA05' }), 'tcp');
    await input.handleFrame(panelFrame({ token: 'NULL', seq: '0002', account: '7777', data: '' }), 'tcp');
    expect(traffic.mock.calls).toEqual([
      ['7777', clock.now()],
      ['7777', clock.now()],
    ]);
    expect(wiring.assurance.supervision.linkOf('7777').lastSeenAt).toBe(clock.now());
  });

  it('an input that reports no traffic of its own: once per stored frame, however many events it holds', async () => {
    const { clock, recorder, builder, wiring, traffic } = await gateway();
    stops.push(wiring);
    const origin = { input: 'serial-panel', transport: 'serial' as const, receivedAt: clock.now(), raw: new Uint8Array([0x31]), trust: VERIFIED };
    const frame = [eventFromSignal(cid('130', 3, { account: '4321' }), origin, builder), eventFromSignal(cid('131', 4, { account: '4321' }), origin, builder)];
    expect((await recorder.record(frame)).ok).toBe(true);
    expect(traffic.mock.calls).toEqual([['4321', clock.now()]]);
    expect(wiring.assurance.supervision.linkOf('4321').lastSeenAt).toBe(clock.now());
  });
});
