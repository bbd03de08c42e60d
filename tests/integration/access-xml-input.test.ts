import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { AccessXmlListener, createAccessXmlInput, readAccessSecret, type AccessXmlListenerOptions, type AccessXmlTls } from '../../adapters/inputs/access-xml.js';
import { parseSettings } from '../../src/settings/settings.js';
import { AccessReceiver } from '../../src/pipeline/access-receiver.js';
import { Recorder } from '../../src/pipeline/recorder.js';
import { MemoryOutbox } from '../../src/outbox/memory-outbox.js';
import { Counters } from '../../src/observability/counters.js';
import { createIdSource } from '../../src/model/ids.js';
import { silentLogger, systemClock, type Logger } from '../../src/ports.js';
import { siteSchema } from '../../src/settings/sites.js';
import type { AccessMapping } from '../../src/codecs/access-xml.js';
import { gateAppends } from '../helpers/gated-outbox.js';
import { idleConnections, stallClients } from '../helpers/stalled-clients.js';
import { hasOpenssl, makeTestCertificates } from '../helpers/test-certs.js';
import { recordingLogger } from '../helpers/recording-logger.js';

const DURESS = `<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" xmlns:tt="http://www.onvif.org/ver10/schema">
  <s:Body><wsnt:Notify><wsnt:NotificationMessage>
    <wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">tns1:AccessControl/Duress/Credential</wsnt:Topic>
    <wsnt:Message><tt:Message UtcTime="2025-03-01T09:15:02Z">
      <tt:Source><tt:SimpleItem Name="AccessPointToken" Value="door-lobby-2"/></tt:Source>
      <tt:Data><tt:SimpleItem Name="CredentialToken" Value="cred-00417"/><tt:SimpleItem Name="CredentialHolderName" Value="Jane Roe"/></tt:Data>
    </tt:Message></wsnt:Message>
  </wsnt:NotificationMessage></wsnt:Notify></s:Body>
</s:Envelope>`;

const BILLION_LAUGHS = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><NotificationMessage><Topic>&lol3;</Topic></NotificationMessage>`;

const SITES = [siteSchema.parse({ id: 'hq', name: 'Head office', accounts: ['4321'], doors: [{ id: 'door-lobby-2', name: 'Lobby door 2' }] })];

interface Harness {
  listener: AccessXmlListener;
  outbox: MemoryOutbox;
  counters: Counters;
  url: string;
}

interface Setup {
  secret?: string;
  site?: string;
  mappings?: AccessMapping[];
  maxBytes?: number;
  tls?: AccessXmlTls;
  outbox?: MemoryOutbox;
  limits?: AccessXmlListenerOptions['limits'];
  logger?: Logger;
}

const running: AccessXmlListener[] = [];

async function startInput(setup: Setup = {}): Promise<Harness> {
  const outbox = setup.outbox ?? new MemoryOutbox();
  outbox.registerOutputs(['probe']);
  const counters = new Counters();
  const receiver = new AccessReceiver({
    input: 'doors',
    maxBytes: setup.maxBytes ?? 16_384,
    mappings: setup.mappings ?? [],
    defaults: setup.site === undefined ? {} : { site: setup.site },
    secret: setup.secret ?? null,
    clock: systemClock,
    recorder: new Recorder({ outbox, counters, logger: silentLogger, backlogLimit: 1000 }),
    builder: { ids: createIdSource(systemClock), sites: () => SITES },
    counters,
    logger: silentLogger,
  });
  const listener = new AccessXmlListener({
    name: 'doors',
    host: '127.0.0.1',
    port: 0,
    path: '/access',
    tls: setup.tls,
    ...(setup.limits === undefined ? {} : { limits: setup.limits }),
    receiver,
    logger: setup.logger ?? silentLogger,
    counters,
  });
  await listener.start();
  running.push(listener);
  const scheme = setup.tls === undefined ? 'http' : 'https';
  return { listener, outbox, counters, url: `${scheme}://127.0.0.1:${listener.address!.port}/access` };
}

afterEach(async () => {
  for (const listener of running.splice(0)) await listener.stop();
});

interface Reply {
  status: number;
  json: { events?: string[]; error?: { code: string; message: string } };
}

function post(url: string, body: string | Buffer, options: { method?: string; headers?: Record<string, string>; tls?: https.RequestOptions } = {}): Promise<Reply> {
  const target = new URL(url);
  const client = target.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(
      target,
      { method: options.method ?? 'POST', headers: { 'content-type': 'application/soap+xml', ...options.headers }, ...options.tls },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Reply['json'] }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const stored = (outbox: MemoryOutbox) => outbox.pending('probe', 100).map((e) => e.event);

describe('access-control XML input over loopback HTTP', () => {
  it('answers 200 with the id of a stored duress event carrying door, credential holder text and panel time', async () => {
    const { outbox, url } = await startInput({ site: 'hq' });
    const reply = await post(url, DURESS);
    expect(reply.status).toBe(200);
    const events = stored(outbox);
    expect(reply.json.events).toEqual(events.map((e) => e.id));
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      protocol: 'access-xml',
      category: 'duress',
      duress: true,
      code: { value: '124' },
      door: { id: 'door-lobby-2', name: 'Lobby door 2' },
      site: { id: 'hq', name: 'Head office' },
      occurredAt: '2025-03-01T09:15:02.000Z',
      source: { input: 'doors', transport: 'http' },
      // No secret and no client certificate: nothing authenticated the sender.
      verified: false,
      unverifiedReason: 'unauthenticated-source',
    });
    expect(events[0]!.text).toContain('holder "Jane Roe"');
    expect(events[0]!.text).toContain('credential cred-00417');
  });

  it('answers only after the store resolved', async () => {
    const outbox = new MemoryOutbox();
    const { appending, release } = gateAppends(outbox);
    const { url } = await startInput({ outbox });
    let answered = false;
    const reply = post(url, DURESS).then((r) => ((answered = true), r));
    await appending;
    expect(answered).toBe(false);
    release();
    expect((await reply).status).toBe(200);
  });

  it('stores a document posted twice once and answers both times with the same ids', async () => {
    const { outbox, url } = await startInput();
    const first = await post(url, DURESS);
    const second = await post(url, DURESS);
    expect(second.status).toBe(200);
    expect(second.json.events).toEqual(first.json.events);
    expect(stored(outbox)).toHaveLength(1);
  });

  it.each([
    ['entity expansion (billion laughs)', BILLION_LAUGHS, 'XML_ENTITY_REJECTED'],
    ['malformed XML', '<NotificationMessage><Topic>tns1:AccessControl/AccessGranted</NotificationMessage>', 'XML_MALFORMED'],
    ['an empty body', '', 'XML_MALFORMED'],
  ])('answers 400 for %s, counts it, stores nothing and keeps serving', async (_what, body, code) => {
    const { outbox, counters, url } = await startInput();
    const reply = await post(url, body);
    expect(reply.status).toBe(400);
    expect(reply.json.error?.code).toBe(code);
    expect(counters.get('frames_rejected_total', { input: 'doors', code })).toBe(1);
    expect(stored(outbox)).toHaveLength(0);
    expect((await post(url, DURESS)).status).toBe(200);
  });

  it('answers 400 for malformed XML that names a duress, and stores it as a suspected duress', async () => {
    const { outbox, counters, url } = await startInput();
    const reply = await post(url, '<NotificationMessage><Topic>tns1:AccessControl/Duress</NotificationMessage>');
    expect(reply.status).toBe(400);
    expect(reply.json.error?.code).toBe('XML_MALFORMED');
    expect(counters.get('frames_rejected_total', { input: 'doors', code: 'XML_MALFORMED' })).toBe(1);
    expect(stored(outbox)).toMatchObject([{ category: 'duress', duress: true, quirks: ['content-unparsed: XML_MALFORMED', expect.stringContaining('duress-suspected')] }]);
  });

  it('answers 413 XML_TOO_LARGE for a body over the limit, however large, without buffering it', async () => {
    const { outbox, url } = await startInput({ maxBytes: 1024 });
    const reply = await post(url, Buffer.alloc(2 * 1024 * 1024, 0x20));
    expect(reply.status).toBe(413);
    expect(reply.json.error?.code).toBe('XML_TOO_LARGE');
    expect(stored(outbox)).toHaveLength(0);
  });

  it('stores a well-formed document that no mapping reads as unrecognized, with its raw XML', async () => {
    const { outbox, url } = await startInput();
    const body = '<alert><identifier>x-1</identifier><status>Actual</status></alert>';
    const reply = await post(url, body);
    expect(reply.status).toBe(200);
    const [event] = stored(outbox);
    expect(event).toMatchObject({ category: 'unrecognized', protocol: 'access-xml', raw: body });
    expect(event!.reasons[0]).toContain('XML_MAPPING_FAILED');
  });

  it('reads a vendor feed through a configured mapping', async () => {
    const mapping: AccessMapping = {
      name: 'acme',
      match: 'Event.Type',
      eventType: 'Event.Type',
      account: 'Event.Account',
      door: 'Event.Door',
      user: 'Event.Card',
      duressValues: ['DURESS_PIN'],
      grantedValues: [],
      deniedValues: [],
    };
    const { outbox, url } = await startInput({ mappings: [mapping] });
    const reply = await post(url, '<Event><Type>DURESS_PIN</Type><Account>4321</Account><Door>door-lobby-2</Door><Card>0042</Card></Event>');
    expect(reply.status).toBe(200);
    expect(stored(outbox)[0]).toMatchObject({ category: 'duress', account: '4321', site: { id: 'hq' }, user: { number: 42 }, door: { name: 'Lobby door 2' } });
  });

  it('requires the shared secret as a bearer token or x-panelbridge-secret when one is set', async () => {
    const { outbox, counters, url } = await startInput({ secret: 's3cret-token' });
    const missing = await post(url, DURESS);
    expect(missing.status).toBe(401);
    expect(missing.json.error?.code).toBe('XML_UNAUTHORIZED');
    expect((await post(url, DURESS, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    expect(counters.get('frames_rejected_total', { code: 'XML_UNAUTHORIZED' })).toBe(2);
    expect(stored(outbox)).toHaveLength(0);
    expect((await post(url, DURESS, { headers: { authorization: 'Bearer s3cret-token' } })).status).toBe(200);
    expect((await post(url, DURESS.replace('Jane', 'John'), { headers: { 'x-panelbridge-secret': 's3cret-token' } })).status).toBe(200);
    expect(stored(outbox)).toHaveLength(2);
    expect(stored(outbox).map((e) => [e.verified, e.unverifiedReason])).toEqual([[true, undefined], [true, undefined]]);
  });

  it('answers 405 to other methods and 404 to other paths', async () => {
    const { url } = await startInput();
    const get = await post(url, '', { method: 'GET' });
    expect(get.status).toBe(405);
    expect((await post(url.replace('/access', '/other'), DURESS)).status).toBe(404);
  });

  it('caps its connections, closing the oldest that sent no request, and cuts off senders that stall in their headers', async () => {
    const { url, counters } = await startInput({ limits: { maxConnections: 3, headersTimeoutMs: 300 } });
    const tally = await stallClients(Number(new URL(url).port), 6, 'POST /access HTTP/1.1');
    expect(tally).toEqual({ refused: 3, timedOut: 3, open: 0 });
    expect(counters.get('connections_dropped_total', { input: 'doors', reason: 'max-connections' })).toBe(3);
    // The listener still takes a duress afterwards.
    expect((await post(url, DURESS)).status).toBe(200);
  });

  it("lets one peer hold a quarter of maxConnections: 64 idle connections from it do not keep a door controller's duress out", async () => {
    const { url, outbox, counters } = await startInput({ site: 'hq' });
    const idle = await idleConnections(Number(new URL(url).port), 64, '127.0.0.2');
    try {
      const reply = await new Promise<number | string>((resolve) => {
        const req = http.request(url, { method: 'POST', localAddress: '127.0.0.3', agent: false, headers: { 'content-type': 'application/soap+xml' } }, (res) => (res.resume(), resolve(res.statusCode ?? 0)));
        req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
        req.end(DURESS);
      });
      expect(reply).toBe(200);
      expect(stored(outbox).map((e) => e.category)).toEqual(['duress']);
      expect(counters.get('connections_dropped_total', { input: 'doors', reason: 'peer-limit' })).toBe(48);
    } finally {
      for (const socket of idle) socket.destroy();
    }
  });

  it('answers 503 when the store fails, so the controller retries', async () => {
    const outbox = new MemoryOutbox();
    outbox.close();
    const { url } = await startInput({ outbox });
    const reply = await post(url, DURESS);
    expect(reply.status).toBe(503);
    expect(reply.json.error?.code).toBe('OUTBOX_WRITE_FAILED');
  });
});

/**
 * A door controller's duress post must not be turned away unnoticed: when every connection place is taken by posts
 * being answered (a flood while the store is slow) or the process is out of file descriptors, the input says so.
 */
describe('access-xml input: its health when it turns controllers away', () => {
  // The burst a refusal is forgiven for is timed with setTimeout; sockets and polls run on real timers.
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** Connects from `localAddress` and resolves once the listener closed the connection unanswered. */
  function refusedConnection(port: number, localAddress: string): Promise<string> {
    return new Promise((resolve) => {
      let answer = '';
      const socket = net.connect({ port, host: '127.0.0.1', localAddress });
      socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
      socket.on('error', () => undefined);
      socket.once('close', () => resolve(answer));
    });
  }

  const supervisory = (outbox: MemoryOutbox) =>
    stored(outbox)
      .filter((e) => e.category === 'supervisory')
      .map((e) => e.reasons.join(' '));

  it('reports degraded and raises one supervisory event when every place stays taken after it turned a controller away', async () => {
    const outbox = new MemoryOutbox();
    const gate = gateAppends(outbox);
    let storing = 0;
    const append = outbox.append.bind(outbox);
    outbox.append = (events, options) => ((storing += 1), append(events, options));
    const { url, listener, counters } = await startInput({ outbox, site: 'hq', limits: { maxConnections: 2 } });
    // Two posts being answered: their store is held, so neither connection makes room.
    const answered = [post(url, DURESS), post(url, DURESS.replace('cred-00417', 'cred-00418'))];
    await expect.poll(() => storing).toBe(2);
    expect(await refusedConnection(Number(new URL(url).port), '127.0.0.3')).toBe('');
    expect(counters.get('connections_dropped_total', { input: 'doors', reason: 'max-connections' })).toBe(1);
    vi.advanceTimersByTime(5_000);
    expect(listener.health()).toMatchObject({ state: 'degraded', detail: expect.stringMatching(/maxConnections \(2\) reached: new connections are refused/) });
    gate.release();
    expect((await Promise.all(answered)).map((reply) => reply.status)).toEqual([200, 200]);
    await expect.poll(() => supervisory(outbox)).toEqual([expect.stringMatching(/access-xml input doors refused connections at maxConnections \(2\)/)]);
  });

  it('forgives a burst: a controller turned away while a place frees within seconds leaves it up', async () => {
    const outbox = new MemoryOutbox();
    const gate = gateAppends(outbox);
    const { url, listener, counters } = await startInput({ outbox, site: 'hq', limits: { maxConnections: 1 } });
    const answered = post(url, DURESS);
    await gate.appending;
    expect(await refusedConnection(Number(new URL(url).port), '127.0.0.3')).toBe('');
    gate.release();
    expect((await answered).status).toBe(200);
    vi.advanceTimersByTime(5_000);
    expect(listener.health().state).toBe('up');
    expect(counters.get('connections_dropped_total', { input: 'doors', reason: 'max-connections' })).toBe(1);
    expect(supervisory(outbox)).toEqual([]);
  });

  // libuv hides most failed accepts; Node emits one on the listening server only when libuv's spare descriptor could
  // not be opened again, which no test can arrange, so it is emitted here.
  it('counts an accept that failed, logs it once, reports degraded and raises one supervisory event, and goes on answering', async () => {
    const { logger, lines } = recordingLogger();
    const listen = vi.spyOn(net.Server.prototype, 'listen');
    let harness: Harness;
    let server: net.Server;
    try {
      harness = await startInput({ site: 'hq', logger });
      server = listen.mock.contexts[0] as net.Server;
    } finally {
      listen.mockRestore();
    }
    const { url, listener, outbox, counters } = harness;
    const emfile = Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', errno: -24, syscall: 'accept' });
    for (let i = 0; i < 3; i++) server.emit('error', emfile);
    expect(counters.get('connections_dropped_total', { input: 'doors', reason: 'accept-failed' })).toBe(3);
    expect(lines.filter((line) => line.fields.code === 'EMFILE')).toHaveLength(1);
    expect(listener.health()).toMatchObject({ state: 'degraded', detail: expect.stringMatching(/not accepted \(EMFILE\)/) });
    await expect.poll(() => supervisory(outbox)).toEqual([expect.stringMatching(/access-xml input doors could not accept a connection \(EMFILE\)/)]);
    expect((await post(url, DURESS)).status).toBe(200);
  });
});

describe('access-xml input: settings', () => {
  it('is built from its configuration keys, secret file and mapping included', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pb-access-'));
    try {
      writeFileSync(join(dir, 'secret'), 'from-file\n');
      const parsed = parseSettings(`
inputs:
  - type: access-xml
    name: doors
    port: 0
    secretFile: ${join(dir, 'secret')}
    account: "4321"
    mappings:
      - name: acme
        match: Event.Type
        eventType: Event.Type
        door: Event.Door
        duressValues: [DURESS_PIN]
outputs: []
sites:
  - id: hq
    accounts: ["4321"]
    doors: [{ id: door-lobby-2, name: Lobby door 2 }]
`);
      if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
      const settings = parsed.settings.inputs[0];
      if (settings?.type !== 'access-xml') throw new Error('expected an access-xml input');
      const outbox = new MemoryOutbox();
      outbox.registerOutputs(['probe']);
      const counters = new Counters();
      const listener = await createAccessXmlInput(settings, {
        clock: systemClock,
        recorder: new Recorder({ outbox, counters, logger: silentLogger, backlogLimit: 1000 }),
        builder: { ids: createIdSource(systemClock), sites: () => parsed.settings.sites },
        counters,
        logger: silentLogger,
      });
      await listener.start();
      running.push(listener);
      const url = `http://127.0.0.1:${listener.address!.port}/access`;
      const body = '<Event><Type>DURESS_PIN</Type><Door>door-lobby-2</Door></Event>';
      expect((await post(url, body)).status).toBe(401);
      expect((await post(url, body, { headers: { 'x-panelbridge-secret': 'from-file' } })).status).toBe(200);
      expect(stored(outbox)[0]).toMatchObject({ category: 'duress', account: '4321', site: { id: 'hq' }, door: { id: 'door-lobby-2', name: 'Lobby door 2' } });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('readAccessSecret', () => {
  it('prefers the inline secret and otherwise reads the first line of the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pb-secret-'));
    try {
      const file = join(dir, 'secret');
      writeFileSync(file, 'from-file\nignored\n');
      expect(await readAccessSecret({ secret: 'inline', secretFile: file })).toBe('inline');
      expect(await readAccessSecret({ secretFile: file })).toBe('from-file');
      expect(await readAccessSecret({})).toBeNull();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!hasOpenssl)('access-control XML input over mutual TLS (needs openssl to make test certificates)', () => {
  let dir: string;
  let file: ReturnType<typeof makeTestCertificates>['file'];

  beforeAll(() => {
    ({ dir, file } = makeTestCertificates());
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts a client with a certificate from the configured CA and refuses one without', async () => {
    const { outbox, url } = await startInput({
      tls: { cert: file('server.pem'), key: file('server.key'), ca: file('ca.pem'), requestCert: true, rejectUnauthorized: true },
    });
    const ca = readFileSync(file('ca.pem'));
    const withCert = await post(url, DURESS, { tls: { ca, cert: readFileSync(file('client.pem')), key: readFileSync(file('client.key')) } });
    expect(withCert.status).toBe(200);
    await expect(post(url, DURESS, { tls: { ca } })).rejects.toThrow();
    expect(stored(outbox)).toHaveLength(1);
    expect(stored(outbox)[0]).toMatchObject({ verified: true });
    expect(stored(outbox)[0]).not.toHaveProperty('unverifiedReason');
  });
});
