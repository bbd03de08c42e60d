import { afterEach, describe, expect, it, vi } from 'vitest';
import { MAX_DURESS_FRAMES_OVER_QUEUE, SerialInput } from '../../../adapters/inputs/serial.js';
import { contactIdCheckDigit } from '../../../src/codecs/contact-id.js';
import { MemoryOutbox } from '../../../src/outbox/memory-outbox.js';
import { Counters } from '../../../src/observability/counters.js';
import { systemClock } from '../../../src/ports.js';
import { gateAppends } from '../../helpers/gated-outbox.js';
import { recordingLogger } from '../../helpers/recording-logger.js';
import { serialReceiver } from '../../helpers/serial-receiver.js';
import { MockBinding, mockSerialPort } from '../../helpers/mock-serial-port.js';
import type { CaptureDiscard } from '../../../adapters/inputs/input.js';

const PATH = '/dev/ttyUSB-queue';
const MAX_QUEUED = 4;

/** A Contact ID line (DC-05) of account 1234, new event, group 01, with its check digit. */
function cidLine(code: string, zone: number): string {
  const body = `1234181${code}01${String(zone).padStart(3, '0')}`;
  return body + contactIdCheckDigit(body);
}
const burglary = (zone: number) => cidLine('130', zone);
const duress = (user: number) => cidLine('121', user);

const inputs: Array<{ input: SerialInput; release: () => void }> = [];
afterEach(async () => {
  // A stalled store is released first: stop() waits for the frames being handled.
  for (const { input, release } of inputs.splice(0)) {
    release();
    await input.stop();
  }
  MockBinding.reset();
});

/**
 * A one-way contact-id-lines port whose store is stalled (a slow disk: the first append has not returned) until
 * `release()`, with a frame queue of MAX_QUEUED.
 */
async function stalledLinePort(onDiscard?: CaptureDiscard) {
  const { binding, port } = mockSerialPort(PATH);
  const outbox = new MemoryOutbox();
  outbox.registerOutputs(['probe']);
  const { appending, release } = gateAppends(outbox);
  const counters = new Counters();
  const { logger, lines } = recordingLogger();
  const input = new SerialInput({
    name: 'panel', path: PATH, baudRate: 19200, dataBits: 8, parity: 'none', stopBits: 1,
    protocol: 'contact-id-lines', maxFrameBytes: 256, reconnect: { initial: 10, max: 40 }, downAlarmAfter: 60_000,
    receiver: serialReceiver(outbox, { counters, account: '9000', protocol: 'contact-id-lines' }),
    clock: systemClock, logger, counters, binding, maxQueuedFrames: MAX_QUEUED,
    ...(onDiscard === undefined ? {} : { onDiscard }),
  });
  inputs.push({ input, release });
  await input.start();
  const send = async (lines: string[]) => {
    port().emitData(Buffer.from(lines.map((line) => line + '\r\n').join(''), 'latin1'));
    await appending;
  };
  const stored = () => outbox.pending('probe', 1000).map((e) => e.event);
  const discarded = (reason: string) => counters.get('frames_discarded_total', { input: 'panel', reason });
  return { send, release, stored, discarded, counters, lines };
}

describe('SerialInput: a line protocol whose frame queue is full', () => {
  // security.md rule 1: over-limit traffic is still decoded and its duress stored; a one-way line cannot resend.
  it('still queues and stores a duress line, discarding only the other lines', async () => {
    const port = await stalledLinePort();
    await port.send([...[1, 2, 3, 4, 5, 6].map(burglary), duress(5), burglary(7)]);
    await vi.waitFor(() => expect(port.discarded('QUEUE_FULL')).toBe(3));
    port.release();
    await vi.waitFor(() => expect(port.stored()).toHaveLength(MAX_QUEUED + 1));
    expect(port.stored().map((e) => [e.code?.value, e.duress])).toEqual([
      ...[1, 2, 3, 4].map(() => ['130', false]),
      ['121', true],
    ]);
    expect(port.counters.get('duress_frames_over_queue_total', { input: 'panel' })).toBe(1);
  });

  it('bounds the duress lines it keeps beyond the queue, so forged ones cannot grow memory', async () => {
    const port = await stalledLinePort();
    const beyond = MAX_DURESS_FRAMES_OVER_QUEUE + 3;
    await port.send(Array.from({ length: MAX_QUEUED + beyond }, (_, i) => duress(i + 1)));
    await vi.waitFor(() => expect(port.discarded('DURESS_QUEUE_FULL')).toBe(3));
    expect(port.lines.filter((line) => line.level === 'error' && line.fields['kind'] === 'DURESS_QUEUE_FULL')).toHaveLength(1);
    port.release();
    await vi.waitFor(() => expect(port.stored()).toHaveLength(MAX_QUEUED + MAX_DURESS_FRAMES_OVER_QUEUE));
    expect(port.counters.get('duress_frames_over_queue_total', { input: 'panel' })).toBe(MAX_DURESS_FRAMES_OVER_QUEUE);
  });

  it('counts every discarded line but logs one line per reason in a burst', async () => {
    const port = await stalledLinePort();
    await port.send(Array.from({ length: MAX_QUEUED + 20 }, (_, i) => burglary(i + 1)));
    await vi.waitFor(() => expect(port.discarded('QUEUE_FULL')).toBe(20));
    expect(port.lines.filter((line) => line.message === 'serial bytes discarded')).toHaveLength(1);
  });

  it('hands every discarded line to run --capture, a duress beyond its allowance included, marked with the reason', async () => {
    const captured: Array<[string, string, string | undefined]> = [];
    const port = await stalledLinePort((sample, note, transport, peer) => captured.push([Buffer.from(sample).toString('latin1'), `${note.reason} ${note.count}/${note.bytes} ${transport}`, peer]));
    const beyond = MAX_DURESS_FRAMES_OVER_QUEUE + 1;
    await port.send([...Array.from({ length: MAX_QUEUED + beyond }, (_, i) => duress(i + 1)), burglary(9)]);
    await vi.waitFor(() => expect(port.discarded('QUEUE_FULL')).toBe(1));
    const last = MAX_QUEUED + beyond;
    expect(captured).toEqual([
      [duress(last), `DURESS_QUEUE_FULL 1/${duress(last).length} serial`, PATH],
      [burglary(9), `QUEUE_FULL 1/${burglary(9).length} serial`, PATH],
    ]);
  });
});
