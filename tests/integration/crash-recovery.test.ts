import { afterAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { SqliteOutbox } from '../../src/outbox/sqlite-outbox.js';
import { GatewayProcess, tempDir, writeConfig } from '../helpers/gateway-process.js';
import { freePort, getTestBroker, MessageLog, uniquePrefix } from '../helpers/broker.js';
import { TcpPanel, panelFrame, parseAnswer } from '../helpers/panel.js';

/**
 * Store-before-ACK across kill -9: frames are ACKed while every output is down, the process is killed with
 * SIGKILL, and after a restart with the outputs up every ACKed event is delivered (at least once).
 */
describe('crash recovery (SIGKILL) with every output down', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('keeps and then delivers every ACKed event', async () => {
    const dir = tempDir('crash');
    const dc09Port = await freePort();
    const deadBrokerPort = await freePort();
    const webhookPort = await freePort();
    const prefix = uniquePrefix('crash');
    const config = (brokerUrl: string) => ({
      dataDir: `${dir}/var`,
      inputs: [{ type: 'dc09', name: 'ip', host: '127.0.0.1', port: dc09Port, accounts: [{ account: '1234' }, { account: '2345' }] }],
      outputs: [
        { type: 'mqtt', name: 'broker', url: brokerUrl, topicPrefix: prefix },
        { type: 'webhook', name: 'hook', url: `http://127.0.0.1:${webhookPort}/events`, secret: 'whsec_c2VjcmV0LWtleS1mb3ItdGVzdHM=', timeout: '1s' },
      ],
    });

    const first = GatewayProcess.spawn(writeConfig(dir, config(`mqtt://127.0.0.1:${deadBrokerPort}`)));
    cleanups.push(() => void first.child.kill('SIGKILL'));
    await first.ready;

    const acked: string[] = [];
    const panels = await Promise.all([TcpPanel.connect(dc09Port), TcpPanel.connect(dc09Port)]);
    await Promise.all(
      panels.map(async (panel, p) => {
        const account = p === 0 ? '1234' : '2345';
        for (let i = 1; i <= 25; i++) {
          const seq = String(i).padStart(4, '0');
          const code = i % 5 === 0 ? '121' : '130';
          const answer = await panel.send(panelFrame({ token: 'ADM-CID', seq, account, data: `#${account}|1${code} 01 ${String(i).padStart(3, '0')}` }));
          if (answer !== null && parseAnswer(answer).token === 'ACK') acked.push(`${account}/${i}`);
        }
      }),
    );
    first.kill('SIGKILL');
    await first.exited;
    for (const panel of panels) panel.close();
    expect(acked).toHaveLength(50);

    // Every ACKed event is on disk.
    const outbox = SqliteOutbox.open({ dataDir: `${dir}/var` });
    outbox.registerOutputs(['broker', 'hook']);
    const stored = outbox.pending('hook', 1000).map((e) => `${e.event.account}/${e.event.zone?.number ?? e.event.user?.number}`);
    outbox.close();
    expect(new Set(stored)).toEqual(new Set(acked));

    // Restart with the outputs up: everything is delivered.
    const broker = await getTestBroker();
    cleanups.push(() => broker.close());
    const log = await MessageLog.subscribe(broker.url, `${prefix}/events/#`);
    cleanups.push(() => log.close());
    const received = new Set<string>();
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const event = JSON.parse(body) as { account: string; zone: { number: number } | null; user: { number: number } | null };
        received.add(`${event.account}/${event.zone?.number ?? event.user?.number}`);
        res.writeHead(200).end();
      });
    });
    server.listen(webhookPort, '127.0.0.1');
    await once(server, 'listening');
    expect((server.address() as AddressInfo).port).toBe(webhookPort);
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));

    const second = GatewayProcess.spawn(writeConfig(dir, config(broker.url)));
    cleanups.push(() => void second.child.kill('SIGKILL'));
    await second.ready;
    const deadline = Date.now() + 15_000;
    while ((received.size < 50 || log.messages.length < 50) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(new Set(received)).toEqual(new Set(acked));
    const duressTopics = log.messages.filter((m) => m.topic.endsWith('/duress'));
    expect(duressTopics).toHaveLength(10);
    second.kill('SIGTERM');
    expect(await second.exited).toEqual({ code: 0, signal: null });
  }, 60_000);
});
