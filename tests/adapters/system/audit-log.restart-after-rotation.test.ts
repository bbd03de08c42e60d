import { mkdtempSync, readFileSync, rmSync, truncateSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AuditLog, auditFile, verifyAuditLog } from '../../../adapters/system/audit-log.js';
import type { AuditEntry } from '../../../src/assurance/audit-chain.js';

const clock = { now: () => Date.parse('2026-12-07T10:00:00Z') };
const operator = { name: 'cms-desk', role: 'operator', channel: 'api' as const };
const ack = (incident: number): AuditEntry => ({ action: 'incident-acknowledged', actor: operator, details: { incident: `inc-${incident}`, note: 'called the branch' } });
const dirs: string[] = [];
const tempDir = (name: string): string => {
  const dir = mkdtempSync(path.join(os.tmpdir(), `${name}-`));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('restarting a gateway whose audit log has rotated', () => {
  // As in production, the current file right after a rotation is far below the tail a start reads.
  const limits = { maxFileBytes: 2_000, keepFiles: 4, tailBytes: 1024 * 1024 };

  /** A log that has rotated, closed as a stop leaves it. */
  function rotatedLog(name: string): string {
    const dataDir = tempDir(name);
    const log = AuditLog.open(dataDir, clock, limits);
    for (let i = 1; i <= 30; i++) log.append(ack(i));
    log.close();
    expect(verifyAuditLog(dataDir)).toMatchObject({ ok: true });
    expect(readFileSync(auditFile(dataDir), 'utf8')).toMatch(/^\{[^\n]*"action":"audit-rotated"/);
    return dataDir;
  }

  it('does not report an intact chain as broken when the current file begins with audit-rotated', () => {
    const dataDir = rotatedLog('audit-rotated-restart');
    const reopened = AuditLog.open(dataDir, clock, limits);
    expect(reopened.broken).toBeUndefined();
    reopened.close();
  });

  it('keeps a last record that lost only its newline in the chain', () => {
    const dataDir = rotatedLog('audit-rotated-newline-lost');
    truncateSync(auditFile(dataDir), statSync(auditFile(dataDir)).size - 1);
    const reopened = AuditLog.open(dataDir, clock, limits);
    expect(reopened.broken).toBeUndefined();
    reopened.append(ack(31));
    reopened.close();
    expect(verifyAuditLog(dataDir)).toMatchObject({ ok: true });
  });
});
