import { appendFileSync, closeSync, existsSync, ftruncateSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { constants } from 'node:buffer';
import { afterAll, describe, expect, it } from 'vitest';
import { AuditLog, auditFile, auditLines, verifyAuditLog } from '../../../adapters/system/audit-log.js';
import { GATEWAY_ACTOR, nextRecord, verifyChain, type AuditEntry, type AuditRecord } from '../../../src/assurance/audit-chain.js';

const clock = { now: () => Date.parse('2026-12-07T10:00:00Z') };
const operator = { name: 'cms-desk', role: 'operator', channel: 'api' as const };
const dirs: string[] = [];
const tempDir = (name: string): string => {
  const dir = mkdtempSync(path.join(os.tmpdir(), `${name}-`));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const ack = (incident: number): AuditEntry => ({ action: 'incident-acknowledged', actor: operator, details: { incident: `inc-${incident}`, note: 'called the branch' } });

/** `count` chained lines, as a gateway wrote them. */
function chainLines(count: number): string[] {
  let last: AuditRecord | undefined;
  return Array.from({ length: count }, (_, i) => {
    last = nextRecord(last, ack(i + 1), clock.now());
    return JSON.stringify(last);
  });
}

describe('opening a long-running gateway’s audit log', () => {
  it('reads only the end of the file, even one longer than the longest string V8 can hold', () => {
    const dataDir = tempDir('audit-huge');
    const fd = openSync(auditFile(dataDir), 'w', 0o600);
    // Sparse: the file is longer than any string, yet takes no disk; its records are at the end.
    ftruncateSync(fd, constants.MAX_STRING_LENGTH + 1);
    writeSync(fd, '\n' + chainLines(20).join('\n') + '\n', constants.MAX_STRING_LENGTH + 1);
    closeSync(fd);
    expect(statSync(auditFile(dataDir)).size).toBeGreaterThan(constants.MAX_STRING_LENGTH);

    // Not rotated here: this is about the start alone.
    const log = AuditLog.open(dataDir, clock, { maxFileBytes: Number.MAX_SAFE_INTEGER });
    expect(log.broken).toBeUndefined();
    expect(log.append(ack(21)).seq).toBe(21);
    log.close();
  });

  it('does not read past its tail: damage before it is left to `audit verify`', () => {
    const dataDir = tempDir('audit-tail');
    const lines = chainLines(40);
    lines[2] = lines[2]!.replace('called the branch', 'edited');
    writeFileSync(auditFile(dataDir), lines.join('\n') + '\n', { mode: 0o600 });

    const log = AuditLog.open(dataDir, clock, { tailBytes: 2_000 });
    expect(log.broken).toBeUndefined(); // the edited record lies before the last 2,000 bytes
    expect(log.append(ack(41)).seq).toBe(41);
    log.close();
    expect(verifyAuditLog(dataDir)).toMatchObject({ ok: false, file: auditFile(dataDir), line: 3, seq: 3 });
  });

  it('knows a token creation chained before its tail: the token is not chained again', () => {
    const dataDir = tempDir('audit-token-before-tail');
    const log = AuditLog.open(dataDir, clock, { tailBytes: 2_000 });
    log.append({ action: 'token-created', actor: operator, details: { fingerprint: '0123456789abcdef', name: 'grafana', role: 'viewer' } });
    for (let i = 1; i <= 40; i++) log.append(ack(i));
    log.close();

    const reopened = AuditLog.open(dataDir, clock, { tailBytes: 2_000 });
    expect(reopened.hasChainedToken('0123456789abcdef')).toBe(true);
    reopened.close();
  });
});

describe('rotating the audit log', () => {
  const limits = { maxFileBytes: 2_000, keepFiles: 2 };

  it('keeps the files bounded and the chain going across them, token creations included', () => {
    const dataDir = tempDir('audit-rotate');
    const log = AuditLog.open(dataDir, clock, limits);
    log.append({ action: 'token-created', actor: GATEWAY_ACTOR, details: { name: 'grafana', role: 'viewer', fingerprint: '0123456789abcdef' } });
    for (let i = 1; i <= 60; i++) log.append(ack(i));
    log.close();

    const files = ['audit.jsonl.2', 'audit.jsonl.1', 'audit.jsonl'].map((name) => path.join(dataDir, name));
    for (const file of files) expect(existsSync(file)).toBe(true);
    expect(existsSync(path.join(dataDir, 'audit.jsonl.3'))).toBe(false);
    for (const file of files) expect(statSync(file).size).toBeLessThan(limits.maxFileBytes + 1_000);
    // Each file begins where the one before it ended.
    for (const file of files.slice(1)) expect(JSON.parse(readFileSync(file, 'utf8').split('\n')[0]!)).toMatchObject({ action: 'audit-rotated' });
    const verdict = verifyAuditLog(dataDir);
    expect(verdict).toMatchObject({ ok: true, files });
    const firstSeq = verdict.ok ? verdict.firstSeq! : 0;
    expect(firstSeq).toBeGreaterThan(1); // the first files were deleted
    const lastSeq = (JSON.parse([...auditLines(auditFile(dataDir))].at(-1)!) as AuditRecord).seq;
    expect(verdict.ok && verdict.records).toBe(lastSeq - firstSeq + 1);

    // The token's creation was in a deleted file; the rotation records carried it on.
    const reopened = AuditLog.open(dataDir, clock, limits);
    expect(reopened.hasChainedToken('0123456789abcdef')).toBe(true);
    expect(reopened.hasChainedToken('fedcba9876543210')).toBe(false);
    reopened.close();
  });

  it('names a record edited in a rotated file, and a rotated file removed from the middle', () => {
    const dataDir = tempDir('audit-rotate-tamper');
    const log = AuditLog.open(dataDir, clock, limits);
    for (let i = 1; i <= 60; i++) log.append(ack(i));
    log.close();
    const middle = path.join(dataDir, 'audit.jsonl.1');
    const original = readFileSync(middle, 'utf8');

    writeFileSync(middle, original.replace('called the branch', 'nobody called'));
    expect(verifyAuditLog(dataDir)).toMatchObject({ ok: false, file: middle, line: 2, reason: expect.stringMatching(/edited/) });

    rmSync(middle);
    expect(verifyAuditLog(dataDir)).toMatchObject({ ok: false, file: auditFile(dataDir), line: 1 });
  });

  it('continues the chain in order when the gateway’s own records are written together', async () => {
    const dataDir = tempDir('audit-rotate-batch');
    const log = AuditLog.open(dataDir, clock, limits);
    for (let i = 0; i < 40; i++) log.append({ action: 'duress-stored', actor: GATEWAY_ACTOR, details: { event: `e-${i}` } });
    await new Promise((resolve) => setImmediate(resolve));
    log.close();
    expect(existsSync(path.join(dataDir, 'audit.jsonl.1'))).toBe(true);
    expect(verifyAuditLog(dataDir)).toMatchObject({ ok: true });
    expect(verifyChain([...auditLines(auditFile(dataDir))], (first) => first.action === 'audit-rotated')).toMatchObject({ ok: true });
  });
});

describe('the audit log after a crash in the middle of a write', () => {
  it('keeps the first record written after restart intact on its own line, and records the torn one', () => {
    const dataDir = tempDir('audit-torn');
    const first = AuditLog.open(dataDir, clock);
    first.append(ack(1));
    first.close();
    // The process died while writing the next record: part of its line reached the disk, no newline.
    appendFileSync(auditFile(dataDir), '{"seq":2,"at":"2026-12-07T10:00:00.000Z","action":"incident-ackno');

    const reopened = AuditLog.open(dataDir, clock);
    expect(reopened.broken).toMatchObject({ line: 2, seq: null, reason: expect.stringMatching(/cut short/) });
    const written = reopened.append(ack(2));
    reopened.close();

    const lines = readFileSync(auditFile(dataDir), 'utf8').split('\n').filter((l) => l !== '');
    const records = lines.flatMap((l) => {
      try {
        return [JSON.parse(l) as AuditRecord];
      } catch {
        return [];
      }
    });
    expect(records.find((r) => r.details.incident === 'inc-2')).toMatchObject({ hash: written.hash });
    expect(records.map((r) => r.action)).toEqual(['incident-acknowledged', 'audit-torn-line', 'incident-acknowledged']);
    // Only the torn line is named as the break; the records after it chain on from the last whole one.
    expect(verifyChain(lines)).toMatchObject({ ok: false, line: 2, seq: null });
    expect(verifyChain(lines.filter((_, i) => i !== 1))).toMatchObject({ ok: true, records: 3 });
  });

  it('keeps a last record whose newline alone was lost', () => {
    const dataDir = tempDir('audit-no-newline');
    writeFileSync(auditFile(dataDir), chainLines(3).join('\n'), { mode: 0o600 });
    const log = AuditLog.open(dataDir, clock);
    expect(log.broken).toBeUndefined();
    expect(log.append(ack(4)).seq).toBe(4);
    log.close();
    expect(verifyAuditLog(dataDir)).toMatchObject({ ok: true, records: 4 });
  });
});
