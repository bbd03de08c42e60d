import http from 'node:http';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { verifyChain, type AuditRecord } from '../../src/assurance/audit-chain.js';
import { apiFetch, CLI, GatewayProcess, tempDir, writeConfig } from '../helpers/gateway-process.js';
import { freePort } from '../helpers/broker.js';
import { TcpPanel, panelFrame, parseAnswer } from '../helpers/panel.js';

/** A permanent refusal (4xx) becomes a dead letter that is kept, counted and visible on the API. */
describe('dead letters', () => {
  const cleanups: Array<() => unknown> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('keeps an event a webhook refuses with 400 and lists it on /dead-letters and /healthz', async () => {
    const refusing = http.createServer((_req, res) => res.writeHead(400).end('no'));
    refusing.listen(0, '127.0.0.1');
    await once(refusing, 'listening');
    cleanups.push(() => refusing.close());
    const dir = tempDir('dead');
    const [dc09Port, apiPort] = [await freePort(), await freePort()];
    const gateway = GatewayProcess.spawn(
      writeConfig(dir, {
        dataDir: `${dir}/var`,
        api: { host: '127.0.0.1', port: apiPort },
        inputs: [{ type: 'dc09', name: 'ip', host: '127.0.0.1', port: dc09Port, accounts: [{ account: '1234' }] }],
        outputs: [{ type: 'webhook', name: 'hook', url: `http://127.0.0.1:${(refusing.address() as AddressInfo).port}/`, secret: 'whsec_dGVzdC1zZWNyZXQ=' }],
      }),
    );
    cleanups.push(() => gateway.kill('SIGKILL'));
    await gateway.ready;
    const panel = await TcpPanel.connect(dc09Port);
    expect(parseAnswer((await panel.send(panelFrame({ token: 'ADM-CID', seq: '0001', account: '1234', data: '#1234|1130 01 004' })))!).token).toBe('ACK');
    panel.close();

    // The hook refuses the panel's event and the first start's report of the admin token it created, nothing else.
    let letters: Array<{ output: string; reason: string; event: { account: string | null; category: string; reasons: string[] } }> = [];
    for (let i = 0; i < 50 && letters.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 100));
      letters = ((await (await apiFetch(`${dir}/var`, `http://127.0.0.1:${apiPort}/dead-letters`)).json()) as { deadLetters: typeof letters }).deadLetters;
    }
    expect(letters).toHaveLength(2);
    expect(letters.filter((letter) => letter.event.account === '1234')).toEqual([expect.objectContaining({ output: 'hook', event: expect.objectContaining({ category: 'burglary' }) })]);
    expect(letters.find((letter) => letter.event.account === null)!.event.reasons.join(' ')).toMatch(/API token/);
    const health = (await (await apiFetch(`${dir}/var`, `http://127.0.0.1:${apiPort}/healthz`)).json()) as { outputs: Array<{ name: string; deadLetters: number; backlog: number }> };
    expect(health.outputs.find((o) => o.name === 'hook')).toMatchObject({ deadLetters: 2, backlog: 0 });
  }, 30_000);
});

/** `panelbridge …` as an operator would run it; its exit status, output and errors. */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env };
  delete env.PANELBRIDGE_TOKEN;
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, ...args], { env });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * The centre rotated its webhook secret: a duress it refused (401) is a dead letter, and its missed deadline is raised.
 * Once the new secret is set, an operator retries the dead letters; the gateway is killed (-9) right after the
 * answer, before the centre takes them; after the restart the duress is delivered, once, and the alert clears.
 */
describe('retrying dead letters', () => {
  const cleanups: Array<() => unknown> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('delivers a retried duress after a kill -9, to its output alone, and chains the action in the audit log', async () => {
    let centre: 'unauthorized' | 'restarting' | 'accepting' = 'unauthorized';
    const received: Record<string, Array<{ id: string; category: string }>> = { '/hook': [], '/keypad': [] };
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        const local = req.url === '/keypad';
        if (!local && centre !== 'accepting') return void res.writeHead(centre === 'unauthorized' ? 401 : 503).end();
        received[req.url!]!.push(JSON.parse(body) as { id: string; category: string });
        res.writeHead(200).end();
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => server.close());
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const dir = tempDir('redrive');
    const [dc09Port, apiPort] = [await freePort(), await freePort()];
    const tokens = { desk: 'operator-token-for-the-retry-test', wall: 'viewer-token-for-the-retry-test', field: 'installer-token-for-the-retry-test' };
    const tokenFile = (name: keyof typeof tokens) => {
      const file = path.join(dir, `${name}.token`);
      writeFileSync(file, tokens[name], { mode: 0o600 });
      return file;
    };
    const config = writeConfig(dir, {
      dataDir: `${dir}/var`,
      duressDeadline: '1s',
      api: {
        host: '127.0.0.1',
        port: apiPort,
        tokens: [
          { name: 'desk', role: 'operator', token: tokens.desk },
          { name: 'wall', role: 'viewer', token: tokens.wall },
          { name: 'field', role: 'installer', token: tokens.field },
        ],
      },
      inputs: [{ type: 'dc09', name: 'ip', host: '127.0.0.1', port: dc09Port, accounts: [{ account: '1234' }] }],
      outputs: [
        { type: 'webhook', name: 'hook', url: `${url}/hook`, secret: 'whsec_dGVzdC1zZWNyZXQ=', timeout: '1s' },
        { type: 'webhook', name: 'keypad', url: `${url}/keypad`, secret: 'whsec_a2V5cGFkLXNlY3JldA==', audience: 'local' },
      ],
    });
    const api = `http://127.0.0.1:${apiPort}`;
    const asViewer = (route: string) => fetch(`${api}${route}`, { headers: { authorization: `Bearer ${tokens.wall}` } }).then((r) => r.json() as Promise<any>);

    const first = GatewayProcess.spawn(config);
    cleanups.push(() => first.kill('SIGKILL'));
    await first.ready;
    const panel = await TcpPanel.connect(dc09Port);
    for (const [seq, data] of [['0001', '#1234|1121 01 007'], ['0002', '#1234|1130 01 004']] as const) {
      expect(parseAnswer((await panel.send(panelFrame({ token: 'ADM-CID', seq, account: '1234', data })))!).token).toBe('ACK');
    }
    panel.close();
    await until(() => asViewer('/healthz'), (h) => h.assurance.undeliveredDuress.length === 1, 'the missed duress deadline');
    // The centre refused the duress, the burglary and the alert that the duress missed its deadline.
    const answer = await until(() => asViewer('/dead-letters?output=hook'), (a) => a.total === 3, 'three dead letters');
    const letters = answer.deadLetters as Array<{ seq: number; event: { id: string; category: string } }>;
    const duress = letters.find((l) => l.event.category === 'duress')!.event;
    const burglary = letters.find((l) => l.event.category === 'burglary')!.event;
    const alert = letters.find((l) => l.event.category === 'supervisory')!.event;

    const listed = await cli(['dead-letters', 'list', '--output', 'hook', '--api', api, '--token-file', tokenFile('wall')]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(`duress from account 1234 (${duress.id}): HTTP 401`);
    expect(listed.stdout.trim().split('\n')).toHaveLength(3);
    // Only an operator (or admin) may retry: a read-only insider or an installer cannot, nor anyone without a token.
    for (const name of ['wall', 'field'] as const) {
      const refused = await cli(['dead-letters', 'retry', '--output', 'hook', '--api', api, '--token-file', tokenFile(name)]);
      expect(refused).toMatchObject({ code: 77, stderr: expect.stringMatching(/^error FORBIDDEN/) });
    }
    const anonymous = await fetch(`${api}/dead-letters/retry`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ output: 'hook' }) });
    expect(anonymous.status).toBe(401);
    expect((await cli(['dead-letters', 'retry', '--output', 'nope', '--api', api, '--token-file', tokenFile('desk')])).code).toBe(64);
    expect((await asViewer('/dead-letters?output=hook')).total).toBe(3);

    centre = 'restarting'; // the new secret is set; the centre is still coming back up
    const retried = await cli(['dead-letters', 'retry', '--output', 'hook', '--note', 'webhook secret rotated', '--api', api, '--token-file', tokenFile('desk')]);
    first.kill('SIGKILL');
    await first.exited;
    expect(retried).toMatchObject({ code: 0, stdout: 'retried 3 dead letter(s) of hook; 0 left\n' });
    expect(received['/hook']).toEqual([]);

    centre = 'accepting';
    const second = GatewayProcess.spawn(config);
    cleanups.push(() => second.kill('SIGKILL'));
    await second.ready;
    await until(async () => received['/hook']!.map((e) => e.id), (ids) => [duress.id, burglary.id, alert.id].every((id) => ids.includes(id)), 'the retried events');
    await until(() => asViewer('/healthz'), (h) => h.assurance.undeliveredDuress.length === 0, 'the missed deadline to clear');
    expect((await asViewer('/dead-letters')).total).toBe(0);
    expect(received['/hook']!.filter((e) => e.id === duress.id)).toHaveLength(1);
    // The local output had the burglary once, when it happened, and nothing of the duress or of the retry.
    expect(received['/keypad']!.map((e) => e.id)).toEqual([burglary.id]);

    second.kill('SIGTERM');
    await second.exited;
    const lines = readFileSync(path.join(dir, 'var', 'audit.jsonl'), 'utf8').split('\n').filter((l) => l !== '');
    expect(verifyChain(lines)).toMatchObject({ ok: true });
    const retries = lines.map((l) => JSON.parse(l) as AuditRecord).filter((r) => r.action === 'dead-letters-retried');
    expect(retries).toHaveLength(1);
    expect(retries[0]).toMatchObject({
      actor: { name: 'desk', role: 'operator', channel: 'api' },
      details: { output: 'hook', count: 3, seqs: letters.map((l) => l.seq), eventIds: letters.map((l) => l.event.id), note: 'webhook secret rotated' },
    });
  }, 60_000);
});
