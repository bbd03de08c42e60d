import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiServer } from '../../../adapters/api/server.js';
import { TokenRegistry } from '../../../adapters/api/tokens.js';
import { Counters } from '../../../src/observability/counters.js';
import { silentLogger, type Logger } from '../../../src/ports.js';
import { recordingLogger } from '../../helpers/recording-logger.js';
import { idleConnections } from '../../helpers/stalled-clients.js';
import { apiSchema } from '../../../src/settings/settings.js';

const TOKEN = 'viewer-token-for-the-server-test';
const servers: ApiServer[] = [];

async function server(logger: Logger = silentLogger): Promise<{ base: string; port: number; counters: Counters; api: ApiServer }> {
  const loaded = TokenRegistry.load(apiSchema.parse({ port: 0, tokens: [{ name: 'v', role: 'viewer', token: TOKEN }] }), '/nonexistent-not-used');
  if (!loaded.ok) throw new Error('tokens');
  const counters = new Counters();
  const api = new ApiServer({ host: '127.0.0.1', port: 0, logger, tokens: loaded.registry, counters, maxBodyBytes: 1_024 });
  api.route('GET', '/healthz', 'public', (req) => ({ status: 200, body: { who: req.identity?.name ?? null } }));
  api.route('GET', '/boom', 'read', () => {
    throw new Error('a bug');
  });
  api.route('POST', '/echo', 'read', (req) => ({ status: 200, body: { got: req.body ?? null } }));
  await api.start();
  servers.push(api);
  return { base: `http://127.0.0.1:${api.address!.port}`, port: api.address!.port, counters, api };
}

afterEach(async () => {
  for (const api of servers.splice(0)) await api.stop();
});

const auth = { authorization: `Bearer ${TOKEN}` };

describe('the API server gate', () => {
  it('identifies a token on a public route and treats a wrong one as anonymous there', async () => {
    const { base } = await server();
    expect(await (await fetch(`${base}/healthz`, { headers: auth })).json()).toEqual({ who: 'v' });
    expect(await (await fetch(`${base}/healthz`, { headers: { authorization: 'Bearer wrong' } })).json()).toEqual({ who: null });
  });

  it('takes a console session only with its secret: its cookie alone is nobody on a public route and refused elsewhere', async () => {
    const { base, api } = await server();
    // `/healthz` tells a caller with a credential of undelivered duress and open incidents.
    api.acceptSessions({ identify: (cookie, secret) => (cookie !== 'pb_console=id' ? undefined : secret === 'its-secret' ? { name: 'desk', role: 'viewer' } : 'wrong-secret') });
    const who = async (headers: Record<string, string>) => ((await (await fetch(`${base}/healthz`, { headers })).json()) as { who: string | null }).who;
    expect(await who({ cookie: 'pb_console=id', 'x-panelbridge-session': 'its-secret' })).toBe('desk');
    expect(await who({ cookie: 'pb_console=id' })).toBeNull();
    expect(await who({ cookie: 'pb_console=id', 'x-panelbridge-session': 'another' })).toBeNull();
    const echo = (headers: Record<string, string>) => fetch(`${base}/echo`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: '{}' });
    expect((await echo({ cookie: 'pb_console=id' })).status).toBe(401);
    expect((await echo({ cookie: 'pb_console=id', 'x-panelbridge-session': 'its-secret' })).status).toBe(200);
  });

  it('answers a failing handler 500 INTERNAL, another method 405, an oversized body 413, and counts refusals', async () => {
    const { base, counters } = await server();
    const boom = await fetch(`${base}/boom`, { headers: auth });
    expect(boom.status).toBe(500);
    expect(await boom.json()).toEqual({ error: { code: 'INTERNAL', message: 'internal error' } });
    expect((await fetch(`${base}/boom`, { method: 'DELETE', headers: auth })).status).toBe(405);
    const big = await fetch(`${base}/echo`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ x: 'y'.repeat(2_000) }) });
    expect(big.status).toBe(413);
    const ok = await fetch(`${base}/echo`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json; charset=utf-8' }, body: '{"a":1}' });
    expect(await ok.json()).toEqual({ got: { a: 1 } });
    expect(ok.headers.get('cache-control')).toBe('no-store');
    await fetch(`${base}/echo`, { method: 'POST' });
    expect(counters.get('api_requests_refused_total', { code: 'UNAUTHORIZED' })).toBe(1);
    expect(counters.get('api_requests_refused_total', { code: 'BODY_TOO_LARGE' })).toBe(1);
  });

  it('logs refused requests at most once per code and peer in a while, never with the token', async () => {
    const { logger, lines } = recordingLogger();
    const { base, counters } = await server(logger);
    for (let i = 0; i < 20; i++) await fetch(`${base}/boom`, { headers: { authorization: 'Bearer a-guess-0123456789' } });
    await fetch(`${base}/echo`, { method: 'POST', headers: { ...auth, origin: 'http://evil.example' } });
    // From loopback every wrong token is checked, counted and refused (never locked out), and logged once.
    expect(counters.get('api_requests_refused_total', { code: 'UNAUTHORIZED' })).toBe(20);
    expect(counters.get('api_token_failures_total', { peer: 'loopback' })).toBe(20);
    const refused = lines.filter((l) => l.message === 'api request refused');
    expect(refused.map((l) => l.fields.code)).toEqual(['UNAUTHORIZED', 'ORIGIN_NOT_ALLOWED']);
    expect(JSON.stringify(lines)).not.toContain('a-guess-0123456789');
    expect(JSON.stringify(lines)).not.toContain(TOKEN);
  });
});

/** GET /healthz from another loopback address than the idle connections': the status, or the error that ended it. */
function healthzFrom(port: number, localAddress: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/healthz', localAddress, agent: false }, (res) => (res.resume(), resolve(res.statusCode ?? 0)));
    req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    req.end();
  });
}

describe('the API server connections (security.md rule 5)', () => {
  it('lets one peer hold a quarter of maxConnections: 64 idle connections from it do not lock another peer out', async () => {
    const { logger, lines } = recordingLogger();
    const { port, counters } = await server(logger);
    const idle = await idleConnections(port, 64, '127.0.0.2');
    try {
      expect(await healthzFrom(port, '127.0.0.3')).toBe(200);
      // Each connection past its 16 closed its oldest idle one; the log has one line for the address.
      expect(idle.filter((socket) => !socket.destroyed && socket.readyState === 'open')).toHaveLength(16);
      expect(counters.get('api_connections_dropped_total', { reason: 'peer-limit' })).toBe(48);
      expect(lines.filter((l) => l.message?.startsWith('connection closed')).map((l) => l.message)).toEqual([
        'connection closed: this address already holds maxConnectionsPerPeer (16) connections',
      ]);
    } finally {
      for (const socket of idle) socket.destroy();
    }
  });
});

describe('the API server against bodies cut short (security.md rules 5 and 6)', () => {
  it('logs nothing for a body its client stopped sending, or that the connection cap closed to make room', async () => {
    const { logger, lines } = recordingLogger();
    const loaded = TokenRegistry.load(apiSchema.parse({ port: 0 }), '/nonexistent-not-used');
    if (!loaded.ok) throw new Error('tokens');
    const api = new ApiServer({ host: '127.0.0.1', port: 0, logger, tokens: loaded.registry, limits: { maxConnections: 4, maxConnectionsPerPeer: 4 } });
    // Public and reading its body, as the console's sign-in is: no token needed to reach it.
    api.route('POST', '/console/session', 'public', (req) => ({ status: 200, body: { got: req.body ?? null } }));
    await api.start();
    servers.push(api);
    const port = api.address!.port;
    const dripping = async () => {
      const socket = net.connect(port, '127.0.0.1');
      await once(socket, 'connect');
      socket.on('error', () => undefined);
      socket.write('POST /console/session HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"to');
      return socket;
    };
    const sockets: net.Socket[] = [];
    try {
      // Ten go away mid-body themselves; twelve more are closed by the cap (four at a time fit) to make room.
      for (let i = 0; i < 10; i++) (await dripping()).destroy();
      for (let i = 0; i < 16; i++) sockets.push(await dripping());
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(sockets.filter((s) => s.destroyed || s.readyState !== 'open').length).toBeGreaterThanOrEqual(12);
      // The cap's own lines are rate-limited; a line with a stack per cut body is a flood anyone can cause.
      expect(lines.filter((l) => l.level === 'error')).toEqual([]);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  });
});

/** Sends `request` on a connection of its own; resolves with the raw answer once the server closes it. */
function rawRequest(port: number, request: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let answer = '';
    socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(answer));
    socket.write(request);
  });
}

const bodyOf = (answer: string): unknown => JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));

describe('the API server against requests it cannot parse (security.md rules 5 and 6)', () => {
  it('answers a cookie bomb 431 HEADERS_TOO_LARGE as JSON, counts it, logs it once per address, and serves the next request', async () => {
    const { logger, lines } = recordingLogger();
    const { port, counters } = await server(logger);
    // What a page on another port of the host can make the operator's browser send: cookies past the header bound.
    const bomb = `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ${Array.from({ length: 400 }, (_, i) => `c${i}=${'x'.repeat(60)}`).join('; ')}\r\n\r\n`;
    for (let i = 0; i < 3; i++) {
      const answer = await rawRequest(port, bomb);
      expect(answer).toMatch(/^HTTP\/1\.1 431 /);
      expect(bodyOf(answer)).toMatchObject({ error: { code: 'HEADERS_TOO_LARGE' } });
    }
    expect(counters.get('api_connections_dropped_total', { reason: 'headers-too-large' })).toBe(3);
    expect(lines.filter((l) => l.fields.reason === 'headers-too-large')).toHaveLength(1);
    expect(await healthzFrom(port, '127.0.0.1')).toBe(200);
  });

  it('answers a request that smuggles a second length 400 REQUEST_MALFORMED as JSON, and counts it', async () => {
    const { port, counters } = await server();
    const smuggled = `POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /boom HTTP/1.1\r\n\r\n`;
    const answer = await rawRequest(port, smuggled);
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(bodyOf(answer)).toMatchObject({ error: { code: 'REQUEST_MALFORMED' } });
    expect(counters.get('api_connections_dropped_total', { reason: 'request-malformed' })).toBe(1);
  });
});
