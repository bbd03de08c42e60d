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
const PATH = '/dev/ttyUSB-reconnect';
const DURESS = Buffer.from('501100 181234E12101001\u0014', 'latin1');
const HEARTBEAT = Buffer.from('101000           @    \u0014', 'latin1');
let input: SerialInput | undefined;
afterEach(async () => { await input?.stop(); MockBinding.reset(); });

it('a duress stored while the port was lost is stored once when the receiver resends it after the replug', async () => {
  MockBinding.reset();
  MockBinding.createPort(PATH, { record: true });
  const ports: Port[] = [];
  let unplug = () => {};
  // As in serial-input.test.ts: an unplugged adapter fails the pending read with EIO.
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
  const duress = () => outbox.pending('probe', 100).filter((e) => e.event.duress);

  ports[0]!.emitData(DURESS); // store in flight when the USB adapter is unplugged: its ACK is never written
  await appending;
  MockBinding.reset();
  unplug();
  await vi.waitFor(() => expect(input!.health().state).toBe('down'));
  release();
  await vi.waitFor(() => expect(duress()).toHaveLength(1));
  // Replugged. No ACK came: after 4 unanswered attempts the receiver is in manual mode and resumes on the first
  // ACKed heartbeat (protocols.md §4.1), then sends the same, never-ACKed packet again.
  MockBinding.createPort(PATH, { record: true });
  await vi.waitFor(() => expect(ports.length === 2 && input!.health().state === 'up').toBe(true));
  ports[1]!.emitData(HEARTBEAT);
  await vi.waitFor(() => expect(ports[1]!.recording.length).toBe(1));
  ports[1]!.emitData(DURESS);
  await vi.waitFor(() => expect([...ports[1]!.recording]).toEqual([0x06, 0x06]));
  expect(duress()).toHaveLength(1);
});
