import { afterEach, describe, expect, it } from 'vitest';
import { ConsoleFeed, MAX_STREAMS, MAX_STREAMS_PER_NAME, TRACE_LIMIT } from '../../adapters/api/console/feed.js';
import { ACKNOWLEDGED_SHOWN, CLOSED_WALKS_SHOWN } from '../../adapters/api/console/views.js';
import { consoleScript, gzippedSize, registerConsole, SCRIPT_BUDGET_BYTES, SCRIPT_BUDGET_GZIP_BYTES } from '../../adapters/api/console/routes.js';
import { ApiServer } from '../../adapters/api/server.js';
import { TokenRegistry } from '../../adapters/api/tokens.js';
import { apiSchema } from '../../src/settings/settings.js';
import { silentLogger } from '../../src/ports.js';
import { sitesSchema } from '../../src/settings/sites.js';
import { cid, FakeClock, harness, INSTALLER, operator } from '../helpers/assurance-harness.js';
import { gateAppends } from '../helpers/gated-outbox.js';
import type { Site } from '../../src/settings/sites.js';

const SITES = sitesSchema.parse([
  {
    id: 'bank-1',
    name: 'Bank branch 1',
    address: '1 High Street',
    response: 'Silent alarm. Do not phone the branch.',
    accounts: ['1234'],
    zones: [
      { number: 3, name: 'Back door', type: 'burglary' },
      { number: 5, name: 'Teller 1 hold-up button', type: 'holdup', location: 'Counter 1', guidance: 'Press, then step back from the counter.' },
      { number: 9, name: 'Manager pendant', type: 'panic', holder: 'A. Manager' },
    ],
    users: [{ number: 12, name: 'Manager duress code', duress: true }],
  },
]);

const TOKENS = [
  { name: 'wall-screen', role: 'viewer', token: 'viewer-token-0123456789' },
  { name: 'duty-officer', role: 'operator', token: 'operator-token-0123456789' },
  { name: 'installer', role: 'installer', token: 'installer-token-0123456789' },
  // More wall screens, to fill the live views beyond what one name may hold.
  ...['lobby', 'night-desk', 'back-office'].map((name) => ({ name, role: 'viewer', token: `${name}-viewer-token-0123456789` })),
];

function tokens(): TokenRegistry {
  const loaded = TokenRegistry.load(apiSchema.parse({ port: 0, tokens: TOKENS }), '/nonexistent-not-used');
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
  return loaded.registry;
}

const servers: ApiServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.stop();
});

/** `asNetworkPeer`: its loopback clients stand for clients on the network (the lockout against guessing). */
async function startConsole(sites: readonly Site[] = SITES, clock?: FakeClock, { asNetworkPeer = false } = {}) {
  const h = harness({ sites, centralOutputs: ['central'], ...(clock === undefined ? {} : { clock }) });
  const feed = new ConsoleFeed(() => h.clock.now());
  h.assurance.ledger.enroll(h.clock.now());
  const registry = tokens();
  // Every view comes from one address here, more than one browser opens (6 connections to a host): no per-address cap.
  const api = new ApiServer({ host: '127.0.0.1', port: 0, logger: silentLogger, tokens: registry, clock: h.clock, limits: { maxConnectionsPerPeer: 64 }, ...(asNetworkPeer ? { isLoopbackPeer: () => false } : {}) });
  registerConsole(api, {
    source: {
      assurance: h.assurance,
      feed,
      sites: () => sites,
      health: () => ({ status: 'ok', body: { status: 'ok', inputs: [], outputs: [{ name: 'central', state: 'up', backlog: 0, deadLetters: 0 }] } }),
      centralOutputs: ['central'],
    },
    tokens: registry,
    now: () => h.clock.now(),
  });
  await api.start();
  servers.push(api);
  const base = `http://127.0.0.1:${api.address!.port}`;
  const origin = base;
  /** A panel event, stored and traced as the gateway does (the feed listens to frameStored on the bus). */
  const receive = async (signal: Parameters<typeof h.receive>[0]) => {
    const event = await h.receive(signal);
    feed.stored([event]);
    feed.delivered('central', event);
    return event;
  };
  /** What each signed-in page keeps in its sessionStorage: the secret it sends with its session cookie. */
  const secrets = new Map<string, string>();
  /** `secret`: the x-panelbridge-session header to send instead of the one the cookie's page keeps (null: none). */
  const call = (path: string, init: { method?: string; cookie?: string; secret?: string | null; body?: unknown; origin?: string | null; type?: string; signal?: AbortSignal } = {}) => {
    const secret = init.secret === undefined ? secrets.get(init.cookie ?? '') : init.secret;
    return fetch(base + path, {
      method: init.method ?? 'GET',
      headers: {
        ...(init.cookie === undefined ? {} : { cookie: init.cookie }),
        ...(secret == null ? {} : { 'x-panelbridge-session': secret }),
        ...(init.origin === null ? {} : { origin: init.origin ?? origin }),
        ...(init.body === undefined ? {} : { 'content-type': init.type ?? 'application/json' }),
      },
      ...(init.body === undefined ? {} : { body: typeof init.body === 'string' ? init.body : JSON.stringify(init.body) }),
      ...(init.signal === undefined ? {} : { signal: init.signal }),
    });
  };
  const signIn = async (token: string) => {
    const response = await call('/console/session', { method: 'POST', body: { token } });
    expect(response.status).toBe(200);
    const cookie = response.headers.get('set-cookie')!.split(';')[0]!;
    const { session } = (await response.json()) as { session?: string };
    if (session !== undefined) secrets.set(cookie, session);
    return cookie;
  };
  return { h, feed, base, call, signIn, receive };
}

describe('console sign-in', () => {
  it('exchanges a valid token for an HttpOnly, SameSite=Strict session cookie, and refuses every data route without one', async () => {
    const { call } = await startConsole();
    for (const path of ['/console/api/me', '/console/api/overview', '/console/api/incidents', '/console/api/walks', '/console/api/live', '/console/api/card/bank-1/zone-5', '/console/api/report?site=bank-1'])
      expect([path, (await call(path)).status]).toEqual([path, 401]);
    expect((await call('/console/api/overview', { cookie: 'pb_console=forged' })).status).toBe(401);
    const response = await call('/console/session', { method: 'POST', body: { token: 'viewer-token-0123456789' } });
    expect(response.status).toBe(200);
    const cookie = response.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^pb_console=[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Strict; Path=\/; Max-Age=43200$/);
    const { session, ...identity } = (await response.json()) as { session: string };
    expect(identity).toEqual({ name: 'wall-screen', role: 'viewer' });
    expect(session).toMatch(/^[A-Za-z0-9_-]{43}$/); // the secret the page sends with the cookie
    const me = await call('/console/api/me', { cookie: cookie.split(';')[0]!, secret: session });
    expect(await me.json()).toMatchObject({ role: 'viewer', may: { acknowledge: false, testWindows: false } });
  });

  it('refuses a wrong token, then every attempt from that network peer for a minute after ten failures', async () => {
    const { call, h } = await startConsole(SITES, undefined, { asNetworkPeer: true });
    for (let i = 0; i < 10; i++) expect((await call('/console/session', { method: 'POST', body: { token: `guess-${i}` } })).status).toBe(401);
    expect((await call('/console/session', { method: 'POST', body: { token: 'operator-token-0123456789' } })).status).toBe(429);
    h.clock.advance(60_001);
    expect((await call('/console/session', { method: 'POST', body: { token: 'operator-token-0123456789' } })).status).toBe(200);
  });

  it('ends the session on sign-out', async () => {
    const { call, signIn } = await startConsole();
    const cookie = await signIn('viewer-token-0123456789');
    const out = await call('/console/session', { method: 'DELETE', cookie });
    expect(out.headers.get('set-cookie')).toContain('Max-Age=0');
    expect((await call('/console/api/me', { cookie })).status).toBe(401);
  });
});

describe('a session cookie stolen by a local process', () => {
  // A browser sends the console's cookie to every port of the gateway's host: a page the operator opens on
  // 127.0.0.1:9999 has its own request carry it to the process serving that port, which replays it (no Origin, not
  // a browser). security.md: such a process must never acknowledge an incident or learn that a duress was sent.
  it('authorises nothing on its own: no acknowledgement, no incident, no live update, no card or report, no sign-out', async () => {
    const { call, signIn, receive, h } = await startConsole();
    const cookie = await signIn('operator-token-0123456789');
    const holdup = await receive(cid('122', 5));
    const stolen = (path: string, init: Parameters<typeof call>[1] = {}) => call(path, { cookie, secret: null, origin: null, ...init });

    const ack = await stolen(`/console/api/incidents/${holdup.incident}/ack`, { method: 'POST', body: { note: 'nothing happened' } });
    expect(ack.status).toBe(401);
    expect(h.assurance.incidentRecords().find((i) => i.id === holdup.incident)?.ackedAt).toBeNull();
    for (const path of ['/console/api/incidents', '/console/api/overview', '/console/api/me', '/console/api/live', '/console/api/walks', '/console/api/card/bank-1/zone-5', '/console/api/report?site=bank-1'])
      expect([path, (await stolen(path)).status]).toEqual([path, 401]);
    // The pages a browser opens by navigation are the console's page alone; their content needs the secret too.
    expect(await (await stolen('/console/card/bank-1/zone-5')).text()).not.toContain('Teller 1 hold-up button');
    expect(await (await stolen('/console/report?site=bank-1')).text()).not.toContain('Duress assurance report');
    await stolen('/console/session', { method: 'DELETE' }); // cannot sign the operator out either
    expect((await call('/console/api/incidents', { cookie })).status).toBe(200); // the operator's own page still can
  });
});

describe('console actions', () => {
  it('refuse a foreign Origin and a body that is not JSON, even with a valid session', async () => {
    const { call, signIn, receive } = await startConsole();
    const cookie = await signIn('operator-token-0123456789');
    const holdup = await receive(cid('122', 5));
    const ack = (init: Parameters<typeof call>[1]) => call(`/console/api/incidents/${holdup.incident}/ack`, { method: 'POST', cookie, body: { note: 'x' }, ...init });
    expect((await ack({ origin: 'http://evil.example' })).status).toBe(403);
    expect((await ack({ type: 'text/plain', body: '{"note":"x"}' })).status).toBe(415);
    expect((await call('/console/session', { method: 'POST', body: { token: 'operator-token-0123456789' }, origin: 'http://evil.example' })).status).toBe(403);
  });

  it('follow the roles: a viewer reads only, an operator acknowledges, an installer opens test windows', async () => {
    const { call, signIn, receive, h } = await startConsole();
    const holdup = await receive(cid('122', 5));
    const viewer = await signIn('viewer-token-0123456789');
    const operator = await signIn('operator-token-0123456789');
    const installer = await signIn('installer-token-0123456789');
    const ack = (cookie: string, note: unknown) => call(`/console/api/incidents/${holdup.incident}/ack`, { method: 'POST', cookie, body: { note } });
    const walk = (cookie: string) => call('/console/api/walks', { method: 'POST', cookie, body: { site: 'bank-1', minutes: 10 } });
    expect((await ack(viewer, 'seen')).status).toBe(403);
    expect((await ack(installer, 'seen')).status).toBe(403);
    expect((await walk(viewer)).status).toBe(403);
    expect((await walk(operator)).status).toBe(403);
    expect((await ack(operator, '  ')).status).toBe(400);
    const acked = await ack(operator, 'Police on site; all safe.');
    expect(acked.status).toBe(200);
    expect(await acked.json()).toMatchObject({ incident: { acknowledged: true, ackedBy: 'duty-officer', note: 'Police on site; all safe.' } });
    expect((await ack(operator, 'again')).status).toBe(409);
    expect((await walk(installer)).status).toBe(201);
    // Published to central and audited like the API's own control actions, under the token's name.
    await h.assurance.flush();
    expect(h.supervisory().flatMap((e) => (e.control == null ? [] : [[e.control.action, e.control.by, e.control.note]]))).toEqual([
      ['incident-acknowledged', 'duty-officer', 'Police on site; all safe.'],
      ['test-window-opened', 'installer', null],
    ]);
  });

  it('answers an acknowledgement and a walk opened or stopped only once its event for central is stored', async () => {
    const { h, call, signIn, receive } = await startConsole();
    const holdup = await receive(cid('122', 5));
    const operator = await signIn('operator-token-0123456789');
    const installer = await signIn('installer-token-0123456789');
    /** The status, and whether it came while the outbox still held the event's append. */
    const answeredBeforeStored = async (path: string, init: Parameters<typeof call>[1]) => {
      const { appending, release } = gateAppends(h.outbox);
      let answered = false;
      const reply = call(path, init).then((r) => ((answered = true), r));
      await appending;
      await new Promise((resolve) => setTimeout(resolve, 100)); // time for an answer already sent to arrive
      const early = answered;
      release();
      return { early, status: (await reply).status };
    };
    expect(await answeredBeforeStored(`/console/api/incidents/${holdup.incident}/ack`, { method: 'POST', cookie: operator, body: { note: 'Police on site.' } })).toEqual({ early: false, status: 200 });
    expect(await answeredBeforeStored('/console/api/walks', { method: 'POST', cookie: installer, body: { site: 'bank-1', minutes: 10 } })).toEqual({ early: false, status: 201 });
    const [window] = h.assurance.windowRecords();
    expect(await answeredBeforeStored(`/console/api/walks/${window!.id}`, { method: 'DELETE', cookie: installer })).toEqual({ early: false, status: 200 });
  });
});

describe('console views', () => {
  it('incidents carry the responder context and the opening event\'s timeline', async () => {
    const { call, signIn, receive } = await startConsole();
    const holdup = await receive(cid('122', 5));
    const { incidents } = (await (await call('/console/api/incidents', { cookie: await signIn('viewer-token-0123456789') })).json()) as { incidents: Array<Record<string, any>> };
    expect(incidents).toHaveLength(1);
    expect(incidents[0]!.context).toMatchObject({
      site: { name: 'Bank branch 1', address: '1 High Street', response: 'Silent alarm. Do not phone the branch.' },
      devices: [{ device: 'zone-5', location: 'Counter 1', guidance: 'Press, then step back from the counter.' }],
    });
    expect(incidents[0]!.timeline.map((t: { step: string }) => t.step)).toEqual(['pressed', 'received', 'stored', 'delivered to central', 'acknowledged']);
    expect(incidents[0]!.timeline[1].at).toBe(holdup.receivedAt);
  });

  it('incidents keep naming what was pressed, and whether its source was verified, after the trace moved on', async () => {
    const { call, signIn, receive, feed } = await startConsole();
    const duress = await receive({ ...cid('121', 12), address: 12 });
    const traffic = await receive(cid('401', 4));
    feed.stored(Array.from({ length: TRACE_LIMIT }, (_, i) => ({ ...traffic, id: `traffic-${i}` })));
    expect(feed.trace(duress.id)).toBeUndefined();
    const { incidents } = (await (await call('/console/api/incidents', { cookie: await signIn('viewer-token-0123456789') })).json()) as { incidents: Array<Record<string, any>> };
    expect(incidents[0]!.context).toMatchObject({
      devices: [{ device: 'user-12', name: 'Manager duress code' }],
      user: { number: 12, name: 'Manager duress code' },
      zone: null,
      verified: true,
      unverifiedReason: null,
    });
  });

  it('incidents list every open one, newest first, then at most ACKNOWLEDGED_SHOWN acknowledged ones and how many more', async () => {
    const { call, signIn, receive, h } = await startConsole();
    const opened: string[] = [];
    for (let i = 0; i < ACKNOWLEDGED_SHOWN + 10; i++) {
      h.clock.advance(1_000);
      opened.push((await receive(cid('122', 1, { account: `${2000 + i}` }))).incident!); // one incident per account
    }
    const cookie = await signIn('viewer-token-0123456789');
    const list = async (all: boolean) => (await (await call(`/console/api/incidents${all ? '?all=1' : ''}`, { cookie })).json()) as { incidents: Array<{ id: string; acknowledged: boolean }>; moreAcknowledged: number };
    expect((await list(false)).incidents.map((i) => i.id)).toEqual([...opened].reverse());
    for (const id of opened.slice(0, ACKNOWLEDGED_SHOWN + 5)) h.assurance.acknowledge(id, operator('desk'), 'all safe');
    const all = await list(true);
    expect(all.incidents.map((i) => [i.id, i.acknowledged])).toEqual([
      ...opened.slice(-5).reverse().map((id) => [id, false]),
      ...opened.slice(5, ACKNOWLEDGED_SHOWN + 5).reverse().map((id) => [id, true]),
    ]);
    expect(all.moreAcknowledged).toBe(5);
  });

  it('the overview counts the open incidents of accounts that belong to no configured site', async () => {
    const { call, signIn, receive } = await startConsole();
    await receive(cid('122', 5)); // bank-1's own
    const orphan = await receive(cid('121', 12, { account: '7777' })); // allowlisted, but no site's account
    const overview = (await (await call('/console/api/overview', { cookie: await signIn('viewer-token-0123456789') })).json()) as Record<string, any>;
    expect(overview.withoutSite).toEqual([{ id: orphan.incident, category: 'duress', account: '7777', site: null, openedAt: orphan.receivedAt, calls: 0 }]);
  });

  it('a walk shows each device green when counted, red when it sent something else, and a real duress from another device as real', async () => {
    const { call, signIn, receive, h } = await startConsole();
    const cookie = await signIn('installer-token-0123456789');
    const opened = await call('/console/api/walks', { method: 'POST', cookie, body: { site: 'bank-1', minutes: 10, devices: ['zone-5', 'zone-9'] } });
    const { window } = (await opened.json()) as { window: { id: string } };
    h.clock.advance(1_000);
    await receive(cid('122', 5)); // zone-5 as it should
    await receive(cid('383', 9)); // zone-9 sends a sensor tamper: not a call for help
    const real = await receive({ ...cid('121', 12), address: 12 }); // the manager's duress code: not under test
    expect(real.test).toBe(false);
    h.clock.advance(1_000);
    const closed = await call(`/console/api/walks/${window.id}`, { method: 'DELETE', cookie });
    const view = (await closed.json()) as Record<string, any>;
    expect(view.devices.map((d: { device: string; state: string }) => [d.device, d.state])).toEqual([
      ['zone-5', 'exercised'],
      ['zone-9', 'wrong'],
    ]);
    expect(view.devices[0].arrivals[0]).toMatchObject({ category: 'holdup', zone: 5, delivered: [{ output: 'central', at: expect.any(String) }] });
    expect(view.devices[0].guidance).toBe('Press, then step back from the counter.');
    expect(view.result).toEqual({ exercised: ['zone-5'], notExercised: [], wrong: ['zone-9'] });
    expect(view.realIncidents.map((a: { eventId: string }) => a.eventId)).toEqual([real.id]);
  });

  it('a walk lists no event of an incident opened before it as a real incident, only a real duress during it', async () => {
    const { call, signIn, receive, h } = await startConsole();
    await receive(cid('122', 5)); // a hold-up not acknowledged yet: later events of the site carry its incident
    h.clock.advance(3_600_000);
    const cookie = await signIn('installer-token-0123456789');
    const opened = await call('/console/api/walks', { method: 'POST', cookie, body: { site: 'bank-1', minutes: 10, devices: ['zone-9'] } });
    const { window } = (await opened.json()) as { window: { id: string } };
    h.clock.advance(1_000);
    const door = await receive(cid('130', 3, { qualifier: 'restore' })); // the back door closes behind the installer
    expect(door.incident).toEqual(expect.any(String));
    const during = async () => ((await (await call('/console/api/walks', { cookie })).json()) as { walks: Array<Record<string, any>> }).walks.find((w) => w.window.id === window.id)!;
    expect((await during()).realIncidents).toEqual([]);
    const duress = await receive({ ...cid('121', 12), address: 12 }); // the manager's duress code, not under test
    expect((await during()).realIncidents.map((a: { eventId: string }) => a.eventId)).toEqual([duress.id]);
  });

  it('the walk page keeps every open window, however many walks closed since, and the latest closed ones', async () => {
    const twoSites = sitesSchema.parse([...SITES, { id: 'shop-2', accounts: ['5678'], zones: [{ number: 1, name: 'Till button', type: 'holdup' }] }]);
    const { call, signIn, h } = await startConsole(twoSites);
    const long = h.assurance.startWindow({ site: 'bank-1', minutes: 240 }, INSTALLER);
    if (!long.ok) throw new Error(long.message);
    const closed: string[] = [];
    for (let i = 0; i < 20; i++) { // as many as the page once showed in all
      h.clock.advance(60_000);
      const short = h.assurance.startWindow({ site: 'shop-2', minutes: 5 }, INSTALLER);
      if (!short.ok) throw new Error(short.message);
      closed.push(h.assurance.stopWindow(short.window.id, INSTALLER)!.window.id);
    }
    const { walks } = (await (await call('/console/api/walks', { cookie: await signIn('viewer-token-0123456789') })).json()) as { walks: Array<{ window: { id: string } }> };
    expect(walks.map((w) => w.window.id)).toEqual([long.window.id, ...closed.slice(-CLOSED_WALKS_SHOWN).reverse()]);
  });

  it('serves the printable card and the report (HTML and CSV) to a signed-in viewer', async () => {
    const { call, signIn } = await startConsole();
    const cookie = await signIn('viewer-token-0123456789');
    const card = await call('/console/api/card/bank-1/zone-5', { cookie });
    expect(card.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await card.text()).toContain('Press, then step back from the counter.');
    expect((await call('/console/api/card/bank-1/zone-3', { cookie })).status).toBe(404); // a burglary zone is no duress device
    const html = await call('/console/api/report?site=bank-1&from=2024-01-01&to=2024-01-31', { cookie });
    expect(await html.text()).toContain('Duress assurance report: Bank branch 1, 2024-01-01 to 2024-01-31');
    const csv = await call('/console/api/report?site=bank-1&from=2024-01-01&to=2024-01-31&format=csv', { cookie });
    expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(csv.headers.get('content-disposition')).toBe('attachment; filename="assurance-bank-1-2024-01-01-2024-01-31.csv"');
    expect((await csv.text()).split('\r\n').filter((l) => l.startsWith('device,'))).toHaveLength(3);
    expect((await call('/console/api/report?site=bank-1&from=2024-02-31', { cookie })).status).toBe(400);
  });

  it('refuses a report period longer than a year, which would hold the event loop for as long as a viewer likes', async () => {
    const { call, signIn } = await startConsole();
    const viewer = await signIn('viewer-token-0123456789');
    // 0001-01-01 to 9999-12-31 took 44 s of one core here, during which no panel got its ACK.
    const answer = await call('/console/api/report?site=bank-1&from=2000-01-01&to=2024-12-31&format=csv', { cookie: viewer });
    expect(answer.status).toBe(400);
    expect(await answer.json()).toMatchObject({ error: { code: 'BAD_REQUEST', message: expect.stringMatching(/at most 366 days/) } });
  });

  it("offers each site's report over the site's own last 30 days, whatever the date in UTC", async () => {
    // 23:30 UTC on 6 December is already 7 December in Berlin: a test pressed now belongs to the report's last day.
    const berlin = sitesSchema.parse([{ ...SITES[0]!, timeZone: 'Europe/Berlin' }]);
    const { call, signIn, receive } = await startConsole(berlin, new FakeClock(Date.UTC(2026, 11, 6, 23, 30)));
    const cookie = await signIn('viewer-token-0123456789');
    await receive(cid('122', 5));
    const { sites } = (await (await call('/console/api/overview', { cookie })).json()) as { sites: Array<{ id: string; reportPeriod: { from: string; to: string } }> };
    expect(sites.find((site) => site.id === 'bank-1')?.reportPeriod).toEqual({ from: '2026-11-08', to: '2026-12-07' });
    const csv = await call('/console/api/report?site=bank-1&from=2026-11-08&to=2026-12-07&format=csv', { cookie });
    expect((await csv.text()).split('\r\n').find((l) => l.startsWith('device,zone-5,'))).toMatch(/,0,1,0,0,/);
  });
});

describe('console live updates', () => {
  it('tell each open view when something changed, and refuse views beyond MAX_STREAMS_PER_NAME for a name and MAX_STREAMS in all', async () => {
    const { call, signIn, receive } = await startConsole();
    const controller = new AbortController();
    const open = async (cookie: string) => {
      const response = await call('/console/api/live', { cookie, signal: controller.signal });
      const reader = response.body!.getReader();
      const first = new TextDecoder().decode((await reader.read()).value);
      return { reader, first };
    };
    try {
      const cookies = await Promise.all(TOKENS.map((t) => signIn(t.token)));
      const streams = [];
      for (let i = 0; i < MAX_STREAMS_PER_NAME; i++) streams.push(await open(cookies[0]!));
      expect((await open(cookies[0]!)).first).toContain('event: busy'); // one wall-screen token cannot take them all
      for (let i = 0; streams.length < MAX_STREAMS; i++) streams.push(await open(cookies[1 + (i % (cookies.length - 2))]!));
      expect(streams.every((s) => s.first.includes('event: update'))).toBe(true);
      expect((await open(cookies.at(-1)!)).first).toContain('event: busy'); // a name holding none: the total is reached
      await receive(cid('130', 3));
      expect(new TextDecoder().decode((await streams[0]!.reader.read()).value)).toMatch(/^event: update\ndata: \{"at":\d+\}/);
    } finally {
      controller.abort();
    }
  });
});

describe('console page and script', () => {
  it('stay within the script budget and load nothing from elsewhere', async () => {
    const { call } = await startConsole();
    const script = await (await call('/console/console.js')).text();
    expect(script).toBe(consoleScript());
    expect(script.length).toBeLessThanOrEqual(SCRIPT_BUDGET_BYTES);
    expect(gzippedSize(script)).toBeLessThanOrEqual(SCRIPT_BUDGET_GZIP_BYTES);
    const shell = await call('/');
    expect(shell.headers.get('content-security-policy')).toMatch(/default-src 'none'; script-src 'self'/);
    const page = await shell.text();
    for (const text of [page, script, await (await call('/console/console.css')).text()]) expect(text).not.toMatch(/https?:\/\//);
    expect(script).not.toMatch(/innerHTML|insertAdjacentHTML|eval\(|new Function/);
  });
});
