import net from 'node:net';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { connectAsync } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Gateway } from '../../adapters/cli/gateway.js';
import { createRootLogger } from '../../adapters/system/logger.js';
import { auditFile, auditLines } from '../../adapters/system/audit-log.js';
import { verifyChain, type AuditRecord } from '../../src/assurance/audit-chain.js';
import { systemClock } from '../../src/ports.js';
import { settingsSchema } from '../../src/settings/settings.js';
import { freePort, getTestBroker, MessageLog, uniquePrefix, type TestBroker } from '../helpers/broker.js';
import { tempDir } from '../helpers/gateway-process.js';
import { stallClients } from '../helpers/stalled-clients.js';
import { panelFrame, parseAnswer, TcpPanel } from '../helpers/panel.js';

const TOKENS = {
  viewer: 'viewer-secret-token-0001',
  operator: 'operator-secret-token-0002',
  installer: 'installer-secret-token-0003',
  admin: 'admin-secret-token-0004',
} as const;
type Role = keyof typeof TOKENS;
const ROLES = Object.keys(TOKENS) as Role[];
const CONSOLE_ORIGIN = 'https://console.example';

interface Answer {
  status: number;
  headers: Headers;
  body: any;
}

async function until<T>(probe: () => T | undefined | Promise<T | undefined>, what: string, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A gateway started the way `panelbridge run` starts it (real settings, dataDir, API, DC-09 input, MQTT outputs). */
describe('control plane of a running gateway', () => {
  let broker: TestBroker;
  let gateway: Gateway;
  let dataDir: string;
  let base: string;
  let dc09Port: number;
  let prefix: string;
  let localPrefix: string;
  let central: MessageLog;
  let local: MessageLog;
  const logs: string[] = [];
  let seq = 0;
  const seen = new Set<string>();

  async function request(method: string, route: string, options: { role?: Role; token?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
    const token = options.token ?? (options.role === undefined ? undefined : TOKENS[options.role]);
    const response = await fetch(`${base}${route}`, {
      method,
      headers: {
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
        ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...options.headers,
      },
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
      ...(options.raw === undefined ? {} : { body: options.raw }),
    });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      // Prometheus text
    }
    return { status: response.status, headers: response.headers, body };
  }

  /** A real Contact ID event from account 1234 over DC-09; returns the event as published on the central output. */
  async function panelSends(code: string, zone: number): Promise<Record<string, any>> {
    const panel = await TcpPanel.connect(dc09Port);
    try {
      const s = String(++seq).padStart(4, '0');
      const answer = await panel.send(panelFrame({ token: 'ADM-CID', seq: s, account: '1234', data: `#1234|1${code} 01 ${String(zone).padStart(3, '0')}` }));
      expect(parseAnswer(answer!).token).toBe('ACK');
    } finally {
      panel.close();
    }
    const message = await central.waitFor((m) => {
      if (!m.topic.startsWith(`${prefix}/events/`)) return false;
      const event = JSON.parse(m.payload);
      return event.code?.value === code && !seen.has(event.id);
    });
    const event = JSON.parse(message.payload);
    seen.add(event.id);
    return event;
  }

  function controlEvents(log: MessageLog, action?: string): Array<Record<string, any>> {
    return log.messages
      .filter((m) => m.topic.includes('/events/') && m.payload.includes('"control"'))
      .map((m) => JSON.parse(m.payload))
      .filter((e) => e.control != null && (action === undefined || e.control.action === action));
  }

  function auditRecords(): AuditRecord[] {
    return [...auditLines(auditFile(dataDir))].filter((l) => l !== '').map((l) => JSON.parse(l) as AuditRecord);
  }

  beforeAll(async () => {
    broker = await getTestBroker();
    prefix = uniquePrefix('control');
    localPrefix = uniquePrefix('control-local');
    central = await MessageLog.subscribe(broker.url, `${prefix}/#`);
    local = await MessageLog.subscribe(broker.url, `${localPrefix}/#`);
    dataDir = path.join(tempDir('control'), 'var');
    dc09Port = await freePort();
    const settings = settingsSchema.parse({
      dataDir,
      api: {
        host: '127.0.0.1',
        port: 0,
        tokens: ROLES.map((role) => ({ name: `${role}-1`, role, token: TOKENS[role] })),
        allowedOrigins: [CONSOLE_ORIGIN],
        maxConnections: 8,
        headersTimeout: '500ms',
      },
      inputs: [{ type: 'dc09', name: 'ip', host: '127.0.0.1', port: dc09Port, accounts: [{ account: '1234' }] }],
      outputs: [
        { type: 'mqtt', name: 'cms', url: broker.url, topicPrefix: prefix, audience: 'central' },
        { type: 'mqtt', name: 'owner-phone', url: broker.url, topicPrefix: localPrefix, audience: 'local' },
      ],
      sites: [
        {
          id: 'branch-12',
          accounts: ['1234'],
          zones: [
            { number: 5, name: 'Teller 3 hold-up button', type: 'holdup', testEvery: '1d' },
            { number: 9, name: 'Manager pendant', type: 'panic', testEvery: '7d' },
          ],
          users: [{ number: 12, name: 'Manager duress code', duress: true }],
        },
      ],
    });
    const sink = new Writable({
      write(chunk, _encoding, done) {
        logs.push(String(chunk));
        done();
      },
    });
    const started = await Gateway.start({ settings, logger: createRootLogger({ level: 'debug', destination: sink, pretty: false }), clock: systemClock });
    if ('issues' in started) throw new Error(JSON.stringify(started.issues));
    gateway = started.gateway;
    base = `http://127.0.0.1:${gateway.api!.address!.port}`;
  });

  afterAll(async () => {
    await gateway?.stop();
    await central?.close();
    await local?.close();
    await broker?.close();
  });

  it('answers each role on each route: 401 without a valid token, 403 where the role may not', async () => {
    const routes: Array<{ method: string; route: string; body?: unknown; allowed: readonly Role[]; okStatus?: number }> = [
      { method: 'GET', route: '/metrics', allowed: ROLES },
      { method: 'GET', route: '/dead-letters', allowed: ROLES },
      { method: 'GET', route: '/devices', allowed: ROLES },
      { method: 'GET', route: '/incidents', allowed: ROLES },
      { method: 'GET', route: '/test-windows', allowed: ROLES },
      // Allowed roles reach the handler: an unknown id is 404, never 403.
      { method: 'DELETE', route: '/test-windows/no-such-window', allowed: ['installer', 'admin'], okStatus: 404 },
      { method: 'POST', route: '/test-windows', body: { site: 'nowhere', minutes: 5 }, allowed: ['installer', 'admin'], okStatus: 404 },
      { method: 'POST', route: '/incidents/no-such-incident/ack', body: { note: 'x' }, allowed: ['operator', 'admin'], okStatus: 404 },
      { method: 'POST', route: '/tokens', body: { name: 'grafana', role: 'viewer' }, allowed: ['admin'], okStatus: 201 },
    ];
    for (const { method, route, body, allowed, okStatus = 200 } of routes) {
      const anonymous = await request(method, route, { body });
      expect(anonymous.status, `${method} ${route} without a token`).toBe(401);
      expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(anonymous.body.error.code).toBe('UNAUTHORIZED');
      expect((await request(method, route, { token: 'not-a-token-anyone-made', body })).status, `${method} ${route} unknown token`).toBe(401);
      for (const role of ROLES) {
        const answer = await request(method, route, { role, body });
        if (allowed.includes(role)) expect(answer.status, `${method} ${route} as ${role}`).toBe(okStatus);
        else expect(answer, `${method} ${route} as ${role}`).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN' } } });
      }
    }
    // An unknown route is no way around the token.
    expect((await request('GET', '/no-such-route')).status).toBe(401);
    expect((await request('GET', '/no-such-route', { role: 'viewer' })).status).toBe(404);
  });

  it('tells an anonymous /healthz only its status and each input and output state', async () => {
    const anonymous = await request('GET', '/healthz');
    expect([200, 503]).toContain(anonymous.status);
    expect(anonymous.body).toEqual({
      status: anonymous.body.status,
      inputs: [{ name: 'ip', state: 'up' }],
      outputs: [
        { name: 'cms', state: 'up' },
        { name: 'owner-phone', state: 'up' },
      ],
    });
    const full = await request('GET', '/healthz', { role: 'viewer' });
    expect(full.body).toHaveProperty('assurance.openIncidents');
    expect(full.body.outputs[0]).toHaveProperty('backlog');
  });

  it('keeps a real hold-up test: false, with its incident, when the test window request had no valid installer token', async () => {
    const attempt = { site: 'branch-12', minutes: 1440 };
    expect((await request('POST', '/test-windows', { body: attempt })).status).toBe(401);
    expect((await request('POST', '/test-windows', { token: 'guessed-token-0000000000', body: attempt })).status).toBe(401);
    expect((await request('POST', '/test-windows', { body: attempt, role: 'viewer' })).status).toBe(403);
    expect((await request('POST', '/test-windows', { body: attempt, role: 'operator' })).status).toBe(403);
    // The browser route: a page on another origin posting text/plain (no CORS preflight).
    const crossSite = await request('POST', '/test-windows', { raw: JSON.stringify(attempt), headers: { origin: 'http://evil.example', 'content-type': 'text/plain' } });
    expect(crossSite).toMatchObject({ status: 403, body: { error: { code: 'ORIGIN_NOT_ALLOWED' } } });
    expect((await request('GET', '/test-windows', { role: 'admin' })).body.windows).toEqual([]);

    const holdup = await panelSends('122', 5);
    expect(holdup).toMatchObject({ category: 'holdup', test: false, incident: expect.any(String) });
    const open = (await request('GET', '/incidents', { role: 'viewer' })).body.incidents;
    expect(open).toEqual([expect.objectContaining({ id: holdup.incident, category: 'holdup', acknowledged: false })]);
    expect(local.messages.filter((m) => m.payload.includes(holdup.id as string))).toEqual([]);
  });

  it('refuses cross-site and rebinding requests even with a valid token, and bodies that are not JSON', async () => {
    const body = { site: 'branch-12', minutes: 5 };
    const foreign = await request('POST', '/test-windows', { role: 'installer', body, headers: { origin: 'http://evil.example' } });
    expect(foreign).toMatchObject({ status: 403, body: { error: { code: 'ORIGIN_NOT_ALLOWED' } } });
    const rebound = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      // fetch will not send a forged Host; a raw request does, as a rebinding page's browser would.
      const socket = net.connect(gateway.api!.address!.port, '127.0.0.1', () =>
        socket.write(`GET /incidents HTTP/1.1\r\nHost: attacker.example:${gateway.api!.address!.port}\r\nAuthorization: Bearer ${TOKENS.viewer}\r\nConnection: close\r\n\r\n`),
      );
      let text = '';
      socket.on('data', (chunk) => (text += chunk));
      socket.on('end', () => resolve({ status: Number(text.split(' ')[1]), body: text }));
      socket.on('error', reject);
    });
    expect(rebound.status).toBe(403);
    expect(rebound.body).toContain('"code":"HOST_NOT_ALLOWED"');
    const plain = await request('POST', '/test-windows', { role: 'installer', raw: JSON.stringify(body), headers: { 'content-type': 'text/plain' } });
    expect(plain).toMatchObject({ status: 415, body: { error: { code: 'UNSUPPORTED_MEDIA_TYPE' } } });
    const form = await request('POST', '/incidents/x/ack', { role: 'operator', raw: 'note=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(form.status).toBe(415);
    // An allowed origin, and the API's own (a page the gateway serves), are accepted; the same host on another port is not.
    const fromConsole = await request('GET', '/incidents', { role: 'viewer', headers: { origin: CONSOLE_ORIGIN } });
    expect(fromConsole.status).toBe(200);
    expect((await request('POST', '/incidents/x/ack', { role: 'operator', body: {}, headers: { origin: base } })).status).toBe(404);
    const otherPort = await request('POST', '/incidents/x/ack', { role: 'operator', body: {}, headers: { origin: 'http://127.0.0.1:1' } });
    expect(otherPort).toMatchObject({ status: 403, body: { error: { code: 'ORIGIN_NOT_ALLOWED' } } });
  });

  it('answers a malformed URL escape and a malformed body with 400, not 500', async () => {
    expect(await request('DELETE', '/test-windows/%E0%A4%A', { role: 'installer' })).toMatchObject({ status: 400, body: { error: { code: 'URL_MALFORMED' } } });
    expect(await request('POST', '/test-windows', { role: 'installer', raw: '{"site":', headers: { 'content-type': 'application/json' } })).toMatchObject({
      status: 400,
      body: { error: { code: 'BAD_REQUEST' } },
    });
    expect(await request('POST', '/test-windows', { role: 'installer', body: { site: 'branch-12', minutes: 5, extra: true } })).toMatchObject({ status: 400 });
    expect(await request('POST', '/test-windows', { role: 'installer', body: [1, 2] })).toMatchObject({ status: 400 });
  });

  it('publishes every control action to central only, naming the token, role and note, and chains it in the audit log', async () => {
    const opened = await request('POST', '/test-windows', { role: 'installer', body: { site: 'branch-12', minutes: 30, devices: ['zone-9'], note: 'quarterly test' } });
    expect(opened.status).toBe(201);
    const stopped = await request('DELETE', `/test-windows/${opened.body.id}`, { role: 'installer', body: { note: 'done early' } });
    expect(stopped.status).toBe(200);
    const [incident] = (await request('GET', '/incidents', { role: 'operator' })).body.incidents;
    // States go out at most every 250 ms (mqtt-assurance.ts): one acknowledged sooner is never seen open.
    await until(() => central.messages.some((m) => m.topic === `${prefix}/incidents/branch-12` && JSON.parse(m.payload).open === 1) || undefined, 'the open incident state on the central output');
    const ack = await request('POST', `/incidents/${incident.id}/ack`, { role: 'operator', body: { by: 'somebody else', note: 'police attended, all safe' } });
    expect(ack).toMatchObject({ status: 200, body: { incident: { acknowledged: true, ackedBy: 'operator-1' } } });

    const published = await until(() => {
      const events = controlEvents(central);
      return events.length >= 3 ? events : undefined;
    }, 'three control events on the central output');
    expect(published.map((e) => e.control)).toEqual([
      { action: 'test-window-opened', by: 'installer-1', role: 'installer', channel: 'api', note: 'quarterly test', window: opened.body.id },
      { action: 'test-window-stopped', by: 'installer-1', role: 'installer', channel: 'api', note: 'done early', window: opened.body.id },
      { action: 'incident-acknowledged', by: 'operator-1', role: 'operator', channel: 'api', note: 'police attended, all safe', incident: incident.id },
    ]);
    for (const event of published) expect(event).toMatchObject({ category: 'supervisory', site: { id: 'branch-12' } });
    expect(published[2]!.incident).toBe(incident.id);
    // The owner's phone learns nothing: no control event, no acknowledgement.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(controlEvents(local)).toEqual([]);

    // The retained incident state on the central output follows the acknowledgement.
    const state = await MessageLog.subscribe(broker.url, `${prefix}/incidents/branch-12`);
    const retained = await state.waitFor((m) => m.retain && JSON.parse(m.payload).open === 0);
    expect(JSON.parse(retained.payload)).toMatchObject({ site: 'branch-12', open: 0, incidents: [], updatedAt: expect.any(String) });
    await state.close();
    expect(central.messages.some((m) => m.topic === `${prefix}/incidents/branch-12` && JSON.parse(m.payload).open === 1)).toBe(true);
    expect(local.messages.filter((m) => m.topic.includes('/incidents/'))).toEqual([]);

    const records = await until(() => {
      const all = auditRecords();
      return all.some((r) => r.action === 'duress-delivered') ? all : undefined;
    }, 'the duress delivery to be audited');
    expect(verifyChain([...auditLines(auditFile(dataDir))])).toMatchObject({ ok: true });
    const actions = records.map((r) => r.action);
    for (const action of ['duress-stored', 'duress-delivered', 'test-window-opened', 'test-window-stopped', 'incident-acknowledged'])
      expect(actions, action).toContain(action);
    expect(records.find((r) => r.action === 'incident-acknowledged')).toMatchObject({
      actor: { name: 'operator-1', role: 'operator', channel: 'api' },
      details: { incident: incident.id, note: 'police attended, all safe', site: 'branch-12' },
    });
    expect(records.find((r) => r.action === 'duress-delivered')).toMatchObject({ details: { output: 'cms', category: 'holdup' } });
    expect(records.filter((r) => r.action === 'duress-delivered').map((r) => r.details.output)).not.toContain('owner-phone');
    expect(statSync(auditFile(dataDir)).mode & 0o777).toBe(0o600);
  });

  it('ignores an acknowledgement over MQTT when the output does not enable incidentAcks', async () => {
    const holdup = await panelSends('122', 5);
    const client = await connectAsync(broker.url, { reconnectPeriod: 0 });
    await client.publishAsync(`${prefix}/incidents/${holdup.incident}/ack`, JSON.stringify({ by: 'intruder', note: 'nothing to see' }), { qos: 1 });
    await client.endAsync();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const open = (await request('GET', '/incidents', { role: 'viewer' })).body.incidents;
    expect(open).toEqual([expect.objectContaining({ id: holdup.incident, acknowledged: false })]);
  });

  it('takes a token created while it runs, with that role', async () => {
    const created = await request('POST', '/tokens', { role: 'admin', body: { name: 'wallboard', role: 'viewer' } });
    expect(created).toMatchObject({ status: 201, body: { name: 'wallboard', role: 'viewer', token: expect.stringMatching(/^pbt_/) } });
    const token = created.body.token as string;
    expect((await request('GET', '/incidents', { token })).status).toBe(200);
    expect((await request('POST', '/test-windows', { token, body: { site: 'branch-12', minutes: 5 } })).status).toBe(403);
    const stored = readFileSync(path.join(dataDir, 'api-tokens.json'), 'utf8');
    expect(stored).not.toContain(token);
    expect(stored).toContain('"wallboard"');
    expect(statSync(path.join(dataDir, 'api-tokens.json')).mode & 0o777).toBe(0o600);
    expect(auditRecords().find((r) => r.action === 'token-created' && r.details.name === 'wallboard')).toMatchObject({ actor: { name: 'admin-1' }, details: { name: 'wallboard', role: 'viewer' } });
  });

  it('caps connections and cuts off a client that never finishes its headers', async () => {
    // maxConnections is 8 (idle keep-alive connections of earlier requests may hold some): of ten stalled clients at
    // least two are closed at once without an answer; headersTimeout is 500 ms: the rest are answered 408.
    const tally = await stallClients(gateway.api!.address!.port, 10, 'GET /healthz HTTP/1.1');
    expect(tally.open).toBe(0);
    expect(tally.refused).toBeGreaterThanOrEqual(2);
    expect(tally.timedOut).toBeGreaterThanOrEqual(1);
    expect(tally.refused + tally.timedOut).toBe(10);
    expect((await request('GET', '/healthz')).status).toBeLessThan(600);
  });

  it('never writes a token to its log', () => {
    const text = logs.join('');
    expect(text.length).toBeGreaterThan(0);
    for (const token of Object.values(TOKENS)) expect(text).not.toContain(token);
    expect(text).not.toContain('guessed-token-0000000000');
  });

  it('detects an edited audit record', () => {
    const file = auditFile(dataDir);
    const lines = [...auditLines(file)];
    const index = lines.findIndex((l) => l.includes('"incident-acknowledged"'));
    const copy = path.join(path.dirname(file), 'audit-copy.jsonl');
    lines[index] = lines[index]!.replace('operator-1', 'operator-2');
    writeFileSync(copy, lines.join('\n'));
    const verdict = verifyChain([...auditLines(copy)]);
    expect(verdict).toMatchObject({ ok: false, line: index + 1, seq: index + 1 });
  });
});
