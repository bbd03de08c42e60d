import { afterEach, expect, it } from 'vitest';
import { SerialInput } from '../../../adapters/inputs/serial.js';
import { SerialReceiver } from '../../../src/pipeline/serial-receiver.js';
import { Recorder } from '../../../src/pipeline/recorder.js';
import { MemoryOutbox } from '../../../src/outbox/memory-outbox.js';
import { Counters } from '../../../src/observability/counters.js';
import { createIdSource } from '../../../src/model/ids.js';
import { gatewayEvent, VERIFIED } from '../../../src/pipeline/event-builder.js';
import { silentLogger, systemClock } from '../../../src/ports.js';
import { MockBinding } from '../../helpers/mock-serial-port.js';

let input: SerialInput | undefined;
afterEach(async () => { await input?.stop(); MockBinding.reset(); });

// README backlogLimit: "... (the gateway's own events are still stored)"; Recorder.recordRaised.
it('stores the serial "port down" supervisory event while the central backlog is at its limit', async () => {
  MockBinding.reset(); // adapter not plugged in: the port never opens
  const outbox = new MemoryOutbox();
  outbox.registerOutputs(['central']);
  const counters = new Counters();
  const builder = { ids: createIdSource(systemClock), sites: () => [] };
  const recorder = new Recorder({ outbox, counters, logger: silentLogger, backlogLimit: 1 });
  const origin = { input: 'other', transport: 'serial' as const, receivedAt: Date.now(), raw: new Uint8Array(0), trust: VERIFIED };
  await outbox.append([gatewayEvent({ category: 'trouble', account: '1', reasons: ['x'] }, origin, builder)]); // backlog full
  const receiver = new SerialReceiver({ input: 'receiver', protocol: 'surgard', account: '9000', maxNaks: 2,
    retransmitWindow: 30_000, clock: systemClock, recorder, builder, counters, logger: silentLogger });
  input = new SerialInput({ name: 'receiver', path: '/dev/ttyUSB-gone', baudRate: 19200, dataBits: 7, parity: 'even',
    stopBits: 1, protocol: 'surgard', maxFrameBytes: 256, reconnect: { initial: 10, max: 20 }, downAlarmAfter: 30,
    receiver, clock: systemClock, logger: silentLogger, counters, binding: MockBinding });
  await input.start();
  await new Promise((r) => setTimeout(r, 300));
  expect(counters.get('outbox_rejections_total', { code: 'OUTBOX_BACKLOG_FULL' })).toBe(0);
  expect(outbox.pending('central', 10).filter((e) => e.event.category === 'supervisory')).toHaveLength(1);
});
