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

/** How long a failed write waits before it is tried again. */
const WRITE_RETRY_MS = 1_000;

/**
 * `{dataDir}/audit.jsonl`: one hash-chained record per line (see src/assurance/audit-chain.ts), opened for
 * appending only, mode 0600. A person's action (a token's, an MQTT operator's) is written and fdatasynced before
 * `append` returns, so it is on disk before the API answers. The gateway's own records (each duress event stored
 * and delivered) are written together once per turn of the event loop, one fdatasync for all: a panel that keeps
 * sending hold-ups must not cost an fsync per frame and output. A crash can lose at most that last turn's records,
 * whose events are in the outbox.
 *
 * A chain found broken at start is reported (`broken`), not refused: whoever can edit the file must not be able to
 * stop the gateway; new records continue from the last line, and `panelbridge audit verify` still names the
 * record where the chain broke.
 */
export class AuditLog {
  private readonly pending: string[] = [];
  private scheduled: NodeJS.Immediate | NodeJS.Timeout | undefined;
  private readonly errorListeners: Array<(error: Error) => void> = [];

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

  /** Chains the record now; writes it now (a person's action) or with the rest of this turn (the gateway's). */
  append(entry: AuditEntry): AuditRecord {
    const record = nextRecord(this.last, entry, this.clock.now());
    this.last = record;
    this.pending.push(JSON.stringify(record) + '\n');
    if (entry.actor.channel !== 'gateway') this.flush();
    else this.scheduled ??= setImmediate(() => this.writeInBackground());
    return record;
  }

  /** Told about each failed background write; its records are retried WRITE_RETRY_MS later. */
  onWriteError(listener: (error: Error) => void): void {
    this.errorListeners.push(listener);
  }

  /** Writes and fdatasyncs every pending record; throws when the disk refuses (the records stay pending). */
  flush(): void {
    clearImmediate(this.scheduled as NodeJS.Immediate);
    clearTimeout(this.scheduled as NodeJS.Timeout);
    this.scheduled = undefined;
    if (this.pending.length === 0) return;
    const text = this.pending.join('');
    writeSync(this.fd, text);
    this.pending.length = 0;
    fdatasyncSync(this.fd);
  }

  close(): void {
    try {
      this.flush();
    } finally {
      closeSync(this.fd);
    }
  }

  private writeInBackground(): void {
    try {
      this.flush();
    } catch (error) {
      for (const listener of this.errorListeners) listener(error as Error);
      this.scheduled ??= setTimeout(() => this.writeInBackground(), WRITE_RETRY_MS).unref();
    }
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
