import { SerialPortMock } from 'serialport';
import { afterEach, expect, it, vi } from 'vitest';
import { SerialInput, type SerialBinding } from '../../../adapters/inputs/serial.js';
import { MemoryOutbox } from '../../../src/outbox/memory-outbox.js';
import { Counters } from '../../../src/observability/counters.js';
import { silentLogger, systemClock } from '../../../src/ports.js';
import { gateAppends } from '../../helpers/gated-outbox.js';
import { serialReceiver } from '../../helpers/serial-receiver.js';

const MockBinding = SerialPortMock.binding;
type Port = Awaited<ReturnType<typeof MockBinding.open>>;
const PATH = '/dev/ttyUSB-resend-after-loss';
const DURESS = Buffer.from('501100 181234E12101001\u0014', 'latin1');
let input: SerialInput | undefined;
afterEach(async () => { await input?.stop(); MockBinding.reset(); });

// 6d58e04 suppresses a Sur-Gard copy while the first copy is "unanswered". But the first copy's answer is dropped
// when the port it came in on was lost (serial.ts handle(): "the receiver resends to the new port"), so the copy the
// receiver resends on the reopened port is suppressed AND the first copy's ACK never reaches it: the resend gets no
// answer at all. Before 6d58e04 it was queued behind the first copy and ACKed as a duplicate.
it('a packet resent on the reopened port while its first copy (from the lost port) is still being stored gets an ACK', async () => {
  MockBinding.reset();
  MockBinding.createPort(PATH, { record: true });
  const ports: Port[] = [];
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

  ports[0]!.emitData(DURESS); // the store is slow; the port glitches meanwhile (USB adapter reset)
  await appending;
  MockBinding.reset();
  unplug();
  await vi.waitFor(() => expect(input!.health().state).toBe('down'));
  MockBinding.createPort(PATH, { record: true });
  await vi.waitFor(() => expect(ports.length === 2 && input!.health().state === 'up').toBe(true));
  // 4 s without an ACK: the receiver sends the same packet again, now on the reopened port.
  ports[1]!.emitData(DURESS);
  await new Promise((r) => setTimeout(r, 50));
  release();
  await vi.waitFor(() => expect(outbox.pending('probe', 100).filter((e) => e.event.duress)).toHaveLength(1));
  await new Promise((r) => setTimeout(r, 100));
  // The first copy's ACK went nowhere (its port is gone); the resend must be answered on the port it came in on.
  expect([...ports[1]!.recording]).toEqual([0x06]);
});
