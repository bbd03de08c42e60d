import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/broker.js';
import { apiFetch, GatewayProcess, tempDir, writeConfig } from '../helpers/gateway-process.js';
import { panelFrame, parseAnswer, TcpPanel, udpSend } from '../helpers/panel.js';

/**
 * The duress promise against a running `panelbridge run` over real TCP and UDP: no press dropped, none hidden
 * from central, none forged into trust, none shown to a local output.
 */

const KEY_HEX = '00112233445566778899AABBCCDDEEFF';
const SECRET = 'whsec_' + Buffer.from('local webhook test secret').toString('base64');
const SITE = { id: 'branch-12', name: 'Branch 12', accounts: ['1234'], zones: [{ number: 5, name: 'Teller 3 hold-up button', type: 'holdup' }] };

/** Contact ID 122 silent hold-up (or another code) from `account`, zone 5. */
const cid = (seq: string, account = '1234', code = '122', time?: number) =>
  panelFrame({ token: 'ADM-CID', seq, account, data: `#${account}|1${code} 01 005`, ...(time === undefined ? {} : { time }) });

async function waitFor<T>(find: () => T | undefined, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = find();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A local webhook receiver that keeps every event posted to it. */
async function webhookReceiver(): Promise<{ server: http.Server; url: string; events: Array<Record<string, unknown>> }> {
  const events: Array<Record<string, unknown>> = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      events.push(JSON.parse(body) as Record<string, unknown>);
      res.writeHead(200).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/hook`, events };
}

/** Every gateway this file started, killed at the end even when a start-up timed out. */
const started: GatewayProcess[] = [];
function spawned(gateway: GatewayProcess): GatewayProcess {
  started.push(gateway);
  return gateway;
}

afterAll(async () => {
  for (const gateway of started) {
    gateway.kill('SIGKILL');
    await gateway.exited.catch(() => undefined);
  }
});

async function startGateway(label: string, options: { webhookUrl: string; backlogLimit?: number }) {
  const dir = tempDir(label);
  const port = await freePort();
  const apiPort = await freePort();
  const gateway = spawned(GatewayProcess.spawn(
    writeConfig(dir, {
      dataDir: `${dir}/var`,
      api: { host: '127.0.0.1', port: apiPort },
      ...(options.backlogLimit === undefined ? {} : { backlogLimit: options.backlogLimit }),
      inputs: [
        {
          type: 'dc09',
          name: 'ip',
          host: '127.0.0.1',
          port,
          accounts: [{ account: '1234' }, { account: '5678', key: KEY_HEX, keyEncoding: 'hex', supervision: '2s' }],
        },
      ],
      outputs: [
        { type: 'stdout', name: 'console' },
        { type: 'webhook', name: 'keypad', url: options.webhookUrl, secret: SECRET, audience: 'local', timeout: '1s' },
      ],
      sites: [SITE],
    }),
  ));
  await gateway.ready;
  const healthz = async () => (await (await apiFetch(`${dir}/var`, `http://127.0.0.1:${apiPort}/healthz`)).json()) as Record<string, any>;
  const metrics = async () => (await apiFetch(`${dir}/var`, `http://127.0.0.1:${apiPort}/metrics`)).text();
  return { gateway, port, healthz, metrics };
}

describe('duress integrity against a running gateway (TCP and UDP)', () => {
  let gateway: GatewayProcess;
  let port: number;
  let healthz: () => Promise<Record<string, any>>;
  let hook: Awaited<ReturnType<typeof webhookReceiver>>;
  const central = () => gateway.events();
  const ofRaw = (seq: string, account = '1234') => central().filter((e) => String(e.raw).includes(`"${seq}L0#${account}[`));

  beforeAll(async () => {
    hook = await webhookReceiver();
    ({ gateway, port, healthz } = await startGateway('integrity', { webhookUrl: hook.url }));
  });

  afterAll(() => {
    hook.server.close();
  });

  it.each(['tcp', 'udp'] as const)('%s: two presses with the same sequence and different timestamps → two events, two ACKs', async (transport) => {
    const seq = transport === 'tcp' ? '0101' : '0102';
    const now = Date.now();
    const presses = [cid(seq, '1234', '122', now - 30_000), cid(seq, '1234', '122', now)];
    const answers: Array<Buffer | null> = [];
    if (transport === 'tcp') {
      const panel = await TcpPanel.connect(port);
      for (const press of presses) answers.push(await panel.send(press));
      panel.close();
    } else for (const press of presses) answers.push(await udpSend(port, press));
    expect(answers.map((a) => parseAnswer(a!).token)).toEqual(['ACK', 'ACK']);
    const events = await waitFor(() => (ofRaw(seq).length >= 2 ? ofRaw(seq) : undefined), 'two hold-ups');
    expect(events.map((e) => [e.category, e.duress, e.verified])).toEqual([['holdup', true, true], ['holdup', true, true]]);
  });

  it.each(['tcp', 'udp'] as const)('%s: the exact same bytes twice → one event, two ACKs', async (transport) => {
    const seq = transport === 'tcp' ? '0201' : '0202';
    const frame = cid(seq, '1234', '130');
    const answers: Array<Buffer | null> = [];
    if (transport === 'tcp') {
      const panel = await TcpPanel.connect(port);
      answers.push(await panel.send(frame), await panel.send(frame));
      panel.close();
    } else answers.push(await udpSend(port, frame), await udpSend(port, frame));
    expect(answers.map((a) => parseAnswer(a!).token)).toEqual(['ACK', 'ACK']);
    await waitFor(() => ofRaw(seq)[0], 'the event');
    await pause(300);
    expect(ofRaw(seq)).toHaveLength(1);
  });

  it('an unknown-account hold-up → NAK over TCP and UDP, and one published holdup with duress: true, verified: false', async () => {
    const frame = cid('0301', '9999');
    const panel = await TcpPanel.connect(port);
    expect(parseAnswer((await panel.send(frame))!).token).toBe('NAK');
    panel.close();
    expect(parseAnswer((await udpSend(port, frame))!).token).toBe('NAK');
    const [event] = await waitFor(() => (ofRaw('0301', '9999').length > 0 ? ofRaw('0301', '9999') : undefined), 'the unverified hold-up');
    expect(event).toMatchObject({ category: 'holdup', duress: true, verified: false, unverifiedReason: 'unknown-account', account: '9999' });
    await pause(300);
    expect(ofRaw('0301', '9999')).toHaveLength(1);
  });

  it('a plaintext frame for a keyed account → refused, and no supervision credit: its link is reported lost', async () => {
    const started = Date.now();
    while (Date.now() - started < 3_500) {
      // Its NAK (47 bytes) would be larger than this datagram, whose sender may be forged: it is withheld.
      const answer = await udpSend(port, panelFrame({ token: 'NULL', seq: '0000', account: '5678', data: '' }), 300);
      expect(answer).toBeNull();
      await pause(100);
    }
    const body = await healthz();
    expect(body.assurance.lostLinks.map((l: { account: string }) => l.account)).toContain('5678');
    const lost = central().find((e) => e.category === 'supervisory' && JSON.stringify(e.reasons).includes('communication lost'));
    expect(lost).toMatchObject({ account: '5678', covert: true });
  });

  it('a local webhook sees nothing of a duress: no hold-up, no incident id, no event about one', async () => {
    const panel = await TcpPanel.connect(port);
    expect(parseAnswer((await panel.send(cid('0401', '1234', '401')))!).token).toBe('ACK');
    panel.close();
    const opening = await waitFor(() => ofRaw('0401')[0], 'the opening on central');
    expect(opening.incident).toEqual(expect.any(String)); // the site's hold-ups opened an incident
    const local = await waitFor(() => hook.events.find((e) => e.id === opening.id), 'the opening on the local webhook');
    expect(local).not.toHaveProperty('incident');
    expect(hook.events.some((e) => e.duress === true || e.category === 'holdup' || e.covert === true || e.incident !== undefined)).toBe(false);
    expect(hook.events.some((e) => e.category === 'supervisory')).toBe(false);
  });
});

describe('a flood of unknown-account frames with the local output down', () => {
  let gateway: GatewayProcess;
  let port: number;
  let healthz: () => Promise<Record<string, any>>;
  let metrics: () => Promise<string>;

  beforeAll(async () => {
    const deadPort = await freePort(); // nothing listens: the local webhook is down
    ({ gateway, port, healthz, metrics } = await startGateway('flood', { webhookUrl: `http://127.0.0.1:${deadPort}/hook`, backlogLimit: 1_000 }));
  });

  it('ACKs a real hold-up (TCP and UDP) while 10,000 unknown-account frames arrive', { timeout: 90_000 }, async () => {
    const FLOOD = 10_000;
    const CONNECTIONS = 4;
    let naks = 0;
    const flood = Array.from({ length: CONNECTIONS }, async (_, c) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      await new Promise((resolve) => socket.once('connect', resolve));
      let pending = '';
      let answered = 0;
      const perConnection = FLOOD / CONNECTIONS;
      const done = new Promise<void>((resolve) => {
        socket.on('data', (chunk: Buffer) => {
          pending += chunk.toString('latin1');
          const frames = pending.split('\r');
          pending = frames.pop() ?? '';
          for (const frame of frames) if (frame.includes('"NAK"')) naks += 1;
          answered += frames.length;
          if (answered >= perConnection) resolve();
        });
      });
      for (let i = 0; i < perConnection; i++) {
        const n = c * perConnection + i;
        socket.write(cid(String(n % 10_000).padStart(4, '0'), '9999', '130'));
        if (i % 250 === 249) await pause(5);
      }
      await Promise.race([done, pause(60_000)]);
      socket.destroy();
    });

    await pause(300); // the flood is under way
    const panel = await TcpPanel.connect(port);
    const tcpAnswer = await panel.send(cid('0501', '1234', '122', Date.now()), 10_000);
    panel.close();
    const udpAnswer = await udpSend(port, cid('0502', '1234', '122', Date.now()), 10_000);
    await Promise.all(flood);

    expect(parseAnswer(tcpAnswer!).token).toBe('ACK');
    expect(parseAnswer(udpAnswer!).token).toBe('ACK');
    expect(naks).toBe(FLOOD);
    const holdups = await waitFor(() => {
      const found = gateway.events().filter((e) => e.category === 'holdup' && e.account === '1234');
      return found.length >= 2 ? found : undefined;
    }, 'both hold-ups on central');
    expect(holdups.every((e) => e.verified === true)).toBe(true);
    // The flood was folded: a handful of stored events, not ten thousand.
    expect(gateway.events().filter((e) => e.account === '9999').length).toBeLessThanOrEqual(2);
    const body = await healthz();
    expect(body.outbox).toMatchObject({ entries: expect.any(Number), oldestStoredAt: expect.any(String), retention: { deliveredMs: 30 * 86_400_000 } });
    expect(body.outbox.entries).toBeLessThan(50);
    const text = await metrics();
    const entries = Number(/^panelbridge_outbox_entries (\d+)$/m.exec(text)?.[1]);
    expect(entries).toBeGreaterThanOrEqual(body.outbox.entries); // a supervisory event may have been stored since
    expect(entries).toBeLessThan(50);
    expect(text).toMatch(/^panelbridge_outbox_oldest_entry_age_seconds \d/m);
    expect(text).toMatch(/^panelbridge_unverified_frames_folded_total\{input="ip"\} \d+/m);
  });
});
