import { afterEach, expect, it, vi } from 'vitest';
import { SerialInput, type SerialBinding } from '../../../adapters/inputs/serial.js';
import { MemoryOutbox } from '../../../src/outbox/memory-outbox.js';
import { Counters } from '../../../src/observability/counters.js';
import { silentLogger, systemClock } from '../../../src/ports.js';
import { gateAppends } from '../../helpers/gated-outbox.js';
import { serialReceiver } from '../../helpers/serial-receiver.js';
import { MockBinding, type MockPort } from '../../helpers/mock-serial-port.js';

const PATH = '/dev/ttyUSB-reconnect';
const DURESS = Buffer.from('501100 181234E12101001\u0014', 'latin1');
const HEARTBEAT = Buffer.from('101000           @    \u0014', 'latin1');
let input: SerialInput | undefined;
afterEach(async () => { await input?.stop(); MockBinding.reset(); });

/**
 * A Sur-Gard port whose adapter can be unplugged (as in serial-input.test.ts: the pending read fails with EIO) and
 * plugged in again, storing into an outbox whose appends wait for `release`; a duress is in flight on the first port.
 */
async function duressInFlightThenUnplugged() {
  MockBinding.reset();
  MockBinding.createPort(PATH, { record: true });
  const ports: MockPort[] = [];
  let unplug = () => {};
  const binding: SerialBinding = { list: () => MockBinding.list(), async open(options) {
    const port = await MockBinding.open(options);
    const gone = new Promise<never>((_r, reject) => (unplug = () => reject(new Error('EIO'))));
    gone.catch(() => undefined);
    const read = port.read.bind(port);
    port.read = (b, o, l) => Promise.race([read(b, o, l), gone]);
    ports.push(port);
    return port;
  } };
  const outbox = new MemoryOutbox();
  outbox.registerOutputs(['probe']);
  const { appending, release } = gateAppends(outbox);
  const counters = new Counters();
  input = new SerialInput({ name: 'receiver', path: PATH, baudRate: 19200, dataBits: 7, parity: 'even', stopBits: 1,
    protocol: 'surgard', maxFrameBytes: 256, reconnect: { initial: 10, max: 40 }, downAlarmAfter: 60_000,
    receiver: serialReceiver(outbox, { counters }), clock: systemClock, logger: silentLogger, counters, binding });
  await input.start();
  ports[0]!.emitData(DURESS); // the store is slow: its ACK is not written before the USB adapter is unplugged
  await appending;
  MockBinding.reset();
  unplug();
  await vi.waitFor(() => expect(input!.health().state).toBe('down'));
  const replug = async () => {
    MockBinding.createPort(PATH, { record: true });
    await vi.waitFor(() => expect(ports.length === 2 && input!.health().state === 'up').toBe(true));
    return ports[1]!;
  };
  return { release, replug, duress: () => outbox.pending('probe', 100).filter((e) => e.event.duress) };
}

it('a duress stored while the port was lost is stored once when the receiver resends it after the replug', async () => {
  const { release, replug, duress } = await duressInFlightThenUnplugged();
  release();
  await vi.waitFor(() => expect(duress()).toHaveLength(1));
  // Replugged. No ACK came: after 4 unanswered attempts the receiver is in manual mode and resumes on the first
  // ACKed heartbeat (protocols.md §4.1), then sends the same, never-ACKed packet again.
  const port = await replug();
  port.emitData(HEARTBEAT);
  await vi.waitFor(() => expect(port.recording.length).toBe(1));
  port.emitData(DURESS);
  await vi.waitFor(() => expect([...port.recording]).toEqual([0x06, 0x06]));
  expect(duress()).toHaveLength(1);
});

// A copy that arrives while the first is still being stored gets no answer of its own (serial.ts), but the first
// copy's answer goes nowhere when its port is gone: the resend on the reopened port must be answered there.
it('a packet resent on the reopened port while its first copy (from the lost port) is still being stored gets an ACK', async () => {
  const { release, replug, duress } = await duressInFlightThenUnplugged();
  const port = await replug();
  port.emitData(DURESS); // 4 s without an ACK: the receiver sends the same packet again, now on the reopened port
  await new Promise((r) => setTimeout(r, 50));
  release();
  await vi.waitFor(() => expect(duress()).toHaveLength(1));
  await new Promise((r) => setTimeout(r, 100));
  expect([...port.recording]).toEqual([0x06]);
});
