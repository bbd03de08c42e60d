import { once } from 'node:events';
import type http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLimitedServer, type ConnectionDropReason } from '../../../adapters/api/http.js';
import { RateLimitedLog } from '../../../src/observability/rate-limited-log.js';
import { silentLogger, systemClock } from '../../../src/ports.js';
import { recordingLogger } from '../../helpers/recording-logger.js';

const servers: http.Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

type Limits = Parameters<typeof createLimitedServer>[1];

/** A limited server on a free port of 127.0.0.1, its drops pushed to `dropped`; closed after each test. */
async function limitedServer(handler: http.RequestListener, limits: Limits, dropped: ConnectionDropReason[], logger = silentLogger): Promise<{ server: http.Server; port: number }> {
  const server = await createLimitedServer(handler, limits, undefined, { count: (reason) => dropped.push(reason), log: new RateLimitedLog({ logger, clock: systemClock }) });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push(server);
  return { server, port: (server.address() as net.AddressInfo).port };
}

/** A listener whose connections all come from one address: its per-address cap is set out of the way. */
async function listening(maxConnections: number, dropped: ConnectionDropReason[]): Promise<number> {
  const { port } = await limitedServer(
    // `/held` is answered only when its client goes (a handler at work, a live stream).
    (req, res) => (req.url === '/held' ? res.write('') : res.end('ok')),
    { maxConnections, maxConnectionsPerPeer: maxConnections + 1, headersTimeoutMs: 10_000, requestTimeoutMs: 10_000 },
    dropped,
  );
  return port;
}

/** A connection as the server sees it: open until it closes; `request()` sends a request and waits for its answer. */
async function connect(port: number) {
  const socket = net.connect(port, '127.0.0.1').on('error', () => undefined);
  let closed = false;
  socket.once('close', () => (closed = true));
  await once(socket, 'connect');
  await new Promise((resolve) => setTimeout(resolve, 50)); // the server has taken it (or closed it)
  return {
    socket,
    closed: () => closed,
    async request() {
      socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      await once(socket, 'data');
    },
  };
}

describe('createLimitedServer', () => {
  it('at maxConnections closes the oldest connection not being answered, and refuses a new one only when all are', async () => {
    const dropped: ConnectionDropReason[] = [];
    const port = await listening(2, dropped);
    const client = await connect(port);
    client.socket.write('GET /held HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'); // being answered: its answer is held
    const idle = await connect(port);
    const later = await connect(port); // makes room by closing `idle`, never the client's
    expect([client.closed(), idle.closed(), later.closed()]).toEqual([false, true, false]);
    await later.request(); // answered: idle again, holding a place for the next request it may send
    const another = await connect(port); // makes room by closing `later`
    expect([client.closed(), later.closed(), another.closed()]).toEqual([false, true, false]);
    another.socket.write('GET /held HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const refused = await connect(port); // both open connections are being answered
    expect([client.closed(), another.closed(), refused.closed()]).toEqual([false, false, true]);
    expect(dropped).toEqual(['max-connections', 'max-connections', 'max-connections']);
    for (const { socket } of [client, another]) socket.destroy();
  });
});

describe('createLimitedServer when it cannot accept', () => {
  it('counts and logs an accept that failed (EMFILE: out of file descriptors) once, and serves the next connection', async () => {
    const dropped: ConnectionDropReason[] = [];
    const { logger, lines } = recordingLogger();
    const { server, port } = await limitedServer(
      (_req, res) => res.end('ok'),
      { maxConnections: 8, maxConnectionsPerPeer: 8, headersTimeoutMs: 10_000, requestTimeoutMs: 10_000 },
      dropped,
      logger,
    );
    // What Node emits when libuv's accept fails past its spare descriptor: with no listener it was thrown, and
    // nothing catches it, so the gateway died of a connection flood it should have outlasted.
    const emfile = Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', errno: -24, syscall: 'accept' });
    for (let i = 0; i < 3; i++) server.emit('error', emfile);
    expect(dropped).toEqual(['accept-failed', 'accept-failed', 'accept-failed']);
    expect(lines.filter((line) => line.level === 'warn')).toMatchObject([{ fields: { code: 'EMFILE' }, message: expect.stringMatching(/not accepted/) }]);
    const client = await connect(port);
    await client.request();
    client.socket.destroy();
  });
});

describe('createLimitedServer against slow clients', () => {
  it('at maxConnections closes the oldest connection still dripping its body, so slow bodies cannot lock clients out', async () => {
    const dropped: ConnectionDropReason[] = [];
    const { port } = await limitedServer(
      // Reads the whole body before answering, as the API does for a sign-in (a public route).
      (req, res) => {
        req.on('end', () => res.end('ok')).on('error', () => undefined).resume();
      },
      { maxConnections: 4, maxConnectionsPerPeer: 5, headersTimeoutMs: 10_000, requestTimeoutMs: 30_000 },
      dropped,
    );
    // Four requests whose headers came at once and whose bodies come a byte at a time (well within requestTimeout).
    const slow = await Promise.all(Array.from({ length: 4 }, () => connect(port)));
    for (const { socket } of slow) socket.write('POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const client = await connect(port);
    expect(client.closed()).toBe(false);
    await client.request();
    expect(slow.map((s) => s.closed())).toEqual([true, false, false, false]);
    expect(dropped).toEqual(['max-connections']);
    for (const { socket } of [client, ...slow]) socket.destroy();
  });
});

describe('createLimitedServer against clients that stop reading', () => {
  it('at maxConnections closes an idle connection first, then the oldest whose client stopped reading its answer: answers nobody reads cannot lock clients out', async () => {
    const dropped: ConnectionDropReason[] = [];
    // A dead-letter page or a year's report: more than the kernel's buffers on both ends hold.
    const big = Buffer.alloc(32 << 20, 'x');
    const { port } = await limitedServer(
      (req, res) => (req.url === '/big' ? res.end(big) : res.end('ok')),
      { maxConnections: 3, maxConnectionsPerPeer: 4, headersTimeoutMs: 10_000, requestTimeoutMs: 10_000 },
      dropped,
    );
    // Asked for a large answer and never read a byte of it (no 'data' listener: the socket stays paused).
    const stalled = await Promise.all(Array.from({ length: 2 }, () => connect(port)));
    for (const { socket } of stalled) socket.write('GET /big HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Newer than both, but only holding a place: it goes first.
    const idle = await connect(port);
    const first = await connect(port);
    expect([idle.closed(), first.closed()]).toEqual([true, false]);
    // It too asks for a large answer and reads none of it: only connections that read nothing are left, and the
    // oldest of them makes room.
    first.socket.write('GET /big HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const client = await connect(port);
    expect(client.closed()).toBe(false);
    await client.request();
    expect(dropped).toEqual(['max-connections', 'max-connections']);
    // A client sees its connection closed once it reads what the server had sent before closing it.
    for (const { socket } of stalled) socket.resume();
    await vi.waitFor(() => expect(stalled.map((s) => s.closed())).toEqual([true, false]), { timeout: 5_000 });
    for (const { socket } of [client, first, ...stalled]) socket.destroy();
  });
});

describe('createLimitedServer against requests that do not arrive in time', () => {
  it('answers 408 REQUEST_TIMEOUT and counts a request started and not finished, but not a connection that sent nothing (a browser\'s preconnect)', async () => {
    const dropped: ConnectionDropReason[] = [];
    const { port } = await limitedServer(
      (_req, res) => res.end('ok'),
      { maxConnections: 8, maxConnectionsPerPeer: 8, headersTimeoutMs: 500, requestTimeoutMs: 500 },
      dropped,
    );
    const answerOf = (socket: net.Socket) =>
      new Promise<string>((resolve) => {
        let answer = '';
        socket.on('data', (chunk) => (answer += chunk)).on('error', () => undefined).on('close', () => resolve(answer));
      });
    const silent = net.connect(port, '127.0.0.1');
    const slow = net.connect(port, '127.0.0.1');
    slow.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n'); // headers never finished
    const [silentAnswer, slowAnswer] = await Promise.all([answerOf(silent), answerOf(slow)]);
    expect(slowAnswer).toMatch(/^HTTP\/1\.1 408 [\s\S]*"code":"REQUEST_TIMEOUT"/);
    expect(silentAnswer).toMatch(/^HTTP\/1\.1 408 /);
    expect(dropped).toEqual(['request-timeout']);
  });
});
