import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { AuditLog, auditFile, auditLines } from '../../../adapters/system/audit-log.js';
import { verifyChain } from '../../../src/assurance/audit-chain.js';

/** How many bytes the disk takes of the next write: all (undefined), a part, or none. */
const disk = vi.hoisted(() => ({ takes: undefined as number | undefined }));
vi.mock('node:fs', async (original) => {
  const fs = await original<typeof import('node:fs')>();
  const writeSync = ((fd: number, data: Buffer | string, offset?: number) => {
    if (disk.takes === undefined || typeof data === 'string') return fs.writeSync(fd, data as Buffer, offset);
    const from = offset ?? 0;
    const count = Math.min(disk.takes, data.length - from);
    disk.takes -= count;
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
});
