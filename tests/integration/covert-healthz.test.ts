import http from 'node:http';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Gateway } from '../../adapters/cli/gateway.js';
import { createRootLogger } from '../../adapters/system/logger.js';
import { systemClock } from '../../src/ports.js';
import { settingsSchema } from '../../src/settings/settings.js';
import { freePort } from '../helpers/broker.js';
import { tempDir } from '../helpers/gateway-process.js';
import { panelFrame, parseAnswer, TcpPanel } from '../helpers/panel.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const SECRET = 'whsec_c2VjcmV0LWZvci10ZXN0cw==';
const SITES = [
  { id: 'bank-1', accounts: ['1234'], zones: [{ number: 5, name: 'Teller hold-up', type: 'holdup' }] },
  { id: 'bank-2', accounts: ['4567'], zones: [{ number: 5, name: 'Teller hold-up', type: 'holdup' }] },
];

/**
 * The attacker is a local unprivileged process on the gateway's host (or an on-site monitor polling the health
 * URL): it has no token, so /healthz answers it {status, inputs: [{name, state}], outputs: [{name, state}]}. The
 * route says undelivered duress is behind a token: whatever it sees must not depend on a duress.
 */
describe('covert routing: the public /healthz', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function start(webhookUrl: string) {
    const dir = tempDir('covert-healthz');
    const dc09Port = await freePort();
    const settings = settingsSchema.parse({
      dataDir: path.join(dir, 'var'),
      duressDeadline: '2s',
      api: { host: '127.0.0.1', port: 0 },
      inputs: [{ type: 'dc09', name: 'ip', host: '127.0.0.1', port: dc09Port, udp: false, accounts: [{ account: '1234' }, { account: '4567' }] }],
      outputs: [{ type: 'webhook', name: 'cms', url: webhookUrl, secret: SECRET, timeout: '60s', audience: 'central' }],
      sites: SITES,
    });
    const started = await Gateway.start({ settings, logger: createRootLogger({ level: 'silent' }), clock: systemClock });
    if ('issues' in started) throw new Error(JSON.stringify(started.issues));
    const { gateway } = started;
    cleanups.push(() => gateway.stop());
    const panel = await TcpPanel.connect(dc09Port);
    cleanups.push(async () => panel.close());
    const publicHealthz = async () => {
      const response = await fetch(`http://127.0.0.1:${gateway.api!.address!.port}/healthz`);
      return { code: response.status, body: (await response.json()) as { status: string; outputs: Array<{ name: string; state: string }> } };
    };
    return { panel, publicHealthz, gateway };
  }

  it('does not turn 503 when a duress, rather than an ordinary alarm, waits on a slow central endpoint', async () => {
    // The centre's endpoint is up but slow: it takes every request and answers none within the test.
    const held: http.ServerResponse[] = [];
    const server = http.createServer((_req, res) => void held.push(res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => { for (const res of held) res.destroy(); server.close(resolve); }));
    const { panel, publicHealthz, gateway } = await start(`http://127.0.0.1:${(server.address() as { port: number }).port}/events`);

    // An ordinary burglary alarm waits on the slow endpoint: nothing shows without a token.
    expect(parseAnswer((await panel.send(panelFrame({ token: 'SIA-DCS', seq: '0001', account: '1234', data: '#1234|Nri1/BA03' })))!).token).toBe('ACK');
    await sleep(3_500);
    const ordinary = await publicHealthz();
    expect(ordinary.code).toBe(200);

    // A hold-up (another site) waits on the same endpoint just as long.
    expect(parseAnswer((await panel.send(panelFrame({ token: 'SIA-DCS', seq: '0002', account: '4567', data: '#4567|Nri1/HA05' })))!).token).toBe('ACK');
    await sleep(3_500);
    const afterDuress = await publicHealthz();
    expect(afterDuress.body.outputs).toEqual(ordinary.body.outputs);
    expect({ code: afterDuress.code, status: afterDuress.body.status }).toEqual({ code: ordinary.code, status: ordinary.body.status });
    // A caller with a token (the monitor that pages someone) still sees the missed deadline.
    expect(gateway.health().status).toBe('degraded');
  }, 20_000);

  it('does not change when the first event in a while on a quiet site, a hold-up, finds the central endpoint down', async () => {
    // The centre's endpoint went down while the site was quiet: nothing tried it since.
    const { panel, publicHealthz, gateway } = await start(`http://127.0.0.1:${await freePort()}/events`);
    const quiet = await publicHealthz();
    expect(parseAnswer((await panel.send(panelFrame({ token: 'SIA-DCS', seq: '0001', account: '4567', data: '#4567|Nri1/HA05' })))!).token).toBe('ACK');
    const outputs = () => gateway.health().body.outputs as Array<{ name: string; state: string }>;
    for (let i = 0; i < 50 && outputs().every((o) => o.state === 'up'); i++) await sleep(100);
    // The delivery failed: a caller with a token sees it, one without sees what it saw before the hold-up.
    expect(outputs()).toEqual([expect.objectContaining({ name: 'cms', state: 'degraded' })]);
    expect(await publicHealthz()).toEqual(quiet);
  }, 20_000);

  it('answers a caller without a token without reading the outbox, whose dead-letter count scans every dead letter', async () => {
    // 200,000 dead letters (a webhook refusing for weeks) took some 35 ms to count, once per output, for each
    // anonymous request: a few a second from anybody who reaches the API held the event loop that stores duress.
    const { publicHealthz, gateway } = await start(`http://127.0.0.1:${await freePort()}/events`);
    const reads = [vi.spyOn(gateway.outbox, 'deadLetterCount'), vi.spyOn(gateway.outbox, 'backlog'), vi.spyOn(gateway.outbox, 'storage')];
    expect((await publicHealthz()).code).toBe(200);
    expect(reads.map((read) => read.mock.calls.length)).toEqual([0, 0, 0]);
    // The gateway's own view (a token's /healthz, the console's overview) still counts them.
    gateway.health();
    expect(reads.every((read) => read.mock.calls.length > 0)).toBe(true);
  });
});

