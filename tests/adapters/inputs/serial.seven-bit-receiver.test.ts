import { afterEach, expect, it, vi } from 'vitest';
import { SerialInput, type SerialBinding } from '../../../adapters/inputs/serial.js';
import { MemoryOutbox } from '../../../src/outbox/memory-outbox.js';
import { Counters } from '../../../src/observability/counters.js';
import { silentLogger, systemClock } from '../../../src/ports.js';
import { serialReceiver } from '../../helpers/serial-receiver.js';
import { MockBinding, mockSerialPort } from '../../helpers/mock-serial-port.js';

const PATH = '/dev/ttyUSB-seven-bit';
let input: SerialInput | undefined;
afterEach(async () => {
  await input?.stop();
  MockBinding.reset();
});

/** A byte as a 7E1 UART sends it, read by a port set to 8 data bits and no parity: the parity bit is the top bit. */
const evenParity = (byte: number): number => {
  let ones = 0;
  for (let bits = byte; bits !== 0; bits &= bits - 1) ones += 1;
  return (ones & 1) === 1 ? byte | 0x80 : byte;
};
const oddParity = (byte: number): number => evenParity(byte) ^ 0x80;
const on7E1 = (text: string): Buffer => Buffer.from(Buffer.from(text, 'latin1').map(evenParity));
const on7O1 = (text: string): Buffer => Buffer.from(Buffer.from(text, 'latin1').map(oddParity));

function sevenBitInput(protocol: 'surgard' | 'sia-dc03-lines') {
  const { binding: mock, port } = mockSerialPort(PATH);
  // Counts the reads that returned bytes, so a test can hand the port one byte per read.
  let reads = 0;
  const binding: SerialBinding = {
    list: () => mock.list(),
    open: async (options) => {
      const opened = await mock.open(options);
      const read = opened.read.bind(opened);
      opened.read = async (...args) => {
        const result = await read(...args);
        if (result.bytesRead > 0) reads += 1;
        return result;
      };
      return opened;
    },
  };
  const outbox = new MemoryOutbox();
  outbox.registerOutputs(['probe']);
  const counters = new Counters();
  input = new SerialInput({ name: 'receiver', path: PATH, baudRate: 9600, dataBits: 8, parity: 'none', stopBits: 1,
    protocol, maxFrameBytes: 256, reconnect: { initial: 10, max: 40 }, downAlarmAfter: 60_000,
    receiver: serialReceiver(outbox, { counters, protocol, account: '9000' }), clock: systemClock, logger: silentLogger, counters, binding });
  return { outbox, port, reads: () => reads };
}

/** The bytes one read at a time, as a port read at 9600 baud may hand them over. */
async function byteByByte(port: () => { emitData(data: Buffer): void }, wire: Buffer, read: () => number): Promise<void> {
  for (const byte of wire) {
    const reads = read();
    port().emitData(Buffer.of(byte));
    await vi.waitFor(() => expect(read()).toBeGreaterThan(reads));
  }
}

// The Sur-Gard MLR2-E's serial port defaults to 7 data bits, even parity (MLR2-E manual); the input left at 8N1.
it('reads a 7E1 receiver on a port left at 8N1: the duress is stored and ACKed with the parity the receiver checks', async () => {
  const { binding, port } = mockSerialPort(PATH);
  const outbox = new MemoryOutbox();
  outbox.registerOutputs(['probe']);
  const counters = new Counters();
  const warnings: string[] = [];
  const logger = { ...silentLogger, warn: (_: unknown, message?: string) => void warnings.push(message ?? ''), child: () => logger };
  input = new SerialInput({ name: 'receiver', path: PATH, baudRate: 9600, dataBits: 8, parity: 'none', stopBits: 1,
    protocol: 'surgard', maxFrameBytes: 256, reconnect: { initial: 10, max: 40 }, downAlarmAfter: 60_000,
    receiver: serialReceiver(outbox, { counters }), clock: systemClock, logger, counters, binding });
  await input.start();

  port().emitData(on7E1('501100 181234E12101001\u0014'));
  await vi.waitFor(() => expect(outbox.pending('probe', 10).map((e) => e.event.category)).toEqual(['duress']));
  await vi.waitFor(() => expect([...port().recording]).toEqual([evenParity(0x06)]));
  // A packet that does not read gets its NAK with the parity bit too (0x15 has three ones: 0x95 on the wire).
  port().emitData(on7E1('5011 garbled\u0014'));
  await vi.waitFor(() => expect([...port().recording]).toEqual([0x06, 0x95]));
  expect(warnings.filter((w) => w.includes('set dataBits: 7 and parity: even'))).toHaveLength(1);
});

// The first line after the port opens arrives before enough bytes have shown the parity: its first bytes kept their
// parity bits (the account read `\xa3\xb1\xb2`, the port's configured account stood in), and on 7O1 the DC4 that ends
// a Sur-Gard packet arrives as 0x94, so the first packet never ended and the first duress waited on the receiver's resends.
it('reads the first line of a 7-bit receiver arriving byte by byte, its first bytes and terminator included', async () => {
  const sia = sevenBitInput('sia-dc03-lines');
  await input!.start();
  await byteByByte(sia.port, on7E1('#1234|NHA01\r\n'), sia.reads);
  await vi.waitFor(() => expect(sia.outbox.pending('probe', 10).map((e) => e.event)).toEqual([expect.objectContaining({ category: 'holdup', account: '1234', quirks: [] })]));
  await input!.stop();

  const surgard = sevenBitInput('surgard');
  await input!.start();
  await byteByByte(surgard.port, on7O1('501100 181234E12101001\u0014'), surgard.reads);
  await vi.waitFor(() => expect(surgard.outbox.pending('probe', 10).map((e) => e.event)).toEqual([expect.objectContaining({ category: 'duress', account: '1234', quirks: [] })]));
  await vi.waitFor(() => expect([...surgard.port().recording]).toEqual([oddParity(0x06)]));
});
