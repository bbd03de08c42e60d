import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Dc09Listener } from '../../adapters/inputs/dc09.js';
import { DEFAULT_MAX_DATAGRAMS } from '../../src/settings/settings.js';
import { silentLogger } from '../../src/ports.js';
import { testDc09Receiver } from '../helpers/dc09-receiver.js';
import { TcpPanel, parseAnswer, udpSend } from '../helpers/panel.js';
import { readGolden } from '../helpers/golden-file.js';

/**
 * Field framings end to end on a real listener (TCP through the worker's framer, UDP datagrams): the frames of
 * tests/src/codecs/dc09/dc09-stream.jsonl as senders put them on the wire, answered and stored.
 */
const golden = readGolden<{ name: string; chunks: string[] }>(new URL('../src/codecs/dc09/dc09-stream.jsonl', import.meta.url));
const chunksOf = (prefix: string) => golden.find((c) => c.name.startsWith(prefix))!.chunks.map((c) => Buffer.from(c, 'latin1'));

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

  it('answers a UDP datagram with a NUL after the CR', async () => {
    const [datagram] = chunksOf('UDP: a datagram with a NUL');
    const answer = await udpSend(listener.address.udp!.port, datagram!);
    expect(parseAnswer(answer!).token).toBe('ACK');
  });
});
