import { afterEach, describe, expect, it } from 'vitest';
import { SerialInput, type SerialBinding } from '../../adapters/inputs/serial.js';
import type { SerialProtocol } from '../../src/pipeline/serial-receiver.js';
import { MemoryOutbox } from '../../src/outbox/memory-outbox.js';
import { Counters } from '../../src/observability/counters.js';
import { silentLogger, systemClock } from '../../src/ports.js';
import { gateAppends } from '../helpers/gated-outbox.js';
import { serialInputFromConfig, serialReceiver } from '../helpers/serial-receiver.js';
import { MockBinding } from '../helpers/mock-serial-port.js';

/**
 * MockBinding of @serialport/binding-mock, reached through serialport's re-export: the package's own ESM entry
 * ships no type declarations.
 */
type MockPortBinding = Awaited<ReturnType<typeof MockBinding.open>>;

const PATH = '/dev/ttyUSB-test';
const ACK = 0x06;
const NAK = 0x15;
const DC4 = '\u0014';
/** SGAUTO p.19 example: protocol 5, receiver 01, line 100, account 1234, E121 (duress) group 01 user 001. */
const DURESS_PACKET = `501100 181234E12101001${DC4}`;
/** SGAUTO p.15: the idle heartbeat `1RR000` + 11 spaces + `@` + 4 spaces. */
const HEARTBEAT = `101000           @    ${DC4}`;

/**
 * MockBinding with an unplug switch: a real binding's pending read fails with an I/O error when the USB adapter
 * goes away, which makes SerialPortStream close the port as disconnected. Removing the mock port makes reopening
 * fail until it is created again (replugged).
 */
function unpluggableMockBinding() {
  const opened: Array<{ port: MockPortBinding; unplug: () => void }> = [];
  let attempts = 0;
  const binding: SerialBinding = {
    list: () => MockBinding.list(),
    async open(options) {
      attempts += 1;
      const port = await MockBinding.open(options);
      let fail!: (error: Error) => void;
      const unplugged = new Promise<never>((_resolve, reject) => (fail = reject));
      unplugged.catch(() => undefined);
      const read = port.read.bind(port);
      port.read = (buffer, offset, length) => Promise.race([read(buffer, offset, length), unplugged]);
      opened.push({ port, unplug: () => fail(new Error('EIO: i/o error (device unplugged)')) });
      return port;
    },
  };
  return {
    binding,
    get port(): MockPortBinding {
      const last = opened.at(-1);
      if (last === undefined) throw new Error('the port was never opened');
      return last.port;
    },
    /** Successful opens, and open attempts including failed ones. */
    opens: () => opened.length,
    attempts: () => attempts,
    unplug() {
      MockBinding.reset();
      opened.at(-1)?.unplug();
    },
    replug: () => MockBinding.createPort(PATH, { record: true }),
  };
}

/** Polls a condition of the running input (bounded, fails with what it waited for). */
async function until(condition: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

interface Setup {
  protocol?: SerialProtocol;
  downAlarmAfter?: number;
  silenceAlarmAfter?: number;
  maxNaks?: number;
  outbox?: MemoryOutbox;
  maxFrameBytes?: number;
}

const inputs: SerialInput[] = [];

async function startSerial(setup: Setup = {}) {
  MockBinding.reset();
  MockBinding.createPort(PATH, { record: true });
  const mock = unpluggableMockBinding();
  const outbox = setup.outbox ?? new MemoryOutbox();
  outbox.registerOutputs(['probe']);
  const counters = new Counters();
  const receiver = serialReceiver(outbox, {
    counters,
    account: '9000',
    ...(setup.protocol === undefined ? {} : { protocol: setup.protocol }),
    ...(setup.maxNaks === undefined ? {} : { maxNaks: setup.maxNaks }),
  });
  const input = new SerialInput({
    name: 'receiver',
    path: PATH,
    baudRate: 19200,
    dataBits: 7,
    parity: 'even',
    stopBits: 1,
    protocol: setup.protocol ?? 'surgard',
    maxFrameBytes: setup.maxFrameBytes ?? 256,
    reconnect: { initial: 10, max: 40 },
    downAlarmAfter: setup.downAlarmAfter ?? 60_000,
    ...(setup.silenceAlarmAfter === undefined ? {} : { silenceAlarmAfter: setup.silenceAlarmAfter }),
    receiver,
    clock: systemClock,
    logger: silentLogger,
    counters,
    binding: mock.binding,
  });
  inputs.push(input);
  await input.start();
  const stored = () => outbox.pending('probe', 1000).map((e) => e.event);
  /** Written bytes of the currently open port. */
  const written = () => [...mock.port.recording];
  return { input, mock, outbox, counters, stored, written };
}

afterEach(async () => {
  for (const input of inputs.splice(0)) await input.stop();
  MockBinding.reset();
});

describe('serial input: Sur-Gard automation output over MockBinding', () => {
  it('opens the port with the configured line settings', async () => {
    const { mock, input } = await startSerial();
    expect(mock.port.openOptions).toMatchObject({ path: PATH, baudRate: 19200, dataBits: 7, parity: 'even', stopBits: 1 });
    expect(input.health().state).toBe('up');
  });

  it('stores a duress packet and only then writes ACK 0x06', async () => {
    const outbox = new MemoryOutbox();
    const { appending, release } = gateAppends(outbox);
    const { mock, stored, written } = await startSerial({ outbox });
    mock.port.emitData(Buffer.from(DURESS_PACKET, 'latin1'));
    await appending;
    expect(written()).toEqual([]);
    release();
    await until(() => written().length > 0, 'the ACK');
    expect(written()).toEqual([ACK]);
    expect(stored()).toHaveLength(1);
    expect(stored()[0]).toMatchObject({
      protocol: 'surgard',
      category: 'duress',
      duress: true,
      account: '1234',
      receiver: '01',
      line: '100',
      code: { value: '121' },
      user: { number: 1 },
      source: { input: 'receiver', transport: 'serial', peer: PATH },
      verified: true,
    });
  });

  it('NAKs a packet that does not decode, counts it and stores nothing', async () => {
    const { mock, stored, written, counters } = await startSerial();
    mock.port.emitData(Buffer.from(`5011001 8XYZ${DC4}`, 'latin1'));
    await until(() => written().length > 0, 'the NAK');
    expect(written()).toEqual([NAK]);
    expect(stored()).toHaveLength(0);
    expect(counters.get('frames_rejected_total', { input: 'receiver', code: 'SURGARD_FORMAT_INVALID' })).toBe(1);
  });

  it('ACKs a heartbeat without storing an event', async () => {
    const { mock, stored, written, counters } = await startSerial();
    mock.port.emitData(Buffer.from(HEARTBEAT, 'latin1'));
    await until(() => written().length > 0, 'the ACK');
    expect(written()).toEqual([ACK]);
    expect(stored()).toHaveLength(0);
    expect(counters.get('heartbeats_total', { input: 'receiver' })).toBe(1);
  });

  it('ACKs a retransmit of the same packet (lost ACK) again and stores it once', async () => {
    const { mock, stored, written } = await startSerial();
    mock.port.emitData(Buffer.from(DURESS_PACKET, 'latin1'));
    await until(() => written().length === 1, 'the first ACK');
    mock.port.emitData(Buffer.from(DURESS_PACKET, 'latin1'));
    await until(() => written().length === 2, 'the second ACK');
    expect(written()).toEqual([ACK, ACK]);
    expect(stored()).toHaveLength(1);
  });

  it('answers packets in arrival order when several arrive in one chunk', async () => {
    const { mock, stored, written } = await startSerial();
    const restore = `501100 181234R12101001${DC4}`;
    mock.port.emitData(Buffer.from(`${DURESS_PACKET}garbage${DC4}${HEARTBEAT}${restore}`, 'latin1'));
    await until(() => written().length === 4, 'four answers');
    expect(written()).toEqual([ACK, NAK, ACK, ACK]);
    expect(stored().map((e) => e.qualifier)).toEqual(['new', 'restore']);
  });

  it('stores a packet that was NAKed maxNaks times and sent again unchanged as unrecognized, and ACKs it', async () => {
    const { mock, stored, written } = await startSerial({ maxNaks: 2 });
    const unknown = `401100 5551234${DC4}`;
    for (let copy = 1; copy <= 3; copy++) {
      mock.port.emitData(Buffer.from(unknown, 'latin1'));
      await until(() => written().length === copy, `answer ${copy}`);
    }
    expect(written()).toEqual([NAK, NAK, ACK]);
    expect(stored()).toHaveLength(1);
    expect(stored()[0]).toMatchObject({ category: 'unrecognized', protocol: 'surgard', account: '9000', raw: '401100 5551234\\x14' });
    expect(stored()[0]!.reasons[0]).toContain('SURGARD_PROTOCOL_UNSUPPORTED');
  });

  it('discards noise without a terminator past maxFrameBytes and still decodes the next packet', async () => {
    const { mock, stored, written, counters } = await startSerial({ maxFrameBytes: 64 });
    for (let i = 0; i < 50; i++) mock.port.emitData(Buffer.alloc(4096, 0x55));
    mock.port.emitData(Buffer.from(`${DC4}${DURESS_PACKET}`, 'latin1'));
    await until(() => written().length > 0, 'the ACK');
    expect(written()).toEqual([ACK]);
    expect(stored()[0]).toMatchObject({ category: 'duress' });
    expect(counters.get('frames_discarded_total', { input: 'receiver', reason: 'FRAME_OVERSIZE' })).toBeGreaterThan(0);
  });
});

describe('SerialReceiver (the core, without a port)', () => {
  function core(outbox: MemoryOutbox) {
    let now = Date.parse('2025-03-01T09:00:00Z');
    const counters = new Counters();
    const receiver = serialReceiver(outbox, { clock: { now: () => now }, counters });
    const packet = (text: string) => receiver.handlePacket(Buffer.from(text, 'latin1'), PATH);
    return { packet, advance: (ms: number) => (now += ms) };
  }

  it('treats the same packet after the retransmit window as a new event', async () => {
    const outbox = new MemoryOutbox();
    outbox.registerOutputs(['probe']);
    const { packet, advance } = core(outbox);
    expect((await packet(DURESS_PACKET)).duplicate).toBe(false);
    advance(10_000);
    expect((await packet(DURESS_PACKET)).duplicate).toBe(true);
    advance(25_000);
    // Each copy extends the streak: 25 s after the last copy is still a retransmit.
    expect((await packet(DURESS_PACKET)).duplicate).toBe(true);
    advance(31_000);
    const later = await packet(DURESS_PACKET);
    expect(later.duplicate).toBe(false);
    expect([...later.reply!]).toEqual([ACK]);
    expect(outbox.pending('probe', 10)).toHaveLength(2);
  });

  it('NAKs an event it could not store', async () => {
    const outbox = new MemoryOutbox();
    outbox.close();
    const outcome = await core(outbox).packet(DURESS_PACKET);
    expect([...outcome.reply!]).toEqual([NAK]);
    expect(outcome.error?.code).toBe('OUTBOX_WRITE_FAILED');
  });
});

describe('serial input: settings', () => {
  it('is built from the configuration keys of the issue (8 data bits by default, 7E1 here)', async () => {
    const config = `
inputs:
  - type: serial
    name: receiver
    path: ${PATH}
    baudRate: 19200
    dataBits: 7
    parity: even
    stopBits: 1
    protocol: surgard
    account: "9000"
    downAlarmAfter: 90s
    silenceAlarmAfter: 3m
outputs: []
`;
    MockBinding.reset();
    MockBinding.createPort(PATH, { record: true });
    const mock = unpluggableMockBinding();
    const outbox = new MemoryOutbox();
    outbox.registerOutputs(['probe']);
    const { input, settings } = serialInputFromConfig(config, outbox, mock.binding);
    expect(settings).toMatchObject({ maxNaks: 2, retransmitWindow: 30_000, downAlarmAfter: 90_000, silenceAlarmAfter: 180_000 });
    inputs.push(input);
    await input.start();
    expect(mock.port.openOptions).toMatchObject({ baudRate: 19200, dataBits: 7, parity: 'even', stopBits: 1 });
    mock.port.emitData(Buffer.from(DURESS_PACKET, 'latin1'));
    await until(() => mock.port.recording.length > 0, 'the ACK');
    expect([...mock.port.recording]).toEqual([ACK]);
    expect(outbox.pending('probe', 10)[0]?.event).toMatchObject({ category: 'duress', source: { input: 'receiver' } });
  });
});

describe('serial input: line protocols', () => {
  it('contact-id-lines: stores good lines and a bad-checksum line as unrecognized with its raw text, ACKing each', async () => {
    const { mock, stored, written } = await startSerial({ protocol: 'contact-id-lines' });
    // Checksums per DC-05 (protocols.md §1.2); the second line has its check digit changed.
    mock.port.emitData(Buffer.from('1234181121010014\r\n1234181131010159\r\n\r\n', 'latin1'));
    await until(() => stored().length === 2, 'two events');
    const [duress, bad] = stored();
    expect(duress).toMatchObject({ protocol: 'contact-id', category: 'duress', code: { value: '121' }, account: '1234' });
    expect(bad).toMatchObject({ protocol: 'contact-id', category: 'unrecognized', raw: '1234181131010159', account: '9000' });
    expect(bad!.reasons[0]).toContain('CID_CHECKSUM_INVALID');
    await until(() => written().length === 2, 'an ACK for each line');
    expect(written()).toEqual([ACK, ACK]);
  });

  it('sia-dc03-lines: stores a Galaxy line and an unparsable line as unrecognized', async () => {
    const { mock, stored, written } = await startSerial({ protocol: 'sia-dc03-lines' });
    // Galaxy level 1 (protocols.md §2.2): hold-up on zone 12.
    mock.port.emitData(Buffer.from('#123456 NHA0012\rthis is not a parsable event\r', 'latin1'));
    await until(() => stored().length === 2, 'two events');
    expect(stored()[0]).toMatchObject({ protocol: 'sia-dc03', category: 'holdup', duress: true, account: '123456', zone: { number: 12 } });
    expect(stored()[1]).toMatchObject({ category: 'unrecognized', raw: 'this is not a parsable event' });
    expect(stored()[1]!.reasons[0]).toContain('SIA03_FORMAT_INVALID');
    expect(written()).toEqual([]);
  });
});

describe('serial input: a lost port', () => {
  it('reconnects, raises one supervisory down event, a restore when back, and receives frames after the replug', async () => {
    const { input, mock, stored, counters } = await startSerial({ downAlarmAfter: 60 });
    mock.unplug();
    await until(() => input.health().state === 'down', 'the port to be seen down');
    await until(() => stored().length === 1, 'the down event');
    // Several failed reopen attempts later there is still one down event.
    const attemptsAtAlarm = mock.attempts();
    await until(() => mock.attempts() >= attemptsAtAlarm + 3, 'three more reopen attempts');
    expect(mock.opens()).toBe(1);
    expect(stored()).toHaveLength(1);
    expect(stored()[0]).toMatchObject({ category: 'supervisory', qualifier: 'new', account: '9000', source: { transport: 'serial', peer: PATH } });
    expect(stored()[0]!.reasons[0]).toMatch(new RegExp(`serial port ${PATH} down since \\d{4}-\\d{2}-\\d{2}T`));

    mock.replug();
    await until(() => mock.opens() === 2, 'the port to be reopened');
    await until(() => stored().length === 2, 'the restore event');
    expect(stored()[1]).toMatchObject({ category: 'supervisory', qualifier: 'restore', account: '9000' });
    expect(input.health().state).toBe('up');

    mock.port.emitData(Buffer.from(DURESS_PACKET, 'latin1'));
    await until(() => mock.port.recording.length > 0, 'the ACK on the new port');
    expect([...mock.port.recording]).toEqual([ACK]);
    expect(stored().map((e) => e.category).sort()).toEqual(['duress', 'supervisory', 'supervisory']);
    expect(counters.get('input_errors_total')).toBe(0);
  });

  // A cut RS-232 cable (or one an attacker on site pulls) leaves a USB adapter's port open: nothing but the missing
  // heartbeats (SGAUTO p.15: every ~30 s when idle) shows it, and no supervisory event was raised, ever.
  it('raises one supervisory event when an open port stays silent past silenceAlarmAfter, and a restore at its next bytes', async () => {
    const { input, mock, stored } = await startSerial({ silenceAlarmAfter: 80 });
    mock.port.emitData(Buffer.from(HEARTBEAT, 'latin1'));
    await until(() => stored().length === 1, 'the silence event');
    expect(stored()[0]).toMatchObject({ category: 'supervisory', qualifier: 'new', account: '9000', source: { transport: 'serial', peer: PATH } });
    expect(stored()[0]!.reasons[0]).toMatch(new RegExp(`serial port ${PATH} silent since \\d{4}-\\d{2}-\\d{2}T`));
    expect(input.health()).toMatchObject({ state: 'down', detail: expect.stringContaining('silent') });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(stored()).toHaveLength(1);

    mock.port.emitData(Buffer.from(DURESS_PACKET, 'latin1'));
    await until(() => stored().length === 3, 'the duress and the restore');
    expect(stored().map((e) => `${e.category}/${e.qualifier}`).sort()).toEqual(['duress/new', 'supervisory/new', 'supervisory/restore']);
    expect(input.health().state).toBe('up');
  });

  it('raises no event for an outage shorter than downAlarmAfter', async () => {
    const { input, mock, stored } = await startSerial({ downAlarmAfter: 60_000 });
    mock.unplug();
    await until(() => input.health().state === 'down', 'the port to be seen down');
    mock.replug();
    await until(() => input.health().state === 'up', 'the port to be back');
    expect(stored()).toHaveLength(0);
  });

  it('keeps retrying a port that is missing at start and reports it down meanwhile', async () => {
    MockBinding.reset();
    const mock = unpluggableMockBinding();
    const receiver = serialReceiver(new MemoryOutbox());
    const input = new SerialInput({
      name: 'receiver', path: PATH, baudRate: 19200, dataBits: 7, parity: 'even', stopBits: 1, protocol: 'surgard',
      maxFrameBytes: 256, reconnect: { initial: 10, max: 20 }, downAlarmAfter: 60_000, receiver, clock: systemClock,
      logger: silentLogger, counters: new Counters(), binding: mock.binding,
    });
    inputs.push(input);
    await input.start();
    expect(input.health()).toMatchObject({ state: 'down' });
    expect(input.health().detail).toContain(`${PATH} down since`);
    mock.replug();
    await until(() => input.health().state === 'up', 'the port to open');
    await input.stop();
    expect(input.health().state).toBe('down');
    expect(mock.port.isOpen).toBe(false);
  });
});
