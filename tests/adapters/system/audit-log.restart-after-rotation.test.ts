import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
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

  /** What rotate() left behind when the process died after renaming audit.jsonl, before the new file's first record was on disk. */
  function crashMidRotation(dataDir: string, leftBehind: 'empty' | 'missing' | 'torn'): number {
    const current = auditFile(dataDir);
    for (let n = limits.keepFiles; n >= 1; n--) {
      const f = `${current}.${n}`;
      if (!existsSync(f)) continue;
      if (n === limits.keepFiles) rmSync(f);
      else renameSync(f, `${current}.${n + 1}`);
    }
    renameSync(current, `${current}.1`);
    const lines = readFileSync(`${current}.1`, 'utf8').trimEnd().split('\n');
    if (leftBehind === 'empty') writeFileSync(current, '', { mode: 0o600 });
    if (leftBehind === 'torn') writeFileSync(current, '{"seq":31,"at":"2026-12-07T10:00:00.000Z","action":"audit-rot', { mode: 0o600 });
    return (JSON.parse(lines.at(-1)!) as { seq: number }).seq;
  }

  it('continues the chain from the rotated file when a crash left the new file empty', () => {
    const dataDir = rotatedLog('audit-rotation-crash');
    const lastSeq = crashMidRotation(dataDir, 'empty');
    expect(verifyAuditLog(dataDir)).toMatchObject({ ok: true });

    const reopened = AuditLog.open(dataDir, clock, limits);
    expect(reopened.broken).toBeUndefined();
    expect(reopened.append(ack(31)).seq).toBe(lastSeq + 2);
    reopened.close();
    expect(verifyAuditLog(dataDir)).toMatchObject({ ok: true });
    const [resumed] = readFileSync(auditFile(dataDir), 'utf8').split('\n');
    expect(JSON.parse(resumed!)).toMatchObject({ seq: lastSeq + 1, action: 'audit-rotated', details: { resumedAtStart: true } });
  });

  it('continues the chain when the crash came before the new file was opened', () => {
    const dataDir = rotatedLog('audit-rotation-crash-missing');
    const lastSeq = crashMidRotation(dataDir, 'missing');
    const reopened = AuditLog.open(dataDir, clock, limits);
    expect(reopened.append(ack(31)).seq).toBe(lastSeq + 2);
    reopened.close();
    expect(verifyAuditLog(dataDir)).toMatchObject({ ok: true });
  });

  it('continues the chain after a first record torn by the crash, which verify names', () => {
    const dataDir = rotatedLog('audit-rotation-crash-torn');
    const lastSeq = crashMidRotation(dataDir, 'torn');
    const reopened = AuditLog.open(dataDir, clock, limits);
    expect(reopened.broken).toMatchObject({ line: 1 });
    expect(reopened.append(ack(31)).seq).toBe(lastSeq + 3); // after audit-rotated and audit-torn-line
    reopened.close();
    expect(verifyAuditLog(dataDir)).toMatchObject({ ok: false, file: auditFile(dataDir), line: 1 });
    const lines = readFileSync(auditFile(dataDir), 'utf8').split('\n');
    expect(JSON.parse(lines[1]!)).toMatchObject({ seq: lastSeq + 1, action: 'audit-rotated' });
  });

  it('carries on the token creations chained in the rotated file', () => {
    const dataDir = tempDir('audit-rotation-crash-tokens');
    const log = AuditLog.open(dataDir, clock, limits);
    for (let i = 1; i <= 30; i++) log.append(ack(i));
    log.append({ action: 'token-created', actor: operator, details: { fingerprint: '0123456789abcdef', name: 'grafana', role: 'viewer' } });
    log.close();
    crashMidRotation(dataDir, 'empty');
    const reopened = AuditLog.open(dataDir, clock, limits);
    expect(reopened.hasChainedToken('0123456789abcdef')).toBe(true);
    reopened.close();
    expect(JSON.parse(readFileSync(auditFile(dataDir), 'utf8').split('\n')[0]!).details.chainedTokens).toContain('0123456789abcdef');
  });
});
