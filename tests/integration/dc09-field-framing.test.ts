import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Dc09Listener } from '../../adapters/inputs/dc09.js';
import { DEFAULT_MAX_DATAGRAMS } from '../../src/settings/settings.js';
import { silentLogger } from '../../src/ports.js';
import { testDc09Receiver } from '../helpers/dc09-receiver.js';
import { TcpPanel, parseAnswer, udpSend } from '../helpers/panel.js';
import { readGolden } from '../helpers/golden-file.js';
import { crcArc } from '../helpers/panel.js';
import { parseFrameText, parseHex } from '../../src/codecs/escapes.js';
import net from 'node:net';

/**
 * Field framings end to end on a real listener (TCP through the worker's framer, UDP datagrams): the frames of
 * tests/src/codecs/dc09/dc09-stream.jsonl as senders put them on the wire, answered and stored.
 */
const golden = readGolden<{ name: string; chunks: string[] }>(new URL('../src/codecs/dc09/dc09-stream.jsonl', import.meta.url));
const chunksOf = (prefix: string) => golden.find((c) => c.name.startsWith(prefix))!.chunks.map((c) => Buffer.from(c, 'latin1'));

/**
 * The plain frames of dc09.jsonl harvested from real panels beyond the research vectors (lines without `vector`),
 * but for those only an input that allows Osborne-Hoffman frames takes (the test above covers one).
 */
const harvested = readGolden<{ name: string; vector?: number; input?: string; inputHex?: string; key?: unknown; expectError?: unknown; expect?: { seq?: string; osborneHoffman?: boolean } }>(
  new URL('../src/codecs/dc09/dc09.jsonl', import.meta.url),
).filter((line) => line.vector === undefined && line.key === undefined && line.expectError === undefined && line.expect?.osborneHoffman !== true);

/** The frame as a panel puts it on the wire: LF … CR around what the source printed. */
function wireBytes(line: { input?: string; inputHex?: string }): Buffer {
  const parsed = line.inputHex !== undefined ? parseHex(line.inputHex) : parseFrameText(line.input ?? '');
  if (!parsed.ok) throw new Error(parsed.error.message);
  const bytes = Buffer.from(parsed.value);
  const body = bytes[0] === 0x0a ? bytes : Buffer.concat([Buffer.of(0x0a), bytes]);
  return body.includes(0x0d, 3) ? body : Buffer.concat([body, Buffer.of(0x0d)]);
}

/** One answer read by its own length field (a binary CRC byte may be 0x0D), with its CRC form. */
async function exchange(port: number, frame: Buffer): Promise<{ binary: boolean; crcValid: boolean; body: string }> {
  const socket = net.connect({ host: '127.0.0.1', port });
  let received = Buffer.alloc(0);
  const answer = new Promise<Buffer>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer to ${frame.toString('latin1')}`)), 3000);
    socket.on('data', (chunk) => {
      received = Buffer.concat([received, chunk]);
      const binary = received[7] === 0x22;
      const headerEnd = binary ? 7 : 9;
      if (received.length < headerEnd) return;
      const length = parseInt(received.toString('latin1', headerEnd - 4, headerEnd), 16);
      if (received.length >= headerEnd + length + 1) {
        clearTimeout(timer);
        resolve(received.subarray(0, headerEnd + length + 1));
      }
    });
  });
  socket.write(frame);
  const bytes = await answer.finally(() => socket.destroy());
  const binary = bytes[7] === 0x22;
  const body = bytes.toString('latin1', binary ? 7 : 9, bytes.length - 1);
  const crcSent = binary ? bytes.readUInt16BE(1) : parseInt(bytes.toString('latin1', 1, 5), 16);
  return { binary, crcValid: crcArc(body) === crcSent && bytes[0] === 0x0a && bytes[bytes.length - 1] === 0x0d, body };
}

describe('DC-09 field framings on a live listener', () => {
  const { receiver, outbox, counters } = testDc09Receiver({
    input: 'field',
    accounts: [{ account: 'AAA' }, { account: '001465' }, { account: '1234' }],
    osborneHoffman: true,
  });
  let listener: Dc09Listener;
  let port: number;

  beforeAll(async () => {
    listener = new Dc09Listener({
      name: 'field', host: '127.0.0.1', port: 0, tcp: true, udp: true, maxFrameBytes: 1024, idleTimeoutMs: 5000, firstFrameTimeoutMs: 5000,
      maxConnections: 10, maxConnectionsPerPeer: 10, maxDatagramsInFlight: DEFAULT_MAX_DATAGRAMS, receiver, commitQueued: () => outbox.commitQueued(), logger: silentLogger, counters,
    });
    await listener.start();
    port = listener.address.tcp!.port;
  });

  afterAll(async () => {
    await listener.stop();
  });

  it('answers both frames a sender wrote back to back without LF and CR, in order', async () => {
    const panel = await TcpPanel.connect(port);
    const first = panel.answer();
    const second = panel.answer();
    for (const chunk of chunksOf('TCP: two pysiaalarm')) panel.write(chunk);
    const answers = [await first, await second].map((a) => parseAnswer(a!));
    panel.close();
    expect(answers.map((a) => [a.token, a.crcValid, a.body.slice(5, 9)])).toEqual([['ACK', true, '7654'], ['ACK', true, '7655']]);
  });

  it('takes an Osborne-Hoffman hold-up on an input that allows it and answers ACK\\r', async () => {
    const panel = await TcpPanel.connect(port);
    const frame = Buffer.from(`\n01010053"SIA-DCS"0007R0075L0001[#001465|Nri1/HA7*'TELLER 3'NM]7C9677F21948CC12|#001465\r\x00`, 'latin1');
    const answer = await panel.send(frame);
    panel.close();
    expect(answer?.toString('latin1')).toBe('ACK\r');
    const stored = outbox.pending('probe', 100).map((e) => e.event).find((e) => e.account === '001465');
    expect(stored).toMatchObject({ category: 'holdup', duress: true, text: 'TELLER 3' });
  });

  it('ACKs every plain frame harvested from a real panel in its CRC form, echoing seq, R, L and account', async () => {
    const open = testDc09Receiver({ input: 'open', accounts: null });
    const field = new Dc09Listener({
      name: 'open', host: '127.0.0.1', port: 0, tcp: true, udp: false, maxFrameBytes: 1024, idleTimeoutMs: 5000, firstFrameTimeoutMs: 5000,
      maxConnections: 10, maxConnectionsPerPeer: 10, maxDatagramsInFlight: DEFAULT_MAX_DATAGRAMS, receiver: open.receiver, commitQueued: () => open.outbox.commitQueued(), logger: silentLogger, counters: open.counters,
    });
    await field.start();
    try {
      expect(harvested.length).toBeGreaterThan(10);
      for (const line of harvested) {
        const frame = wireBytes(line);
        const ids = /"[^"]+"(\d{4}(?:R[0-9A-Fa-f]+)?(?:L[0-9A-Fa-f]*)?(?:#[0-9A-Za-z]+)?)\[/.exec(frame.toString('latin1'))![1];
        const answer = await exchange(field.address.tcp!.port, frame);
        expect({ name: line.name, ...answer }).toEqual({ name: line.name, binary: frame[7] === 0x22, crcValid: true, body: `"ACK"${ids}[]` });
      }
      // Every event frame is stored once; a heartbeat (NULL) stores nothing.
      const events = harvested.filter((line) => !wireBytes(line).includes('"NULL"'));
      expect(open.outbox.pending('probe', 1000).length).toBe(events.length);
    } finally {
      await field.stop();
    }
  });

  it('answers a UDP datagram with a NUL after the CR', async () => {
    const [datagram] = chunksOf('UDP: a datagram with a NUL');
    const answer = await udpSend(listener.address.udp!.port, datagram!);
    expect(parseAnswer(answer!).token).toBe('ACK');
  });
});
