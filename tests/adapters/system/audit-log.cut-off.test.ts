import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AUDIT_HEAD_FILE_NAME, AuditLog, auditFile, auditLines, verifyAuditLog } from '../../../adapters/system/audit-log.js';
import { GATEWAY_ACTOR, nextRecord, type AuditEntry, type AuditRecord } from '../../../src/assurance/audit-chain.js';

/**
 * Someone with write access to dataDir (not root: the service user, a backup job, an installer with a shell) cuts
 * the last records off audit.jsonl, or deletes it, to hide an acknowledgement or a test window: what is left is a
 * chain without a break, so `audit verify` passes. The head the log recorded when it last wrote tells the start.
 */

const clock = { now: () => Date.parse('2026-12-07T10:00:00Z') };
const operator = { name: 'cms-desk', role: 'operator', channel: 'api' as const };
const ack = (incident: number): AuditEntry => ({ action: 'incident-acknowledged', actor: operator, details: { incident: `inc-${incident}`, note: null } });
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A dataDir whose audit log a gateway wrote `count` acknowledgements to, and closed. */
function writtenLog(count: number): string {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'audit-cut-'));
  dirs.push(dataDir);
  const log = AuditLog.open(dataDir, clock);
  for (let i = 1; i <= count; i++) log.append(ack(i));
  log.close();
  return dataDir;
}

function records(dataDir: string): AuditRecord[] {
  return [...auditLines(auditFile(dataDir))].filter((line) => line !== '').map((line) => JSON.parse(line) as AuditRecord);
}

describe('an audit log cut short by someone with write access to dataDir', () => {
  it('the last records cut off: the start reports it, chains it, and the chain goes on', () => {
    const dataDir = writtenLog(5);
    const lines = readFileSync(auditFile(dataDir), 'utf8').split('\n');
    writeFileSync(auditFile(dataDir), lines.slice(0, 2).join('\n') + '\n');
    expect(verifyAuditLog(dataDir)).toMatchObject({ ok: true, records: 2 });

    const log = AuditLog.open(dataDir, clock);
    expect(log.broken).toBeUndefined();
    expect(log.cutOff).toMatchObject({ recordedSeq: 5, foundSeq: 2 });
    expect(log.cutOff!.reason).toMatch(/records 3 to 5 are missing/);
    log.close();
    expect(records(dataDir).map((r) => r.action)).toEqual(['incident-acknowledged', 'incident-acknowledged', 'audit-cut-off']);
    expect(records(dataDir)[2]!.details).toMatchObject({ recordedSeq: 5, foundSeq: 2 });
    // Reported once: the next start finds the log as the gateway left it.
    expect(AuditLog.open(dataDir, clock).cutOff).toBeUndefined();
  });

  it('deleted: the start reports it, and the new chain begins with the record saying so', () => {
    const dataDir = writtenLog(3);
    rmSync(auditFile(dataDir));

    const log = AuditLog.open(dataDir, clock);
    expect(log.cutOff).toMatchObject({ recordedSeq: 3, foundSeq: null });
    log.close();
    expect(records(dataDir)).toMatchObject([{ seq: 1, action: 'audit-cut-off', details: { recordedSeq: 3, foundSeq: null } }]);
  });

  it('its last record replaced by another chained one: reported', () => {
    const dataDir = writtenLog(3);
    const kept = records(dataDir).slice(0, 2);
    const forged = nextRecord(kept[1], { ...ack(3), details: { incident: 'inc-3', note: 'nothing happened' } }, clock.now() + 1);
    writeFileSync(auditFile(dataDir), [...kept, forged].map((r) => JSON.stringify(r)).join('\n') + '\n');
    expect(verifyAuditLog(dataDir)).toMatchObject({ ok: true, records: 3 });

    const log = AuditLog.open(dataDir, clock);
    expect(log.cutOff).toMatchObject({ recordedSeq: 3, foundSeq: 3 });
    log.close();
  });

  it('left as the gateway wrote it: nothing to report', () => {
    const dataDir = writtenLog(4);
    const log = AuditLog.open(dataDir, clock);
    expect(log.cutOff).toBeUndefined();
    expect(log.append(ack(5)).seq).toBe(5);
    log.close();
  });

  it("the gateway's own records are named by the head only once their background sync is done: a crash before it leaves the head behind the log, never ahead", async () => {
    const dataDir = writtenLog(2);
    const headSeq = () => (JSON.parse(readFileSync(path.join(dataDir, AUDIT_HEAD_FILE_NAME), 'utf8')) as { seq: number }).seq;
    const finishes: Array<() => void> = [];
    const log = AuditLog.open(dataDir, clock, {}, () => new Promise<void>((resolve) => finishes.push(resolve)));
    log.append({ action: 'duress-stored', actor: GATEWAY_ACTOR, details: {} });
    await new Promise((resolve) => setImmediate(resolve));
    expect(records(dataDir).map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(finishes).toHaveLength(1);
    expect(headSeq()).toBe(2);
    finishes[0]!();
    await log.synced();
    expect(headSeq()).toBe(3);
    log.close();
  });
});
