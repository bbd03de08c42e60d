import { once } from 'node:events';
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { panelFrame, parseAnswer, TcpPanel } from '../../helpers/panel.js';
import { startListener, type ListenerUnderTest } from '../../helpers/dc09-listener.js';

/**
 * The DC-09 input's health and supervisory event when it turns panels away, by the rule the SIA over IP and
 * access-XML inputs follow (CapacityAlarm): a refusal is forgiven when a place frees within REFUSAL_BURST_MS; a
 * place still held after it is an alarm; closing a connection that never sent a valid frame to make room refuses
 * no panel.
 */

const frame = (seq: string) => panelFrame({ token: 'SIA-DCS', seq, account: '1234', data: '#1234|Nri1/BA01' });

async function connectFrom(port: number, localAddress = '127.0.0.1'): Promise<{ socket: net.Socket; closed: Promise<unknown> }> {
  const socket = net.connect({ host: '127.0.0.1', port, localAddress });
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  return { socket, closed: once(socket, 'close') };
}

describe('DC-09 input: its health when it turns panels away', () => {
  let under: ListenerUnderTest | undefined;
  // The burst a refusal is forgiven for is timed with setTimeout; the sockets and the worker run on real timers.
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  });
  afterEach(async () => {
    vi.useRealTimers();
    await under?.listener.stop();
    under = undefined;
  });

  /** `count` panels from `localAddress`, each proven by an ACKed frame. */
  async function panels(port: number, count: number, localAddress = '127.0.0.1'): Promise<TcpPanel[]> {
    const proven = [];
    for (let i = 0; i < count; i++) {
      const panel = await TcpPanel.connect(port, localAddress);
      expect(parseAnswer((await panel.send(frame(`010${i}`)))!).token).toBe('ACK');
      proven.push(panel);
    }
    return proven;
  }

  const supervisory = () =>
    under!.outbox
      .pending('probe', 100)
      .map((e) => e.event)
      .filter((e) => e.category === 'supervisory')
      .map((e) => e.reasons.join(' '));

  /** Past the burst, and the round trip that asks the socket worker whether the limit still refuses. */
  async function pastBurst(): Promise<void> {
    vi.advanceTimersByTime(5_000);
    for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
  }

  it('at maxConnections raises one supervisory event and reports degraded when every place stays held, and keeps the panels connected', async () => {
    under = await startListener({ accounts: null, sites: [], udp: false, idleTimeoutMs: 60_000, maxConnections: 3 });
    const { port, listener, counters } = under;
    const held = await panels(port, 3);
    // Two bursts past the limit: counted each time, one event.
    for (let burst = 0; burst < 2; burst++) {
      const refused = await Promise.all(Array.from({ length: 5 }, () => connectFrom(port, '127.0.0.2')));
      for (const { closed } of refused) await closed;
      await pastBurst();
    }
    await expect.poll(supervisory).toEqual([expect.stringMatching(/DC-09 input ip-receiver refused connections at maxConnections \(3\)/)]);
    expect(held.map((p) => p.closed)).toEqual([false, false, false]);
    await expect.poll(() => counters.get('connections_dropped_total', { reason: 'max-connections' })).toBe(10);
    for (const panel of held) panel.close();
    // Still degraded once the connections are gone: refusals happened within the last minute.
    await expect.poll(() => listener.health().detail).toMatch(/^0 connections; maxConnections \(3\) reached/);
    expect(listener.health().state).toBe('degraded');
    expect(supervisory()).toHaveLength(1);
  });

  it('forgives a burst at maxConnections: a panel turned away while a place frees within seconds leaves it up, counted only', async () => {
    under = await startListener({ accounts: null, sites: [], udp: false, idleTimeoutMs: 60_000, maxConnections: 2 });
    const { port, listener, counters } = under;
    const held = await panels(port, 2);
    const refused = await connectFrom(port, '127.0.0.2');
    await refused.closed;
    // A panel that reported hangs up: its place is free again.
    held[0]!.close();
    await expect.poll(() => listener.health().detail).toBe('1 connections');
    await pastBurst();
    expect(listener.health().state).toBe('up');
    expect(supervisory()).toEqual([]);
    expect(counters.get('connections_dropped_total', { reason: 'max-connections' })).toBe(1);
    held[1]!.close();
  });

  it('closing an idle connection to make room at maxConnections refuses no panel: no supervisory event, up once room is made', async () => {
    under = await startListener({ accounts: null, sites: [], udp: false, idleTimeoutMs: 60_000, maxConnections: 3 });
    const { port, listener, counters } = under;
    const idle = [];
    for (let i = 0; i < 3; i++) idle.push(await connectFrom(port, '127.0.0.2'));
    const [panel] = await panels(port, 1);
    await idle[0]!.closed;
    await expect.poll(() => counters.get('connections_dropped_total', { reason: 'max-connections' })).toBe(1);
    idle[1]!.socket.destroy();
    await expect.poll(() => listener.health().detail).toBe('2 connections');
    await pastBurst();
    expect(listener.health().state).toBe('up');
    expect(supervisory()).toEqual([]);
    panel!.close();
    idle[2]!.socket.destroy();
  });

  it("reports degraded, naming the address, and raises one supervisory event when an address's places stay held after it turned a panel away", async () => {
    under = await startListener({ accounts: null, sites: [], udp: false, idleTimeoutMs: 60_000, maxConnections: 100, maxConnectionsPerPeer: 2 });
    const { port, listener, counters } = under;
    const held = await panels(port, 2, '127.0.0.2');
    const behindNat = await connectFrom(port, '127.0.0.2');
    await behindNat.closed;
    await expect.poll(() => counters.get('connections_dropped_total', { reason: 'peer-limit' })).toBe(1);
    await pastBurst();
    await expect.poll(supervisory).toEqual([expect.stringMatching(/refused connections from 127\.0\.0\.2 at maxConnectionsPerPeer \(2\)/)]);
    expect(listener.health()).toMatchObject({ state: 'degraded', detail: expect.stringMatching(/127\.0\.0\.2 holds maxConnectionsPerPeer \(2\) connections/) });
    // Other addresses are still answered.
    const [other] = await panels(port, 1, '127.0.0.3');
    for (const panel of [...held, other!]) panel.close();
  });
});
