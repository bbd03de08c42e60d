import { once } from 'node:events';
import type http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createLimitedServer, type ConnectionDropReason } from '../../../adapters/api/http.js';
import { RateLimitedLog } from '../../../src/observability/rate-limited-log.js';
import { silentLogger, systemClock } from '../../../src/ports.js';

const servers: http.Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** A listener whose connections all come from one address: its per-address cap is set out of the way. */
async function listening(maxConnections: number, dropped: ConnectionDropReason[]): Promise<number> {
  const server = await createLimitedServer(
    (_req, res) => res.end('ok'),
    { maxConnections, maxConnectionsPerPeer: maxConnections + 1, headersTimeoutMs: 10_000, requestTimeoutMs: 10_000 },
    undefined,
    { count: (reason) => dropped.push(reason), log: new RateLimitedLog({ logger: silentLogger, clock: systemClock }) },
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push(server);
  return (server.address() as net.AddressInfo).port;
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
  it('at maxConnections closes the oldest connection that sent no request, and refuses a new one when all have', async () => {
    const dropped: ConnectionDropReason[] = [];
    const port = await listening(2, dropped);
    const client = await connect(port);
    await client.request();
    const idle = await connect(port);
    const later = await connect(port); // makes room by closing `idle`, never the client's
    expect([client.closed(), idle.closed(), later.closed()]).toEqual([false, true, false]);
    await later.request();
    const refused = await connect(port); // both open connections have sent a request
    expect([client.closed(), later.closed(), refused.closed()]).toEqual([false, false, true]);
    expect(dropped).toEqual(['max-connections', 'max-connections']);
    for (const { socket } of [client, later]) socket.destroy();
  });
});
