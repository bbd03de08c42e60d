import { afterEach, expect, it, vi } from 'vitest';
import { SerialInput } from '../../../adapters/inputs/serial.js';
import { MemoryOutbox } from '../../../src/outbox/memory-outbox.js';
import { Counters } from '../../../src/observability/counters.js';
import { silentLogger, systemClock } from '../../../src/ports.js';
import { serialReceiver } from '../../helpers/serial-receiver.js';
import { MockBinding, mockSerialPort } from '../../helpers/mock-serial-port.js';

let input: SerialInput | undefined;
afterEach(async () => { await input?.stop(); MockBinding.reset(); });

async function linePort(protocol: 'contact-id-lines' | 'sia-dc03-lines') {
  const { binding, port } = mockSerialPort('/dev/ttyUSB-nul');
  const outbox = new MemoryOutbox();
  outbox.registerOutputs(['probe']);
  const counters = new Counters();
  input = new SerialInput({ name: 'panel', path: '/dev/ttyUSB-nul', baudRate: 9600, dataBits: 8, parity: 'none', stopBits: 1,
    protocol, maxFrameBytes: 256, reconnect: { initial: 10, max: 40 }, downAlarmAfter: 60_000,
    receiver: serialReceiver(outbox, { counters, account: '9000', protocol }), clock: systemClock, logger: silentLogger, counters,
    binding });
  await input.start();
  return { emit: (s: string) => port().emitData(Buffer.from(s, 'latin1')), stored: () => outbox.pending('probe', 10).map((e) => e.event), written: () => [...port().recording] };
}

// bindings-cpp sets c_iflag = IGNPAR only (no IGNBRK/BRKINT): a BREAK (cable plugged, panel power-up) reads as 0x00.
it('contact-id-lines: a duress line after a 0x00 noise byte is still a duress', async () => {
  const port = await linePort('contact-id-lines');
  port.emit('\u00001234181121010014\r\n');
  await vi.waitFor(() => expect(port.stored()).toHaveLength(1));
  expect(port.stored()[0]).toMatchObject({ category: 'duress', duress: true });
});

it('sia-dc03-lines: a hold-up line after a 0x00 noise byte is still a hold-up', async () => {
  const port = await linePort('sia-dc03-lines');
  port.emit('\u0000#123456 NHA0012\r');
  await vi.waitFor(() => expect(port.stored()).toHaveLength(1));
  expect(port.stored()[0]).toMatchObject({ category: 'holdup', duress: true });
});

it('contact-id-lines: NUL padding after CR is noise, not an event', async () => {
  const port = await linePort('contact-id-lines');
  port.emit('1234181121010014\r\u0000\u0000\n');
  await new Promise((r) => setTimeout(r, 100));
  expect(port.stored().map((e) => e.category)).toEqual(['duress']);
});

// A panel reset mid-line leaves a fragment; the serial framer is never flushed on idle, so it prefixes the next line.
it('contact-id-lines: a fragment left seconds before does not corrupt the next duress line', async () => {
  const port = await linePort('contact-id-lines');
  port.emit('1234181130');
  await new Promise((r) => setTimeout(r, 1500));
  port.emit('1234181121010014\r\n');
  await vi.waitFor(() => expect(port.stored().length).toBeGreaterThanOrEqual(1));
  expect(port.stored().map((e) => e.category)).toContain('duress');
});

// Silent Knight VisorAlarm Plus 2U manual, appendix IV p.70: its Ademco 685 format is LF, `RL AAAA 18 QXYZ GG UCCC`, CR,
// with Q = E (new), R (restore) or P (previous event). A duress still present must reach central as one, never as an
// `unrecognized` event that local outputs receive with its text.
it('contact-id-lines: a VisorAlarm 685 line reporting a duress still present (P) is a duress status', async () => {
  const port = await linePort('contact-id-lines');
  port.emit('\n11 1234 18 P121 01 U001\r');
  await vi.waitFor(() => expect(port.stored()).toHaveLength(1));
  expect(port.stored()[0]).toMatchObject({ category: 'duress', duress: true, qualifier: 'status', account: '1234', user: { number: 1 } });
});

// Ademco 685 manual, Computer Interface: with the ACK/NACK handshake the receiver waits for an ACK after each message's
// CR, sends it again without one, and after a second unanswered copy declares "computer fail". One ACK per message:
// a second (for the LF header) would be taken as the answer to the next message before that one is stored.
it('contact-id-lines: a 685 message between LF and CR gets one ACK, written once it is stored', async () => {
  const port = await linePort('contact-id-lines');
  port.emit('\n11 1234 18 E121 01 U001\r');
  await vi.waitFor(() => expect(port.written()).toEqual([0x06]));
  expect(port.stored()).toEqual([expect.objectContaining({ category: 'duress' })]);
  port.emit('\n11 OKAY @ \r');
  await vi.waitFor(() => expect(port.written()).toEqual([0x06, 0x06]));
});

// Noise (or an attacker on the cable) streams more bytes than maxFrameBytes without a terminator, and the panel's line
// follows within the second: the whole run up to the line's CR was discarded as FRAME_OVERSIZE, and a one-way panel
// never sends a line again.
it('a duress or hold-up line right after a burst of noise longer than maxFrameBytes is still stored', async () => {
  for (const [protocol, line, category] of [
    ['sia-dc03-lines', '#1234|NHA01', 'holdup'],
    ['contact-id-lines', '1234181121010014', 'duress'],
  ] as const) {
    const port = await linePort(protocol);
    port.emit('~'.repeat(700));
    port.emit(`${'\u00aa'.repeat(300)}${line}\r`);
    await vi.waitFor(() => expect(port.stored()).toEqual([expect.objectContaining({ category, duress: true, account: '1234' })]));
    await input?.stop();
  }
});
