import { statSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { OUTBOX_FILE_NAME } from '../../src/outbox/sqlite-outbox.js';
import { startDc09Gateway } from '../helpers/dc09-gateway.js';
import { apiFetch, tempDir } from '../helpers/gateway-process.js';

/**
 * Another process on the gateway's outbox: an operator's `sqlite3 outbox.sqlite` inside a write transaction (or a
 * tool that takes the write lock). The gateway's commit finds the database busy; how long it waits for the lock
 * is how long its event loop stands still, for every input, the API and the outputs.
 */
describe('another process holds the outbox write lock in a running gateway', () => {
  const cleanups: Array<() => void> = [];
  afterAll(() => {
    for (const cleanup of cleanups.reverse()) cleanup();
  });

  it('NAKs the frame at once and keeps answering the API, logs and counts it, and stores the retransmit once the lock is gone', async () => {
    const { gateway, dataDir, ports, send: sendFrame } = await startDc09Gateway(tempDir('outbox-busy'), cleanups);
    const apiPort = ports.apiPort;
    const send = (seq: number, data: string) => sendFrame(seq, data, 10_000);
    expect(await send(1, '#1234|1130 01 003')).toBe('ACK');

    const operator = new Database(path.join(dataDir, OUTBOX_FILE_NAME));
    cleanups.push(() => operator.close());
    operator.exec('BEGIN IMMEDIATE');
    const logLinesBefore = gateway.stderr.length;

    const sent = Date.now();
    const answered = send(2, '#1234|1122 01 004').then((token) => ({ token, ms: Date.now() - sent }));
    // Asked while the gateway tries to commit that frame.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const asked = Date.now();
    const health = await apiFetch(dataDir, `http://127.0.0.1:${apiPort}/healthz`);
    const healthMs = Date.now() - asked;
    const { token, ms } = await answered;

    // The panel sends again; waiting out SQLite's default 5 s busy timeout froze the whole daemon meanwhile.
    expect(token).toBe('NAK');
    expect(ms).toBeLessThan(1_000);
    expect(healthMs).toBeLessThan(1_000);
    expect(health.status).toBe(503);
    const errors = gateway.stderr.slice(logLinesBefore).filter((line) => line.includes('"level":50'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/outbox cannot store.*database is locked/);
    const metrics = await (await apiFetch(dataDir, `http://127.0.0.1:${apiPort}/metrics`)).text();
    expect(metrics).toMatch(/panelbridge_outbox_rejections_total\{[^}]*\} [1-9]/);

    operator.exec('ROLLBACK');
    expect(await send(2, '#1234|1122 01 004')).toBe('ACK');
    const deadline = Date.now() + 10_000;
    while (!gateway.events().some((e) => e.category === 'holdup') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(gateway.events().filter((e) => e.category === 'holdup')).toHaveLength(1);
  }, 60_000);

  it('reports a WAL that cannot be checkpointed behind a read transaction another process holds, and gives the disk back once it ends', async () => {
    const { gateway, dataDir, ports, send: sendFrame } = await startDc09Gateway(tempDir('outbox-wal'), cleanups);
    const apiPort = ports.apiPort;
    let seq = 0;
    const send = async () => {
      seq += 1;
      expect(await sendFrame(seq, `#1234|1130 01 ${String(seq % 1000).padStart(3, '0')}`, 5_000)).toBe('ACK');
    };
    const wal = path.join(dataDir, `${OUTBOX_FILE_NAME}-wal`);
    const walBytes = () => statSync(wal).size;
    const health = async () => {
      const response = await apiFetch(dataDir, `http://127.0.0.1:${apiPort}/healthz`);
      return { status: response.status, body: (await response.json()) as { outbox: { state: string; detail?: string; walBytes: number } } };
    };

    // An operator's shell left inside a read transaction: SQLite may not checkpoint past what it still reads.
    const operator = new Database(path.join(dataDir, OUTBOX_FILE_NAME), { readonly: true });
    cleanups.push(() => operator.close());
    operator.exec('BEGIN');
    operator.prepare('SELECT count(*) FROM entry').get();
    const logLinesBefore = gateway.stderr.length;
    // Twice the size at which SQLite checkpoints (1000 pages of 16 KiB): bounded in frames, not in time alone.
    for (let i = 0; i < 3_000 && walBytes() <= 40 * 1024 * 1024; i++) await send();
    expect(walBytes()).toBeGreaterThan(40 * 1024 * 1024);

    const walWarnings = () => gateway.stderr.slice(logLinesBefore).filter((line) => line.includes('outbox WAL is'));
    await until(() => walWarnings().length > 0);
    const held = await health();
    expect(held.body.outbox).toMatchObject({ state: 'degraded', walBytes: expect.any(Number) });
    expect(held.body.outbox.walBytes).toBeGreaterThan(32 * 1024 * 1024);
    expect(held.body.outbox.detail).toMatch(/read transaction/);
    expect(held.status).toBe(503);
    expect(walWarnings()).toHaveLength(1);
    const metrics = await (await apiFetch(dataDir, `http://127.0.0.1:${apiPort}/metrics`)).text();
    expect(Number(/panelbridge_outbox_wal_bytes (\d+)/.exec(metrics)?.[1])).toBeGreaterThan(32 * 1024 * 1024);

    operator.exec('COMMIT');
    // The next commits checkpoint it; the WAL then shrinks back instead of keeping its peak size on disk.
    await until(async () => {
      await send();
      return walBytes() <= 16 * 1024 * 1024 && (await health()).status === 200;
    });
    await until(() => gateway.stderr.slice(logLinesBefore).some((line) => line.includes('outbox WAL checkpointed again')));
  }, 120_000);
});

async function until(condition: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
