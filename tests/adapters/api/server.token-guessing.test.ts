import { afterEach, describe, expect, it } from 'vitest';
import { ConsoleFeed } from '../../../adapters/api/console/feed.js';
import { registerConsole } from '../../../adapters/api/console/routes.js';
import { ApiError, ApiServer, TOKEN_FAILURE_ADDRESSES, TOKEN_FAILURES_PER_MINUTE } from '../../../adapters/api/server.js';
import { TokenRegistry } from '../../../adapters/api/tokens.js';
import { registerIncidentRoutes } from '../../../adapters/api/routes/incidents.js';
import { Counters } from '../../../src/observability/counters.js';
import { apiSchema } from '../../../src/settings/settings.js';
import { silentLogger } from '../../../src/ports.js';
import { sitesSchema } from '../../../src/settings/sites.js';
import { cid, FakeClock, harness } from '../../helpers/assurance-harness.js';

// A configured token needs only 16 characters (MIN_TOKEN_LENGTH), so it may be a guessable one.
const OPERATOR_TOKEN = 'operator-token-0123456789';
const SITES = sitesSchema.parse([{ id: 'bank-1', accounts: ['1234'], zones: [{ number: 5, name: 'Teller hold-up', type: 'holdup' }] }]);

const servers: ApiServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.stop();
});

/** A console and API whose loopback clients stand for clients on the network (`isLoopbackPeer`), unless `asLoopback`. */
async function start({ asLoopback = false } = {}) {
  const h = harness({ sites: SITES, centralOutputs: ['central'] });
  const loaded = TokenRegistry.load(apiSchema.parse({ port: 0, tokens: [{ name: 'duty-officer', role: 'operator', token: OPERATOR_TOKEN }] }), '/nonexistent-not-used');
  if (!loaded.ok) throw new Error('tokens');
  const counters = new Counters();
  const api = new ApiServer({ host: '127.0.0.1', port: 0, logger: silentLogger, tokens: loaded.registry, counters, ...(asLoopback ? {} : { isLoopbackPeer: () => false }) });
  registerIncidentRoutes(api, h.assurance);
  registerConsole(api, {
    source: { assurance: h.assurance, feed: new ConsoleFeed(() => h.clock.now()), sites: () => SITES, health: () => ({ status: 'ok', body: { status: 'ok', inputs: [], outputs: [] } }), centralOutputs: ['central'] },
    tokens: loaded.registry,
    now: () => h.clock.now(),
  });
  await api.start();
  servers.push(api);
  return { base: `http://127.0.0.1:${api.address!.port}`, h, counters };
}

describe('guessing tokens from the network', () => {
  it('the console\'s ten-failures lockout also stops guesses sent as a bearer token from that address', async () => {
    const { base } = await start();
    for (let i = 0; i < 11; i++)
      await fetch(`${base}/console/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: `guess-${i}-xxxxxxxxxxxx` }) });
    const locked = await fetch(`${base}/console/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: OPERATOR_TOKEN }) });
    expect(locked.status).toBe(429);
    // The same address, locked out of sign-in, keeps guessing through the Authorization header on any route.
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) statuses.push((await fetch(`${base}/console/api/me`, { headers: { authorization: `Bearer guess-${i}-yyyyyyyyyyyy` } })).status);
    const correct = await fetch(`${base}/console/api/me`, { headers: { authorization: `Bearer ${OPERATOR_TOKEN}` } });
    expect({ guesses: [...new Set(statuses)], correctGuessWhileLockedOut: correct.status }).toEqual({ guesses: expect.arrayContaining([429]), correctGuessWhileLockedOut: 429 });
  });

  it('bearer guesses lock the console sign-in out as well', async () => {
    const { base } = await start();
    for (let i = 0; i < 10; i++) expect((await fetch(`${base}/console/api/me`, { headers: { authorization: `Bearer guess-${i}-yyyyyyyyyyyy` } })).status).toBe(401);
    const signIn = await fetch(`${base}/console/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: OPERATOR_TOKEN }) });
    expect(signIn.status).toBe(429);
  });
});

describe('guessing tokens on this machine', () => {
  it('cannot stop the operator on the same host from acknowledging a hold-up by sending ten wrong tokens a minute', async () => {
    const { base, h, counters } = await start({ asLoopback: true });
    const holdup = await h.receive(cid('122', 5));
    // Any local user (no token, no privilege) reaches the loopback API from the same address as the CLI.
    for (let i = 0; i < 10; i++) expect((await fetch(`${base}/incidents`, { headers: { authorization: `Bearer nonsense-${i}-xxxxxxxxxxxxxxxx` } })).status).toBe(401);
    for (let i = 0; i < 10; i++)
      await fetch(`${base}/console/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: `guess-${i}-xxxxxxxxxxxx` }) });

    const ack = await fetch(`${base}/incidents/${holdup.incident}/ack`, {
      method: 'POST',
      headers: { authorization: `Bearer ${OPERATOR_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ note: 'called the branch: real hold-up, police sent' }),
    });
    expect(ack.status).toBe(200);
    const signIn = await fetch(`${base}/console/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: OPERATOR_TOKEN }) });
    expect(signIn.status).toBe(200);
    // Not locked out, still seen.
    expect(counters.get('api_token_failures_total', { peer: 'loopback' })).toBe(20);
    expect(counters.get('api_requests_refused_total', { code: 'TOO_MANY_REQUESTS' })).toBe(0);
  });
});

describe('remembering the addresses that guess', () => {
  const refused = (api: ApiServer, peer: string, token: string | undefined): string => {
    try {
      return api.checkToken(peer, () => token) === undefined ? 'unknown' : 'taken';
    } catch (error) {
      return (error as ApiError).code;
    }
  };

  it('locks out an address on the network but never a loopback one', () => {
    const clock = new FakeClock(1_700_000_000_000);
    const api = new ApiServer({ host: '127.0.0.1', port: 0, logger: silentLogger, tokens: undefined as never, clock });
    for (const peer of ['192.0.2.7', 'fd00::7', '127.0.0.1', '::1', '::ffff:127.0.0.1'])
      for (let i = 0; i < TOKEN_FAILURES_PER_MINUTE; i++) refused(api, peer, undefined);
    expect(['192.0.2.7', 'fd00::7', '127.0.0.1', '::1', '::ffff:127.0.0.1'].map((peer) => refused(api, peer, 'right'))).toEqual([
      'TOO_MANY_REQUESTS',
      'TOO_MANY_REQUESTS',
      'taken',
      'taken',
      'taken',
    ]);
  });

  it('forgets addresses one at a time when full, never the lockout of one still locked out', () => {
    const clock = new FakeClock(1_700_000_000_000);
    const api = new ApiServer({ host: '127.0.0.1', port: 0, logger: silentLogger, tokens: undefined as never, clock });
    for (let i = 0; i < TOKEN_FAILURES_PER_MINUTE; i++) refused(api, '192.0.2.1', undefined);
    expect(refused(api, '192.0.2.1', 'right')).toBe('TOO_MANY_REQUESTS');
    // An attacker cycling through more source addresses than are remembered, one wrong token from each.
    for (let i = 0; i <= TOKEN_FAILURE_ADDRESSES; i++) refused(api, `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, undefined);
    expect(refused(api, '192.0.2.1', 'right')).toBe('TOO_MANY_REQUESTS');
    clock.advance(60_001);
    expect(refused(api, '192.0.2.1', 'right')).toBe('taken');
  });
});

describe('a console cookie presented without its secret', () => {
  // A page on another port of the host makes the operator's browser send its cookie, never the secret (image tags,
  // fetches): that is no guess (the secret is 32 random bytes), so it must not lock the operator's address out.
  it('is refused, and locks the operator out of nothing', async () => {
    const { base, counters } = await start();
    const signedIn = await fetch(`${base}/console/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: OPERATOR_TOKEN }) });
    const cookie = signedIn.headers.get('set-cookie')!.split(';')[0]!;
    for (let i = 0; i < 3 * TOKEN_FAILURES_PER_MINUTE; i++) expect((await fetch(`${base}/console/api/incidents`, { headers: { cookie } })).status).toBe(401);
    const again = await fetch(`${base}/console/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: OPERATOR_TOKEN }) });
    expect(again.status).toBe(200);
    expect((await fetch(`${base}/console/api/me`, { headers: { authorization: `Bearer ${OPERATOR_TOKEN}` } })).status).toBe(200);
    expect(counters.get('api_token_failures_total')).toBe(0);
  });
});
