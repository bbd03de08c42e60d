import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AuditLog, auditFile, auditLines } from '../../../adapters/system/audit-log.js';
import { GATEWAY_ACTOR, GENESIS, nextRecord, recordHash, verifyChain, type AuditEntry, type AuditRecord } from '../../../src/assurance/audit-chain.js';
import { FakeClock } from '../../helpers/fake-clock.js';
import { tempDir } from '../../helpers/gateway-process.js';

const installer = { name: 'installer-1', role: 'installer', channel: 'api' } as const;

function chain(count: number): string[] {
  const lines: string[] = [];
  let last: AuditRecord | undefined;
  for (let i = 0; i < count; i++) {
    const entry: AuditEntry = { action: i % 2 === 0 ? 'test-window-opened' : 'duress-stored', actor: i % 2 === 0 ? installer : GATEWAY_ACTOR, details: { n: i, note: `note ${i}` } };
    last = nextRecord(last, entry, 1_700_000_000_000 + i * 1_000);
    lines.push(JSON.stringify(last));
  }
  return lines;
}

describe('the audit hash chain', () => {
  it('links each record to the one before it', () => {
    const lines = chain(5);
    const records = lines.map((l) => JSON.parse(l) as AuditRecord);
    expect(records[0]!.prev).toBe(GENESIS);
    for (let i = 1; i < records.length; i++) expect(records[i]!.prev).toBe(records[i - 1]!.hash);
    expect(verifyChain(lines)).toMatchObject({ ok: true, records: 5 });
  });

  it('names the edited record', () => {
    const lines = chain(5);
    lines[2] = lines[2]!.replace('note 2', 'note two');
    expect(verifyChain(lines)).toMatchObject({ ok: false, line: 3, seq: 3, reason: expect.stringMatching(/edited/) });
  });

  it('names the record after an edit whose own hash was recomputed', () => {
    const lines = chain(5);
    const record = JSON.parse(lines[1]!) as AuditRecord;
    record.details = { ...record.details, note: 'rewritten' };
    record.hash = recordHash(record);
    lines[1] = JSON.stringify(record);
    expect(verifyChain(lines)).toMatchObject({ ok: false, line: 3, seq: 3, reason: expect.stringMatching(/prev/) });
  });

  it('names a removed or reordered record, and a line that is not JSON', () => {
    const removed = chain(5);
    removed.splice(2, 1);
    expect(verifyChain(removed)).toMatchObject({ ok: false, line: 3, seq: 4 });
    const swapped = chain(5);
    [swapped[1], swapped[2]] = [swapped[2]!, swapped[1]!];
    expect(verifyChain(swapped)).toMatchObject({ ok: false, line: 2, seq: 3 });
    const garbled = chain(3);
    garbled[1] = '{"seq":2,';
    expect(verifyChain(garbled)).toMatchObject({ ok: false, line: 2, seq: null, records: 1 });
  });
});

describe('the audit log file', () => {
  it('appends fsynced records (mode 0600) and continues the chain after a restart', () => {
    const dir = tempDir('audit');
    const clock = new FakeClock(1_700_000_000_000);
    const first = AuditLog.open(dir, clock);
    first.append({ action: 'test-window-opened', actor: installer, details: { window: 'w1' } });
    first.close();
    const second = AuditLog.open(dir, clock);
    expect(second.broken).toBeUndefined();
    second.append({ action: 'test-window-stopped', actor: installer, details: { window: 'w1' } });
    second.close();
    expect(statSync(auditFile(dir)).mode & 0o777).toBe(0o600);
    expect(verifyChain([...auditLines(auditFile(dir))])).toMatchObject({ ok: true, records: 2 });
  });

  it('keeps running on a broken chain, reports it, and verify still names where it broke', () => {
    const dir = tempDir('audit-broken');
    writeFileSync(auditFile(dir), chain(3).map((l, i) => (i === 1 ? l.replace('note 1', 'edited') : l)).join('\n') + '\n', { mode: 0o600 });
    const log = AuditLog.open(dir, new FakeClock(1_700_000_100_000));
    expect(log.broken).toMatchObject({ line: 2, seq: 2 });
    const appended = log.append({ action: 'incident-acknowledged', actor: installer, details: {} });
    log.close();
    expect(appended.seq).toBe(4);
    expect(verifyChain(readFileSync(auditFile(dir), 'utf8').split('\n'))).toMatchObject({ ok: false, line: 2 });
  });
});

describe('when audit records reach the disk', () => {
  it("writes a person's action at once and the gateway's own records together on the next turn", async () => {
    const dir = tempDir('audit-batch');
    const log = AuditLog.open(dir, new FakeClock(1_700_000_000_000));
    const onDisk = () => [...auditLines(auditFile(dir))].filter((l) => l !== '').length;
    for (let i = 0; i < 50; i++) log.append({ action: 'duress-stored', actor: GATEWAY_ACTOR, details: { n: i } });
    expect(onDisk()).toBe(0);
    log.append({ action: 'incident-acknowledged', actor: installer, details: {} });
    expect(onDisk()).toBe(51);
    log.append({ action: 'duress-delivered', actor: GATEWAY_ACTOR, details: {} });
    await new Promise((resolve) => setImmediate(resolve));
    expect(onDisk()).toBe(52);
    log.close();
    expect(verifyChain([...auditLines(auditFile(dir))])).toMatchObject({ ok: true, records: 52 });
  });
});
