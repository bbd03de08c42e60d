import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createSiaIpInput, type SiaIpInput } from '../../../adapters/inputs/sia-ip.js';
import { encodeSiaBlock } from '../../../src/codecs/sia-dc03-block.js';
import { createIdSource } from '../../../src/model/ids.js';
import { Counters } from '../../../src/observability/counters.js';
import { MemoryOutbox } from '../../../src/outbox/memory-outbox.js';
import { Recorder } from '../../../src/pipeline/recorder.js';
import { silentLogger, systemClock, type Logger } from '../../../src/ports.js';
import { parseSettings } from '../../../src/settings/settings.js';
import { gateAppends } from '../../helpers/gated-outbox.js';
import type { CaptureDiscard } from '../../../adapters/inputs/input.js';
import { recordingLogger } from '../../helpers/recording-logger.js';

const ACKNOWLEDGE = [0x40, 0x38, 0x87];
const REJECT = [0x40, 0x39, 0x86];

let input: SiaIpInput | undefined;
afterEach(async () => {
  await input?.stop();
  input = undefined;
});

/** A SIA over IP input on a free port, as the gateway builds it from `extra` settings, storing into a memory outbox. */
async function startInput(extra = '', { onDiscard, sites = () => [], logger = silentLogger }: { onDiscard?: CaptureDiscard; sites?: () => []; logger?: Logger } = {}) {
  const parsed = parseSettings(`inputs:\n  - type: sia-ip\n    name: galaxy\n    port: 0\n${extra}outputs:\n  - type: stdout\n    name: probe\n`);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  const settings = parsed.settings.inputs[0];
  if (settings?.type !== 'sia-ip') throw new Error('expected a sia-ip input');
  const outbox = new MemoryOutbox();
  outbox.registerOutputs(['probe']);
  const counters = new Counters();
  const recorder = new Recorder({ outbox, counters, logger, backlogLimit: 1000 });
  input = createSiaIpInput(settings, { clock: systemClock, recorder, builder: { ids: createIdSource(systemClock), sites }, counters, logger, ...(onDiscard === undefined ? {} : { onDiscard }) });
  await input.start();
  const stored = () => outbox.pending('probe', 100).map((e) => e.event);
  return { port: input.port!, outbox, counters, stored };
}

/** A connected panel: `answer()` resolves with the next `count` bytes the input wrote back. */
async function panel(port: number, localAddress?: string) {
  const socket = net.connect({ host: '127.0.0.1', port, ...(localAddress === undefined ? {} : { localAddress }) });
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let received = Buffer.alloc(0);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('data', (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
  socket.on('error', () => {});
  return {
    socket,
    closed,
    async answer(count = 3): Promise<number[]> {
      await expect.poll(() => received.length, { timeout: 3000 }).toBeGreaterThanOrEqual(count);
      const taken = [...received.subarray(0, count)];
      received = received.subarray(count);
      return taken;
    },
  };
}

describe('SIA over IP input: DC-03 blocks over TCP from Galaxy and FX panels', () => {
  // The FX020's account block as quoted in eavanvalkenburg/sia#32 with encryption off; the session as Galaxy
  // receivers hold it (ZebMcKayhan/SIA-Server); a hold-up in the event block.
  it('acknowledges each block of a session, a hold-up only once it is stored, labelled duress', async () => {
    const { port, outbox, stored } = await startInput();
    const gate = gateAppends(outbox);
    const fx020 = await panel(port);
    fx020.socket.write(Buffer.from('D#0192\x92', 'latin1'));
    expect(await fx020.answer()).toEqual(ACKNOWLEDGE);
    fx020.socket.write(encodeSiaBlock('N', 'ti11:46/HA1011', true));
    await gate.appending;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(stored()).toHaveLength(0);
    gate.release();
    expect(await fx020.answer()).toEqual(ACKNOWLEDGE);
    expect(stored()).toEqual([expect.objectContaining({ account: '0192', category: 'holdup', duress: true, code: expect.objectContaining({ value: 'HA' }), zone: { number: 1011 } })]);
    fx020.socket.write(encodeSiaBlock('A', '+HOLD UP        Kitchen', true));
    expect(await fx020.answer()).toEqual(ACKNOWLEDGE);
    fx020.socket.write(encodeSiaBlock('0', '', true));
    expect(await fx020.answer()).toEqual(ACKNOWLEDGE);
    await fx020.closed;
    expect(stored()).toHaveLength(1);
  });

  it('closes, unanswered, a connection whose block handling fails unexpectedly, counts and logs it, and keeps serving', async () => {
    let failing = true;
    const { port, counters, stored } = await startInput('', {
      sites: () => {
        if (failing) throw new Error('site lookup failed');
        return [];
      },
    });
    const fx020 = await panel(port);
    fx020.socket.write(Buffer.from('D#0192\x92', 'latin1'));
    expect(await fx020.answer()).toEqual(ACKNOWLEDGE);
    fx020.socket.write(encodeSiaBlock('N', 'ti11:46/HA1011', true));
    await fx020.closed;
    expect(counters.get('input_errors_total', { input: 'galaxy' })).toBe(1);
    failing = false;
    const resent = await panel(port);
    resent.socket.write(Buffer.from('D#0192\x92', 'latin1'));
    expect(await resent.answer()).toEqual(ACKNOWLEDGE);
    resent.socket.write(encodeSiaBlock('N', 'ti11:46/HA1011', true));
    expect(await resent.answer()).toEqual(ACKNOWLEDGE);
    expect(stored()).toEqual([expect.objectContaining({ account: '0192', duress: true })]);
  });

  it('rejects garbage, stores an unreadable event block as unrecognized, and closes a connection that keeps sending garbage', async () => {
    const { port, counters, stored } = await startInput('    maxRejectsPerConnection: 3\n');
    const attacker = await panel(port);
    attacker.socket.write(Buffer.from('D#0192\x93', 'latin1'));
    expect(await attacker.answer()).toEqual(REJECT);
    attacker.socket.write(encodeSiaBlock('N', '%%%', true));
    expect(await attacker.answer()).toEqual(ACKNOWLEDGE);
    expect(stored()).toEqual([expect.objectContaining({ category: 'unrecognized', protocol: 'sia-dc03' })]);
    attacker.socket.write(Buffer.from('\x02\x5a\xff\xff\xa5\x00\x00\x00\x00'.repeat(4), 'latin1'));
    await attacker.closed;
    expect(counters.get('frames_rejected_total', { input: 'galaxy', code: 'SIA03_PARITY' })).toBeGreaterThan(0);
    expect(counters.get('frames_discarded_total', { input: 'galaxy', reason: 'FRAME_SIA_SESSION_LIMIT' })).toBe(1);
  });

  it('closes a flood: more bytes held than a panel waiting for answers sends, more blocks than allowed', async () => {
    const { port, counters } = await startInput('    maxBlocksPerConnection: 4\n');
    const flooder = await panel(port);
    flooder.socket.write(Buffer.alloc(64 * 1024, 0x7f));
    await flooder.closed;
    expect(counters.get('frames_discarded_total', { input: 'galaxy', reason: 'FRAME_OVERSIZE' })).toBe(1);
    const chatty = await panel(port);
    for (let i = 0; i < 6; i++) chatty.socket.write(encodeSiaBlock('#', '0192', true));
    await chatty.closed;
    expect(counters.get('frames_discarded_total', { input: 'galaxy', reason: 'FRAME_SIA_SESSION_LIMIT' })).toBe(1);
  });

  it('makes room for a panel at the connection limit by closing the oldest connection that has sent no valid block', async () => {
    const { port, counters } = await startInput('    maxConnections: 2\n');
    const idle = [await panel(port), await panel(port)];
    const fx020 = await panel(port);
    fx020.socket.write(Buffer.from('D#0192\x92', 'latin1'));
    expect(await fx020.answer()).toEqual(ACKNOWLEDGE);
    await idle[0]!.closed;
    expect(counters.get('connections_dropped_total', { input: 'galaxy', reason: 'max-connections' })).toBe(1);
  });

  it('holds at most maxConnectionsPerPeer connections from one address, so one host cannot lock a panel out', async () => {
    const { port, counters } = await startInput('    maxConnections: 4\n    maxConnectionsPerPeer: 2\n');
    // One host fills every place with connections that each sent a valid account block.
    const squatters = [];
    for (let i = 0; i < 4; i++) {
      const squatter = await panel(port);
      squatter.socket.write(encodeSiaBlock('#', '9999', true));
      squatters.push(squatter);
      await Promise.race([squatter.answer(), squatter.closed]);
    }
    await Promise.all(squatters.slice(2).map((s) => s.closed));
    // The panel on another address (127.0.0.2 is loopback too) is answered.
    const fx020 = await panel(port, '127.0.0.2');
    fx020.socket.write(Buffer.from('D#0192\x92', 'latin1'));
    expect(await fx020.answer()).toEqual(ACKNOWLEDGE);
    expect(counters.get('connections_dropped_total', { input: 'galaxy', reason: 'peer-limit' })).toBe(2);
  });

  it("at maxConnectionsPerPeer closes the address's oldest connection that has sent no valid block to make room", async () => {
    const { port, counters } = await startInput('    maxConnectionsPerPeer: 2\n');
    const idle = [await panel(port, '127.0.0.2'), await panel(port, '127.0.0.2')];
    // Junk proves nothing: the connection that sent it is still the one to make room.
    idle[0]!.socket.write(Buffer.from('D#0192\x93', 'latin1'));
    expect(await idle[0]!.answer()).toEqual(REJECT);
    const fx020 = await panel(port, '127.0.0.2');
    fx020.socket.write(Buffer.from('D#0192\x92', 'latin1'));
    expect(await fx020.answer()).toEqual(ACKNOWLEDGE);
    await idle[0]!.closed;
    expect(idle[1]!.socket.destroyed).toBe(false);
    expect(counters.get('connections_dropped_total', { input: 'galaxy', reason: 'peer-limit' })).toBe(1);
  });

  it('closes a connection from outside allowFrom before reading a byte, counted and logged, and answers the listed ones', async () => {
    const { port, counters, stored } = await startInput('    host: "::"\n    allowFrom: ["127.0.0.2/32"]\n');
    const intruder = await panel(port, '127.0.0.1');
    intruder.socket.write(encodeSiaBlock('#', '0192', true));
    intruder.socket.write(encodeSiaBlock('N', 'ti11:46/HA1011', true));
    await intruder.closed;
    expect(stored()).toEqual([]);
    expect(counters.get('frames_total', { input: 'galaxy', protocol: 'sia-dc03', result: 'decoded' })).toBe(0);
    expect(counters.get('connections_dropped_total', { input: 'galaxy', reason: 'not-allowed' })).toBe(1);
    // A dual-stack listener sees 127.0.0.2 as ::ffff:127.0.0.2, which the IPv4 range holds.
    const fx020 = await panel(port, '127.0.0.2');
    fx020.socket.write(Buffer.from('D#0192\x92', 'latin1'));
    expect(await fx020.answer()).toEqual(ACKNOWLEDGE);
  });

  it('acknowledges and stores once an event block the panel sends again on a new connection after losing the first', async () => {
    const { port, counters, stored } = await startInput();
    const first = await panel(port);
    first.socket.write(Buffer.from('D#0192\x92', 'latin1'));
    expect(await first.answer()).toEqual(ACKNOWLEDGE);
    first.socket.write(encodeSiaBlock('N', 'ti11:46/HA1011', true));
    expect(await first.answer()).toEqual(ACKNOWLEDGE);
    first.socket.destroy();
    const again = await panel(port);
    again.socket.write(Buffer.from('D#0192\x92', 'latin1'));
    expect(await again.answer()).toEqual(ACKNOWLEDGE);
    again.socket.write(encodeSiaBlock('N', 'ti11:46/HA1011', true));
    expect(await again.answer()).toEqual(ACKNOWLEDGE);
    expect(stored()).toEqual([expect.objectContaining({ account: '0192', duress: true })]);
    expect(counters.get('events_duplicate_total')).toBe(1);
  });

  // `replay` feeds each captured block to handleFrame with the connection's address and port, as `run --capture`
  // recorded it: the account of a connection's `#` block belongs to its later event blocks, also when two
  // connections' blocks interleave.
  it("replays a capture with each connection's session: an event block carries the account its connection sent before", async () => {
    const { stored } = await startInput();
    const replayed = (block: Uint8Array, peer: string) => input!.handleFrame(block, 'tcp', peer);
    await replayed(encodeSiaBlock('#', '0192', true), '192.0.2.10:40001');
    await replayed(encodeSiaBlock('#', '0193', true), '192.0.2.11:40001');
    await replayed(encodeSiaBlock('N', 'ti11:46/HA1011', true), '192.0.2.10:40001');
    await replayed(encodeSiaBlock('N', 'ti11:47/BA0003', true), '192.0.2.11:40001');
    await replayed(encodeSiaBlock('0', '', true), '192.0.2.10:40001');
    // A new connection from the same address and port starts a session of its own.
    await replayed(encodeSiaBlock('N', 'ti11:50/BA0004', true), '192.0.2.10:40001');
    expect(stored().map((e) => [e.account, e.code?.value])).toEqual([
      ['0192', 'HA'],
      ['0193', 'BA'],
      [null, 'BA'],
    ]);
  });

  // The opening of a Galaxy Flex 3 with encryption on, as quoted in ioBroker.sia#12 ([5,1,129,89,104]).
  it('closes a connection that opens with Galaxy encryption, counted by its own reason', async () => {
    const { port, counters } = await startInput();
    const encrypted = await panel(port);
    encrypted.socket.write(Uint8Array.of(5, 1, 129, 89, 104));
    await encrypted.closed;
    expect(counters.get('frames_discarded_total', { input: 'galaxy', reason: 'FRAME_SIA_ENCRYPTED' })).toBe(1);
  });

  it('hands the bytes it discards with a connection to run --capture, marked with the reason', async () => {
    const captured: unknown[] = [];
    const { port } = await startInput('', { onDiscard: (sample, note, transport, peer) => captured.push({ sample: [...sample], note, transport, peer }) });
    const encrypted = await panel(port);
    encrypted.socket.write(Uint8Array.of(5, 1, 129, 89, 104));
    await encrypted.closed;
    expect(captured).toEqual([{ sample: [5, 1, 129, 89, 104], note: { reason: 'FRAME_SIA_ENCRYPTED', count: 1, bytes: 5 }, transport: 'tcp', peer: expect.stringMatching(/^127\.0\.0\.1:\d+$/) }]);
  });
});

/**
 * An attacker on the panel network (within allowFrom: SIA over IP has no authentication) holds every connection place
 * with connections that each sent a valid block, so none makes room: the real panel is turned away, and so is every
 * panel that tries while they are held. Nobody may go on believing the input is fine.
 */
describe('SIA over IP input: its health when it turns panels away', () => {
  // The burst a refusal is forgiven for is timed with setTimeout; the sockets and polls run on real timers.
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** `count` connections from `localAddress`, each proven by a valid account block. */
  async function squat(port: number, count: number, localAddress = '127.0.0.1') {
    const squatters = [];
    for (let i = 0; i < count; i++) {
      const squatter = await panel(port, localAddress);
      squatter.socket.write(encodeSiaBlock('#', '9999', true));
      expect(await squatter.answer()).toEqual(ACKNOWLEDGE);
      squatters.push(squatter);
    }
    return squatters;
  }

  const supervisory = (stored: () => Array<{ category: string; reasons: string[] }>) =>
    stored()
      .filter((e) => e.category === 'supervisory')
      .map((e) => e.reasons.join(' '));

  it('reports degraded and raises one supervisory event when every place stays held after it turned a panel away', async () => {
    const { port, counters, stored } = await startInput('    maxConnections: 2\n');
    await squat(port, 2);
    const fx020 = await panel(port, '127.0.0.2');
    await fx020.closed;
    expect(counters.get('connections_dropped_total', { input: 'galaxy', reason: 'max-connections' })).toBe(1);
    // Past a short burst the places are still held: a panel reporting now is not heard.
    vi.advanceTimersByTime(5_000);
    expect(input!.health()).toMatchObject({ state: 'degraded', detail: expect.stringMatching(/2 connections; maxConnections \(2\) reached: new connections are refused/) });
    await expect.poll(() => supervisory(stored)).toEqual([expect.stringMatching(/SIA over IP input galaxy refused connections at maxConnections \(2\)/)]);
    // More panels turned away in the minute keep it degraded, without another event.
    const again = await panel(port, '127.0.0.3');
    await again.closed;
    vi.advanceTimersByTime(5_000);
    await new Promise((resolve) => setImmediate(resolve));
    expect(input!.health().state).toBe('degraded');
    expect(supervisory(stored)).toHaveLength(1);
  });

  it('forgives a burst: a panel turned away while a place frees within seconds leaves it up, counted and logged only', async () => {
    const { logger, lines } = recordingLogger();
    const { port, counters, stored } = await startInput('    maxConnections: 2\n', { logger });
    const squatters = await squat(port, 2);
    const fx020 = await panel(port, '127.0.0.2');
    await fx020.closed;
    // A panel ends its session: its place is free again.
    squatters[0]!.socket.write(encodeSiaBlock('0', '', true));
    await squatters[0]!.closed;
    await expect.poll(() => input!.health().detail).toMatch(/; 1 connections$/);
    vi.advanceTimersByTime(5_000);
    await new Promise((resolve) => setImmediate(resolve));
    expect(input!.health().state).toBe('up');
    expect(supervisory(stored)).toEqual([]);
    expect(counters.get('connections_dropped_total', { input: 'galaxy', reason: 'max-connections' })).toBe(1);
    expect(lines.filter((line) => line.fields.reason === 'max-connections')).toHaveLength(1);
  });

  it("reports degraded, naming the address, when an address's places stay held after it turned away a panel behind it", async () => {
    const { port, counters, stored } = await startInput('    maxConnectionsPerPeer: 2\n');
    await squat(port, 2, '127.0.0.2');
    const behindNat = await panel(port, '127.0.0.2');
    await behindNat.closed;
    expect(counters.get('connections_dropped_total', { input: 'galaxy', reason: 'peer-limit' })).toBe(1);
    vi.advanceTimersByTime(5_000);
    expect(input!.health()).toMatchObject({ state: 'degraded', detail: expect.stringMatching(/127\.0\.0\.2 holds maxConnectionsPerPeer \(2\) connections: its new connections are refused/) });
    await expect.poll(() => supervisory(stored)).toEqual([expect.stringMatching(/refused connections from 127\.0\.0\.2 at maxConnectionsPerPeer \(2\)/)]);
    // Other addresses are still answered.
    const fx020 = await panel(port, '127.0.0.3');
    fx020.socket.write(Buffer.from('D#0192\x92', 'latin1'));
    expect(await fx020.answer()).toEqual(ACKNOWLEDGE);
  });

  // libuv hides most failed accepts (it accepts and closes on a spare descriptor); Node emits one on the listening
  // server only when that spare could not be opened again, which no test can arrange, so it is emitted here.
  it('counts each accept that failed, logs them in one line, reports degraded and raises one supervisory event, and goes on accepting', async () => {
    const { logger, lines } = recordingLogger();
    const listen = vi.spyOn(net.Server.prototype, 'listen');
    let started: Awaited<ReturnType<typeof startInput>>;
    let server: net.Server;
    try {
      started = await startInput('', { logger });
      server = listen.mock.contexts[0] as net.Server;
    } finally {
      listen.mockRestore();
    }
    const { port, counters, stored } = started;
    const emfile = Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', errno: -24, syscall: 'accept' });
    for (let i = 0; i < 100; i++) server.emit('error', emfile);
    expect(counters.get('connections_dropped_total', { input: 'galaxy', reason: 'accept-failed' })).toBe(100);
    expect(lines.filter((line) => JSON.stringify(line).includes('EMFILE'))).toMatchObject([{ fields: { code: 'EMFILE' }, message: expect.stringMatching(/out of file descriptors \(LimitNOFILE\)/) }]);
    expect(input!.health()).toMatchObject({ state: 'degraded', detail: expect.stringMatching(/not accepted \(EMFILE\)/) });
    await expect.poll(() => supervisory(stored)).toEqual([expect.stringMatching(/SIA over IP input galaxy could not accept a connection \(EMFILE\)/)]);
    const fx020 = await panel(port);
    fx020.socket.write(Buffer.from('D#0192\x92', 'latin1'));
    expect(await fx020.answer()).toEqual(ACKNOWLEDGE);
  });
});
