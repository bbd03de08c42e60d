import { closeSync, existsSync, fchmodSync, fdatasyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { nextRecord, verifyChain, type AuditEntry, type AuditRecord, type ChainVerdict } from '../../src/assurance/audit-chain.js';
import type { Clock } from '../../src/ports.js';

export const AUDIT_FILE_NAME = 'audit.jsonl';

export function auditFile(dataDir: string): string {
  return path.join(dataDir, AUDIT_FILE_NAME);
}

export function readAuditLines(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n') : [];
}

/**
 * `{dataDir}/audit.jsonl`: one hash-chained record per line (see src/assurance/audit-chain.ts), appended and
 * fdatasynced one at a time: control actions and duress lifecycle steps are rare, and each must survive a crash.
 * The file is opened for appending only, mode 0600. A chain found broken at start is reported (`broken`), not
 * refused: whoever can edit the file must not be able to stop the gateway; new records continue from the last
 * line, and `panelbridge audit verify` still names the record where the chain broke.
 */
export class AuditLog {
  private constructor(
    private readonly fd: number,
    private last: Pick<AuditRecord, 'seq' | 'hash'> | undefined,
    private readonly clock: Clock,
    readonly broken: Exclude<ChainVerdict, { ok: true }> | undefined,
  ) {}

  static open(dataDir: string, clock: Clock): AuditLog {
    const file = auditFile(dataDir);
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const lines = readAuditLines(file);
    const verdict = verifyChain(lines);
    const fd = openSync(file, 'a', 0o600);
    fchmodSync(fd, 0o600);
    return new AuditLog(fd, verdict.ok ? verdict.last : lastParsable(lines), clock, verdict.ok ? undefined : verdict);
  }

  append(entry: AuditEntry): AuditRecord {
    const record = nextRecord(this.last, entry, this.clock.now());
    writeSync(this.fd, JSON.stringify(record) + '\n');
    fdatasyncSync(this.fd);
    this.last = record;
    return record;
  }

  close(): void {
    closeSync(this.fd);
  }
}

function lastParsable(lines: readonly string[]): Pick<AuditRecord, 'seq' | 'hash'> | undefined {
  for (const line of [...lines].reverse()) {
    try {
      const record = JSON.parse(line) as AuditRecord;
      if (typeof record.seq === 'number' && typeof record.hash === 'string') return record;
    } catch {
      // keep looking further up
    }
  }
  return undefined;
}
