import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { stringify } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { OUTBOX_FILE_NAME } from '../../src/outbox/sqlite-outbox.js';
import { GatewayProcess, tempDir, writeConfig } from '../helpers/gateway-process.js';
import { freePort } from '../helpers/broker.js';
import { TcpPanel, panelFrame, parseAnswer } from '../helpers/panel.js';

/** The `panelbridge run` process under signals: SIGTERM drains, SIGHUP reloads sites, logs keep secrets out. */
describe('gateway lifecycle (real process)', () => {
  const running: GatewayProcess[] = [];
  const panels: TcpPanel[] = [];
  afterEach(async () => {
    for (const panel of panels.splice(0)) panel.close();
    for (const gateway of running.splice(0)) {
      gateway.kill('SIGKILL');
      await gateway.exited;
    }
  });

  const start = async (dir: string, config: unknown) => {
    const gateway = GatewayProcess.spawn(writeConfig(dir, config));
    running.push(gateway);
    await gateway.ready;
    return gateway;
  };

  const waitFor = async <T>(find: () => T | undefined, what: string): Promise<T> => {
    for (let i = 0; i < 250; i++) {
      const found = find();
      if (found !== undefined) return found;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`timed out waiting for ${what}`);
  };

  const cid = (account: string, seq: number, code = '130', zone = seq) =>
    panelFrame({ token: 'ADM-CID', seq: String(seq).padStart(4, '0'), account, data: `#${account}|1${code} 01 ${String(zone % 1000).padStart(3, '0')}` });

  it('is ready only once it stops gracefully on SIGTERM: a supervisor may send it as soon as it reads the line', async () => {
    const dir = tempDir('ready-sigterm');
    const probe = path.join(import.meta.dirname, '../helpers/ready-probe.cjs');
    const gateway = GatewayProcess.spawn(
      writeConfig(dir, { dataDir: `${dir}/var`, inputs: [{ type: 'dc09', name: 'ip', host: '127.0.0.1', port: await freePort() }], outputs: [] }),
      [],
      undefined,
      ['--require', probe],
    );
    running.push(gateway);
    await gateway.ready;
    // Written before the ready line, but on stderr: another pipe, read in its own time.
    const probed = await waitFor(() => gateway.stderr.find((line) => line.startsWith('ready-probe:')), 'the ready probe');
    expect(probed).toBe('ready-probe: 1 SIGTERM listeners');
    gateway.kill('SIGTERM');
    expect(await gateway.exited).toEqual({ code: 0, signal: null });
  });

  it('SIGTERM during traffic: exit 0, and every ACKed frame is in the outbox', async () => {
    const dir = tempDir('sigterm');
    const port = await freePort();
    const accounts = ['1001', '1002', '1003', '1004'];
    const gateway = await start(dir, {
      dataDir: `${dir}/var`,
      inputs: [{ type: 'dc09', name: 'ip', host: '127.0.0.1', port, accounts: accounts.map((account) => ({ account })) }],
      outputs: [{ type: 'stdout', name: 'console' }],
    });

    const acked: string[] = [];
    let unanswered = 0;
    const connected = await Promise.all(accounts.map(() => TcpPanel.connect(port)));
    panels.push(...connected);
    const traffic = connected.map(async (panel, p) => {
      const account = accounts[p]!;
      // Each panel sends until the gateway closes its connection (no answer any more).
      for (let seq = 1; seq < 9999; seq++) {
        const answer = await panel.send(cid(account, seq), 1000);
        if (answer === null) {
          unanswered += 1;
          return;
        }
        expect(parseAnswer(answer)).toMatchObject({ token: 'ACK', crcValid: true });
        acked.push(`${account}/${String(seq).padStart(4, '0')}`);
      }
    });
    await waitFor(() => (acked.length >= 60 ? true : undefined), '60 ACKs');
    gateway.kill('SIGTERM');
    const exit = await gateway.exited;
    await Promise.all(traffic);

    expect(exit).toEqual({ code: 0, signal: null });
    expect(gateway.stderr.some((line) => line.includes('"msg":"stopped"'))).toBe(true);
    expect(unanswered).toBe(accounts.length);

    const db = new Database(path.join(dir, 'var', OUTBOX_FILE_NAME), { readonly: true });
    const stored = new Set(
      db
        .prepare<[], string>('SELECT event FROM entry')
        .pluck()
        .all()
        .map((json) => {
          const event = JSON.parse(json) as { account: string; raw: string };
          return `${event.account}/${/"ADM-CID"(\d{4})/.exec(event.raw)?.[1]}`;
        }),
    );
    db.close();
    const missing = acked.filter((key) => !stored.has(key));
    expect(missing).toEqual([]);
    expect(acked.length).toBeGreaterThanOrEqual(60);
  });

  it('SIGHUP reloads the sites: the next event carries the new site name on the same TCP connection', async () => {
    const dir = tempDir('sighup');
    const port = await freePort();
    const config = (siteName: string) => ({
      dataDir: `${dir}/var`,
      inputs: [{ type: 'dc09', name: 'ip', host: '127.0.0.1', port, accounts: [{ account: '1234' }] }],
      outputs: [{ type: 'stdout', name: 'console' }],
      sites: [{ id: 'b12', name: siteName, accounts: ['1234'], zones: [{ number: 5, name: 'Teller 3 hold-up button', type: 'holdup' }] }],
    });
    const gateway = await start(dir, config('Branch A'));
    const configFile = path.join(dir, 'panelbridge.yaml');
    const panel = await TcpPanel.connect(port);
    panels.push(panel);
    const siteOfEvent = (seq: number) =>
      waitFor(() => {
        const event = gateway.events().find((e) => String(e.raw).includes(`"ADM-CID"${String(seq).padStart(4, '0')}`));
        return event === undefined ? undefined : (event.site as { name: string }).name;
      }, `event ${seq}`);
    const sendHoldup = async (seq: number) => parseAnswer((await panel.send(cid('1234', seq, '122', 5)))!).token;

    expect(await sendHoldup(1)).toBe('ACK');
    expect(await siteOfEvent(1)).toBe('Branch A');

    writeFileSync(configFile, stringify(config('Branch B')));
    gateway.kill('SIGHUP');
    await waitFor(() => gateway.stderr.find((l) => l.includes('"msg":"sites reloaded"')), 'sites reloaded');
    expect(await sendHoldup(2)).toBe('ACK');
    expect(await siteOfEvent(2)).toBe('Branch B');
    // The edit is chained in the audit log (the gateway's records are written once per turn of the event loop).
    const audited = await waitFor(() => {
      const records = readFileSync(path.join(dir, 'var', 'audit.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { action: string; details: Record<string, unknown> });
      return records.find((record) => record.action === 'sites-changed');
    }, 'the change of sites in the audit log');
    expect(audited.details).toMatchObject({ how: 'reload', changed: ['b12'], duressDevicesRemoved: [] });

    // A broken file on SIGHUP is refused; the running sites stay.
    writeFileSync(configFile, 'inputs: [\n');
    gateway.kill('SIGHUP');
    await waitFor(() => gateway.stderr.find((l) => l.includes('"msg":"reload refused: configuration invalid"')), 'reload refused');
    expect(await sendHoldup(3)).toBe('ACK');
    expect(await siteOfEvent(3)).toBe('Branch B');
    expect(gateway.child.exitCode).toBeNull();
  });

  it('logs (stdout and stderr, debug level) never contain the AES key, webhook secret or MQTT password', async () => {
    const dir = tempDir('secrets');
    const [port, deadBroker, deadWebhook, accessPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const keyHex = '8F3A61C2D4E5B6A79801C2D3E4F5A6B7';
    const webhookSecret = 'whsec_c2VjcmV0LXdlYmhvb2sta2V5LTQyNDI0Mg==';
    const mqttPassword = 'mqtt-Pa55word-not-for-logs';
    const accessSecret = 'door-feed-shared-secret-9911';
    const gateway = await start(dir, {
      dataDir: `${dir}/var`,
      logLevel: 'debug',
      inputs: [
        { type: 'dc09', name: 'ip', host: '127.0.0.1', port, accounts: [{ account: '1234' }, { account: '4567', key: keyHex, keyEncoding: 'hex' }] },
        { type: 'access-xml', name: 'doors', host: '127.0.0.1', port: accessPort, secret: accessSecret },
      ],
      outputs: [
        { type: 'stdout', name: 'console' },
        { type: 'mqtt', name: 'broker', url: `mqtt://127.0.0.1:${deadBroker}`, username: 'bridge', password: mqttPassword },
        { type: 'webhook', name: 'hook', url: `http://127.0.0.1:${deadWebhook}/events`, secret: webhookSecret, timeout: '1s' },
      ],
    });
    const panel = await TcpPanel.connect(port);
    panels.push(panel);
    const key = Buffer.from(keyHex, 'hex');
    const wrongKey = Buffer.from('00000000000000000000000000000000', 'hex');
    const answers = [
      await panel.send(panelFrame({ token: 'ADM-CID', seq: '0001', account: '4567', data: '#4567|1121 01 012', key })),
      await panel.send(panelFrame({ token: 'NULL', seq: '0002', account: '4567', data: '', key })),
      await panel.send(panelFrame({ token: 'ADM-CID', seq: '0003', account: '4567', data: '#4567|1122 01 005', key: wrongKey }), 500),
      await panel.send(cid('9999', 4)),
      await panel.send(cid('1234', 5)),
    ];
    expect(answers.map((a) => (a === null ? 'none' : parseAnswer(a, key).token))).toEqual(['*ACK', '*ACK', 'NAK', 'NAK', 'ACK']);
    // Let the webhook and MQTT outputs fail and log a few delivery attempts.
    await waitFor(() => gateway.stderr.find((l) => l.includes('"output":"hook"') || l.includes('"name":"hook"')), 'a webhook delivery log line');
    gateway.kill('SIGTERM');
    expect((await gateway.exited).code).toBe(0);

    const everything = [...gateway.stdout, ...gateway.stderr].join('\n');
    expect(gateway.stderr.length).toBeGreaterThan(10);
    for (const secret of [keyHex, keyHex.toLowerCase(), webhookSecret, webhookSecret.slice('whsec_'.length), mqttPassword, accessSecret]) {
      expect(everything, 'a secret reached the logs').not.toContain(secret);
    }
  });
});
