import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { AuditLog, auditFile, auditLines } from '../../../adapters/system/audit-log.js';
import { GATEWAY_ACTOR, verifyChain } from '../../../src/assurance/audit-chain.js';

/** How many bytes the disk takes of the next write: all (undefined), a part, or none; and the writes it refused. */
const disk = vi.hoisted(() => ({ takes: undefined as number | undefined, refused: 0 }));
vi.mock('node:fs', async (original) => {
  const fs = await original<typeof import('node:fs')>();
  const writeSync = ((fd: number, data: Buffer | string, offset?: number) => {
    if (disk.takes === undefined || typeof data === 'string') return fs.writeSync(fd, data as Buffer, offset);
    const from = offset ?? 0;
    const count = Math.min(disk.takes, data.length - from);
    disk.takes -= count;
    if (count === 0) disk.refused += 1;
    return count === 0 ? 0 : fs.writeSync(fd, data, from, count);
  }) as typeof fs.writeSync;
  return { ...fs, default: { ...fs, writeSync }, writeSync };
});

const clock = { now: () => Date.parse('2026-12-07T10:00:00Z') };
const operator = { name: 'cms-desk', role: 'operator', channel: 'api' as const };
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'audit-disk-full-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe('an audit write the disk takes only part of', () => {
  it('fails loudly, leaves no piece of a record behind, and writes it whole once the disk has room', () => {
    const log = AuditLog.open(dataDir, clock);
    log.append({ action: 'incident-acknowledged', actor: operator, details: { incident: 'inc-1' } });
    disk.takes = 40; // the disk fills up in the middle of the next record
    expect(() => log.append({ action: 'incident-acknowledged', actor: operator, details: { incident: 'inc-2' } })).toThrow(/disk took none/);
    expect(readFileSync(auditFile(dataDir), 'utf8').split('\n').filter((l) => l !== '')).toHaveLength(1);

    disk.takes = undefined; // room again: the pending record is written with the next flush
    log.close();
    const lines = [...auditLines(auditFile(dataDir))];
    expect(lines).toHaveLength(2);
    expect(verifyChain(lines)).toMatchObject({ ok: true, records: 2 });
  });

  it("reports a full disk once while the gateway's own records are retried, not at every retry, and once when they are written", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'audit-disk-full-retry-'));
    const log = AuditLog.open(dir, clock);
    const failures: Error[] = [];
    const recoveries: number[] = [];
    log.onWriteError((error) => failures.push(error));
    log.onWriteRecovered((failedForMs) => recoveries.push(failedForMs));
    disk.takes = 0;
    disk.refused = 0;
    log.append({ action: 'duress-delivered', actor: GATEWAY_ACTOR, details: { event: 'ev-1' } });
    // Retried every second: each retry logged an error line with its stack for as long as the disk stayed full.
    await vi.waitFor(() => expect(disk.refused).toBeGreaterThanOrEqual(3), { timeout: 10_000, interval: 20 });
    expect(failures).toHaveLength(1);
    disk.takes = undefined;
    await vi.waitFor(() => expect(recoveries).toHaveLength(1), { timeout: 5_000, interval: 20 });
    expect(failures).toHaveLength(1);
    log.close();
    expect([...auditLines(auditFile(dir))]).toHaveLength(1);
    rmSync(dir, { recursive: true, force: true });
  }, 20_000);
});
