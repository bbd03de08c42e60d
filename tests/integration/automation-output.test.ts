import { spawn } from 'node:child_process';
import net from 'node:net';
import { once } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AutomationOutput, type AutomationOutputOptions } from '../../adapters/outputs/automation.js';
import type { LinkStateReport } from '../../adapters/outputs/link-state.js';
import { DelimitedFramer } from '../../src/codecs/delimited-framer.js';
import { SURGARD_ACK, SURGARD_NAK, SURGARD_TERMINATOR } from '../../src/codecs/surgard.js';
import { MemoryOutbox } from '../../src/outbox/memory-outbox.js';
import { Dispatcher } from '../../src/pipeline/dispatcher.js';
import { silentLogger, systemClock } from '../../src/ports.js';
import { serialReceiver } from '../helpers/serial-receiver.js';
import { testEvent } from '../helpers/output-events.js';
import { recordingLogger } from '../helpers/recording-logger.js';

type Answer = 'decode' | 'nak' | 'silent';

/**
 * Monitoring software for the tests: it connects to the output like an automation to a Sur-Gard receiver, splits
 * packets at DC4 and hands them to the gateway's own serial Sur-Gard decoder, whose ACK/NAK it sends back
 * (or, as `answer` says, a NAK or nothing).
 */
async function connectAutomation(port: number, answer: (packet: string, index: number) => Answer = () => 'decode', localAddress?: string) {
  const outbox = new MemoryOutbox();
  outbox.registerOutputs(['probe']);
  const decoder = serialReceiver(outbox);
  const packets: string[] = [];
  const socket = net.connect({ port, host: '127.0.0.1', ...(localAddress === undefined ? {} : { localAddress }) });
  const framer = new DelimitedFramer({ terminators: [SURGARD_TERMINATOR], maxFrameBytes: 256, keepTerminator: true });
  socket.on('data', (chunk) => {
    for (const out of framer.push(chunk)) {
      if (out.kind !== 'frame') continue;
      const text = Buffer.from(out.bytes).toString('latin1');
      packets.push(text);
      const how = answer(text, packets.length - 1);
      if (how === 'nak') socket.write(Uint8Array.of(SURGARD_NAK));
      if (how === 'decode') void decoder.handlePacket(out.bytes, 'automation').then((outcome) => outcome.reply !== null && socket.write(outcome.reply));
    }
  });
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  closers.push(async () => void socket.destroy());
  return {
    socket,
    packets,
    closed,
    events: () => packets.filter((p) => !p.startsWith('1')),
    stored: () => outbox.pending('probe', 100).map((e) => e.event),
  };
}

const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

const OPTIONS: AutomationOutputOptions = {
  name: 'automation',
  protocol: 'surgard',
  host: '127.0.0.1',
  port: 0,
  allow: ['127.0.0.1'],
  receiver: '01',
  line: '001',
  heartbeat: 0,
  // Long enough for an ACK on a loaded machine; the test of silence sets its own.
  ackTimeout: 2_000,
  retries: 2,
  audience: 'central',
};

async function output(options: Partial<AutomationOutputOptions> = {}, reports: LinkStateReport[] = []): Promise<AutomationOutput> {
  const out = new AutomationOutput({ ...OPTIONS, ...options }, { clock: systemClock, logger: silentLogger, reportLinkState: (report) => reports.push(report) });
  await out.start();
  closers.push(() => out.stop());
  return out;
}

const duress = (account = '1234') =>
  testEvent({ account, category: 'duress', protocol: 'adm-cid', code: { scheme: 'contact-id', value: '121', description: 'Duress' }, user: { number: 5 }, partition: { number: 1 } });

async function connected(out: AutomationOutput) {
  await expect.poll(() => out.health().state, { timeout: 5_000 }).toBe('up');
}

describe('Sur-Gard automation output, read by the serial Sur-Gard decoder', () => {
  it('sends protocol 5 Contact ID packets; delivered on the ACK the decoder gives after storing the event', async () => {
    const out = await output();
    const automation = await connectAutomation(out.port());
    await connected(out);
    expect(await out.deliver(duress())).toEqual({ ok: true });
    expect(await out.deliver(testEvent({ account: '123', category: 'burglary', code: { scheme: 'sia', value: 'BA', description: '' }, zone: { number: 3 } }))).toEqual({ ok: true });
    expect(await out.deliver(duress('ABCDEF0123'))).toEqual({ ok: true });
    expect(automation.packets[0]).toBe(`101000${' '.repeat(11)}@    \x14`); // the heartbeat on connect
    expect(automation.events()).toEqual(['501001 181234E12101005\x14', '501001 180123E13000003\x14', 'Q01001 58ABCDEF0123E12101005\x14']);
    const stored = automation.stored().sort((a, b) => (a.account ?? '').localeCompare(b.account ?? ''));
    expect(stored.map((e) => ({ account: e.account, category: e.category, duress: e.duress, user: e.user?.number, zone: e.zone?.number }))).toEqual([
      { account: '0123', category: 'burglary', duress: false, user: undefined, zone: 3 },
      { account: '1234', category: 'duress', duress: true, user: 5, zone: undefined },
      { account: 'ABCDEF0123', category: 'duress', duress: true, user: 5, zone: undefined },
    ]);
  });

  it('a NAK gets the packet again at once; the ACK after it delivers', async () => {
    const out = await output();
    const automation = await connectAutomation(out.port(), (packet, index) => (packet.startsWith('5') && index < 3 ? 'nak' : 'decode'));
    await connected(out);
    expect(await out.deliver(duress())).toEqual({ ok: true });
    expect(automation.events()).toEqual(Array(3).fill('501001 181234E12101005\x14'));
    expect(automation.stored()).toHaveLength(1);
  });

  it('a packet NAKed 20 times is refused for good (a dead letter, kept)', async () => {
    const out = await output();
    const automation = await connectAutomation(out.port(), (packet) => (packet.startsWith('5') ? 'nak' : 'decode'));
    await connected(out);
    expect(await out.deliver(duress())).toMatchObject({ ok: false, retryable: false, error: expect.stringMatching(/NAKed the packet 20 times/) });
    expect(automation.events()).toHaveLength(20);
  });

  it('silence: retransmitted, then the link counts as failed until a heartbeat is ACKed; a supervisory report and its restore', async () => {
    let silent = true;
    const reports: LinkStateReport[] = [];
    const out = await output({ heartbeat: 400, ackTimeout: 300 }, reports);
    // The heartbeat on connect is answered; then nothing, until `silent` is lifted.
    const automation = await connectAutomation(out.port(), (_packet, index) => (silent && index > 0 ? 'silent' : 'decode'));
    await connected(out);
    const result = await out.deliver(duress());
    expect(result).toMatchObject({ ok: false, retryable: true });
    expect(automation.events()).toHaveLength(3); // the first send and two retries
    expect(out.health().state).toBe('down');
    expect(reports.map((r) => r.qualifier)).toEqual(['new']);
    // While failed, only heartbeats go out: a delivery does not reach the wire.
    expect(await out.deliver(duress())).toMatchObject({ ok: false, retryable: true, error: expect.stringMatching(/waiting for an ACKed heartbeat/) });
    expect(automation.events()).toHaveLength(3);
    silent = false;
    await expect.poll(() => out.health().state, { timeout: 5_000 }).toBe('up');
    expect(reports.map((r) => r.qualifier)).toEqual(['new', 'restore']);
    expect(await out.deliver(duress())).toEqual({ ok: true });
    expect(automation.stored()).toHaveLength(1);
  });

  it('a late ACK to a retransmitted packet is not taken for the next packet, which the automation NAKs', async () => {
    const out = await output({ ackTimeout: 300, retries: 2 });
    // An automation that stalls for 450 ms at the first event, then answers its backlog in order, 10 ms apart: the
    // first copy of the duress is ACKed after the output retransmitted it, the copy's ACK comes after the next packet
    // went out, and that packet (account 5678) is NAKed each time.
    let socket: net.Socket | undefined;
    let stalledUntil: number | undefined;
    let lastAnswerAt = 0;
    const automation = await connectAutomation(out.port(), (packet, index) => {
      if (index === 0) return 'decode'; // the heartbeat on connect
      stalledUntil ??= Date.now() + 450;
      lastAnswerAt = Math.max(Date.now(), stalledUntil, lastAnswerAt + 10);
      const reply = packet.includes(' 185678') ? SURGARD_NAK : SURGARD_ACK;
      setTimeout(() => socket?.write(Uint8Array.of(reply)), lastAnswerAt - Date.now());
      return 'silent';
    });
    socket = automation.socket;
    await connected(out);
    expect(await out.deliver(duress())).toEqual({ ok: true });
    expect(automation.events()).toHaveLength(2); // sent, and sent again after 300 ms of silence
    const next = await out.deliver(duress('5678'));
    expect(next).toMatchObject({ ok: false });
    expect(automation.events().filter((p) => p.includes(' 185678')).length).toBeGreaterThan(1);
  });

  it('an answer that never comes is presumed lost: the next packet goes out and its ACK delivers it', async () => {
    const out = await output({ ackTimeout: 300, retries: 2 });
    // The first copy of the first event is never answered; everything else is.
    const automation = await connectAutomation(out.port(), (_packet, index) => (index === 1 ? 'silent' : 'decode'));
    await connected(out);
    expect(await out.deliver(duress())).toEqual({ ok: true });
    expect(await out.deliver(duress('5678'))).toEqual({ ok: true });
    expect(automation.events()).toHaveLength(3);
    expect(automation.stored().map((e) => e.account).sort()).toEqual(['1234', '5678']);
  });

  it('an automation that disconnects while an answer is still owed does not hold the event loop', async () => {
    const out = await output({ ackTimeout: 1_000, retries: 2 });
    // The first copy of the first event is never answered: one answer is still owed when the next event goes.
    const automation = await connectAutomation(out.port(), (_packet, index) => (index === 1 ? 'silent' : 'decode'));
    await connected(out);
    expect(await out.deliver(duress())).toEqual({ ok: true });
    // Every panel's ACK needs the event loop: how long it is held is the longest gap between these ticks.
    let longestGapMs = 0;
    let lastTick = performance.now();
    const ticks = setInterval(() => {
      longestGapMs = Math.max(longestGapMs, performance.now() - lastTick);
      lastTick = performance.now();
    }, 10);
    closers.push(async () => clearInterval(ticks));
    setTimeout(() => automation.socket.destroy(), 100);
    expect(await out.deliver(duress('5678'))).toMatchObject({ ok: false, retryable: true });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(longestGapMs, 'the event loop was held while the output waited for the owed answer').toBeLessThan(500);
  });

  it('with idle heartbeats off (heartbeat: 0s), a failed link is still probed with heartbeats and resumes when one is ACKed', async () => {
    // Only the output's schedule is faked; sockets and ACK waits run on real time.
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    closers.push(async () => void vi.useRealTimers());
    let silent = true;
    const out = await output({ heartbeat: 0, ackTimeout: 300, retries: 0 });
    const automation = await connectAutomation(out.port(), (_packet, index) => (silent && index > 0 ? 'silent' : 'decode'));
    await connected(out);
    expect(await out.deliver(duress())).toMatchObject({ ok: false, retryable: true });
    expect(out.health().state).toBe('down');
    // The automation answers again, on the same connection (it never saw anything wrong with it).
    silent = false;
    await vi.advanceTimersByTimeAsync(60_000);
    await expect.poll(() => out.health().state, { timeout: 5_000 }).toBe('up');
    expect(await out.deliver(duress())).toEqual({ ok: true });
    expect(automation.stored().map((e) => e.category)).toEqual(['duress']);
  });

  it('sends a heartbeat when idle', async () => {
    const out = await output({ heartbeat: 300 });
    const automation = await connectAutomation(out.port());
    await expect.poll(() => automation.packets.filter((p) => p.startsWith('101000')).length, { timeout: 5_000 }).toBeGreaterThanOrEqual(3);
  });

  it('attack: a peer outside `allow` is disconnected unanswered: it reads no event and cannot ACK one away', async () => {
    const out = await output();
    const intruder = await connectAutomation(out.port(), () => 'decode', '127.0.0.2');
    await intruder.closed;
    expect(await out.deliver(duress())).toMatchObject({ ok: false, retryable: true, error: 'no automation connected' });
    expect(intruder.packets).toEqual([]);
  });

  // The port is on loopback, where every account on the host can connect: one that comes first (before the monitoring
  // software, or while it restarts) would read every duress and ACK it away.
  it.skipIf(process.getuid?.() !== 0)('attack: with allowUids, a process of another account on the host is disconnected unanswered', async () => {
    const out = await output({ allowUids: [process.getuid!()] });
    const script = `const s = require('net').connect(${out.port()}, '127.0.0.1');
      s.on('connect', () => process.stdout.write('connected;'));
      s.on('data', (d) => { process.stdout.write(d.toString('latin1')); s.write(Buffer.from([6])); });
      s.on('close', () => process.exit(0));`;
    const intruder = spawn(process.execPath, ['-e', script], { uid: 65534, gid: 65534, stdio: ['ignore', 'pipe', 'inherit'] });
    closers.push(async () => void intruder.kill('SIGKILL'));
    let seen = '';
    intruder.stdout.on('data', (d: Buffer) => (seen += d.toString('latin1')));
    const exited = once(intruder, 'exit').then(() => 'disconnected');
    const deadline = new Promise((resolve) => setTimeout(() => resolve('still connected'), 5_000));
    expect(await Promise.race([exited, deadline])).toBe('disconnected');
    expect(seen).toBe('connected;');
    expect(await out.deliver(duress())).toMatchObject({ ok: false, error: 'no automation connected' });
    // The account it names connects as before.
    const automation = await connectAutomation(out.port());
    await connected(out);
    expect(await out.deliver(duress())).toEqual({ ok: true });
    expect(automation.stored()).toHaveLength(1);
  });

  it('attack: a second connection is refused while the automation answers', async () => {
    const out = await output();
    const automation = await connectAutomation(out.port());
    await connected(out);
    const second = await connectAutomation(out.port());
    await second.closed;
    expect(await out.deliver(duress())).toEqual({ ok: true });
    expect(automation.stored()).toHaveLength(1);
    expect(second.packets).toEqual([]);
  });

  it('with the dispatcher: an event waits in the outbox until an automation connects and ACKs it', async () => {
    const out = await output();
    const outbox = new MemoryOutbox();
    const dispatcher = new Dispatcher({ outbox, outputs: [out], clock: systemClock, logger: silentLogger, backoff: { initialMs: 50, maxMs: 200 } });
    dispatcher.start();
    closers.push(() => dispatcher.stop());
    await outbox.append([duress()]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(outbox.backlog('automation')).toBe(1);
    const automation = await connectAutomation(out.port());
    await expect.poll(() => outbox.backlog('automation'), { timeout: 5_000 }).toBe(0);
    expect(automation.stored().map((e) => e.category)).toEqual(['duress']);
  });

  it('a port already in use fails the start with its errno, for the gateway to name the setting', async () => {
    const first = await output();
    const second = new AutomationOutput({ ...OPTIONS, name: 'second', port: first.port() }, { clock: systemClock, logger: silentLogger });
    await expect(second.start()).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });

  it('an accept that failed (EMFILE: out of file descriptors) is logged as a refusal; the listener stays and takes the automation', async () => {
    const { logger, lines } = recordingLogger();
    const out = new AutomationOutput(OPTIONS, { clock: systemClock, logger });
    await out.start();
    closers.push(() => out.stop());
    // Node emits it on the listening server; unheard, it was thrown and ended the gateway.
    const emfile = Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', syscall: 'accept' });
    (out as unknown as { server: net.Server }).server.emit('error', emfile);
    expect(lines.filter((line) => line.level === 'warn')).toMatchObject([{ fields: { why: expect.stringMatching(/EMFILE/) }, message: 'automation connection refused' }]);
    await connectAutomation(out.port());
    await connected(out);
  });

  it('a heartbeat event from a panel is not forwarded as an alarm', async () => {
    const out = await output();
    const automation = await connectAutomation(out.port());
    await connected(out);
    expect(await out.deliver(testEvent({ category: 'heartbeat' }))).toEqual({ ok: true });
    expect(automation.events()).toEqual([]);
  });
});
