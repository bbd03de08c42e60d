import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { OUTBOX_FILE_NAME, SqliteOutbox } from '../../src/outbox/sqlite-outbox.js';
import { freePort } from '../helpers/broker.js';
import { GatewayProcess, tempDir, writeConfig } from '../helpers/gateway-process.js';
import { outboxTestEvent } from '../helpers/outbox-events.js';
import { panelFrame, parseAnswer, TcpPanel } from '../helpers/panel.js';

/** Undelivered events left by a long broker outage, for each of the two outputs. */
const BACKLOG = 200_000;
/**
 * A heap the running gateway holds this backlog's index in with room to spare (about 52 MB once open), where
 * opening it read the whole backlog into arrays first and ran out of memory below about 90 MB.
 */
const HEAP_MB = 76;

/**
 * A small box after a long broker outage: the backlog is on disk, and the gateway restarts (an update, a power cut)
 * under the heap its service gives it. Running out of memory while opening the outbox is a crash loop in which no
 * panel, duress included, is answered until someone empties the outbox by hand.
 */
describe('a gateway reopening a deep backlog on a small heap', () => {
  const cleanups: Array<() => void> = [];
  afterAll(() => {
    for (const cleanup of cleanups.reverse()) cleanup();
  });

  it('starts and stores a new frame', async () => {
    const dir = tempDir('backlog-heap');
    const dataDir = path.join(dir, 'var');
    const outputs = ['central-a', 'central-b'];
    // The schema and the outputs' cursors as the gateway writes them, then the backlog in one transaction.
    const outbox = SqliteOutbox.open({ dataDir });
    outbox.registerOutputs(outputs);
    outbox.close();
    const db = new Database(path.join(dataDir, OUTBOX_FILE_NAME));
    const insert = db.prepare<[string, number, number, string]>(`INSERT INTO entry (account, duress, received_at, stored_at, event) VALUES (?, 0, ?, ?, ?)`);
    const at = Date.now();
    db.transaction(() => {
      for (let i = 0; i < BACKLOG; i++) insert.run('1234', at, at, JSON.stringify(outboxTestEvent({ id: `backlog-${i}`, account: '1234', receivedAt: at })));
    })();
    db.close();

    const dc09Port = await freePort();
    const gateway = GatewayProcess.spawn(
      writeConfig(dir, {
        dataDir,
        inputs: [{ type: 'dc09', name: 'ip', host: '127.0.0.1', port: dc09Port, udp: false, accounts: [{ account: '1234' }] }],
        // Brokers that are down, as in the outage: nothing drains the backlog.
        outputs: await Promise.all(outputs.map(async (name) => ({ type: 'mqtt', name, url: `mqtt://127.0.0.1:${await freePort()}` }))),
      }),
      [],
      undefined,
      [`--max-old-space-size=${HEAP_MB}`],
    );
    cleanups.push(() => gateway.kill('SIGKILL'));
    await gateway.ready;
    const panel = await TcpPanel.connect(dc09Port);
    cleanups.push(() => panel.close());
    const answer = await panel.send(panelFrame({ token: 'ADM-CID', seq: '0001', account: '1234', data: '#1234|1121 01 001' }), 10_000);
    expect(answer === null ? null : parseAnswer(answer).token).toBe('ACK');
  }, 90_000);
});
