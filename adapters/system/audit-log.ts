import { closeSync, constants, existsSync, fchmodSync, fdatasyncSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { ChainVerifier, GATEWAY_ACTOR, nextRecord, type AuditEntry, type AuditRecord, type ChainBreak } from '../../src/assurance/audit-chain.js';
import type { Clock } from '../../src/ports.js';
import { WriteFaults } from '../../src/observability/write-faults.js';
import { BackgroundSync, syncFileData, type SyncFile } from '../../src/background-sync.js';

export const AUDIT_FILE_NAME = 'audit.jsonl';

export function auditFile(dataDir: string): string {
  return path.join(dataDir, AUDIT_FILE_NAME);
}

/**
 * The last record the log wrote durably (`{seq, hash}`), rewritten in place after each write: a start that finds the
 * log ending before it knows records were cut off (or the file deleted), which leaves no break in the chain.
 */
export const AUDIT_HEAD_FILE_NAME = 'audit-head.json';
/** The head is written padded to this size at offset 0: one small write, never a file of another length. */
const HEAD_BYTES = 160;

type Head = Pick<AuditRecord, 'seq' | 'hash'>;

/** Records missing from the end of the log, found at start against the head the log recorded (see AUDIT_HEAD_FILE_NAME). */
export interface AuditCutOff {
  recordedSeq: number;
  /** The last record found, null when the log holds none. */
  foundSeq: number | null;
  reason: string;
}

/** How large the log and its kept files may grow, and how much of it a start reads. */
export interface AuditLimits {
  /** The current file rotates once it holds this many bytes. */
  maxFileBytes: number;
  /** Rotated files kept (`audit.jsonl.1`, the newest, … `audit.jsonl.{keepFiles}`); the oldest beyond is deleted. */
  keepFiles: number;
  /** What a start reads from the end of the current file to continue (and check) the chain. */
  tailBytes: number;
}

export const AUDIT_LIMITS: AuditLimits = { maxFileBytes: 64 * 1024 * 1024, keepFiles: 16, tailBytes: 1024 * 1024 };

/** The log's files, oldest first: the rotated ones (highest number first), then the current one. */
export function auditFiles(dataDir: string): string[] {
  const rotated = existsSync(dataDir)
    ? readdirSync(dataDir)
        .flatMap((name) => {
          const number = /^audit\.jsonl\.(\d+)$/.exec(name)?.[1];
          return number === undefined ? [] : [{ name, number: Number(number) }];
        })
        .sort((a, b) => b.number - a.number)
        .map(({ name }) => path.join(dataDir, name))
    : [];
  const current = auditFile(dataDir);
  return existsSync(current) ? [...rotated, current] : rotated;
}

/** A line longer than any record is cut here (and ends in `…`, so it never parses as one). */
const MAX_LINE_BYTES = 1024 * 1024;
const READ_CHUNK_BYTES = 64 * 1024;

/** The file's lines, read a chunk at a time: memory stays bounded however large the file is. */
export function* auditLines(file: string): Generator<string> {
  const fd = openSync(file, 'r');
  const chunk = Buffer.alloc(READ_CHUNK_BYTES);
  let parts: Buffer[] = [];
  let partBytes = 0;
  const line = (): string => {
    const text = Buffer.concat(parts).toString('utf8');
    const cut = partBytes > MAX_LINE_BYTES;
    parts = [];
    partBytes = 0;
    return cut ? text + '…' : text;
  };
  const keep = (bytes: Buffer): void => {
    if (partBytes <= MAX_LINE_BYTES) parts.push(Buffer.from(bytes.subarray(0, MAX_LINE_BYTES + 1 - partBytes)));
    partBytes += bytes.length;
  };
  try {
    for (let read = readSync(fd, chunk); read > 0; read = readSync(fd, chunk)) {
      let from = 0;
      for (let newline = chunk.indexOf(10, from); newline !== -1 && newline < read; newline = chunk.indexOf(10, from)) {
        keep(chunk.subarray(from, newline));
        yield line();
        from = newline + 1;
      }
      keep(chunk.subarray(from, read));
    }
    if (partBytes > 0) yield line();
  } finally {
    closeSync(fd);
  }
}

export type AuditVerdict = { ok: true; files: string[]; records: number; firstSeq: number | undefined } | (ChainBreak & { files: string[]; file: string });

/**
 * Checks the chain across every kept file, oldest first. The oldest kept file may begin with an `audit-rotated`
 * record whose predecessor was in a file deleted by rotation: the check starts there.
 */
export function verifyAuditLog(dataDir: string): AuditVerdict {
  const files = auditFiles(dataDir);
  const verifier = new ChainVerifier((first) => first.action === 'audit-rotated');
  let firstSeq: number | undefined;
  for (const file of files) {
    let lineNo = 0;
    for (const line of auditLines(file)) {
      const broken = verifier.check(line, ++lineNo);
      if (broken !== undefined) return { ...broken, files, file };
      firstSeq ??= verifier.last?.seq;
    }
  }
  return { ok: true, files, records: verifier.records, firstSeq };
}

/** What a start found wrong at the end of the log: `line` is known when the part read began at the file's start. */
export interface AuditDamage {
  line: number | null;
  seq: number | null;
  reason: string;
}

/** How long a failed write waits before it is tried again. */
const WRITE_RETRY_MS = 1_000;

interface PendingLine {
  text: string;
  /** The first line of a new file: the current one is rotated before it is written. */
  opensFile: boolean;
}

/**
 * `{dataDir}/audit.jsonl`: one hash-chained record per line (see src/assurance/audit-chain.ts), opened for
 * appending only, mode 0600. A person's action (a token's, an MQTT operator's) is written and fdatasynced before
 * `append` returns, so it is on disk before the API answers. The gateway's own records (each duress event stored
 * and delivered) are written together once per turn of the event loop and synced by one fdatasync off the event
 * loop (BackgroundSync): a panel that keeps sending hold-ups must not cost an fsync per frame and output, and only a
 * duress writes them, so a sync on the event loop would delay the answers to every panel's next frames just then.
 * A crash can lose at most the records of the last few milliseconds, whose events are in the outbox.
 *
 * Bounded: once the file holds `maxFileBytes` it is renamed `audit.jsonl.1` (older ones shift up, the one past
 * `keepFiles` is deleted) and the chain goes on in a new file whose first record (`audit-rotated`) follows the
 * last of the old one and carries the fingerprints of the token creations chained so far; a start that finds the
 * current file without a record (a crash mid-rotation) writes that record itself, after the last of `.1`. A start
 * reads the last `tailBytes` of the current file to continue the chain; the chained token creations are read from
 * the whole current file (bounded by `maxFileBytes`), once, when first asked: a token created anywhere in it may
 * lie before that tail. Rotated files are not read for them (but `.1` when resuming after a crash mid-rotation).
 *
 * A chain found broken in that tail is reported (`broken`), not refused: whoever can edit the file must not be
 * able to stop the gateway; new records continue from the last record found, and `panelbridge audit verify` still
 * names the record where the chain broke. A last line cut short by a crash is ended (so the next record starts a
 * line of its own), reported and recorded (`audit-torn-line`).
 */
export class AuditLog {
  private readonly pending: PendingLine[] = [];
  private scheduled: NodeJS.Immediate | NodeJS.Timeout | undefined;
  private readonly writeFaults = new WriteFaults<Error>();
  /** Fingerprints of chained token creations: read from the current file when first asked, then kept up to date. */
  private tokens: Set<string> | undefined;
  /** The seq of the head last written to AUDIT_HEAD_FILE_NAME by this log. */
  private headSeq: number | undefined;
  /** Syncs the gateway's records written in the background. */
  private readonly backgroundSync: BackgroundSync;

  private constructor(
    private readonly file: string,
    private fd: number,
    /** Bytes written to the open file. */
    private written: number,
    /** Bytes of the current file once the pending lines meant for it are written: when it reaches the bound, it rotates. */
    private fileBytes: number,
    private last: Pick<AuditRecord, 'seq' | 'hash'> | undefined,
    private readonly clock: Clock,
    private readonly limits: AuditLimits,
    readonly broken: AuditDamage | undefined,
    private readonly headFd: number,
    /** Records missing from the end of the log since the gateway last wrote it: reported and chained at open. */
    readonly cutOff: AuditCutOff | undefined,
    sync: SyncFile,
  ) {
    this.backgroundSync = new BackgroundSync(file, sync, (error) => {
      this.writeFaults.failed(error as Error);
      setTimeout(() => this.backgroundSync.request(), WRITE_RETRY_MS).unref();
    });
  }

  /** `sync` makes the records written in the background durable (default: fdatasync on the thread pool). */
  static open(dataDir: string, clock: Clock, limits: Partial<AuditLimits> = {}, sync: SyncFile = syncFileData): AuditLog {
    const bounds = { ...AUDIT_LIMITS, ...limits };
    const file = auditFile(dataDir);
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const fd = openSync(file, 'a+', 0o600);
    fchmodSync(fd, 0o600);
    const size = fstatSync(fd).size;
    const tail = readTail(fd, size, bounds.tailBytes);
    let written = size;
    if (tail.unterminated) {
      writeSync(fd, '\n');
      fdatasyncSync(fd);
      written += 1;
    }
    // A crash during a rotation (after audit.jsonl was renamed, before the new file's first record was on disk)
    // leaves a current file without a record: the chain goes on from the end of the rotated one, not from seq 1.
    const rotated = `${file}.1`;
    const resumed = tail.last === undefined && existsSync(rotated) ? fileTail(rotated, bounds.tailBytes) : undefined;
    const last = resumed?.last ?? tail.last;
    const headFd = openSync(path.join(dataDir, AUDIT_HEAD_FILE_NAME), constants.O_RDWR | constants.O_CREAT, 0o600);
    fchmodSync(headFd, 0o600);
    const recorded = readHead(headFd);
    const cutOff = recorded === undefined ? undefined : cutOffFrom(recorded, last);
    const log = new AuditLog(file, fd, written, written, last, clock, bounds, tail.damage ?? resumed?.damage, headFd, cutOff, sync);
    if (resumed?.last !== undefined) {
      log.tokens = tokensChainedIn(auditLines(rotated));
      log.append(log.rotationEntry({ resumedAtStart: true }));
    }
    if (tail.torn !== undefined) log.append({ action: 'audit-torn-line', actor: GATEWAY_ACTOR, details: { bytes: tail.torn.bytes, line: tail.torn.line } });
    if (cutOff !== undefined)
      log.append({ action: 'audit-cut-off', actor: GATEWAY_ACTOR, details: { recordedSeq: recorded!.seq, recordedHash: recorded!.hash, foundSeq: cutOff.foundSeq, foundHash: last?.hash ?? null } });
    return log;
  }

  /** Chains the record now; writes it now (a person's action) or with the rest of this turn (the gateway's). */
  append(entry: AuditEntry): AuditRecord {
    if (this.fileBytes >= this.limits.maxFileBytes) this.chain(this.rotationEntry(), true);
    const record = this.chain(entry, false);
    if (entry.actor.channel !== 'gateway') this.flush();
    else this.scheduled ??= setImmediate(() => this.writeInBackground());
    return record;
  }

  /** Whether a token's creation (by its fingerprint) is chained in the log. */
  hasChainedToken(fingerprint: string): boolean {
    return this.chainedTokens().has(fingerprint);
  }

  /**
   * Told when background writes start failing; the records are retried every WRITE_RETRY_MS, and a fault that
   * lasts is told once, not at every retry.
   */
  onWriteError(listener: (error: Error) => void): void {
    this.writeFaults.onFailed(listener);
  }

  /** Told when a write succeeds after background writes failed, with how long they failed. */
  onWriteRecovered(listener: (failedForMs: number) => void): void {
    this.writeFaults.onRecovered(listener);
  }

  /** Writes and fdatasyncs every pending record, rotating where due; throws when the disk refuses (the rest stay pending). */
  flush(): void {
    this.write('now');
  }

  /** Resolves once the records written in the background are synced (or their sync failed). */
  synced(): Promise<void> {
    return this.backgroundSync.settled();
  }

  /** Writes every pending record, rotating where due, and syncs them now or off the event loop. */
  private write(sync: 'now' | 'background'): void {
    clearImmediate(this.scheduled as NodeJS.Immediate);
    clearTimeout(this.scheduled as NodeJS.Timeout);
    this.scheduled = undefined;
    while (this.pending.length > 0) {
      // `written` is 0 when a rotation already happened and only the write after it failed.
      if (this.pending[0]!.opensFile && this.written > 0) this.rotate();
      let count = 1;
      while (count < this.pending.length && !this.pending[count]!.opensFile) count += 1;
      this.writeLines(Buffer.from(this.pending.slice(0, count).map((line) => line.text).join('')), sync);
      this.pending.splice(0, count);
    }
    this.writeFaults.succeeded();
    const written = this.last;
    if (sync === 'now') this.writeHead(written);
    else this.backgroundSync.request(() => this.writeHead(written));
  }

  close(): void {
    try {
      this.flush();
    } finally {
      closeSync(this.fd);
      closeSync(this.headFd);
    }
  }

  /** Records `last` as the log's head once it and the records before it are synced, unless a later one is recorded. */
  private writeHead(last: Pick<AuditRecord, 'seq' | 'hash'> | undefined): void {
    if (last === undefined || (this.headSeq !== undefined && last.seq <= this.headSeq)) return;
    // Not synced: the records it names are, before it is written, so a crash can leave it behind the log (which
    // reports nothing), never ahead; a second fdatasync per turn would hold the loop that stores and ACKs.
    writeSync(this.headFd, JSON.stringify({ seq: last.seq, hash: last.hash }).padEnd(HEAD_BYTES, ' ') + '\n', 0);
    this.headSeq = last.seq;
  }

  private chain(entry: AuditEntry, opensFile: boolean): AuditRecord {
    const record = nextRecord(this.last, entry, this.clock.now());
    this.last = record;
    const text = JSON.stringify(record) + '\n';
    this.fileBytes = (opensFile ? 0 : this.fileBytes) + Buffer.byteLength(text);
    this.pending.push({ text, opensFile });
    const fingerprint = tokenFingerprintOf(record);
    if (fingerprint !== undefined) this.tokens?.add(fingerprint);
    return record;
  }

  /** The first record of a new file: it carries what a reader of that file alone needs. */
  private rotationEntry(extra: Record<string, unknown> = {}): AuditEntry {
    return { action: 'audit-rotated', actor: GATEWAY_ACTOR, details: { maxFileBytes: this.limits.maxFileBytes, chainedTokens: [...this.chainedTokens()], ...extra } };
  }

  private chainedTokens(): Set<string> {
    this.tokens ??= tokensChainedIn(auditLines(this.file), tokensChainedIn(this.pending.map((line) => line.text)));
    return this.tokens;
  }

  /**
   * Writes all of `bytes` (a short write is continued), and fdatasyncs now unless that is left to the background;
   * on failure the file is cut back to before them.
   */
  private writeLines(bytes: Buffer, sync: 'now' | 'background'): void {
    try {
      for (let offset = 0; offset < bytes.length; ) {
        const count = writeSync(this.fd, bytes, offset);
        if (count <= 0) throw new Error(`audit log: the disk took none of ${bytes.length - offset} byte(s)`);
        offset += count;
      }
      if (sync === 'now') fdatasyncSync(this.fd);
    } catch (error) {
      // Leaves no part of a record behind for the retry to write after.
      try {
        ftruncateSync(this.fd, this.written);
      } catch {
        // the open at the next start ends what is left as a torn line
      }
      throw error;
    }
    this.written += bytes.length;
  }

  private rotate(): void {
    // Absent when an earlier rotation moved it and failed before the new file was opened.
    if (existsSync(this.file)) {
      for (let number = this.limits.keepFiles; number >= 1; number -= 1) {
        const rotated = `${this.file}.${number}`;
        if (!existsSync(rotated)) continue;
        if (number === this.limits.keepFiles) unlinkSync(rotated);
        else renameSync(rotated, `${this.file}.${number + 1}`);
      }
      renameSync(this.file, `${this.file}.1`);
    }
    const fd = openSync(this.file, 'a+', 0o600);
    fchmodSync(fd, 0o600);
    // The background sync goes to the new file from now on: what was written to the old one is synced here.
    fdatasyncSync(this.fd);
    closeSync(this.fd);
    this.fd = fd;
    this.written = 0;
    // The renames must survive a crash as the records after them do.
    const dir = openSync(path.dirname(this.file), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  }

  private writeInBackground(): void {
    try {
      this.write('background');
    } catch (error) {
      this.writeFaults.failed(error as Error);
      this.scheduled ??= setTimeout(() => this.writeInBackground(), WRITE_RETRY_MS).unref();
    }
  }
}

/** Adds to `tokens` the fingerprints of token creations these lines chain or (in an audit-rotated record) carry. */
function tokensChainedIn(lines: Iterable<string>, tokens = new Set<string>()): Set<string> {
  for (const line of lines) {
    if (!line.includes('"token-created"') && !line.includes('"audit-rotated"')) continue;
    try {
      const record = JSON.parse(line) as AuditRecord;
      const fingerprint = tokenFingerprintOf(record);
      if (fingerprint !== undefined) tokens.add(fingerprint);
      const carried = record.action === 'audit-rotated' ? record.details.chainedTokens : undefined;
      if (Array.isArray(carried)) for (const f of carried) if (typeof f === 'string') tokens.add(f);
    } catch {
      // A damaged line chains nothing: its token is chained again.
    }
  }
  return tokens;
}

function tokenFingerprintOf(record: AuditRecord): string | undefined {
  const fingerprint = record.action === 'token-created' ? record.details?.fingerprint : undefined;
  return typeof fingerprint === 'string' ? fingerprint : undefined;
}

interface Tail {
  last: Pick<AuditRecord, 'seq' | 'hash'> | undefined;
  damage: AuditDamage | undefined;
  /** The file does not end with a newline: one is written before the next record. */
  unterminated: boolean;
  /** That last line is no record of the chain. */
  torn: { bytes: number; line: number | null } | undefined;
}

function fileTail(file: string, tailBytes: number): Tail {
  const fd = openSync(file, 'r');
  try {
    return readTail(fd, fstatSync(fd).size, tailBytes);
  } finally {
    closeSync(fd);
  }
}

/** Reads the last `tailBytes` of the file: the record to continue from, and whether the chain holds there. */
function readTail(fd: number, size: number, tailBytes: number): Tail {
  const start = Math.max(0, size - tailBytes);
  const buffer = Buffer.alloc(size - start);
  for (let offset = 0; offset < buffer.length; ) {
    const count = readSync(fd, buffer, offset, buffer.length - offset, start + offset);
    if (count === 0) break;
    offset += count;
  }
  const lines = buffer.toString('utf8').split('\n');
  const unterminated = lines.pop()!;
  // Read from the middle of the file: its first line is a piece of one, and line numbers are unknown.
  if (start > 0) lines.shift();
  const lineOf = (index: number): number | null => (start === 0 ? index + 1 : null);
  // Its first record continues one before it: before the part read, or in the file rotation renamed `.1`.
  const verifier = new ChainVerifier((first) => start > 0 || first.action === 'audit-rotated');
  let damage: AuditDamage | undefined;
  for (const [index, line] of lines.entries()) {
    const broken = verifier.check(line, index + 1);
    if (broken === undefined) continue;
    damage = { line: lineOf(index), seq: broken.seq, reason: broken.reason };
    break;
  }
  // A record whose newline alone was lost is whole: it stays in the chain.
  const whole = unterminated !== '' && damage === undefined && verifier.check(unterminated, lines.length + 1) === undefined;
  const last = damage === undefined ? verifier.last : lastParsable(lines);
  if (unterminated === '' || whole) return { last, damage, unterminated: whole, torn: undefined };
  const line = lineOf(lines.length);
  damage ??= { line, seq: null, reason: 'the last line was cut short (a crash while writing it); it is ended so new records start on a line of their own' };
  return { last, damage, unterminated: true, torn: { bytes: Buffer.byteLength(unterminated), line } };
}

/** The head recorded in the file, or undefined (none yet, or not one this log wrote). */
function readHead(fd: number): Head | undefined {
  const buffer = Buffer.alloc(HEAD_BYTES + 1);
  const read = readSync(fd, buffer, 0, buffer.length, 0);
  try {
    const head = JSON.parse(buffer.subarray(0, read).toString('utf8')) as Partial<Head>;
    return typeof head.seq === 'number' && typeof head.hash === 'string' ? { seq: head.seq, hash: head.hash } : undefined;
  } catch {
    return undefined;
  }
}

/** What is missing when the log ends before the recorded head (a crash may leave the head behind the log, never ahead). */
function cutOffFrom(recorded: Head, found: Head | undefined): AuditCutOff | undefined {
  const since = 'since the gateway last wrote it (cut off, deleted or replaced by someone with write access to dataDir)';
  if (found === undefined) return { recordedSeq: recorded.seq, foundSeq: null, reason: `the audit log holds no record: records 1 to ${recorded.seq} are missing ${since}` };
  if (found.seq < recorded.seq)
    return { recordedSeq: recorded.seq, foundSeq: found.seq, reason: `the audit log ends at record ${found.seq}: records ${found.seq + 1} to ${recorded.seq} are missing ${since}` };
  if (found.seq === recorded.seq && found.hash !== recorded.hash)
    return { recordedSeq: recorded.seq, foundSeq: found.seq, reason: `the audit log's last record ${found.seq} is not the one the gateway wrote: replaced ${since}` };
  return undefined;
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
