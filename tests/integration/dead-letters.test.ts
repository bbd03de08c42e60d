import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { apiFetch, GatewayProcess, tempDir, writeConfig } from '../helpers/gateway-process.js';
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

    let letters: Array<{ output: string; reason: string; event: { account: string } }> = [];
    for (let i = 0; i < 50 && letters.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      letters = ((await (await apiFetch(`${dir}/var`, `http://127.0.0.1:${apiPort}/dead-letters`)).json()) as { deadLetters: typeof letters }).deadLetters;
    }
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ output: 'hook', event: { account: '1234' } });
    const health = (await (await apiFetch(`${dir}/var`, `http://127.0.0.1:${apiPort}/healthz`)).json()) as { outputs: Array<{ name: string; deadLetters: number; backlog: number }> };
    expect(health.outputs.find((o) => o.name === 'hook')).toMatchObject({ deadLetters: 1, backlog: 0 });
  }, 30_000);
});
