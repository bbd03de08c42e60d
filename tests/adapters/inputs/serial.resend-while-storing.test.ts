import { afterEach, expect, it, vi } from 'vitest';
import { SerialInput } from '../../../adapters/inputs/serial.js';
import { MemoryOutbox } from '../../../src/outbox/memory-outbox.js';
import { Counters } from '../../../src/observability/counters.js';
import { silentLogger, systemClock } from '../../../src/ports.js';
import { serialReceiver } from '../../helpers/serial-receiver.js';
import { MockBinding, mockSerialPort } from '../../helpers/mock-serial-port.js';

const PATH = '/dev/ttyUSB-stray-ack';
const BURGLARY = Buffer.from('501100 181234E13001003\u0014', 'latin1');
const DURESS = Buffer.from('501100 181234E12101001\u0014', 'latin1');
let input: SerialInput | undefined;
const releases: Array<() => void> = [];
afterEach(async () => { releases.splice(0).forEach((r) => r()); await input?.stop(); MockBinding.reset(); });

/** Holds each outbox append until its own release (a slow disk), so the test decides when each store completes. */
function gateEachAppend(outbox: MemoryOutbox) {
  const started: number[] = [];
  const append = outbox.append.bind(outbox);
  outbox.append = async (events, options) => {
    started.push(events.length);
    await new Promise<void>((resolve) => releases.push(resolve));
    return append(events, options);
  };
  return { started, releaseNext: () => releases.shift()?.() };
}

// protocols.md §4.1 (SGAUTO p.56/58, MLR2-E p.42): the automation answers each packet with one ACK within 4 s;
// silence makes the receiver send the same packet again, and the receiver takes the next ACK byte it reads as the
// answer to the packet it is waiting on. There is no sequence number on the line.
it('a packet resent while its first copy is still being stored gets one ACK, so no ACK answers a packet not stored', async () => {
  const { binding, port } = mockSerialPort(PATH);
  const outbox = new MemoryOutbox();
  outbox.registerOutputs(['probe']);
  const gate = gateEachAppend(outbox);
  const counters = new Counters();
  input = new SerialInput({ name: 'receiver', path: PATH, baudRate: 19200, dataBits: 7, parity: 'even', stopBits: 1,
    protocol: 'surgard', maxFrameBytes: 256, reconnect: { initial: 10, max: 40 }, downAlarmAfter: 60_000,
    receiver: serialReceiver(outbox, { counters }), clock: systemClock, logger: silentLogger, counters, binding });
  await input.start();
  const storedCodes = () => outbox.pending('probe', 100).map((e) => e.event.code?.value);

  port().emitData(BURGLARY);
  await vi.waitFor(() => expect(gate.started).toHaveLength(1));
  // 4 s without an answer (the disk is slow): the receiver sends the same packet again.
  port().emitData(BURGLARY);
  await new Promise((r) => setTimeout(r, 20));
  gate.releaseNext();
  await vi.waitFor(() => expect(port().recording.length).toBeGreaterThanOrEqual(1));
  // The receiver took that ACK for its packet and sends the next one: a keypad duress.
  port().emitData(DURESS);
  await vi.waitFor(() => expect(gate.started).toHaveLength(2));
  await new Promise((r) => setTimeout(r, 50));
  // The duress is not stored yet (its append is held), so no ACK beyond the burglary's may have been written:
  // a second ACK here is read by the receiver as the duress's ACK, and it drops the duress from its buffer.
  expect(storedCodes()).toEqual(['130']);
  expect([...port().recording]).toEqual([0x06]);
});

// Ademco 685 manual, Computer Interface: a receiver in 685 mode with the ACK/NACK handshake sends an unanswered
// message again and reads the next ACK as the answer to the message it is waiting on, as a Sur-Gard receiver does.
it('a 685 line resent while its first copy is still being stored gets one ACK', async () => {
  const { binding, port } = mockSerialPort(PATH);
  const outbox = new MemoryOutbox();
  outbox.registerOutputs(['probe']);
  const gate = gateEachAppend(outbox);
  const counters = new Counters();
  input = new SerialInput({ name: 'receiver', path: PATH, baudRate: 19200, dataBits: 8, parity: 'none', stopBits: 1,
    protocol: 'contact-id-lines', maxFrameBytes: 256, reconnect: { initial: 10, max: 40 }, downAlarmAfter: 60_000,
    receiver: serialReceiver(outbox, { counters, protocol: 'contact-id-lines' }), clock: systemClock, logger: silentLogger, counters, binding });
  await input.start();
  const burglary = Buffer.from('\n11 1234 18 E130 01 C003\r', 'latin1');

  port().emitData(burglary);
  await vi.waitFor(() => expect(gate.started).toHaveLength(1));
  port().emitData(burglary);
  await new Promise((r) => setTimeout(r, 20));
  gate.releaseNext();
  await vi.waitFor(() => expect(port().recording.length).toBeGreaterThanOrEqual(1));
  await new Promise((r) => setTimeout(r, 50));
  expect([...port().recording]).toEqual([0x06]);
  expect(counters.get('frames_discarded_total', { input: 'receiver', reason: 'RESENT_WHILE_UNANSWERED' })).toBe(1);
});
