import { createHash } from 'node:crypto';

/**
 * The audit log's hash chain. Each record carries the SHA-256 of the record before it (`prev`) and its own
 * (`hash`, over every other field), so editing, removing or reordering any record breaks the chain at that
 * record. Pure: the file that holds the lines lives in adapters/system/audit-log.ts.
 */

/** Who acted: an API token (its name and role), an MQTT output, or the gateway itself (expiry, duress lifecycle). */
export interface Actor {
  name: string;
  role: string;
  channel: 'api' | 'mqtt' | 'gateway';
}

export const GATEWAY_ACTOR: Actor = { name: 'gateway', role: 'system', channel: 'gateway' };

export type AuditAction =
  | 'test-window-opened'
  | 'test-window-stopped'
  | 'test-window-expired'
  | 'incident-acknowledged'
  | 'dead-letters-retried'
  | 'duress-stored'
  | 'duress-delivered'
  | 'token-created'
  /** The sites as loaded at a start or a reload, unchanged since the last; or what changed (`sites-changed`). */
  | 'sites-loaded'
  | 'sites-changed'
  /** The first record of a new file when the log rotates; carries what a reader of that file alone needs. */
  | 'audit-rotated'
  /** The gateway found the log's last line cut short (a crash while writing it) and ended it before going on. */
  | 'audit-torn-line'
  /** The gateway found records missing from the end of the log against the head it recorded (audit-head.json). */
  | 'audit-cut-off';

export interface AuditEntry {
  action: AuditAction;
  actor: Actor;
  details: Record<string, unknown>;
}

export interface AuditRecord extends AuditEntry {
  seq: number;
  at: string;
  /** SHA-256 (hex) of the previous record; GENESIS for the first. */
  prev: string;
  hash: string;
}

export const GENESIS = '0'.repeat(64);

/** The hash of a record's content: its fields in one fixed order, `hash` left out. */
export function recordHash(record: Omit<AuditRecord, 'hash'>): string {
  const { seq, at, action, actor, details, prev } = record;
  return createHash('sha256').update(JSON.stringify({ seq, at, action, actor, details, prev })).digest('hex');
}

/** The record that follows `last` (undefined: the first of the chain). */
export function nextRecord(last: Pick<AuditRecord, 'seq' | 'hash'> | undefined, entry: AuditEntry, at: number): AuditRecord {
  const content = { seq: (last?.seq ?? 0) + 1, at: new Date(at).toISOString(), ...entry, prev: last?.hash ?? GENESIS };
  return { ...content, hash: recordHash(content) };
}

export type ChainBreak = { ok: false; line: number; seq: number | null; reason: string; records: number };
export type ChainVerdict = { ok: true; records: number; last: AuditRecord | undefined } | ChainBreak;

/**
 * Checks records one line at a time, so a log spread over files (or read in pieces) is checked without holding it.
 * Its first record must be the chain's first (seq 1 after GENESIS) unless `startsMidChain` accepts it as where the
 * check begins: the record before it is in a file rotated away, or before the part of the file that was read.
 */
export class ChainVerifier {
  records = 0;
  last: AuditRecord | undefined;

  constructor(private readonly startsMidChain: (first: AuditRecord) => boolean = () => false) {}

  /** The line's verdict: undefined while the chain holds (blank lines are skipped). */
  check(line: string, lineNo: number): ChainBreak | undefined {
    if (line.trim() === '') return undefined;
    let record: AuditRecord;
    try {
      record = JSON.parse(line) as AuditRecord;
    } catch {
      return { ok: false, line: lineNo, seq: null, reason: 'not a JSON record', records: this.records };
    }
    const seq = typeof record.seq === 'number' ? record.seq : null;
    const broken = (reason: string): ChainBreak => ({ ok: false, line: lineNo, seq, reason, records: this.records });
    const anchor = this.last === undefined && this.records === 0 && seq !== null && this.startsMidChain(record);
    if (!anchor) {
      if (seq !== (this.last?.seq ?? 0) + 1) return broken(`seq ${String(record.seq)} where ${(this.last?.seq ?? 0) + 1} was due (a record removed or reordered)`);
      if (record.prev !== (this.last?.hash ?? GENESIS)) return broken('prev is not the hash of the record before it');
    }
    if (record.hash !== recordHash(record)) return broken('its content does not match its hash (edited)');
    this.last = record;
    this.records += 1;
    return undefined;
  }
}

/** Checks every line in order; the verdict names the first record (1-based line, and its seq) that breaks the chain. */
export function verifyChain(lines: readonly string[], startsMidChain?: (first: AuditRecord) => boolean): ChainVerdict {
  const verifier = new ChainVerifier(startsMidChain);
  for (const [index, line] of lines.entries()) {
    const broken = verifier.check(line, index + 1);
    if (broken !== undefined) return broken;
  }
  return { ok: true, records: verifier.records, last: verifier.last };
}
