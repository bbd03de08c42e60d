import dgram from 'node:dgram';
import { once } from 'node:events';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { crcArc, panelFrame, parseAnswer, TcpPanel, wrap } from '../helpers/panel.js';
import { startListener, type ListenerUnderTest } from '../helpers/dc09-listener.js';
import { recordingLogger } from '../helpers/recording-logger.js';
import { gateAppends } from '../helpers/gated-outbox.js';

/**
 * Attacks on the DC-09 listener from the network, each reproduced on loopback and bounded in count and time:
 * one connection streaming junk, many idle connections from one host, noise that keeps a connection alive,
 * a connection flood up to maxConnections (its alarm: tests/adapters/inputs/dc09.capacity-alarm.test.ts), a bad-CRC datagram flood against the log, and a datagram flood past
 * what the listener holds.
 */

const frame = (seq: string) => panelFrame({ token: 'SIA-DCS', seq, account: '1234', data: '#1234|Nri1/BA01' });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function connectFrom(port: number, localAddress = '127.0.0.1'): Promise<{ socket: net.Socket; closed: Promise<true> }> {
  const socket = net.connect({ host: '127.0.0.1', port, localAddress });
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  return { socket, closed: once(socket, 'close').then(() => true as const) };
}

const within = <T>(promise: Promise<T>, ms: number) => Promise.race([promise, sleep(ms).then(() => 'pending' as const)]);

describe('DC-09 listener under hostile load', () => {
  let under: ListenerUnderTest | undefined;
  afterEach(async () => {
    await under?.listener.stop();
    under = undefined;
  });

  it('pauses a connection that streams junk frames: what it may queue is bounded, and another panel is answered within 1 s', async () => {
    under = await startListener({ accounts: null, sites: [], udp: false, idleTimeoutMs: 60_000, maxConnections: 100 });
    const { port } = under;
    // 12-byte frames that frame but never decode: the worst case per byte for the listener's queue.
    const junk = Buffer.concat(Array.from({ length: 64 * 1024 / 12 }, () => Buffer.from('\n0000000Axx\r', 'latin1')));
    const flooder = await connectFrom(port);
    const FLOOD_MS = 4_000;
    const LIMIT_BYTES = 256 * 1024 * 1024;
    let accepted = 0;
    const flooding = (async () => {
      const until = Date.now() + FLOOD_MS;
      // Writes only when the kernel takes more, so this side holds no backlog of its own.
      while (Date.now() < until && accepted < LIMIT_BYTES && !flooder.socket.destroyed) {
        if (flooder.socket.write(junk)) accepted += junk.length;
        else {
          accepted += junk.length;
          // Bounded by a signal, not a race: a drain that never comes must not leave its listeners behind.
          await once(flooder.socket, 'drain', { signal: AbortSignal.timeout(250) }).catch(() => undefined);
        }
      }
    })();
    await sleep(1_000);
    const acceptedAfterOneSecond = accepted;
    const panel = await TcpPanel.connect(port);
    const asked = Date.now();
    const answer = await panel.send(frame('0001'), 1_000);
    const latencyMs = Date.now() - asked;
    panel.close();
    await flooding;
    flooder.socket.destroy();

    expect(answer).not.toBeNull();
    expect(parseAnswer(answer!).token).toBe('ACK');
    expect(latencyMs).toBeLessThan(1_000);
    // Paused: after the first second the sender gets (almost) nothing more in. Without the bound the listener
    // read on at tens of MB a second and queued every frame.
    expect(accepted - acceptedAfterOneSecond).toBeLessThan(8 * 1024 * 1024);
    expect(under.counters.get('frames_rejected_total')).toBeGreaterThan(0);
  }, 15_000);

  it('keeps serving a paused connection once its queue drains: no frame is lost', async () => {
    under = await startListener({ accounts: null, sites: [], udp: false, idleTimeoutMs: 60_000, maxConnections: 100 });
    const panel = await TcpPanel.connect(under.port);
    const count = 2_000;
    const answers = Array.from({ length: count }, () => panel.answer(10_000));
    // Link tests: answered without being stored, so the test outbox's backlog limit does not come into it.
    panel.write(Buffer.concat(Array.from({ length: count }, () => panelFrame({ token: 'NULL', seq: '0000', account: '1234', data: '' }))));
    const got = await Promise.all(answers);
    panel.close();
    expect(got.filter((a) => a !== null && parseAnswer(a).token === 'ACK')).toHaveLength(count);
  }, 20_000);

  it('holds at most maxConnectionsPerPeer connections from one address: idle ones make room for a panel, proven ones are kept', async () => {
    under = await startListener({ accounts: null, sites: [], udp: false, idleTimeoutMs: 60_000, maxConnections: 100, maxConnectionsPerPeer: 3 });
    const { port } = under;
    // 2,000 idle connections from one address, in the attack; here 20, bounded.
    const idle = [];
    for (let i = 0; i < 20; i++) idle.push(await connectFrom(port));
    await sleep(100);
    expect(under.listener.health().detail).toMatch(/^3 connections/);
    // A panel on the same address still gets in and is answered: the oldest idle connection made room.
    const panels = [];
    for (let i = 0; i < 3; i++) {
      const panel = await TcpPanel.connect(port);
      expect(parseAnswer((await panel.send(frame(`000${i}`)))!).token).toBe('ACK');
      panels.push(panel);
    }
    for (const { closed } of idle) expect(await within(closed, 1_000)).toBe(true);
    // Every connection of the address has proven itself: one more is refused at once.
    const extra = await connectFrom(port);
    expect(await within(extra.closed, 1_000)).toBe(true);
    expect(panels.map((p) => p.closed)).toEqual([false, false, false]);
    // Another address (127.0.0.2 is loopback too) is not counted against the first one.
    const other = await TcpPanel.connect(port, '127.0.0.2');
    expect(parseAnswer((await other.send(frame('0009')))!).token).toBe('ACK');
    other.close();
    for (const panel of panels) panel.close();
    await sleep(50);
    expect(under.counters.get('connections_dropped_total', { input: 'ip-receiver', reason: 'peer-limit' })).toBe(21);
  });

  it('closes a connection that sends no valid frame within firstFrameTimeout', async () => {
    under = await startListener({ accounts: null, sites: [], udp: false, idleTimeoutMs: 60_000, firstFrameTimeoutMs: 300, maxConnections: 100 });
    const silent = await connectFrom(under.port);
    const started = Date.now();
    expect(await within(silent.closed, 2_000)).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    await sleep(50);
    expect(under.counters.get('connections_dropped_total', { reason: 'first-frame-timeout' })).toBe(1);
  });

  it('does not let noise or bad-CRC frames reset the idle timeout; valid frames do', async () => {
    under = await startListener({ accounts: null, sites: [], udp: false, idleTimeoutMs: 600, firstFrameTimeoutMs: 600, maxConnections: 100 });
    const { port } = under;
    const noisy = await connectFrom(port);
    const badCrc = Buffer.from(frame('0003'));
    badCrc[1] = badCrc[1] === 0x30 ? 0x31 : 0x30;
    const panel = await TcpPanel.connect(port);
    const started = Date.now();
    // For 1.5 s: a noise byte and a bad-CRC frame every 150 ms on one, a valid heartbeat every 200 ms on the other.
    let tick = 0;
    while (Date.now() - started < 1_500) {
      if (!noisy.socket.destroyed) noisy.socket.write(tick % 2 === 0 ? Buffer.from('Z') : badCrc);
      if (tick % 4 === 0) expect(parseAnswer((await panel.send(panelFrame({ token: 'NULL', seq: '0000', account: '1234', data: '' })))!).token).toBe('ACK');
      tick += 1;
      await sleep(50);
    }
    expect(await within(noisy.closed, 0)).toBe(true);
    expect(panel.closed).toBe(false);
    panel.close();
  });

  it('at maxConnections lets a hold-up in by closing the oldest idle connection', async () => {
    under = await startListener({ accounts: null, sites: [], udp: false, idleTimeoutMs: 60_000, maxConnections: 5, maxConnectionsPerPeer: 100 });
    const { port, outbox } = under;
    const idle = [];
    for (let i = 0; i < 5; i++) idle.push(await connectFrom(port));
    const panel = await TcpPanel.connect(port);
    const holdup = panelFrame({ token: 'SIA-DCS', seq: '0200', account: '1234', data: '#1234|Nri1/HA05' });
    expect(parseAnswer((await panel.send(holdup))!).token).toBe('ACK');
    panel.close();
    expect(await within(idle[0]!.closed, 1_000)).toBe(true);
    expect(outbox.pending('probe', 100).map((e) => e.event.category)).toContain('holdup');
    for (const { socket } of idle) socket.destroy();
  });

  it('at maxConnections, connections whose forged frames were NAKed still make room for a hold-up', async () => {
    under = await startListener({ accounts: [{ account: '1234' }], sites: [], udp: false, idleTimeoutMs: 60_000, maxConnections: 5, maxConnectionsPerPeer: 100 });
    const { port, outbox } = under;
    const attackers = [];
    for (let i = 0; i < 5; i++) {
      const attacker = await TcpPanel.connect(port);
      // No key needed: the CRC is public and the account unknown, so the answer is NAK.
      expect(parseAnswer((await attacker.send(panelFrame({ token: 'NULL', seq: '0000', account: `99${i}9`, data: '' })))!).token).toBe('NAK');
      attackers.push(attacker);
    }
    const panel = await TcpPanel.connect(port);
    const holdup = panelFrame({ token: 'SIA-DCS', seq: '0200', account: '1234', data: '#1234|Nri1/HA05' });
    expect(parseAnswer((await panel.send(holdup))!).token).toBe('ACK');
    expect(outbox.pending('probe', 100).some((e) => e.event.category === 'holdup' && e.event.verified)).toBe(true);
    await sleep(50);
    expect(attackers.filter((a) => a.closed)).toHaveLength(1);
    for (const connection of [panel, ...attackers]) connection.close();
  });

  it('at maxConnections does not close the connection whose first frame is being stored', async () => {
    under = await startListener({ accounts: [{ account: '1234' }], sites: [], udp: false, idleTimeoutMs: 60_000, maxConnections: 3, maxConnectionsPerPeer: 100 });
    const { port, outbox } = under;
    const store = gateAppends(outbox); // a store slowed by load: the hold-up waits for its fsync
    const panel = await TcpPanel.connect(port);
    const answer = panel.answer(3_000);
    panel.write(panelFrame({ token: 'SIA-DCS', seq: '0200', account: '1234', data: '#1234|Nri1/HA05' }));
    await store.appending;
    const idle = [];
    for (let i = 0; i < 3; i++) idle.push(await connectFrom(port));
    await sleep(200);
    store.release();
    expect(parseAnswer((await answer)!).token).toBe('ACK');
    expect(panel.closed).toBe(false);
    // The idle ones made room for each other instead.
    expect(idle.filter(({ socket }) => socket.destroyed)).toHaveLength(1);
    panel.close();
    for (const { socket } of idle) socket.destroy();
  });

  it('discards datagrams past maxDatagramsInFlight unread, counts every one, raises the alarm and answers a panel after the flood', async () => {
    const { logger, lines } = recordingLogger();
    under = await startListener({ accounts: null, sites: [], udp: true, idleTimeoutMs: 60_000, maxConnections: 100, logger, maxDatagramsInFlight: 8 });
    // Eight addresses, so the input's limit (8) is reached before any one address's share (2) holds them all back.
    const flooders = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const socket = dgram.createSocket('udp4');
        await new Promise<void>((resolve) => socket.bind(0, `127.0.0.${i + 1}`, resolve));
        return socket;
      }),
    );
    let answered = 0;
    for (const flooder of flooders) flooder.on('message', () => (answered += 1));
    // Fewer than the kernel's default receive buffer holds, sent at once, in turns: every one reaches the worker.
    const rounds = 12;
    const total = rounds * flooders.length;
    for (let round = 0; round < rounds; round++) {
      for (const [i, flooder] of flooders.entries()) {
        flooder.send(panelFrame({ token: 'SIA-DCS', seq: String(round).padStart(4, '0'), account: String(1000 + i), data: `#${1000 + i}|Nri1/BA01` }), under.port, '127.0.0.1');
      }
    }
    const discarded = (reason: string) => under!.counters.get('frames_discarded_total', { input: 'ip-receiver', reason });
    const allDiscarded = () => discarded('FRAME_DATAGRAM_OVERLOAD') + discarded('FRAME_DATAGRAM_PEER_LIMIT');
    const deadline = Date.now() + 5_000;
    while (answered + allDiscarded() < total && Date.now() < deadline) await sleep(20);
    for (const flooder of flooders) flooder.close();
    expect(discarded('FRAME_DATAGRAM_OVERLOAD')).toBeGreaterThan(0);
    // Nothing silent: each datagram was either answered or counted as discarded.
    expect(answered + allDiscarded()).toBe(total);
    const storedOf = () => under!.outbox.pending('probe', total + 10).map((e) => e.event);
    expect(storedOf().filter((e) => e.category === 'burglary')).toHaveLength(answered);
    expect(lines.filter((l) => l.message === 'frame discarded').length).toBeLessThanOrEqual(2 * flooders.length);
    // As at maxConnections: the input says it is full, and one supervisory event says a report may be lost.
    expect(under.listener.health()).toMatchObject({ state: 'degraded', detail: expect.stringMatching(/datagrams discarded/) });
    for (let tries = 0; !storedOf().some((e) => e.category === 'supervisory') && tries < 100; tries++) await sleep(10);
    const alarms = storedOf().filter((e) => e.category === 'supervisory');
    expect(alarms).toHaveLength(1);
    expect(alarms[0]).toMatchObject({ source: { transport: 'udp' } });
    expect(alarms[0]!.reasons.join(' ')).toMatch(/discarded datagrams/);
    // Nothing is left holding the listener's room: a hold-up sent after the flood is answered.
    const panel = dgram.createSocket('udp4');
    const answer = new Promise<Buffer>((resolve) => panel.once('message', resolve));
    panel.send(panelFrame({ token: 'SIA-DCS', seq: '0500', account: '5678', data: '#5678|Nri1/HA05' }), under.port, '127.0.0.1');
    expect(parseAnswer(await answer).token).toBe('ACK');
    panel.close();
  });

  it("answers a panel's datagram sent during another address's datagram flood: one address holds a quarter of the room", async () => {
    under = await startListener({ accounts: null, sites: [], udp: true, idleTimeoutMs: 60_000, maxConnections: 100, maxDatagramsInFlight: 8 });
    const flooder = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => flooder.bind(0, '127.0.0.1', resolve));
    const panel = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => panel.bind(0, '127.0.0.2', resolve));
    const answer = new Promise<Buffer | null>((resolve) => {
      panel.once('message', resolve);
      setTimeout(() => resolve(null), 2_000);
    });
    for (let i = 0; i < 100; i++) flooder.send(panelFrame({ token: 'SIA-DCS', seq: String(i).padStart(4, '0'), account: '1234', data: '#1234|Nri1/BA01' }), under.port, '127.0.0.1');
    // Behind the whole flood in the socket's queue: the flooder's datagrams are waiting for answers when it is read.
    panel.send(panelFrame({ token: 'SIA-DCS', seq: '0600', account: '5678', data: '#5678|Nri1/HA05' }), under.port, '127.0.0.1');
    const answered = await answer;
    flooder.close();
    panel.close();
    expect(answered).not.toBeNull();
    expect(parseAnswer(answered!).token).toBe('ACK');
    expect(under.counters.get('frames_discarded_total', { input: 'ip-receiver', reason: 'FRAME_DATAGRAM_PEER_LIMIT' })).toBeGreaterThan(0);
    // One address over its share is that address's problem, as at maxConnectionsPerPeer: the input stays up.
    expect(under.listener.health().state).toBe('up');
  });

  it('never answers a forged datagram with more bytes than it carried: no NAK larger than the datagram, an ACK as usual', async () => {
    under = await startListener({ accounts: [{ account: '1234' }], sites: [], udp: true, idleTimeoutMs: 60_000, maxConnections: 100 });
    const socket = dgram.createSocket('udp4');
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    const answerTo = async (datagram: Buffer): Promise<Buffer | null> => {
      const answered = once(socket, 'message', { signal: AbortSignal.timeout(1_000) }).then(([msg]) => msg as Buffer, () => null);
      socket.send(datagram, under!.port, '127.0.0.1');
      return answered;
    };
    // 20 bytes naming no account: refused, and the 47-byte NAK would go to whatever address the datagram claims.
    const body = '"NULL"0000[]';
    const tiny = Buffer.from(`${crcArc(body).toString(16).toUpperCase().padStart(4, '0')}000C${body}`, 'latin1');
    expect(await answerTo(tiny)).toBeNull();
    // A refused frame as large as its NAK still gets it; an allowlisted panel's frame its ACK.
    const unknown = panelFrame({ token: 'ADM-CID', seq: '0001', account: '9999', data: '#9999|1130 01 003' });
    const nak = await answerTo(unknown);
    expect(nak !== null && parseAnswer(nak).token).toBe('NAK');
    expect(nak!.length).toBeLessThanOrEqual(unknown.length);
    expect(parseAnswer((await answerTo(panelFrame({ token: 'NULL', seq: '0002', account: '1234', data: '' })))!).token).toBe('ACK');
    socket.close();
    expect(under.counters.get('udp_answers_withheld_total', { input: 'ip-receiver' })).toBe(1);
  });

  it('discards a datagram larger than maxFrameBytes unread, so what the input holds stays small', async () => {
    under = await startListener({ accounts: null, sites: [], udp: true, idleTimeoutMs: 60_000, maxConnections: 100 });
    const socket = dgram.createSocket('udp4');
    const huge = Buffer.concat([Buffer.from(frame('0700')), Buffer.alloc(60_000, 0x41)]);
    for (let i = 0; i < 20; i++) socket.send(huge, under.port, '127.0.0.1');
    const oversize = () => under!.counters.get('frames_discarded_total', { input: 'ip-receiver', reason: 'FRAME_OVERSIZE' });
    for (let tries = 0; oversize() < 20 && tries < 250; tries++) await sleep(20);
    socket.close();
    expect(oversize()).toBe(20);
    // Not handed over to be decoded: the main thread never saw them.
    expect(under.counters.get('frames_rejected_total')).toBe(0);
  });

  it('logs a bad-CRC datagram flood a handful of times while counting every datagram', async () => {
    const { logger, lines } = recordingLogger();
    under = await startListener({ accounts: null, sites: [], udp: true, idleTimeoutMs: 60_000, maxConnections: 100, logger });
    const bad = Buffer.from(wrap('"SIA-DCS"0004L0#1234[#1234|Nri1/BA01]'));
    bad[1] = bad[1] === 0x30 ? 0x31 : 0x30;
    const socket = dgram.createSocket('udp4');
    const total = 3_000;
    for (let i = 0; i < total; i++) {
      socket.send(bad, under.port, '127.0.0.1');
      // Paced so the kernel's receive buffer drops none of them: the count below is then exact.
      if (i % 50 === 49) await sleep(5);
    }
    const deadline = Date.now() + 5_000;
    while (under.counters.get('frames_rejected_total', { code: 'DC09_CRC_MISMATCH' }) < total && Date.now() < deadline) await sleep(20);
    socket.close();
    expect(under.counters.get('frames_rejected_total', { code: 'DC09_CRC_MISMATCH' })).toBe(total);
    expect(lines.filter((l) => l.message === 'frame rejected')).toHaveLength(1);
  });
});
