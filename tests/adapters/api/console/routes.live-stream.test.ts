import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { ConsoleFeed } from '../../../../adapters/api/console/feed.js';
import { registerConsole } from '../../../../adapters/api/console/routes.js';
import { ApiServer } from '../../../../adapters/api/server.js';
import { createToken, TokenRegistry } from '../../../../adapters/api/tokens.js';
import { apiSchema } from '../../../../src/settings/settings.js';
import { silentLogger } from '../../../../src/ports.js';
import { sitesSchema } from '../../../../src/settings/sites.js';
import { cid, harness } from '../../../helpers/assurance-harness.js';

const SITES = sitesSchema.parse([{ id: 'bank-1', accounts: ['1234'], zones: [{ number: 5, name: 'Teller hold-up', type: 'holdup' }] }]);
const servers: ApiServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.stop();
});

async function start() {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'live-revoked-'));
  const oldToken = createToken(dataDir, { name: 'temp-guard', role: 'viewer' });
  const loaded = TokenRegistry.load(apiSchema.parse({ port: 0, tokens: [{ name: 'admin', role: 'admin', token: 'admin-token-0123456789' }] }), dataDir);
  if (!loaded.ok) throw new Error('tokens');
  const h = harness({ sites: SITES, centralOutputs: ['central'] });
  const feed = new ConsoleFeed(() => Date.now());
  const api = new ApiServer({ host: '127.0.0.1', port: 0, logger: silentLogger, tokens: loaded.registry });
  registerConsole(api, {
    source: { assurance: h.assurance, feed, sites: () => SITES, health: () => ({ status: 'ok', body: { status: 'ok', inputs: [], outputs: [] } }), centralOutputs: ['central'] },
    tokens: loaded.registry,
    now: () => h.clock.now(),
  });
  await api.start();
  servers.push(api);
  const port = api.address!.port;
  const base = `http://127.0.0.1:${port}`;
  /** Opens /console/api/live with these headers; what it received and whether it ended so far. */
  const listen = async (headers: Record<string, string>) => {
    const seen = { received: '', ended: false };
    const req = http.get({ host: '127.0.0.1', port, path: '/console/api/live', headers }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (seen.received += chunk));
      res.on('end', () => (seen.ended = true));
      res.on('close', () => (seen.ended = true));
    });
    req.on('error', () => (seen.ended = true));
    streams.push(req);
    await new Promise((r) => setTimeout(r, 200));
    expect(seen).toMatchObject({ ended: false, received: expect.stringContaining('event: update') });
    seen.received = '';
    return seen;
  };
  /** A hold-up stored: every live view still allowed is told. */
  const holdUp = async () => {
    feed.stored([await h.receive(cid('122', 5))]);
    await new Promise((r) => setTimeout(r, 500));
  };
  return { dataDir, oldToken, base, listen, holdUp };
}

/** A console sign-in: the headers its page sends (the cookie, and the secret it keeps). */
async function signIn(base: string, token: string): Promise<Record<string, string>> {
  const response = await fetch(`${base}/console/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
  const { session } = (await response.json()) as { session: string };
  return { cookie: response.headers.get('set-cookie')!.split(';')[0]!, 'x-panelbridge-session': session };
}

const streams: http.ClientRequest[] = [];
afterEach(() => {
  for (const req of streams.splice(0)) req.destroy();
});

/**
 * README: console sessions end "when their token is replaced or removed". The live stream opened by a session was
 * checked once, when it opened: after the token was replaced, the old holder's stream kept telling it, to the
 * fifth of a second, when the gateway stored something (a duress included), and held its place.
 */
describe('console live stream of a replaced token', () => {
  it('ends when the session ends', async () => {
    const { dataDir, oldToken, base, listen, holdUp } = await start();
    const session = await signIn(base, oldToken);
    const stream = await listen(session);

    // The guard leaves: the token is replaced under the same name. The session is refused from now on.
    createToken(dataDir, { name: 'temp-guard', role: 'viewer' });
    expect((await fetch(`${base}/console/api/me`, { headers: session })).status).toBe(401);

    await holdUp();
    expect({ ended: stream.ended, toldOfUpdate: stream.received.includes('event: update') }).toEqual({ ended: true, toldOfUpdate: false });
  });

  it('ends once the token is replaced, without the old holder asking anything else', async () => {
    const { dataDir, oldToken, listen, holdUp } = await start();
    const stream = await listen({ authorization: `Bearer ${oldToken}` });
    createToken(dataDir, { name: 'temp-guard', role: 'viewer' });
    await holdUp();
    expect({ ended: stream.ended, toldOfUpdate: stream.received.includes('event: update') }).toEqual({ ended: true, toldOfUpdate: false });
  });

  it('ends on sign-out, and keeps the streams of a token still valid', async () => {
    const { oldToken, base, listen, holdUp } = await start();
    const session = await signIn(base, oldToken);
    const signedOut = await listen(session);
    const other = await listen({ authorization: `Bearer ${oldToken}` });
    await fetch(`${base}/console/session`, { method: 'DELETE', headers: session });
    await holdUp();
    expect({ ended: signedOut.ended, toldOfUpdate: signedOut.received.includes('event: update') }).toEqual({ ended: true, toldOfUpdate: false });
    expect({ ended: other.ended, toldOfUpdate: other.received.includes('event: update') }).toEqual({ ended: false, toldOfUpdate: true });
  });
});
