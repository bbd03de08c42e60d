import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Dc09Listener } from '../../adapters/inputs/dc09.js';
import type { Dc09Account } from '../../src/pipeline/dc09-receiver.js';
import type { MemoryOutbox } from '../../src/outbox/memory-outbox.js';
import type { Counters } from '../../src/observability/counters.js';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import net from 'node:net';
import type { Worker } from 'node:worker_threads';
import { TcpPanel, panelFrame, parseAnswer, udpSend, wrap } from '../helpers/panel.js';
import type { Site } from '../../src/settings/sites.js';
import { startListener, type ListenerUnderTest } from '../helpers/dc09-listener.js';
import { recordingLogger } from '../helpers/recording-logger.js';

const KEY_HEX_128 = Buffer.from('00112233445566778899AABBCCDDEEFF', 'hex');
const KEY_HEX_256 = Buffer.from('00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF', 'hex');
const KEY_ASCII_128 = Buffer.from('0123456789ABCDEF', 'latin1');

const ACCOUNTS: Dc09Account[] = [
  { account: '1234' },
  { account: '4567', key: KEY_HEX_128 },
  { account: '7890', key: KEY_HEX_256 },
  { account: 'ABCD', key: KEY_ASCII_128 },
];

const SITES: Site[] = [
  {
    id: 'branch-12',
    name: 'Branch 12',
    accounts: ['1234'],
    profile: 'generic',
    zones: [{ number: 5, name: 'Teller 3 hold-up button', type: 'holdup' }],
    users: [],
    doors: [],
  } as unknown as Site,
];

describe('DC-09 listener over real loopback sockets', () => {
  let listener: Dc09Listener;
  let outbox: MemoryOutbox;
  let counters: Counters;
  let port: number;

  beforeEach(async () => {
    ({ listener, outbox, counters, port } = await startListener({ accounts: ACCOUNTS, sites: SITES, udp: true, idleTimeoutMs: 5000, maxConnections: 100 }));
  });

  afterEach(async () => {
    await listener.stop();
  });

  const stored = () => outbox.pending('probe', 1000).map((e) => e.event);

  it('ACKs a plain hold-up only after storing it, with a CRC-valid echo of seq, R, L and account', async () => {
    const panel = await TcpPanel.connect(port);
    const answer = await panel.send(panelFrame({ token: 'SIA-DCS', seq: '0042', receiver: '12', line: '3', account: '1234', data: '#1234|Nri1/HA05', time: Date.now() }));
    panel.close();
    expect(answer).not.toBeNull();
    const parsed = parseAnswer(answer!);
    expect(parsed.token).toBe('ACK');
    expect(parsed.crcValid).toBe(true);
    expect(parsed.body.startsWith('"ACK"0042R12L3#1234[]')).toBe(true);
    const events = stored();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ account: '1234', category: 'holdup', duress: true, protocol: 'sia-dcs', source: { transport: 'tcp' } });
    expect(events[0]!.zone?.name).toBe('Teller 3 hold-up button');
  });

  it.each([
    ['AES-128 hex key', '4567', KEY_HEX_128],
    ['AES-256 hex key', '7890', KEY_HEX_256],
    ['AES-128 ascii key', 'ABCD', KEY_ASCII_128],
  ])('answers an encrypted frame (%s) with *ACK under the same key', async (_name, account, key) => {
    const panel = await TcpPanel.connect(port);
    const answer = await panel.send(panelFrame({ token: 'ADM-CID', seq: '0007', account, data: `#${account}|1121 01 012`, key, time: Date.now() }));
    panel.close();
    const parsed = parseAnswer(answer!, key);
    expect(parsed.token).toBe('*ACK');
    expect(parsed.crcValid).toBe(true);
    expect(parsed.plaintext).toMatch(/\|\]_\d{2}:\d{2}:\d{2},\d{2}-\d{2}-\d{4}$/);
    expect(stored()[0]).toMatchObject({ account, category: 'duress', duress: true, code: { value: '121' } });
  });

  it('NAKs an encrypted frame whose timestamp is outside the window, carrying the receiver time, and stores nothing', async () => {
    const panel = await TcpPanel.connect(port);
    const answer = await panel.send(panelFrame({ token: 'SIA-DCS', seq: '0008', account: '4567', data: '#4567|Nri1/BA01', key: KEY_HEX_128, time: Date.now() - 3_600_000 }));
    panel.close();
    const parsed = parseAnswer(answer!);
    expect(parsed.token).toBe('NAK');
    expect(parsed.crcValid).toBe(true);
    expect(parsed.body).toMatch(/^"NAK"0000R0L0A0\[\]_\d{2}:\d{2}:\d{2},\d{2}-\d{2}-\d{4}$/);
    expect(stored()).toHaveLength(0);
  });

  it('gives no answer to a bad CRC', async () => {
    const good = panelFrame({ token: 'SIA-DCS', seq: '0009', account: '1234', data: '#1234|Nri1/BA01' });
    const bad = Buffer.from(good);
    bad[1] = bad[1] === 0x30 ? 0x31 : 0x30;
    const panel = await TcpPanel.connect(port);
    expect(await panel.send(bad, 500)).toBeNull();
    panel.close();
    expect(counters.get('frames_rejected_total', { code: 'DC09_CRC_MISMATCH' })).toBe(1);
  });

  it('NAKs an unknown account and publishes its content, unverified, naming the cause', async () => {
    const answer = await udpSend(port, panelFrame({ token: 'SIA-DCS', seq: '0010', account: '9999', data: '#9999|Nri1/BA01' }));
    expect(parseAnswer(answer!).token).toBe('NAK');
    const events = stored();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ category: 'burglary', account: '9999', verified: false, unverifiedReason: 'unknown-account', unverifiedCount: 1 });
    expect(events[0]!.reasons.join(' ')).toMatch(/9999.*allowlist/);
    expect(events[0]!.raw).toContain('#9999');
  });

  it('ACKs NULL over UDP to the sender port without publishing an event', async () => {
    const answer = await udpSend(port, panelFrame({ token: 'NULL', seq: '0000', account: '1234', data: '' }));
    expect(parseAnswer(answer!)).toMatchObject({ token: 'ACK', crcValid: true });
    expect(stored()).toHaveLength(0);
  });

  it('ACKs a retransmit again but stores it once', async () => {
    const frame = panelFrame({ token: 'ADM-CID', seq: '0100', account: '1234', data: '#1234|1122 01 005' });
    const panel = await TcpPanel.connect(port);
    expect(parseAnswer((await panel.send(frame))!).token).toBe('ACK');
    expect(parseAnswer((await panel.send(frame))!).token).toBe('ACK');
    panel.close();
    expect(stored()).toHaveLength(1);
  });

  it('stores an encrypted frame again when its timestamp differs: a second press is never taken for a retransmit', async () => {
    const at = Date.now();
    const frame = (time: number) => panelFrame({ token: 'SIA-DCS', seq: '0103', account: '4567', data: '#4567|Nri1/HA05', key: KEY_HEX_128, time });
    const panel = await TcpPanel.connect(port);
    expect(parseAnswer((await panel.send(frame(at - 2_000)))!, KEY_HEX_128).token).toBe('*ACK');
    expect(parseAnswer((await panel.send(frame(at)))!, KEY_HEX_128).token).toBe('*ACK');
    panel.close();
    expect(stored()).toHaveLength(2);
  });

  it('stores an encrypted frame replayed with a rewritten sequence and line once, and ACKs both', async () => {
    const time = Date.now();
    const original = panelFrame({ token: 'SIA-DCS', seq: '0105', line: '1', account: '4567', data: '#4567|Nri1/HA05', key: KEY_HEX_128, time });
    const rewritten = panelFrame({ token: 'SIA-DCS', seq: '0999', line: '7', account: '4567', data: '#4567|Nri1/HA05', key: KEY_HEX_128, time });
    const panel = await TcpPanel.connect(port);
    expect(parseAnswer((await panel.send(original))!, KEY_HEX_128).token).toBe('*ACK');
    expect(parseAnswer((await panel.send(rewritten))!, KEY_HEX_128).token).toBe('*ACK');
    panel.close();
    expect(stored()).toHaveLength(1);
  });

  it('stores both frames when a sequence number comes again with other content (a new event, not a retransmit)', async () => {
    const panel = await TcpPanel.connect(port);
    for (const data of ['#1234|Nri1/BA05', '#1234|Nri1/BA06', '#1234|Nri1/BA05][X10E05']) {
      expect(parseAnswer((await panel.send(panelFrame({ token: 'SIA-DCS', seq: '0104', account: '1234', data })))!).token).toBe('ACK');
    }
    panel.close();
    expect(stored().map((e) => e.zone?.number)).toEqual([5, 6, 5]);
  });

  it('ACKs a frame whose code is unknown and publishes it as unrecognized', async () => {
    const panel = await TcpPanel.connect(port);
    const answer = await panel.send(panelFrame({ token: 'ADM-CID', seq: '0101', account: '1234', data: '#1234|1999 01 003' }));
    panel.close();
    expect(parseAnswer(answer!).token).toBe('ACK');
    expect(stored()[0]).toMatchObject({ category: 'unrecognized', code: { value: '999' } });
  });

  it('handles coalesced and split frames on one persistent connection, answering each in order', async () => {
    const frames = ['0201', '0202', '0203'].map((seq) => panelFrame({ token: 'SIA-DCS', seq, account: '1234', data: '#1234|Nri1/BA0' + seq.slice(3) }));
    const panel = await TcpPanel.connect(port);
    const answers = [panel.answer(), panel.answer(), panel.answer()];
    panel.write(Buffer.concat([frames[0]!, frames[1]!.subarray(0, 10)]));
    await new Promise((r) => setTimeout(r, 30));
    panel.write(Buffer.concat([frames[1]!.subarray(10), frames[2]!]));
    const got = (await Promise.all(answers)).map((a) => parseAnswer(a!).seq);
    panel.close();
    expect(got).toEqual(['0201', '0202', '0203']);
    expect(stored()).toHaveLength(3);
  });

  it('publishes both events of a SIA block with two codes', async () => {
    const panel = await TcpPanel.connect(port);
    await panel.send(wrap(`"SIA-DCS"0300L0#1234[#1234|Nid22/CL/PA31]`));
    panel.close();
    expect(stored().map((e) => e.category)).toEqual(['closing', 'panic']);
  });

  it('answers DUH, echoing seq and account, to a CRC-valid message type it does not handle, once central was told', async () => {
    const answer = await udpSend(port, wrap('"XYZ-DC07"0400L0#1234[#1234|ABC]'));
    const parsed = parseAnswer(answer!);
    expect(parsed).toMatchObject({ token: 'DUH', seq: '0400', crcValid: true });
    expect(parsed.body).toContain('#1234[]');
    expect(stored()).toMatchObject([{ category: 'supervisory', covert: true, duress: false, unverifiedReason: 'unsupported-token' }]);
  });

  it('bounds a connection that sends noise without a frame end', async () => {
    const panel = await TcpPanel.connect(port);
    panel.write(Buffer.alloc(5000, 0x41));
    const answer = await panel.send(panelFrame({ token: 'SIA-DCS', seq: '0500', account: '1234', data: '#1234|Nri1/BA01' }));
    panel.close();
    expect(parseAnswer(answer!).token).toBe('ACK');
    expect(counters.get('frames_discarded_total')).toBeGreaterThan(0);
  });
});

describe('DC-09 listener: TCP limits and its socket worker', () => {
  let listener: Dc09Listener;
  let counters: Counters;
  let outbox: MemoryOutbox;
  let port: number;

  beforeEach(async () => {
    ({ listener, outbox, counters, port } = await startListener({ accounts: null, sites: [], udp: false, idleTimeoutMs: 300, maxConnections: 2 }));
  });

  afterEach(async () => {
    await listener.stop();
  });

  const frame = (seq: string) => panelFrame({ token: 'SIA-DCS', seq, account: '1234', data: '#1234|Nri1/BA01' });
  const rawConnect = async () => {
    const socket = net.connect({ host: '127.0.0.1', port });
    await once(socket, 'connect');
    const closed = once(socket, 'close').then(() => true);
    return { socket, closed };
  };
  const within = <T>(promise: Promise<T>, ms: number) =>
    Promise.race([promise, new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), ms))]);

  it('counts the connections it accepts and reports the open ones in its health', async () => {
    const panels = [await TcpPanel.connect(port), await TcpPanel.connect(port)];
    // Each connection answers once it is known on the main thread as well.
    for (const [i, panel] of panels.entries()) expect(parseAnswer((await panel.send(frame(`070${i}`)))!).token).toBe('ACK');
    // Two is this listener's maxConnections: full, so degraded (a third panel would be turned away).
    expect(listener.health()).toMatchObject({ state: 'degraded', detail: expect.stringMatching(/^2 connections; maxConnections \(2\) reached/) });
    expect(counters.get('connections_total', { input: 'ip-receiver' })).toBe(2);
    for (const panel of panels) panel.close();
  });

  it('at maxConnections closes the oldest connection without a valid frame to let a new one in, and refuses one when all have sent one', async () => {
    const idle = await rawConnect();
    const panel = await TcpPanel.connect(port);
    expect(parseAnswer((await panel.send(frame('0701')))!).token).toBe('ACK');
    const newcomer = await TcpPanel.connect(port);
    expect(await within(idle.closed, 1_000)).toBe(true);
    expect(parseAnswer((await newcomer.send(frame('0702')))!).token).toBe('ACK');
    // Both open connections have proven themselves: a third is turned away at once.
    const third = await rawConnect();
    expect(await within(third.closed, 1_000)).toBe(true);
    expect(panel.closed).toBe(false);
    expect(newcomer.closed).toBe(false);
    panel.close();
    newcomer.close();
  });

  it('closes a connection idle past the timeout and counts its unfinished frame as discarded', async () => {
    const { socket, closed } = await rawConnect();
    socket.write(frame('0710').subarray(0, 20));
    expect(await within(closed, 2_000)).toBe(true);
    // The worker reports the discard in its next batch, a moment after the close.
    const discarded = () => counters.get('frames_discarded_total', { input: 'ip-receiver', reason: 'FRAME_IDLE_TIMEOUT' });
    for (let tries = 0; discarded() === 0 && tries < 50; tries++) await new Promise((r) => setTimeout(r, 10));
    expect(discarded()).toBe(1);
  });

  it('answers, in order, frames a panel sends without waiting for each answer', async () => {
    const panel = await TcpPanel.connect(port);
    const answers = [panel.answer(), panel.answer(), panel.answer()];
    panel.write(Buffer.concat(['0720', '0721', '0722'].map(frame)));
    expect((await Promise.all(answers)).map((a) => parseAnswer(a!).seq)).toEqual(['0720', '0721', '0722']);
    panel.close();
  });

  it('gives its socket worker a small young generation of its own', () => {
    const worker = (listener as unknown as { worker: Worker }).worker;
    expect(worker.resourceLimits?.maxYoungGenerationSizeMb).toBe(4);
  });

  it('starts its socket worker again when it dies, on the same port', async () => {
    const worker = (listener as unknown as { worker: Worker }).worker;
    await worker.terminate();
    expect(listener.health().state).toBe('down');
    const deadline = Date.now() + 5_000;
    while (listener.health().state !== 'up' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(listener.health().state).toBe('up');
    const panel = await TcpPanel.connect(port);
    expect(parseAnswer((await panel.send(frame('0730')))!).token).toBe('ACK');
    panel.close();
  });

  it('answers the frames in flight before it closes on stop', async () => {
    const panel = await TcpPanel.connect(port);
    const answer = panel.answer();
    panel.write(frame('0740'));
    // Stop as soon as the frame is with the main thread (a turn of the worker's loop; longer on a loaded machine).
    const inFlight = (listener as unknown as { inFlight: Set<unknown> }).inFlight;
    for (let tries = 0; inFlight.size === 0 && outbox.pending('probe', 10).length === 0 && tries < 2000; tries++) await new Promise((r) => setTimeout(r, 5));
    await listener.stop();
    expect(parseAnswer((await answer)!).token).toBe('ACK');
    expect(outbox.pending('probe', 10)).toHaveLength(1);
    panel.close();
  });
});

describe('DC-09 listener: UDP on its socket worker', () => {
  let under: ListenerUnderTest | undefined;

  afterEach(async () => {
    await under?.listener.stop();
    under = undefined;
  });

  const frame = (seq: string, data = '#1234|Nri1/BA01') => panelFrame({ token: 'SIA-DCS', seq, account: '1234', data });

  /** A panel's UDP socket, bound so its address is known before it sends. */
  async function udpPanel(): Promise<{ socket: dgram.Socket; port: number; answer: () => Promise<Buffer> }> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    return { socket, port: socket.address().port, answer: () => new Promise((resolve) => socket.once('message', resolve)) };
  }

  it('serves datagrams with TCP off, naming the sender as the peer and udp as the transport', async () => {
    under = await startListener({ accounts: null, sites: [], tcp: false, udp: true, idleTimeoutMs: 5_000, maxConnections: 10 });
    expect(under.listener.address.tcp).toBeUndefined();
    const panel = await udpPanel();
    const answer = panel.answer();
    panel.socket.send(frame('0801', '#1234|Nri1/HA05'), under.port, '127.0.0.1');
    expect(parseAnswer(await answer)).toMatchObject({ token: 'ACK', seq: '0801' });
    panel.socket.close();
    const [entry] = under.outbox.pending('probe', 10);
    expect(entry?.event).toMatchObject({ category: 'holdup', duress: true, source: { transport: 'udp', peer: `127.0.0.1:${panel.port}` } });
  });

  it('answers both transports on one port, from one group of frames', async () => {
    under = await startListener({ accounts: null, sites: [], udp: true, idleTimeoutMs: 5_000, maxConnections: 10 });
    expect(under.listener.address.udp?.port).toBe(under.listener.address.tcp?.port);
    const tcp = await TcpPanel.connect(under.port);
    const udp = await udpPanel();
    const udpAnswer = udp.answer();
    udp.socket.send(frame('0811'), under.port, '127.0.0.1');
    const tcpAnswer = tcp.send(frame('0812'));
    expect(parseAnswer(await udpAnswer).seq).toBe('0811');
    expect(parseAnswer((await tcpAnswer)!).seq).toBe('0812');
    tcp.close();
    udp.socket.close();
    expect(under.outbox.pending('probe', 10).map((e) => e.event.source.transport).sort()).toEqual(['tcp', 'udp']);
  });

  it('asks for a UDP receive buffer above the system default, for bursts, and logs what the kernel granted', async () => {
    const { logger, lines } = recordingLogger();
    under = await startListener({ accounts: null, sites: [], tcp: false, udp: true, idleTimeoutMs: 5_000, maxConnections: 10, logger });
    const granted = lines.find((l) => l.message === 'dc09 input listening')?.fields['udpReceiveBufferBytes'];
    expect(granted).toEqual(expect.any(Number));
    const sysctl = (name: string) => Number(readFileSync(`/proc/sys/net/core/${name}`, 'utf8'));
    // Linux grants up to rmem_max (and reports twice what it set); where that is above the default, more is granted.
    if (sysctl('rmem_max') > sysctl('rmem_default')) expect(granted as number).toBeGreaterThan(2 * sysctl('rmem_default'));
  });

  it('starts its socket worker again when it dies, UDP on the same port', async () => {
    under = await startListener({ accounts: null, sites: [], tcp: false, udp: true, idleTimeoutMs: 5_000, maxConnections: 10 });
    const port = under.port;
    await (under.listener as unknown as { worker: Worker }).worker.terminate();
    const deadline = Date.now() + 5_000;
    while (under.listener.health().state !== 'up' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(under.listener.health().state).toBe('up');
    expect(under.listener.address.udp?.port).toBe(port);
    const answer = await udpSend(port, frame('0821'));
    expect(parseAnswer(answer!).token).toBe('ACK');
  });

  it('answers a datagram in flight before it closes on stop', async () => {
    under = await startListener({ accounts: null, sites: [], udp: true, idleTimeoutMs: 5_000, maxConnections: 10 });
    const panel = await udpPanel();
    const answer = panel.answer();
    panel.socket.send(frame('0831'), under.port, '127.0.0.1');
    const inFlight = (under.listener as unknown as { inFlight: { size: number } }).inFlight;
    for (let tries = 0; inFlight.size === 0 && under.outbox.pending('probe', 10).length === 0 && tries < 2000; tries++) await new Promise((r) => setTimeout(r, 5));
    await under.listener.stop();
    expect(parseAnswer(await answer).token).toBe('ACK');
    expect(under.outbox.pending('probe', 10)).toHaveLength(1);
    panel.socket.close();
  });
});
