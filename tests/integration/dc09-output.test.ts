import dgram from 'node:dgram';
import net from 'node:net';
import { once } from 'node:events';
import { createDecipheriv, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { Dc09Output, KEYED_DUH_DEAD_LETTER_MS, type Dc09OutputDeps, type Dc09OutputOptions } from '../../adapters/outputs/dc09.js';
import type { LinkStateReport } from '../../adapters/outputs/link-state.js';
import { AnswerQueue } from '../../adapters/outputs/dc09-link.js';
import { Dc09Framer } from '../../src/codecs/dc09/framer.js';
import { decodeDc09Frame, type Dc09Message } from '../../src/codecs/dc09/frame.js';
import { encodeAck, encodeDuh, encodeNak } from '../../src/codecs/dc09/responses.js';
import type { Dc09Account } from '../../src/pipeline/dc09-receiver.js';
import { Dispatcher } from '../../src/pipeline/dispatcher.js';
import { Counters } from '../../src/observability/counters.js';
import { MemoryOutbox } from '../../src/outbox/memory-outbox.js';
import type { NormalizedEvent } from '../../src/model/event.js';
import { silentLogger, systemClock, type Clock } from '../../src/ports.js';
import { crcArc } from '../helpers/panel.js';
import { recordingLogger } from '../helpers/recording-logger.js';
import { startListener } from '../helpers/dc09-listener.js';
import { testDc09Receiver } from '../helpers/dc09-receiver.js';
import { testEvent } from '../helpers/output-events.js';

const KEY_HEX = '000102030405060708090A0B0C0D0E0F';
const KEY = Buffer.from(KEY_HEX, 'hex');
const OTHER_KEY = Buffer.from('F0E0D0C0B0A090807060504030201000', 'hex');

type Script = 'ack' | 'fixed-pad-ack' | 'nak-ahead' | 'nak-now' | 'duh' | 'silent' | 'plain-ack' | 'wrong-key-ack' | 'replayed-ack' | 'replayed-latest-ack' | 'replayed-latest-fixed-pad-ack' | 'replayed-30s-ack' | 'lagging-30s' | 'plain-ack-then-ack' | 'duh-then-ack' | 'noise-then-ack' | 'replayed-latest-ack-block-after' | 'replayed-latest-ack-block-before';

/** How long before the test an attacker on the centre's path recorded the *ACK it replays. */
const RECORDED_ACK_AGE_MS = 10 * 60_000;

/**
 * What an attacker on the path to the centre can make of one *ACK it recorded (here to sequence 0042, ten minutes
 * ago): the sequence number sits in the clear header and the CRC is keyless, so it rewrites both to match the frame it
 * dropped. The encrypted part, pad|]_timestamp, still decrypts under the key (protocols.md §3.6, §3.7).
 */
function replayedAck(msg: Dc09Message, key: Uint8Array, ageMs = RECORDED_ACK_AGE_MS): Uint8Array {
  return renumbered(encodeAck({ ...msg, seq: '0042' }, { now: Date.now() - ageMs, random: randomBytes, key }), msg.seq);
}

/** How far the clock of a receiver that lags runs behind (more than the 20 s its window lets a panel run ahead). */
const RECEIVER_LAG_MS = 30_000;

/** A recorded *ACK with its clear sequence number rewritten to `seq`, and the keyless CRC to match. */
function renumbered(ack: Uint8Array, seq: string): Uint8Array {
  const recorded = Buffer.from(ack).toString('latin1');
  const body = recorded.slice(9, -1).replace(/^"\*ACK"\d{4}/, `"*ACK"${seq}`);
  return Buffer.from(`\n${crcArc(body).toString(16).toUpperCase().padStart(4, '0')}${recorded.slice(5, 9)}${body}\r`, 'latin1');
}

/**
 * A recorded *ACK with a cipher block of the attacker's added after or before its ciphertext, renumbered to `seq`
 * (length and keyless CRC to match). Under CBC the blocks it had still decrypt as they did (all of them after the
 * end, all but the first before the start): the pad|]_timestamp is there, the bytes are not those taken.
 */
function withBlock(ack: Uint8Array, seq: string, where: 'after' | 'before'): Uint8Array {
  const recorded = Buffer.from(ack).toString('latin1');
  const block = randomBytes(16).toString('hex').toUpperCase();
  const body = recorded
    .slice(9, -1)
    .replace(/^"\*ACK"\d{4}/, `"*ACK"${seq}`)
    .replace(/\[([0-9A-F]+)$/i, (_all, hex: string) => `[${where === 'after' ? hex + block : block + hex}`);
  const length = `0${body.length.toString(16).toUpperCase().padStart(3, '0')}`;
  return Buffer.from(`\n${crcArc(body).toString(16).toUpperCase().padStart(4, '0')}${length}${body}\r`, 'latin1');
}

/** The pad pysiaalarm (Home Assistant's receiver) writes: ASCII '0', so its *ACKs within one second are the same bytes. */
const fixedPad = (length: number) => Buffer.alloc(length, '0');

interface Received {
  msg: Dc09Message;
  at: number;
  bytes: Buffer;
}

/**
 * A monitoring centre's receiver for the tests, on TCP and UDP at once: it checks each frame's CRC with the test
 * panel's own bitwise CRC, decodes it, and answers as `script()` says for that frame.
 */
async function startReceiver(script: (msg: Dc09Message, index: number) => Script, key?: Uint8Array, replyDelayMs = 0) {
  const received: Received[] = [];
  const clockAheadMs = 3_600_000;
  let latestAck: Uint8Array | undefined;
  let latestFixedPadAck: Uint8Array | undefined;
  const answer = (frame: Uint8Array): Uint8Array | null => {
    const body = Buffer.from(frame).toString('latin1').trim();
    // The CRC, checked independently of the project's codec: 4 hex digits over the body after the length.
    expect(parseInt(body.slice(0, 4), 16)).toBe(crcArc(body.slice(8)));
    const decoded = decodeDc09Frame(frame, { keyFor: () => key });
    if (!decoded.ok) throw new Error(`${decoded.error.code}: ${decoded.error.message}`);
    const msg = decoded.value;
    received.push({ msg, at: Date.now(), bytes: Buffer.from(frame) });
    switch (script(msg, received.length - 1)) {
      case 'ack':
        latestAck = encodeAck(msg, { now: Date.now(), random: randomBytes, ...(key === undefined ? {} : { key }) });
        return latestAck;
      case 'fixed-pad-ack':
        latestFixedPadAck = encodeAck(msg, { now: Date.now(), random: fixedPad, ...(key === undefined ? {} : { key }) });
        return latestFixedPadAck;
      case 'nak-ahead':
        return encodeNak(Date.now() + clockAheadMs);
      case 'nak-now':
        return encodeNak(Date.now());
      case 'duh':
        return encodeDuh(msg);
      case 'plain-ack':
        return encodeAck({ ...msg, encrypted: false }, { now: Date.now(), random: randomBytes });
      case 'wrong-key-ack':
        return encodeAck(msg, { now: Date.now(), random: randomBytes, key: OTHER_KEY });
      case 'replayed-ack':
        return replayedAck(msg, key!);
      case 'replayed-30s-ack':
        return replayedAck(msg, key!, 30_000);
      case 'lagging-30s': {
        // A receiver whose clock lags, with the usual window (protocols.md §3.5): it NAKs a time more than 20 s ahead.
        const now = Date.now() - RECEIVER_LAG_MS;
        return msg.timestamp! > now + 20_000 ? encodeNak(now) : encodeAck(msg, { now, random: randomBytes, ...(key === undefined ? {} : { key }) });
      }
      case 'replayed-latest-ack':
        return renumbered(latestAck!, msg.seq);
      case 'replayed-latest-fixed-pad-ack':
        return renumbered(latestFixedPadAck!, msg.seq);
      case 'replayed-latest-ack-block-after':
        return withBlock(latestAck!, msg.seq, 'after');
      case 'replayed-latest-ack-block-before':
        return withBlock(latestAck!, msg.seq, 'before');
      case 'silent':
        return null;
      // One write (TCP only): what a man in the middle who can inject but not drop gets in ahead of the centre's ACK.
      case 'plain-ack-then-ack':
        return Buffer.concat([encodeAck({ ...msg, encrypted: false }, { now: Date.now(), random: randomBytes }), encodeAck(msg, { now: Date.now(), random: randomBytes, ...(key === undefined ? {} : { key }) })]);
      case 'duh-then-ack':
        return Buffer.concat([encodeDuh(msg), encodeAck(msg, { now: Date.now(), random: randomBytes, ...(key === undefined ? {} : { key }) })]);
      case 'noise-then-ack':
        return Buffer.concat([Buffer.from('+++ATH0\r', 'latin1'), encodeAck(msg, { now: Date.now(), random: randomBytes, ...(key === undefined ? {} : { key }) })]);
    }
  };
  const sockets = new Set<net.Socket>();
  // Delayed replies still due when the receiver closes are dropped with it (a send on a closed UDP socket throws).
  const dueReplies = new Set<NodeJS.Timeout>();
  const replyLater = (send: () => void): void => {
    const timer = setTimeout(() => {
      dueReplies.delete(timer);
      send();
    }, replyDelayMs);
    dueReplies.add(timer);
  };
  const tcp = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const framer = new Dc09Framer();
    socket.on('data', (chunk) => {
      for (const out of framer.push(chunk)) {
        if (out.kind !== 'frame') continue;
        const reply = answer(out.bytes);
        if (reply !== null) replyLater(() => socket.write(reply));
      }
    });
    socket.on('error', () => socket.destroy());
  });
  tcp.listen(0, '127.0.0.1');
  await once(tcp, 'listening');
  const port = (tcp.address() as net.AddressInfo).port;
  const udp = dgram.createSocket('udp4');
  udp.on('message', (message, rinfo) => {
    const reply = answer(message);
    if (reply !== null) replyLater(() => udp.send(reply, rinfo.port, rinfo.address));
  });
  udp.bind(port, '127.0.0.1');
  await once(udp, 'listening');
  return {
    port,
    received,
    clockAheadMs,
    events: () => received.filter((r) => r.msg.token !== 'NULL'),
    async close() {
      for (const timer of dueReplies) clearTimeout(timer);
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => tcp.close(resolve));
      await new Promise<void>((resolve) => udp.close(() => resolve()));
    },
  };
}

/** A free loopback port nobody listens on (TCP connect is refused, UDP gets no answer). */
async function deadPort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function output(
  options: Partial<Dc09OutputOptions> & { primary: string },
  reports: LinkStateReport[] = [],
  clock: Clock = systemClock,
  deps: Partial<Pick<Dc09OutputDeps, 'counters' | 'logger'>> = {},
): Promise<Dc09Output> {
  const out = new Dc09Output(
    {
      name: 'arc',
      account: '9876',
      line: '0',
      format: 'adm-cid',
      supervision: 0,
      // Long enough for an ACK on a loaded machine; tests of silence set their own.
      ackTimeout: 2_000,
      retries: 1,
      audience: 'central',
      ...options,
    },
    { clock, logger: silentLogger, reportLinkState: (report) => reports.push(report), ...deps },
  );
  await out.start();
  closers.push(() => out.stop());
  return out;
}

const duress = () =>
  testEvent({ category: 'duress', protocol: 'adm-cid', code: { scheme: 'contact-id', value: '121', description: 'Duress' }, user: { number: 5 }, partition: { number: 1 } });

/** Both transports, both formats, plain and encrypted. */
const WAYS = [
  ['tcp', 'adm-cid', false],
  ['udp', 'sia-dcs', false],
  ['tcp', 'sia-dcs', true],
  ['udp', 'adm-cid', true],
] as const;

describe('DC-09 output towards a receiver', () => {
  it.each(WAYS)('over %s as %s (encrypted: %s): delivered on the receiver ACK, with account, sequence and timestamp', async (transport, format, encrypted) => {
    const receiver = await startReceiver(() => 'ack', encrypted ? KEY : undefined);
    closers.push(() => receiver.close());
    const out = await output({ primary: `${transport}://127.0.0.1:${receiver.port}`, format, receiver: '12', ...(encrypted ? { key: KEY_HEX, keyEncoding: 'hex' } : {}) });
    expect(await out.deliver(duress())).toEqual({ ok: true });
    expect(await out.deliver(testEvent({ category: 'burglary', code: { scheme: 'sia', value: 'BA', description: '' }, zone: { number: 3 } }))).toEqual({ ok: true });
    const [first, second] = receiver.events();
    expect(first!.msg).toMatchObject({ encrypted, account: '9876', dataAccount: '9876', receiver: '12', line: '0', seq: '0001' });
    expect(second!.msg.seq).toBe('0002');
    expect(first!.msg.data).toBe(format === 'adm-cid' ? '1121 01 005' : 'Nid005/ri1/HA');
    expect(second!.msg.data).toBe(format === 'adm-cid' ? '1130 00 003' : 'NBA003');
    expect(Math.abs(first!.msg.timestamp! - Date.now())).toBeLessThan(5_000);
    // The whole data, not its digits: a padded frame's 512 hex characters hold '1121' by chance about once in 128.
    if (encrypted) expect(first!.bytes.toString('latin1')).not.toContain(first!.msg.data);
    expect(out.health()).toEqual({ state: 'up' });
  });

  it('an encrypted frame as DC-09 lays it out, checked without the project\'s codec: header, pad, data, timestamp', async () => {
    const receiver = await startReceiver(() => 'ack', KEY);
    closers.push(() => receiver.close());
    const out = await output({ primary: `udp://127.0.0.1:${receiver.port}`, key: KEY_HEX, keyEncoding: 'hex', receiver: '12' });
    expect(await out.deliver(duress())).toEqual({ ok: true });
    const text = receiver.events()[0]!.bytes.toString('latin1');
    const match = /^\n([0-9A-F]{4})(0[0-9A-F]{3})("\*ADM-CID"0001R12L0#9876\[([0-9A-F]+))\r$/.exec(text);
    expect(match).not.toBeNull();
    const [, crc, length, body, hex] = match!;
    expect(parseInt(crc!, 16)).toBe(crcArc(body!));
    expect(parseInt(length!, 16)).toBe(body!.length);
    const decipher = createDecipheriv('aes-128-cbc', KEY, Buffer.alloc(16)).setAutoPadding(false);
    const plain = Buffer.concat([decipher.update(Buffer.from(hex!, 'hex')), decipher.final()]);
    const bar = plain.indexOf(0x7c);
    expect(plain.length % 16).toBe(0);
    expect(bar).toBeGreaterThan(0); // at least one pad byte, none of them | [ ]
    for (const byte of plain.subarray(0, bar)) expect([0x7c, 0x5b, 0x5d]).not.toContain(byte);
    expect(plain.subarray(bar).toString('latin1')).toMatch(/^\|#9876\|1121 01 005\](\[[A-Z][^\]]*\])*_\d\d:\d\d:\d\d,\d\d-\d\d-\d{4}$/);
  });

  it('refuses to start with a key file it cannot read or a key of the wrong size, naming the output', async () => {
    const options = { name: 'arc', primary: 'tcp://127.0.0.1:1', account: '9876', line: '0', format: 'adm-cid', supervision: 0, ackTimeout: 300, retries: 0, audience: 'central' } as const;
    const deps = { clock: systemClock, logger: silentLogger };
    await expect(new Dc09Output({ ...options, keyFile: '/nonexistent/arc.key', keyEncoding: 'hex' }, deps).start()).rejects.toThrow(/dc09 output "arc": cannot read its key/);
    await expect(new Dc09Output({ ...options, key: '0011', keyEncoding: 'hex' }, deps).start()).rejects.toThrow(/dc09 output "arc": a hex key is 32, 48 or 64 hex digits/);
  });

  it.each([
    ['sia-dcs', { H: '05:06:07,03-04-2026', S: 'Branch 12  main' }],
    // One field after ADM-CID data: pysiaalarm (Home Assistant) NAKs more (tests/src/codecs/dc09/transmitter.receivers.test.ts).
    ['adm-cid', { I: 'occurred 05:06:07,03-04-2026: site Branch 12  main' }],
  ] as const)('carries the panel time and the site as extended data (%s)', async (format, extended) => {
    const receiver = await startReceiver(() => 'ack');
    closers.push(() => receiver.close());
    const out = await output({ primary: `tcp://127.0.0.1:${receiver.port}`, format });
    const event = { ...duress(), occurredAt: '2026-03-04T05:06:07.000Z', site: { id: 'branch-12', name: 'Branch 12 [main]' } };
    expect(await out.deliver(event)).toEqual({ ok: true });
    expect(receiver.events()[0]!.msg.extended).toEqual(extended);
  });

  it('attack: a forged plain ACK to an encrypted frame, or an *ACK under another key, is not a delivery', async () => {
    for (const forged of ['plain-ack', 'wrong-key-ack'] as const) {
      const receiver = await startReceiver(() => forged, KEY);
      closers.push(() => receiver.close());
      const out = await output({ primary: `tcp://127.0.0.1:${receiver.port}`, key: KEY_HEX, keyEncoding: 'hex', ackTimeout: 300 });
      const result = await out.deliver(duress());
      expect(result).toMatchObject({ ok: false, retryable: true });
      expect(receiver.events().length).toBe(2); // the first try and one retry
    }
  });

  it('attack: an *ACK recorded earlier and replayed with the frame\'s sequence number is not a delivery', async () => {
    const receiver = await startReceiver(() => 'replayed-ack', KEY);
    closers.push(() => receiver.close());
    const out = await output({ primary: `tcp://127.0.0.1:${receiver.port}`, key: KEY_HEX, keyEncoding: 'hex', ackTimeout: 300 });
    const result = await out.deliver(duress());
    expect(result).toMatchObject({ ok: false, retryable: true });
    expect(receiver.events().length).toBe(2); // the first try and one retry
  });

  it('attack: an *ACK 30 s older than the frame\'s own timestamp, never taken (recorded, renumbered), is not a delivery', async () => {
    // A receiver with the usual window takes a time at most 20 s ahead of its clock, so its ACK to the frame is no
    // more than 20 s older than the frame's timestamp; 30 s is within the 40 s the gateway's own clock allows.
    const receiver = await startReceiver(() => 'replayed-30s-ack', KEY);
    closers.push(() => receiver.close());
    const out = await output({ primary: `tcp://127.0.0.1:${receiver.port}`, key: KEY_HEX, keyEncoding: 'hex', ackTimeout: 300 });
    expect(await out.deliver(duress())).toMatchObject({ ok: false, retryable: true });
    expect(receiver.events()).toHaveLength(2);
  });

  it.each([
    ['plain-ack', 'plain-ack'],
    ['wrong-key-ack', 'wrong-key'],
    ['replayed-ack', 'ack-before-frame'],
    ['duh', 'plain-duh'],
    ['nak-now', 'plain-nak'],
  ] as const)('attack: on a keyed link, an answer %s is counted as distrusted (reason %s) by output and path, and logged once per window', async (script, reason) => {
    const receiver = await startReceiver(() => script, KEY);
    closers.push(() => receiver.close());
    const counters = new Counters();
    const { logger, lines } = recordingLogger();
    const out = await output({ primary: `tcp://127.0.0.1:${receiver.port}`, key: KEY_HEX, keyEncoding: 'hex', ackTimeout: 300 }, [], systemClock, { counters, logger });
    expect(await out.deliver(duress())).toMatchObject({ ok: false, retryable: true });
    const answers = receiver.events().length;
    expect(answers).toBeGreaterThanOrEqual(1);
    expect(counters.get('dc09_output_answers_distrusted_total', { output: 'arc', path: 'primary', reason })).toBe(answers);
    expect(lines.filter((line) => line.fields['reason'] === reason && line.message === 'receiver answer refused or not trusted')).toHaveLength(1);
  });

  it('attack: an *ACK taken once and replayed renumbered to the next frame is counted as replayed', async () => {
    const receiver = await startReceiver((_msg, index) => (index === 0 ? 'ack' : 'replayed-latest-ack'), KEY);
    closers.push(() => receiver.close());
    const counters = new Counters();
    const out = await output({ primary: `tcp://127.0.0.1:${receiver.port}`, key: KEY_HEX, keyEncoding: 'hex', ackTimeout: 300 }, [], systemClock, { counters });
    expect(await out.deliver(testEvent())).toEqual({ ok: true });
    expect(await out.deliver(duress())).toMatchObject({ ok: false, retryable: true });
    expect(counters.get('dc09_output_answers_distrusted_total', { output: 'arc', path: 'primary', reason: 'replayed' })).toBe(2);
  });

  it('on an unkeyed link a NAK or DUH is the receiver\'s answer, not counted as distrusted', async () => {
    const receiver = await startReceiver((_msg, index) => (index === 0 ? 'nak-ahead' : 'duh'));
    closers.push(() => receiver.close());
    const counters = new Counters();
    const out = await output({ primary: `tcp://127.0.0.1:${receiver.port}` }, [], systemClock, { counters });
    expect(await out.deliver(testEvent())).toMatchObject({ ok: false, retryable: false });
    expect(counters.snapshot().filter((s) => s.name === 'dc09_output_answers_distrusted_total')).toEqual([]);
  });

  it.each([
    ['plain-ack-then-ack', true],
    ['duh-then-ack', true],
    ['noise-then-ack', true],
    ['noise-then-ack', false],
  ] as const)('attack: an answer injected ahead of the centre\'s ACK (%s, keyed: %s) does not end the wait for it: delivered at the first send', async (script, keyed) => {
    const receiver = await startReceiver(() => script, keyed ? KEY : undefined);
    closers.push(() => receiver.close());
    const counters = new Counters();
    const out = await output({ primary: `tcp://127.0.0.1:${receiver.port}`, ackTimeout: 1_000, ...(keyed ? { key: KEY_HEX, keyEncoding: 'hex' as const } : {}) }, [], systemClock, { counters });
    expect(await out.deliver(duress())).toEqual({ ok: true });
    expect(receiver.events()).toHaveLength(1);
    // Still counted: the injected answer is a sign of a man in the middle.
    expect(counters.get('dc09_output_answers_distrusted_total', { output: 'arc', path: 'primary' })).toBe(1);
    expect(out.health()).toEqual({ state: 'up' });
  });

  it('a centre whose clock lags 30 s: its NAK corrects the frame\'s time, and its *ACK, 30 s behind the gateway, delivers', async () => {
    const receiver = await startReceiver(() => 'lagging-30s', KEY);
    closers.push(() => receiver.close());
    const out = await output({ primary: `udp://127.0.0.1:${receiver.port}`, key: KEY_HEX, keyEncoding: 'hex' });
    expect(await out.deliver(duress())).toEqual({ ok: true });
    expect(await out.deliver(testEvent())).toEqual({ ok: true });
    // One NAK for the first frame; the second went with the corrected time at once.
    expect(receiver.events()).toHaveLength(3);
  });

  it('attack: the centre\'s *ACK to the frame before, seconds old, replayed renumbered to the next one (a duress dropped on the path) is not a delivery', async () => {
    // Its time is well within 40 s of the duress, so only its bytes tell: under the all-zero IV, the same ciphertext
    // is the same pad and time, which a receiver drawing its pad at random never sends twice.
    const receiver = await startReceiver((_msg, index) => (index === 0 ? 'ack' : 'replayed-latest-ack'), KEY);
    closers.push(() => receiver.close());
    let shiftMs = 0;
    const out = await output({ primary: `tcp://127.0.0.1:${receiver.port}`, key: KEY_HEX, keyEncoding: 'hex', ackTimeout: 300 }, [], { now: () => Date.now() + shiftMs });
    expect(await out.deliver(testEvent())).toEqual({ ok: true });
    shiftMs = 5_000;
    expect(await out.deliver(duress())).toMatchObject({ ok: false, retryable: true });
    expect(receiver.events()).toHaveLength(3); // the first event, the duress and its retry
  });

  it('attack: the centre\'s *ACK to the frame before, replayed at once renumbered to the next one, is not a delivery when the centre pads at random', async () => {
    // Within 2 s, yet a receiver that draws its pad at random never encrypts two ACKs alike (protocols.md §3.6).
    const receiver = await startReceiver((_msg, index) => (index === 0 ? 'ack' : 'replayed-latest-ack'), KEY);
    closers.push(() => receiver.close());
    const out = await output({ primary: `tcp://127.0.0.1:${receiver.port}`, key: KEY_HEX, keyEncoding: 'hex', ackTimeout: 300 });
    expect(await out.deliver(testEvent())).toEqual({ ok: true });
    expect(await out.deliver(duress())).toMatchObject({ ok: false, retryable: true });
    expect(receiver.events()).toHaveLength(3); // the first event, the duress and its retry
  });

  it.each(['replayed-latest-ack-block-after', 'replayed-latest-ack-block-before'] as const)('attack: the centre\'s *ACK to the frame before, replayed renumbered with a cipher block added (%s), is not a delivery', async (replay) => {
    const receiver = await startReceiver((_msg, index) => (index === 0 ? 'ack' : replay), KEY);
    closers.push(() => receiver.close());
    const counters = new Counters();
    const out = await output({ primary: `tcp://127.0.0.1:${receiver.port}`, key: KEY_HEX, keyEncoding: 'hex', ackTimeout: 300 }, [], systemClock, { counters });
    expect(await out.deliver(testEvent())).toEqual({ ok: true });
    expect(await out.deliver(duress())).toMatchObject({ ok: false, retryable: true });
    expect(counters.get('dc09_output_answers_distrusted_total', { output: 'arc', path: 'primary' })).toBe(2);
  });

  it('attack: a fixed-pad centre\'s *ACK replayed renumbered to a frame that went out 1.5 s after it was taken is not a delivery', async () => {
    // The same bytes mean the centre wrote both ACKs in one second of its clock, and it cannot answer a frame
    // before it went out: a frame sent a second or more after the first ACK was taken cannot get those bytes.
    const receiver = await startReceiver((_msg, index) => (index === 0 ? 'fixed-pad-ack' : 'replayed-latest-fixed-pad-ack'), KEY);
    closers.push(() => receiver.close());
    let shiftMs = 0;
    const out = await output({ primary: `tcp://127.0.0.1:${receiver.port}`, key: KEY_HEX, keyEncoding: 'hex', ackTimeout: 300 }, [], { now: () => Date.now() + shiftMs });
    expect(await out.deliver(testEvent())).toEqual({ ok: true });
    shiftMs = 1_500;
    expect(await out.deliver(duress())).toMatchObject({ ok: false, retryable: true });
    expect(receiver.events()).toHaveLength(3);
  });

  it('a receiver with a fixed pad (pysiaalarm): its *ACKs to frames within one second, the same bytes, each deliver', async () => {
    const receiver = await startReceiver(() => 'fixed-pad-ack', KEY);
    closers.push(() => receiver.close());
    const out = await output({ primary: `udp://127.0.0.1:${receiver.port}`, key: KEY_HEX, keyEncoding: 'hex' });
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await out.deliver(testEvent()));
    expect(results).toEqual(Array(5).fill({ ok: true }));
    expect(receiver.events()).toHaveLength(5);
  });

  it.each(['tcp', 'udp'] as const)('a centre slower than ackTimeout (over %s): its late ACK to the first copy, matched by sequence number, delivers', async (transport) => {
    // Each ACK comes 1.5 ackTimeouts after its frame: the resend goes out first, the ACK to the first copy follows.
    // Sequence numbers exist to pair such a delayed ACK with its message (DC-09 Q&A, protocols.md §3.10).
    const receiver = await startReceiver(() => 'ack', undefined, 450);
    closers.push(() => receiver.close());
    const out = await output({ primary: `${transport}://127.0.0.1:${receiver.port}`, ackTimeout: 300, retries: 2 });
    expect(await out.deliver(duress())).toEqual({ ok: true });
    expect(new Set(receiver.events().map((r) => r.msg.seq))).toEqual(new Set(['0001']));
  });

  it('NAK with the receiver time: resends at once with the corrected time, same sequence', async () => {
    const receiver = await startReceiver((_msg, index) => (index === 0 ? 'nak-ahead' : 'ack'), KEY);
    closers.push(() => receiver.close());
    const out = await output({ primary: `udp://127.0.0.1:${receiver.port}`, key: KEY_HEX, keyEncoding: 'hex' });
    expect(await out.deliver(duress())).toEqual({ ok: true });
    const [nakked, resent] = receiver.events();
    expect(resent!.msg.seq).toBe(nakked!.msg.seq);
    expect(Math.abs(resent!.msg.timestamp! - (resent!.at + receiver.clockAheadMs))).toBeLessThan(5_000);
  });

  it('attack: NAKs with a forged time on the primary (a NAK is never encrypted) do not set the time of the frames the backup gets', async () => {
    // The backup's centre does not check timestamps (Home Assistant's "ignore timestamps"), so it would store and
    // show whatever time the frame carries.
    const primary = await startReceiver(() => 'nak-ahead', KEY);
    const backup = await startReceiver(() => 'ack', KEY);
    closers.push(() => primary.close(), () => backup.close());
    const out = await output({ primary: `tcp://127.0.0.1:${primary.port}`, backup: `tcp://127.0.0.1:${backup.port}`, key: KEY_HEX, keyEncoding: 'hex', retries: 0 });
    expect(await out.deliver(duress())).toEqual({ ok: true });
    expect(await out.deliver(testEvent())).toEqual({ ok: true });
    // The primary's NAKs did set the time of its own resends.
    expect(primary.events().at(-1)!.msg.timestamp! - primary.events().at(-1)!.at).toBeGreaterThan(primary.clockAheadMs - 5_000);
    expect(backup.events()).toHaveLength(2);
    for (const { msg, at } of backup.events()) expect(Math.abs(msg.timestamp! - at)).toBeLessThan(5_000);
  });

  it('DUH: refused for good, kept as a dead letter by the dispatcher', async () => {
    const receiver = await startReceiver(() => 'duh');
    closers.push(() => receiver.close());
    const out = await output({ primary: `tcp://127.0.0.1:${receiver.port}` });
    const outbox = new MemoryOutbox();
    const dispatcher = new Dispatcher({ outbox, outputs: [out], clock: systemClock, logger: silentLogger });
    dispatcher.start();
    closers.push(() => dispatcher.stop());
    await outbox.append([duress()]);
    await expect.poll(() => outbox.deadLetters('arc').length, { timeout: 5_000 }).toBe(1);
    expect(outbox.deadLetters('arc')[0]!.reason).toMatch(/DUH/);
    expect(receiver.events()).toHaveLength(1);
  });

  it('attack: on a keyed link, a man in the middle answering a duress with a plain DUH does not make it a dead letter: it is retried until the centre ACKs it', async () => {
    // A DUH is never encrypted: anyone on the path can send one, so under a key it is no refusal by the centre.
    let script: Script = 'duh';
    const receiver = await startReceiver(() => script, KEY);
    closers.push(() => receiver.close());
    const reports: LinkStateReport[] = [];
    const out = await output({ primary: `tcp://127.0.0.1:${receiver.port}`, key: KEY_HEX, keyEncoding: 'hex', ackTimeout: 300 }, reports);
    const outbox = new MemoryOutbox();
    const dispatcher = new Dispatcher({ outbox, outputs: [out], clock: systemClock, logger: silentLogger, backoff: { initialMs: 50, maxMs: 200 } });
    dispatcher.start();
    closers.push(() => dispatcher.stop());
    await outbox.append([duress()]);
    await expect.poll(() => receiver.events().length, { timeout: 5_000 }).toBeGreaterThanOrEqual(2);
    expect(outbox.deadLetters('arc')).toEqual([]);
    expect(out.health()).toMatchObject({ state: 'down', detail: expect.stringMatching(/DUH/) });
    expect(reports).toEqual([{ qualifier: 'new', reasons: [expect.stringMatching(/no receiver path answers.*DUH/)] }]);
    script = 'ack';
    await expect.poll(() => outbox.backlog('arc'), { timeout: 5_000 }).toBe(0);
    expect(outbox.deadLetters('arc')).toEqual([]);
    expect(reports.map((r) => r.qualifier)).toEqual(['new', 'restore']);
  });

  it('on a keyed link, every path answering DUH to a message for longer than the bound makes it a dead letter, and each path is asked again until then', async () => {
    const primary = await startReceiver(() => 'duh', KEY);
    const backup = await startReceiver(() => 'duh', KEY);
    closers.push(() => primary.close(), () => backup.close());
    let shiftMs = 0;
    const clock = { now: () => Date.now() + shiftMs };
    const out = await output({ primary: `tcp://127.0.0.1:${primary.port}`, backup: `tcp://127.0.0.1:${backup.port}`, key: KEY_HEX, keyEncoding: 'hex', ackTimeout: 300 }, [], clock);
    const event = duress();
    expect(await out.deliver(event)).toMatchObject({ ok: false, retryable: true, error: expect.stringMatching(/DUH/) });
    shiftMs = KEYED_DUH_DEAD_LETTER_MS - 60_000;
    expect(await out.deliver(event)).toMatchObject({ ok: false, retryable: true });
    expect([primary.events().length, backup.events().length]).toEqual([2, 2]);
    shiftMs = KEYED_DUH_DEAD_LETTER_MS;
    expect(await out.deliver(event)).toMatchObject({ ok: false, retryable: false, error: expect.stringMatching(/DUH.*minutes/) });
  });

  it('attack: a DUH on the primary (DUH is never encrypted, so it can be forged there) does not stop the backup from taking it', async () => {
    const primary = await startReceiver(() => 'duh', KEY);
    const backup = await startReceiver(() => 'ack', KEY);
    closers.push(() => primary.close(), () => backup.close());
    const out = await output({ primary: `tcp://127.0.0.1:${primary.port}`, backup: `tcp://127.0.0.1:${backup.port}`, key: KEY_HEX, keyEncoding: 'hex', ackTimeout: 300 });
    expect(await out.deliver(duress())).toEqual({ ok: true });
    expect(backup.events()).toHaveLength(1);
  });

  it('attack: on a keyed link that went down, a forged DUH (never encrypted) to the next event does not restore it', async () => {
    let script: Script = 'silent';
    const receiver = await startReceiver(() => script, KEY);
    closers.push(() => receiver.close());
    const reports: LinkStateReport[] = [];
    const out = await output({ primary: `tcp://127.0.0.1:${receiver.port}`, key: KEY_HEX, keyEncoding: 'hex', ackTimeout: 300, retries: 0 }, reports);
    expect(await out.deliver(testEvent())).toMatchObject({ ok: false, retryable: true });
    expect(out.health().state).toBe('down');
    script = 'duh';
    // Retried like a duress: were only a duress retried after a DUH, a man in the middle DUHing every frame would
    // tell a duress from the resends.
    expect(await out.deliver(testEvent())).toMatchObject({ ok: false, retryable: true });
    expect(out.health().state).toBe('down');
    expect(reports.map((r) => r.qualifier)).toEqual(['new']);
    // The centre's own *ACK restores it.
    script = 'ack';
    expect(await out.deliver(testEvent())).toEqual({ ok: true });
    expect(reports.map((r) => r.qualifier)).toEqual(['new', 'restore']);
  });

  it('DUH on the primary while the backup does not answer: a dead letter at once, the backup reported, and the account\'s next event, a duress, goes', async () => {
    let backupAnswers = false;
    // The centre's receiver will not process Contact ID 570 (bypass) and takes everything else.
    const primary = await startReceiver((msg) => (msg.data.startsWith('1570') ? 'duh' : 'ack'));
    const backup = await startReceiver(() => (backupAnswers ? 'ack' : 'silent'));
    closers.push(() => primary.close(), () => backup.close());
    const reports: LinkStateReport[] = [];
    const out = await output({ primary: `tcp://127.0.0.1:${primary.port}`, backup: `tcp://127.0.0.1:${backup.port}`, supervision: 400, ackTimeout: 300, retries: 0 }, reports);
    const outbox = new MemoryOutbox();
    const dispatcher = new Dispatcher({ outbox, outputs: [out], clock: systemClock, logger: silentLogger });
    dispatcher.start();
    closers.push(() => dispatcher.stop());
    const bypass = testEvent({ account: '1234', category: 'bypass', code: { scheme: 'contact-id', value: '570', description: 'Bypass' }, zone: { number: 3 } });
    await outbox.append([bypass, { ...duress(), account: '1234' }]);

    await expect.poll(() => primary.events().map((r) => r.msg.data), { timeout: 5_000 }).toContain('1121 01 005');
    expect(outbox.deadLetters('arc').map((d) => d.reason)).toEqual([expect.stringMatching(/primary .*DUH.*; backup .*no answer/)]);
    // The primary never gets a message again that it answered DUH to.
    expect(primary.events().filter((r) => r.msg.data.startsWith('1570'))).toHaveLength(1);
    expect(reports).toEqual([{ qualifier: 'new', reasons: [expect.stringMatching(new RegExp(`backup receiver path .* does not answer.*event ${bypass.id}`))] }]);
    backupAnswers = true;
    await expect.poll(() => reports.map((r) => r.qualifier), { timeout: 5_000 }).toEqual(['new', 'restore']);
  });

  it('a duress DUH\'d on the primary while the backup does not answer waits for the backup, and never goes to the primary again', async () => {
    let backupAnswers = false;
    const primary = await startReceiver(() => 'duh');
    const backup = await startReceiver(() => (backupAnswers ? 'ack' : 'silent'));
    closers.push(() => primary.close(), () => backup.close());
    const reports: LinkStateReport[] = [];
    const out = await output({ primary: `tcp://127.0.0.1:${primary.port}`, backup: `tcp://127.0.0.1:${backup.port}`, ackTimeout: 300, retries: 0 }, reports);
    const outbox = new MemoryOutbox();
    const dispatcher = new Dispatcher({ outbox, outputs: [out], clock: systemClock, logger: silentLogger });
    dispatcher.start();
    closers.push(() => dispatcher.stop());
    const event = duress();
    await outbox.append([event]);
    // Retried on the backup alone, and not a dead letter: a DUH is never encrypted, so it may be forged.
    await expect.poll(() => backup.events().length, { timeout: 5_000 }).toBeGreaterThanOrEqual(2);
    expect(outbox.deadLetters('arc')).toEqual([]);
    expect(reports).toEqual([{ qualifier: 'new', reasons: [expect.stringMatching(new RegExp(`backup receiver path .* does not answer.*event ${event.id}.* waits for it`))] }]);
    backupAnswers = true;
    await expect.poll(() => outbox.backlog('arc'), { timeout: 5_000 }).toBe(0);
    expect(outbox.deadLetters('arc')).toEqual([]);
    expect(primary.events()).toHaveLength(1);
  });

  it('silence on the primary: retried, then the backup takes the event; the primary is taken back once it answers a NULL poll', async () => {
    let primaryAnswers = false;
    const primary = await startReceiver(() => (primaryAnswers ? 'ack' : 'silent'));
    const backup = await startReceiver(() => 'ack');
    closers.push(() => primary.close(), () => backup.close());
    const out = await output({ primary: `tcp://127.0.0.1:${primary.port}`, backup: `udp://127.0.0.1:${backup.port}`, supervision: 400, ackTimeout: 1_000 });
    const seqs = (receiver: { events(): Received[] }) => receiver.events().map((r) => r.msg.seq);
    expect(await out.deliver(duress())).toEqual({ ok: true });
    expect(seqs(primary)).toEqual(['0001', '0001']);
    // Every copy on either path has the same sequence number (a slow ACK may have cost the backup a resend) and the
    // same timestamp, seconds apart as they went out.
    expect(new Set(seqs(backup))).toEqual(new Set(['0001']));
    expect(new Set([...primary.events(), ...backup.events()].map((r) => r.msg.timestamp)).size).toBe(1);
    expect(out.health().state).toBe('degraded');
    // The next event goes straight to the backup while the primary is down.
    expect(await out.deliver(duress())).toEqual({ ok: true });
    expect(seqs(primary)).toHaveLength(2);
    expect(seqs(backup).at(-1)).not.toBe('0001');
    primaryAnswers = true;
    await expect.poll(() => primary.received.some((r) => r.msg.token === 'NULL'), { timeout: 5_000 }).toBe(true);
    await expect.poll(() => out.health().state, { timeout: 5_000 }).toBe('up');
    const backupBefore = seqs(backup).length;
    expect(await out.deliver(duress())).toEqual({ ok: true });
    // Back on the primary (the NULL polls took sequence numbers in between).
    expect(Number(seqs(primary).at(-1))).toBeGreaterThan(2);
    expect(seqs(backup)).toHaveLength(backupBefore);
  });

  it('primary down (connection refused) and backup silent: not delivered, a supervisory report, and its restore', async () => {
    let backupAnswers = false;
    const backup = await startReceiver(() => (backupAnswers ? 'ack' : 'silent'));
    closers.push(() => backup.close());
    const reports: LinkStateReport[] = [];
    const out = await output({ primary: `tcp://127.0.0.1:${await deadPort()}`, backup: `tcp://127.0.0.1:${backup.port}`, ackTimeout: 300 }, reports);
    const result = await out.deliver(duress());
    expect(result).toMatchObject({ ok: false, retryable: true });
    expect((result as { error: string }).error).toMatch(/primary .*cannot connect.*backup/);
    expect(out.health().state).toBe('down');
    expect(reports).toEqual([{ qualifier: 'new', reasons: [expect.stringMatching(/no receiver path answers/)] }]);
    backupAnswers = true;
    expect(await out.deliver(duress())).toEqual({ ok: true });
    expect(reports.map((r) => r.qualifier)).toEqual(['new', 'restore']);
  });

  it('sends NULL supervision polls on schedule when idle', async () => {
    const receiver = await startReceiver(() => 'ack', KEY);
    closers.push(() => receiver.close());
    await output({ primary: `udp://127.0.0.1:${receiver.port}`, supervision: 300, key: KEY_HEX, keyEncoding: 'hex' });
    await expect.poll(() => receiver.received.filter((r) => r.msg.token === 'NULL').length, { timeout: 5_000 }).toBeGreaterThanOrEqual(2);
    const poll = receiver.received[0]!.msg;
    expect(poll).toMatchObject({ token: 'NULL', encrypted: true, account: '9876' });
    expect(poll.timestamp).not.toBeNull();
  });

  it('attack: on a keyed link, a man in the middle answering every NULL poll with a plain NAK timed now is a link fault, reported, and restored by the centre\'s *ACK', async () => {
    // A NAK is never encrypted (DC09-2013 §5.5.3.2), so forging one takes no key; this one forwards nothing.
    let script: Script = 'nak-now';
    const receiver = await startReceiver(() => script, KEY);
    closers.push(() => receiver.close());
    const reports: LinkStateReport[] = [];
    const out = await output({ primary: `udp://127.0.0.1:${receiver.port}`, supervision: 300, key: KEY_HEX, keyEncoding: 'hex' }, reports);
    await expect.poll(() => out.health().state, { timeout: 5_000 }).toBe('down');
    expect(out.health().detail).toMatch(/plain NAK/);
    expect(reports).toEqual([{ qualifier: 'new', reasons: [expect.stringMatching(/plain NAK/)] }]);
    // The poll went again with the NAK's time before it counted as failed (twice, as an event's frame does).
    const polls = receiver.received.filter((r) => r.msg.token === 'NULL').map((r) => r.msg.seq);
    expect(polls.filter((seq) => seq === polls[0])).toHaveLength(3);
    script = 'ack';
    await expect.poll(() => reports.map((r) => r.qualifier), { timeout: 5_000 }).toEqual(['new', 'restore']);
    expect(out.health()).toEqual({ state: 'up' });
  });

  it('on a keyed link, a centre that NAKs a NULL poll for its time and ACKs the resend with the corrected time stays up', async () => {
    const receiver = await startReceiver((_msg, index) => (index === 0 ? 'nak-ahead' : 'ack'), KEY);
    closers.push(() => receiver.close());
    const reports: LinkStateReport[] = [];
    const out = await output({ primary: `udp://127.0.0.1:${receiver.port}`, supervision: 300, key: KEY_HEX, keyEncoding: 'hex' }, reports);
    await expect.poll(() => receiver.received.length, { timeout: 5_000 }).toBeGreaterThanOrEqual(3);
    const [nakked, resent] = receiver.received;
    expect(resent!.msg).toMatchObject({ token: 'NULL', seq: nakked!.msg.seq });
    expect(Math.abs(resent!.msg.timestamp! - (resent!.at + receiver.clockAheadMs))).toBeLessThan(5_000);
    expect(out.health()).toEqual({ state: 'up' });
    expect(reports).toEqual([]);
  });

  it('on an unkeyed link, a centre that NAKs every NULL poll with its time still counts as answering (nothing there is authenticated)', async () => {
    const receiver = await startReceiver(() => 'nak-now');
    closers.push(() => receiver.close());
    const reports: LinkStateReport[] = [];
    const out = await output({ primary: `udp://127.0.0.1:${receiver.port}`, supervision: 300 }, reports);
    await expect.poll(() => new Set(receiver.received.map((r) => r.msg.seq)).size, { timeout: 5_000 }).toBeGreaterThanOrEqual(2);
    expect(out.health()).toEqual({ state: 'up' });
    expect(reports).toEqual([]);
  });

  it('through the dispatcher: a duress goes on the wire first, and each account keeps its order', async () => {
    const receiver = await startReceiver(() => 'ack');
    closers.push(() => receiver.close());
    const out = await output({ primary: `tcp://127.0.0.1:${receiver.port}` });
    const outbox = new MemoryOutbox();
    const burglary = (zone: number) => testEvent({ account: '1111', category: 'burglary', code: { scheme: 'contact-id', value: '130', description: '' }, zone: { number: zone } });
    outbox.registerOutputs(['arc']);
    await outbox.append([burglary(1), burglary(2), burglary(3), { ...duress(), account: '2222' }, burglary(4)]);
    const dispatcher = new Dispatcher({ outbox, outputs: [out], clock: systemClock, logger: silentLogger });
    dispatcher.start();
    closers.push(() => dispatcher.stop());
    await expect.poll(() => receiver.events().length, { timeout: 5_000 }).toBe(5);
    expect(receiver.events().map((r) => r.msg.data)).toEqual(['1121 01 005', '1130 00 001', '1130 00 002', '1130 00 003', '1130 00 004']);
  });

  it('the dispatcher keeps an event pending while no path answers, and delivers it once one does', async () => {
    let answers = false;
    const receiver = await startReceiver(() => (answers ? 'ack' : 'silent'));
    closers.push(() => receiver.close());
    const out = await output({ primary: `tcp://127.0.0.1:${receiver.port}`, ackTimeout: 100, retries: 0 });
    const outbox = new MemoryOutbox();
    const dispatcher = new Dispatcher({ outbox, outputs: [out], clock: systemClock, logger: silentLogger, backoff: { initialMs: 50, maxMs: 200 } });
    dispatcher.start();
    closers.push(() => dispatcher.stop());
    await outbox.append([duress()]);
    await sleep(400);
    expect(outbox.backlog('arc')).toBe(1);
    answers = true;
    await expect.poll(() => outbox.backlog('arc'), { timeout: 5_000 }).toBe(0);
    expect(outbox.deadLetters('arc')).toEqual([]);
  });
});

/** The gateway's own DC-09 input (listener + receiver, strict) over a memory outbox, the output's account keyed or not. */
async function startGatewayInput(accounts: Dc09Account[]) {
  const { listener, outbox, port } = await startListener({ accounts, sites: [], udp: true, idleTimeoutMs: 5_000, maxConnections: 10, strict: true });
  closers.push(() => listener.stop());
  return { port, stored: () => outbox.pending('probe', 100).map((e) => e.event) };
}

function meaning(event: NormalizedEvent) {
  return { category: event.category, duress: event.duress, zone: event.zone?.number ?? null, user: event.user?.number ?? null };
}

describe('DC-09 output into the gateway\'s own DC-09 input (strict mode)', () => {
  const events = () => [
    duress(),
    testEvent({ category: 'holdup', code: { scheme: 'contact-id', value: '122', description: '' }, zone: { number: 5 } }),
    testEvent({ category: 'burglary', code: { scheme: 'sia', value: 'BA', description: '' }, zone: { number: 3 } }),
    testEvent({ category: 'fire', qualifier: 'restore', code: { scheme: 'sia', value: 'FR', description: '' }, zone: { number: 9 } }),
  ];

  it.each(WAYS)('over %s as %s (encrypted: %s): stored with the same category, zone, user and duress', async (transport, format, encrypted) => {
    const input = await startGatewayInput([encrypted ? { account: '9876', key: KEY } : { account: '9876' }]);
    const out = await output({ primary: `${transport}://127.0.0.1:${input.port}`, format, ...(encrypted ? { key: KEY_HEX, keyEncoding: 'hex' } : {}) });
    const sent = events();
    for (const event of sent) expect(await out.deliver(event)).toEqual({ ok: true });
    const stored = input.stored();
    expect(stored.map(meaning)).toEqual(sent.map(meaning));
    expect(stored.every((event) => event.account === '9876')).toBe(true);
  });

  it.each([false, true])('a resend after a lost ACK is stored once (encrypted: %s)', async (encrypted) => {
    const { receiver, outbox } = testDc09Receiver({ input: 'arc', strict: true, accounts: [encrypted ? { account: '9876', key: KEY } : { account: '9876' }] });
    const seqs: string[] = [];
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      sockets.add(socket);
      const framer = new Dc09Framer();
      socket.on('data', (chunk) => {
        for (const out of framer.push(chunk)) {
          if (out.kind !== 'frame') continue;
          const first = seqs.push(/"\*?ADM-CID"(\d{4})/.exec(Buffer.from(out.bytes).toString('latin1'))?.[1] ?? '?') === 1;
          // The first ACK is lost on the way back (a dropped segment, a NAT hiccup), so the output resends.
          void receiver.handleFrame(out.bytes, 'tcp', 'arc').then((outcome) => {
            if (!first && outcome.reply !== null) socket.write(outcome.reply);
          });
        }
      });
      socket.on('error', () => socket.destroy());
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    closers.push(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    });
    // An ACK timeout of a second or more puts the resend in a later second of the frame's timestamp.
    const out = await output({
      primary: `tcp://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
      ackTimeout: 1_000,
      ...(encrypted ? { key: KEY_HEX, keyEncoding: 'hex' } : {}),
    });

    expect(await out.deliver(duress())).toEqual({ ok: true });
    expect(seqs).toEqual(['0001', '0001']);
    expect(outbox.backlog('probe')).toBe(1);
  });
});

describe('the transmitter link', () => {
  it('attack: a peer flooding answers while nobody waits keeps at most 64 of them', async () => {
    const queue = new AnswerQueue();
    for (let i = 0; i < 10_000; i++) queue.push(Uint8Array.of(i & 0xff));
    let kept = 0;
    while ((await queue.next(0)) !== null) kept++;
    expect(kept).toBe(64);
  });
});

/** A receiver for the hostile tests: a raw TCP server whose connections `onConnection` drives. */
async function hostileServer(onConnection: (socket: net.Socket, frames: AsyncIterable<Dc09Message>, index: number) => void) {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const framer = new Dc09Framer();
    const frames = (async function* () {
      try {
        for await (const chunk of socket) {
          for (const out of framer.push(chunk as Buffer)) {
            if (out.kind !== 'frame') continue;
            const decoded = decodeDc09Frame(out.bytes, {});
            if (decoded.ok) yield decoded.value;
          }
        }
      } catch {
        // The connection was reset or destroyed: no more frames.
      }
    })();
    onConnection(socket, frames, connections++);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  closers.push(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return { port: (server.address() as net.AddressInfo).port, connections: () => connections };
}

const plainAck = (msg: Dc09Message) => encodeAck(msg, { now: Date.now(), random: randomBytes });

describe('DC-09 output towards a hostile or broken receiver', () => {
  it('a receiver that accepts the connection and never reads: the duress goes to the backup within the retries\' timeouts', async () => {
    const primary = await hostileServer((socket) => socket.pause());
    const backup = await startReceiver(() => 'ack');
    closers.push(() => backup.close());
    const out = await output({ primary: `tcp://127.0.0.1:${primary.port}`, backup: `tcp://127.0.0.1:${backup.port}`, ackTimeout: 300 });
    const started = Date.now();
    expect(await out.deliver(duress())).toEqual({ ok: true });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(backup.events()).toHaveLength(1);
  });

  it('a valid ACK trickled a byte at a time past the ACK timeout is no answer: the send times out as silence would', async () => {
    const server = await hostileServer(async (socket, frames) => {
      for await (const msg of frames) {
        for (const byte of plainAck(msg)) {
          await sleep(40);
          if (socket.destroyed) return;
          socket.write(Uint8Array.of(byte));
        }
      }
    });
    const out = await output({ primary: `tcp://127.0.0.1:${server.port}`, ackTimeout: 300, retries: 0 });
    const started = Date.now();
    expect(await out.deliver(duress())).toMatchObject({ ok: false, retryable: true });
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('a connection reset half-way through the ACK: the frame goes again on a new connection, whose ACK delivers', async () => {
    const server = await hostileServer(async (socket, frames, index) => {
      for await (const msg of frames) {
        const ack = plainAck(msg);
        if (index > 0) {
          socket.write(ack);
          continue;
        }
        socket.write(ack.subarray(0, ack.length >> 1), () => socket.resetAndDestroy());
        return;
      }
    });
    const out = await output({ primary: `tcp://127.0.0.1:${server.port}`, ackTimeout: 500 });
    expect(await out.deliver(duress())).toEqual({ ok: true });
    expect(server.connections()).toBe(2);
  });

  it('a receiver streaming bytes without a frame end ahead of its ACK: the noise is discarded in bounded runs, counted, and the ACK delivers', async () => {
    const noise = Buffer.alloc(64 * 1024, 'A');
    const server = await hostileServer(async (socket, frames) => {
      for await (const msg of frames) {
        for (let i = 0; i < 32; i++) socket.write(noise);
        socket.write(plainAck(msg));
      }
    });
    const counters = new Counters();
    const out = await output({ primary: `tcp://127.0.0.1:${server.port}`, ackTimeout: 2_000, retries: 0 }, [], systemClock, { counters });
    expect(await out.deliver(duress())).toEqual({ ok: true });
    expect(counters.get('dc09_output_answers_distrusted_total', { output: 'arc', reason: 'undecodable' })).toBeGreaterThan(0);
  });

  it('attack: a datagram from another source port than the receiver\'s, a well-formed ACK to the frame, is no answer', async () => {
    const receiver = dgram.createSocket('udp4');
    const spoofer = dgram.createSocket('udp4');
    receiver.bind(0, '127.0.0.1');
    spoofer.bind(0, '127.0.0.1');
    await Promise.all([once(receiver, 'listening'), once(spoofer, 'listening')]);
    closers.push(async () => {
      receiver.close();
      spoofer.close();
    });
    receiver.on('message', (frame, from) => {
      const decoded = decodeDc09Frame(frame, {});
      if (decoded.ok) spoofer.send(plainAck(decoded.value), from.port, from.address);
    });
    const out = await output({ primary: `udp://127.0.0.1:${(receiver.address() as net.AddressInfo).port}`, ackTimeout: 300, retries: 0 });
    expect(await out.deliver(duress())).toMatchObject({ ok: false, retryable: true });
  });

  it('many answers to one frame: the extra ACKs, late for it, are not taken as the next frame\'s', async () => {
    const server = await hostileServer(async (socket, frames) => {
      let first = true;
      for await (const msg of frames) {
        if (!first) continue;
        first = false;
        // Its own ACK, then the same again and again while the next frame is out.
        for (let i = 0; i < 20; i++) {
          socket.write(plainAck(msg));
          await sleep(20);
        }
      }
    });
    const out = await output({ primary: `tcp://127.0.0.1:${server.port}`, ackTimeout: 300, retries: 0 });
    expect(await out.deliver(testEvent())).toEqual({ ok: true });
    expect(await out.deliver(duress())).toMatchObject({ ok: false, retryable: true });
  });
});

describe('DC-09 output: a probe of a down path and a duress', () => {
  it('attack: a duress arriving while the primary, silenced by a man in the middle, is being probed goes on the backup at once, not after the probe\'s timeout', async () => {
    let probeSeen: (() => void) | undefined;
    // The primary accepts and never answers (a man in the middle that swallows what it gets).
    const primary = await hostileServer(async (_socket, frames) => {
      for await (const msg of frames) if (msg.token === 'NULL') probeSeen?.();
    });
    const backup = await startReceiver(() => 'ack');
    closers.push(() => backup.close());
    const out = await output({ primary: `tcp://127.0.0.1:${primary.port}`, backup: `tcp://127.0.0.1:${backup.port}`, ackTimeout: 2_000, retries: 0, supervision: 1_000 });
    // The first event finds the primary silent and goes on the backup, which is used from then on.
    expect(await out.deliver(testEvent())).toEqual({ ok: true });
    expect(out.health().state).toBe('degraded');
    // The primary is probed again (a NULL on it, awaited for up to ackTimeout); a duress comes in meanwhile.
    await new Promise<void>((resolve) => (probeSeen = resolve));
    const started = Date.now();
    expect(await out.deliver(duress())).toEqual({ ok: true });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(backup.events().map((r) => r.msg.data)).toEqual(['1130 00 000', '1121 01 005']);
  }, 20_000);
});
