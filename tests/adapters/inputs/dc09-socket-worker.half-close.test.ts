import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startListener, type ListenerUnderTest } from '../../helpers/dc09-listener.js';
import { panelFrame, parseAnswer } from '../../helpers/panel.js';

let under: ListenerUnderTest | undefined;
afterEach(async () => {
  await under?.listener.stop();
  under = undefined;
});

/**
 * Writes `bytes`, then shuts down the sending side (TCP half-close: `shutdown(SHUT_WR)`, what `nc -N`, a
 * `socket.end()` after the write, or an embedded stack that "sends and closes" does), and reads until the gateway
 * closes the connection (or 2 s pass). Whether the gateway closed it is part of what comes back.
 */
async function sendAndHalfClose(port: number, bytes: Buffer): Promise<{ answers: Buffer; closedByGateway: boolean }> {
  const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const received: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  const closed = new Promise<boolean>((resolve) => socket.once('end', () => resolve(true)));
  socket.end(bytes);
  const closedByGateway = await Promise.race([closed, new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 2000))]);
  socket.destroy();
  return { answers: Buffer.concat(received), closedByGateway };
}

const frames = (text: Buffer): Buffer[] => {
  const parts: Buffer[] = [];
  for (let start = 0; start < text.length; ) {
    const end = text.indexOf(0x0d, start);
    parts.push(text.subarray(start, end + 1));
    start = end + 1;
  }
  return parts;
};

describe('DC-09 input: a panel that half-closes after its frame', () => {
  it('still gets the ACK for a stored duress, then the gateway closes the connection', async () => {
    under = await startListener({ accounts: [{ account: '1234' }], sites: [], udp: false, idleTimeoutMs: 10_000, maxConnections: 16 });
    const frame = panelFrame({ token: 'ADM-CID', seq: '0007', account: '1234', data: '#1234|1121 01 003' });
    const { answers, closedByGateway } = await sendAndHalfClose(under.port, frame);
    expect(under.outbox.backlog('probe')).toBe(1); // the duress was stored...
    expect(answers.length, 'no answer reached the panel').toBeGreaterThan(0); // ...and the panel must be told so
    expect(parseAnswer(answers)).toMatchObject({ token: 'ACK', seq: '0007', crcValid: true });
    expect(closedByGateway).toBe(true);
  });

  it('answers every frame sent before the FIN, in order, and leaves no connection open', async () => {
    under = await startListener({ accounts: [{ account: '1234' }], sites: [], udp: false, idleTimeoutMs: 10_000, maxConnections: 16 });
    const sent = Buffer.concat(
      ['0001', '0002', '0003'].map((seq) => panelFrame({ token: 'ADM-CID', seq, account: '1234', data: `#1234|1130 01 00${seq.at(-1)}` })),
    );
    const { answers, closedByGateway } = await sendAndHalfClose(under.port, sent);
    expect(frames(answers).map((answer) => parseAnswer(answer)).map(({ token, seq }) => `${token} ${seq}`)).toEqual(['ACK 0001', 'ACK 0002', 'ACK 0003']);
    expect(closedByGateway).toBe(true);
    await expect.poll(() => under!.listener.health().detail).toBe('0 connections');
  });

  it('stores and answers a last frame that lacks only its CR, then closes', async () => {
    under = await startListener({ accounts: [{ account: '1234' }], sites: [], udp: false, idleTimeoutMs: 10_000, maxConnections: 16 });
    const frame = panelFrame({ token: 'ADM-CID', seq: '0008', account: '1234', data: '#1234|1121 01 003' });
    const { answers, closedByGateway } = await sendAndHalfClose(under.port, frame.subarray(0, -1));
    expect(under.outbox.backlog('probe')).toBe(1);
    expect(parseAnswer(answers)).toMatchObject({ token: 'ACK', seq: '0008', crcValid: true });
    expect(closedByGateway).toBe(true);
  });

  it('closes at once a connection half-closed without a frame', async () => {
    under = await startListener({ accounts: [{ account: '1234' }], sites: [], udp: false, idleTimeoutMs: 10_000, maxConnections: 16 });
    const { answers, closedByGateway } = await sendAndHalfClose(under.port, Buffer.alloc(0));
    expect([answers.length, closedByGateway]).toEqual([0, true]);
    await expect.poll(() => under!.listener.health().detail).toBe('0 connections');
  });
});
