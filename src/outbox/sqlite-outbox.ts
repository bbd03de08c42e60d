import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { GatewayError, isGatewayError, schemaTooNew } from '../errors.js';
import { receivedAtMs, type NormalizedEvent } from '../model/event.js';
import { systemClock, type Audience, type Clock } from '../ports.js';
import { SQLITE_BUSY_TIMEOUT_MS } from '../timeout.js';
import { ClockSteps, type ClockStep } from '../clock-steps.js';
import { limitWalSize, walBytes } from '../sqlite-wal.js';
import { DEAD_LETTER_RETRY_LIMIT, type AppendResult, type DeadLetter, type DeadLetterPage, type Outbox, type OutboxEntry, type OutputRegistration, type RetriedDeadLetter, type RetiredOutput } from './outbox.js';
import {
  IndexedOutbox,
  DEDUPE_CAPACITY,
  DEFAULT_DEDUPE_WINDOW_MS,
  outboxWriteFailed,
  serializeEvents,
} from './outbox-shared.js';
import { forgetJson, parsedEvent } from '../model/event-json.js';
import { DedupeIndex } from './dedupe-index.js';
import { entryMeta, type EntryMeta } from './pending-index.js';

export interface SqliteOutboxOptions {
  /** Created when missing; holds `outbox.sqlite` and its WAL. */
  dataDir: string;
  dedupeWindowMs?: number;
  clock?: Clock;
  /**
   * When set, entries delivered (or dead) for every registered output and stored longer ago than this are
   * deleted. Entries with a dead letter are kept. Unset: nothing is ever deleted.
   */
  retentionMs?: number;
  /** When set, dead letters older than this are deleted (their entries then fall under `retentionMs`). */
  deadLetterRetentionMs?: number;
  /** Hash of dedupe keys in memory; tests pass a colliding one to show a hit is confirmed against the stored key. */
  dedupeHash?: (key: string) => number;
}

export const OUTBOX_FILE_NAME = 'outbox.sqlite';

/** Page size of a new outbox database. */
export const PAGE_SIZE = 16_384;

/** Events kept in memory after their commit: enough for a burst in flight, small against the RSS budget. */
const RECENT_EVENTS = 4096;

/**
 * The last RECENT_EVENTS stored events by seq. Seqs are handed out one after another, so slot `seq % size`
 * holds the newest event of its residue class and a lookup is one array read, with no per-event map churn.
 */
class RecentEvents {
  private readonly seqs = new Float64Array(RECENT_EVENTS).fill(-1);
  private readonly events: Array<NormalizedEvent | undefined> = new Array<NormalizedEvent | undefined>(RECENT_EVENTS);

  /** `event` undefined: the slot keeps nothing (not the event `RECENT_EVENTS` seqs older either). */
  set(seq: number, event: NormalizedEvent | undefined): void {
    const slot = seq % RECENT_EVENTS;
    this.seqs[slot] = seq;
    this.events[slot] = event;
  }

  get(seq: number): NormalizedEvent | undefined {
    const slot = seq % RECENT_EVENTS;
    return this.seqs[slot] === seq ? this.events[slot] : undefined;
  }

  /** Lets `seq`'s event go, if the ring still holds it. */
  release(seq: number): void {
    const slot = seq % RECENT_EVENTS;
    if (this.seqs[slot] === seq) this.events[slot] = undefined;
  }
}

/** The dead-letter reason of the events a retired output had not delivered when no output took them over. */
const RETIRED_REASON = 'output removed from the configuration before it delivered this event';

/** Retention pruning runs this often (clock time), and at once again while it finds full batches. */
const PRUNE_INTERVAL_MS = 60_000;

/** Rows deleted per pruning transaction: small, so a commit never waits long behind one. */
const PRUNE_BATCH = 500;

/** Migration N (0-based) moves the schema from user_version N to N + 1. Append only; never edit a shipped step. */
const MIGRATIONS: readonly string[] = [
  `
  -- AUTOINCREMENT: seqs are never reused, even after retention deletes the newest rows, so cursors stay valid.
  CREATE TABLE entry (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT,
    duress INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    stored_at INTEGER NOT NULL,
    dedupe_key TEXT,
    event TEXT NOT NULL
  );
  CREATE INDEX entry_dedupe ON entry (dedupe_key, stored_at) WHERE dedupe_key IS NOT NULL;
  -- Everything at or below the watermark is finished for that output.
  CREATE TABLE output_cursor (output TEXT PRIMARY KEY, watermark INTEGER NOT NULL) WITHOUT ROWID;
  -- Finished (delivered or dead) seqs above the watermark; deleted as the watermark passes them.
  CREATE TABLE output_done (output TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (output, seq)) WITHOUT ROWID;
  CREATE TABLE dead_letter (
    output TEXT NOT NULL,
    seq INTEGER NOT NULL,
    reason TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (output, seq)
  ) WITHOUT ROWID;
  `,
  // Dedupe moved to memory (DedupeIndex): this index made every commit write pages all over the file.
  `DROP INDEX entry_dedupe;`,
  // An output's audience, so a retired one's undelivered events go to an output of the same audience (NULL: stored
  // before this step; registerOutputs drops such a cursor of an output no longer configured instead of retiring it).
  `ALTER TABLE output_cursor ADD COLUMN audience TEXT;`,
];

/**
 * Each output's dead letters, in memory: /healthz, the console overview (polled by every open console) and /metrics
 * ask for them on every request, and counted in SQLite each was a scan of every letter (some 35 ms for 200,000) on
 * the event loop that stores and ACKs duress frames. Read from the file once at open; `written` then follows every
 * row inserted or deleted, after its transaction commits, and `queued` the letters marked but not yet written, which
 * count at once (as they are listed at once).
 */
class DeadLetterCounts {
  private readonly written = new Map<string, number>();
  private readonly queued = new Map<string, number>();

  constructor(rows: Iterable<{ output: string; count: number }>) {
    for (const { output, count } of rows) this.written.set(output, count);
  }

  /** One output's letters, or every output's. */
  of(output?: string): number {
    if (output !== undefined) return (this.written.get(output) ?? 0) + (this.queued.get(output) ?? 0);
    let total = 0;
    for (const counts of [this.written, this.queued]) for (const count of counts.values()) total += count;
    return total;
  }

  /** The outputs that have letters. */
  outputs(): string[] {
    return [...new Set([...this.written.keys(), ...this.queued.keys()])];
  }

  marked(output: string): void {
    add(this.queued, output, 1);
  }

  /** A batch of marks committed: `added` names the output of each letter new to the file (one marked again replaces its row). */
  committed(marks: readonly QueuedMark[], added: readonly string[]): void {
    for (const mark of marks) if (mark.dead !== undefined) add(this.queued, mark.output, -1);
    for (const output of added) add(this.written, output, 1);
  }

  deleted(output: string, count: number): void {
    add(this.written, output, -count);
  }

  /** What the file holds for `output`, counted again (after a statement that may have replaced rows as well as added them). */
  recounted(output: string, count: number): void {
    this.written.set(output, count);
  }
}

function add(counts: Map<string, number>, key: string, by: number): void {
  const count = (counts.get(key) ?? 0) + by;
  if (count === 0) counts.delete(key);
  else counts.set(key, count);
}

/** Flat, with the caller's events array beside their texts: it lives until the group commit, one per frame. */
interface QueuedAppend {
  events: readonly NormalizedEvent[];
  /** Each event's text, by index. */
  jsons: string[];
  dedupeKey: string | undefined;
  /** The dedupe key's hash (unused without a key). */
  hash: number;
  at: number;
  resolve: (result: AppendResult) => void;
  reject: (error: GatewayError) => void;
}

interface QueuedMark {
  output: string;
  seq: number;
  dead?: { reason: string; at: number };
}

function openDatabase(file: string): Database.Database {
  const db = new Database(file, { timeout: SQLITE_BUSY_TIMEOUT_MS });
  try {
    // Taken only by a new database (an existing one keeps its own). An entry is about a kilobyte: with 16 KB pages a
    // group commit writes a quarter of the WAL frames, each a system call, and a checkpoint copies a quarter as many.
    db.pragma(`page_size = ${PAGE_SIZE}`);
    if (db.pragma('journal_mode = WAL', { simple: true }) !== 'wal') throw new Error('WAL journal mode unavailable');
    // In WAL mode NORMAL syncs only at checkpoints, so a commit can vanish on power loss; FULL fsyncs the WAL on
    // every commit, which makes a resolved append survive power loss as well as a process crash.
    db.pragma('synchronous = FULL');
    migrate(db, file);
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/** The outbox could not be opened, or its state read at start-up: the error names the file (start-up's fix moves it aside). */
function openFailed(file: string, cause: unknown): GatewayError {
  return isGatewayError(cause) ? cause : new GatewayError('OUTBOX_OPEN_FAILED', `cannot open the outbox ${file}`, { cause });
}

function migrate(db: Database.Database, file: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > MIGRATIONS.length) throw schemaTooNew('OUTBOX_OPEN_FAILED', file, version, MIGRATIONS.length);
  // Nothing to write when current: a start must not write into a file it has not read yet (a damaged page would spread).
  if (version === MIGRATIONS.length) return;
  db.transaction(() => {
    for (const step of MIGRATIONS.slice(version)) db.exec(step);
    db.pragma(`user_version = ${MIGRATIONS.length}`);
  }).immediate();
}

function prepareStatements(db: Database.Database) {
  return {
    head: db.prepare<[], number>(`SELECT seq FROM sqlite_sequence WHERE name = 'entry'`).pluck(),
    insertEntry: db.prepare<[string | null, number, number, number, string | null, string]>(
      `INSERT INTO entry (account, duress, received_at, stored_at, dedupe_key, event) VALUES (?, ?, ?, ?, ?, ?)`,
    ),
    appendRows: db.prepare<[number, number], { seq: number; dedupe_key: string | null; stored_at: number; event: string }>(
      `SELECT seq, dedupe_key, stored_at, event FROM entry WHERE seq >= ? ORDER BY seq LIMIT ?`,
    ),
    // The same rows without their events: enough to confirm a retransmit (hasStored).
    appendKeys: db.prepare<[number, number], { seq: number; dedupe_key: string | null; stored_at: number }>(
      `SELECT seq, dedupe_key, stored_at FROM entry WHERE seq >= ? ORDER BY seq LIMIT ?`,
    ),
    // Every row, not only keyed ones: the walk must stop at the window's start, whatever the rows before it hold.
    newestFirst: db.prepare<[], { seq: number; dedupe_key: string | null; stored_at: number }>(
      `SELECT seq, dedupe_key, stored_at FROM entry ORDER BY seq DESC`,
    ),
    event: db.prepare<[number], string>(`SELECT event FROM entry WHERE seq = ?`).pluck(),
    // The seqs come as one JSON array: one statement step per row instead of one statement per row.
    events: db.prepare<[string], { seq: number; event: string }>(`SELECT seq, event FROM entry WHERE seq IN (SELECT value FROM json_each(?))`),
    cursor: db.prepare<[string], number>(`SELECT watermark FROM output_cursor WHERE output = ?`).pluck(),
    cursors: db.prepare<[], { output: string; watermark: number; audience: Audience | null }>(`SELECT output, watermark, audience FROM output_cursor`),
    insertCursor: db.prepare<[string, number, Audience]>(`INSERT INTO output_cursor (output, watermark, audience) VALUES (?, ?, ?)`),
    setAudience: db.prepare<[Audience, string]>(`UPDATE output_cursor SET audience = ? WHERE output = ?`),
    deleteCursor: db.prepare<[string]>(`DELETE FROM output_cursor WHERE output = ?`),
    deleteDone: db.prepare<[string]>(`DELETE FROM output_done WHERE output = ?`),
    undelivered: db.prepare<[{ output: string; watermark: number }], { count: number; duress: number; lowest: number | null }>(
      `SELECT count(*) AS count, coalesce(sum(e.duress), 0) AS duress, min(e.seq) AS lowest FROM entry e
       WHERE e.seq > @watermark AND NOT EXISTS (SELECT 1 FROM output_done d WHERE d.output = @output AND d.seq = e.seq)`,
    ),
    deadLetterUndelivered: db.prepare<[{ output: string; watermark: number; reason: string; at: number }]>(
      `INSERT OR REPLACE INTO dead_letter (output, seq, reason, at) SELECT @output, e.seq, @reason, @at FROM entry e
       WHERE e.seq > @watermark AND NOT EXISTS (SELECT 1 FROM output_done d WHERE d.output = @output AND d.seq = e.seq)`,
    ),
    updateCursor: db.prepare<[number, string]>(`UPDATE output_cursor SET watermark = ? WHERE output = ?`),
    pendingOf: db.prepare<[number, string], { seq: number; account: string | null; duress: number; received_at: number }>(
      `SELECT e.seq, e.account, e.duress, e.received_at FROM entry e
       WHERE e.seq > ? AND NOT EXISTS (SELECT 1 FROM output_done d WHERE d.output = ? AND d.seq = e.seq)
       ORDER BY e.seq`,
    ),
    insertDone: db.prepare<[string, number]>(`INSERT OR IGNORE INTO output_done (output, seq) VALUES (?, ?)`),
    compactDone: db.prepare<[string, number]>(`DELETE FROM output_done WHERE output = ? AND seq <= ?`),
    // Ignore, then update: the counts in memory learn whether the letter is new (see DeadLetterCounts).
    insertDead: db.prepare<[string, number, string, number]>(`INSERT OR IGNORE INTO dead_letter (output, seq, reason, at) VALUES (?, ?, ?, ?)`),
    updateDead: db.prepare<[string, number, string, number]>(`UPDATE dead_letter SET reason = ?, at = ? WHERE output = ? AND seq = ?`),
    deadLetters: db.prepare<[{ output: string | null; after: number; limit: number }], { output: string; seq: number; reason: string; at: number; event: string }>(
      `SELECT d.output, d.seq, d.reason, d.at, e.event FROM dead_letter d JOIN entry e ON e.seq = d.seq
       WHERE d.seq IN (SELECT DISTINCT seq FROM dead_letter WHERE (@output IS NULL OR output = @output) AND seq > @after ORDER BY seq LIMIT @limit)
         AND (@output IS NULL OR d.output = @output)
       ORDER BY d.seq, d.output`,
    ),
    // A page: each output's next seqs along the primary key, then every letter of the seqs chosen; both read the
    // page's rows alone, where one statement for every output (or for none named) scanned every letter.
    deadSeqsOf: db.prepare<[string, number, number], number>(`SELECT seq FROM dead_letter WHERE output = ? AND seq > ? ORDER BY seq LIMIT ?`).pluck(),
    deadLettersAt: db.prepare<[{ outputs: string; seqs: string }], { output: string; seq: number; reason: string; at: number; event: string }>(
      `SELECT d.output, d.seq, d.reason, d.at, e.event FROM dead_letter d JOIN entry e ON e.seq = d.seq
       WHERE d.output IN (SELECT value FROM json_each(@outputs)) AND d.seq IN (SELECT value FROM json_each(@seqs))
       ORDER BY d.seq, d.output`,
    ),
    // The stored row of each dead letter to retry, so its new entry copies it as it is.
    deadToRetry: db.prepare<[{ output: string; seqs: string | null; limit: number }], { seq: number; account: string | null; duress: number; received_at: number; event: string }>(
      `SELECT d.seq, e.account, e.duress, e.received_at, e.event FROM dead_letter d JOIN entry e ON e.seq = d.seq
       WHERE d.output = @output AND (@seqs IS NULL OR d.seq IN (SELECT value FROM json_each(@seqs)))
       ORDER BY d.seq LIMIT @limit`,
    ),
    deleteDead: db.prepare<[string, number]>(`DELETE FROM dead_letter WHERE output = ? AND seq = ?`),
    deadDuress: db.prepare<[string, number], { seq: number; event: string }>(
      `SELECT seq, event FROM (SELECT e.seq, e.event FROM dead_letter d JOIN entry e ON e.seq = d.seq
       WHERE d.output = ? AND e.duress = 1 ORDER BY d.seq DESC LIMIT ?) ORDER BY seq`,
    ),
    // Read at start-up alone (a scan of every letter): the counts live in memory from then on.
    deadLetterCounts: db.prepare<[], { output: string; count: number }>(`SELECT output, count(*) AS count FROM dead_letter GROUP BY output`),
    deadLetterCountOf: db.prepare<[string], number>(`SELECT count(*) FROM dead_letter WHERE output = ?`).pluck(),
    prune: db.prepare<[number, number, number]>(
      `DELETE FROM entry WHERE seq IN (SELECT seq FROM entry WHERE seq <= ? AND stored_at <= ?
         AND seq NOT IN (SELECT seq FROM dead_letter) ORDER BY seq LIMIT ?)`,
    ),
    shiftDead: db.prepare<[number, number, number]>(`UPDATE dead_letter SET at = at + ? WHERE at BETWEEN ? AND ?`),
    pruneDead: db.prepare<[number, number], { output: string }>(
      `DELETE FROM dead_letter WHERE (output, seq) IN (SELECT output, seq FROM dead_letter WHERE at <= ? LIMIT ?) RETURNING output`,
    ),
    count: db.prepare<[], number>(`SELECT count(*) FROM entry`).pluck(),
    oldestStored: db.prepare<[], number>(`SELECT stored_at FROM entry ORDER BY seq LIMIT 1`).pluck(),
  };
}

/**
 * The durable Outbox on SQLite (WAL, synchronous=FULL).
 *
 * - Group commit: every append queued in the same macrotask is written in one transaction (one fsync) on
 *   `setImmediate`; all their promises then resolve, or all reject with OUTBOX_WRITE_FAILED.
 * - Marks are lazy: markDelivered/markDead take effect in memory at once and reach disk in the next write
 *   transaction, scheduled the same way (so within one macrotask, sharing the appends' fsync). A mark lost to a
 *   crash only means a redelivery, which at-least-once allows; a mark that failed to write is retried.
 * - Outputs are tracked from `registerOutputs` on (their pending index is rebuilt from disk then). An output
 *   removed from the configuration is retired there: its undelivered events go to the outputs added in its place
 *   (same audience) or become its dead letters, and its cursor is deleted, so retention never prunes them unseen
 *   (one removed before the upgrade that stored audiences is only deleted: see OutputRegistration.forgotten).
 */
export class SqliteOutbox extends IndexedOutbox implements Outbox {
  static open(options: SqliteOutboxOptions): SqliteOutbox {
    const file = path.join(options.dataDir, OUTBOX_FILE_NAME);
    let db: Database.Database | undefined;
    try {
      fs.mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
      db = openDatabase(file);
      // Inside the try: loading the state reads the entry table, where a damaged page may show.
      return new SqliteOutbox(db, options);
    } catch (cause) {
      if (db?.open === true) db.close();
      throw openFailed(file, cause);
    }
  }

  private readonly dedupe: DedupeIndex;
  private readonly clock: Clock;
  private readonly dedupeWindowMs: number;
  private readonly retentionMs: number | undefined;
  private readonly deadLetterRetentionMs: number | undefined;
  /** Steps of the wall clock, which the times of dead letters follow (see deadLettersStepped). */
  private readonly clockSteps: ClockSteps;
  /** A step the dead letters' times could not follow: none is pruned until a restart, rather than one too early. */
  private deadLetterTimesUnsure = false;
  private readonly pruneTimer: NodeJS.Timeout | undefined;
  /** Rows in the entry table. */
  private entryCount: number;
  private appends: QueuedAppend[] = [];
  private marks: QueuedMark[] = [];
  private scheduled: NodeJS.Immediate | undefined;
  /** Highest committed seq. */
  private head: number;
  private closed = false;

  private readonly statements: ReturnType<typeof prepareStatements>;
  /** The events stored last, by seq. */
  private readonly recent = new RecentEvents();
  private readonly writeBatch: Database.Transaction<(appends: QueuedAppend[], marks: QueuedMark[]) => { results: AppendResult[]; deadAdded: string[] }>;
  private readonly deadCounts: DeadLetterCounts;

  private readonly file: string;
  /** The WAL's size at which SQLite checkpoints it (see limitWalSize). */
  private readonly walCheckpointBytes: number;

  private constructor(
    private readonly db: Database.Database,
    options: SqliteOutboxOptions,
  ) {
    super();
    this.file = path.join(options.dataDir, OUTBOX_FILE_NAME);
    this.clock = options.clock ?? systemClock;
    this.dedupeWindowMs = options.dedupeWindowMs ?? DEFAULT_DEDUPE_WINDOW_MS;
    this.retentionMs = options.retentionMs;
    this.deadLetterRetentionMs = options.deadLetterRetentionMs;
    // Looked at before the first reading: every dead letter's time read since lies in the range a step moves.
    this.clockSteps = new ClockSteps(this.clock);
    this.clockSteps.look();
    this.walCheckpointBytes = limitWalSize(db);
    this.statements = prepareStatements(db);
    this.entryCount = this.statements.count.get() ?? 0;
    this.head = this.statements.head.get() ?? 0;
    this.deadCounts = new DeadLetterCounts(this.statements.deadLetterCounts.all());
    this.dedupe = new DedupeIndex(this.dedupeWindowMs, DEDUPE_CAPACITY, options.dedupeHash);
    this.loadDedupe();
    this.writeBatch = db.transaction((appends: QueuedAppend[], marks: QueuedMark[]) => {
      // Marks go first: their watermarks are computed against the head committed before this batch's inserts.
      const deadAdded = this.writeMarks(marks);
      return { results: this.writeAppends(appends), deadAdded };
    });
    if (this.retentionMs !== undefined || this.deadLetterRetentionMs !== undefined) {
      this.pruneTimer = setInterval(() => this.prune(), PRUNE_INTERVAL_MS);
      this.pruneTimer.unref();
    }
  }

  storage(): { entries: number; oldestStoredAt: number | null } {
    if (this.closed) return { entries: 0, oldestStoredAt: null };
    return { entries: this.entryCount, oldestStoredAt: this.statements.oldestStored.get() ?? null };
  }

  wal(): { bytes: number; stuck: boolean } {
    const bytes = this.closed ? 0 : walBytes(this.file);
    return { bytes, stuck: bytes > 2 * this.walCheckpointBytes };
  }

  /**
   * Deletes one small batch of what retention allows (finished entries past `retentionMs`, dead letters past
   * `deadLetterRetentionMs`) in a transaction of its own, after writing what is queued; while batches come back
   * full, the next runs on the following turn of the event loop, so ingest goes on between them. Returns the rows
   * deleted by this batch.
   */
  prune(): number {
    if (this.closed) return 0;
    this.flush();
    const now = this.now();
    let deleted = 0;
    let deadPruned: Array<{ output: string }> = [];
    try {
      deleted = this.db.transaction(() => {
        let rows = 0;
        if (this.deadLetterRetentionMs !== undefined && !this.deadLetterTimesUnsure) {
          deadPruned = this.statements.pruneDead.all(now - this.deadLetterRetentionMs, PRUNE_BATCH);
          rows += deadPruned.length;
        }
        const outputs = this.index.outputs();
        if (this.retentionMs !== undefined && outputs.length > 0) {
          const finishedEverywhere = Math.min(...outputs.map((output) => this.watermarkOf(output)));
          // Never prune inside the dedupe window: a retransmit must still find its earlier copy.
          const entries = this.statements.prune.run(finishedEverywhere, now - Math.max(this.retentionMs, this.dedupeWindowMs), PRUNE_BATCH).changes;
          this.entryCount -= entries;
          rows += entries;
        }
        return rows;
      }).immediate();
    } catch {
      this.entryCount = this.statements.count.get() ?? 0; // the rolled-back deletes were counted
      return 0; // the next interval tries again; a failed prune loses nothing
    }
    for (const { output } of deadPruned) this.deadCounts.deleted(output, 1);
    if (deleted >= PRUNE_BATCH) setImmediate(() => this.prune()).unref();
    return deleted;
  }

  append(events: NormalizedEvent[], options: { dedupeKey?: string } = {}): Promise<AppendResult> {
    if (this.closed) return Promise.reject(outboxWriteFailed('outbox is closed'));
    let jsons: string[];
    try {
      jsons = serializeEvents(events);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<AppendResult>((resolve, reject) => {
      const { dedupeKey } = options;
      const hash = dedupeKey === undefined ? 0 : this.dedupe.hash(dedupeKey);
      this.appends.push({ events, jsons, dedupeKey, hash, at: this.clock.now(), resolve, reject });
      this.scheduleFlush();
    });
  }

  storedUnder(dedupeKey: string): OutboxEntry[] | undefined {
    if (this.closed) return undefined;
    return this.storedWithin(dedupeKey, this.dedupe.hash(dedupeKey), this.clock.now());
  }

  hasStored(dedupeKey: string): boolean {
    return !this.closed && this.rowsStoredWithin(dedupeKey, this.dedupe.hash(dedupeKey), this.clock.now(), this.statements.appendKeys) !== undefined;
  }

  registerOutputs(names: readonly string[], audiences: ReadonlyMap<string, Audience> = new Map()): OutputRegistration {
    try {
      return this.registerOutputsIn(names, audiences);
    } catch (cause) {
      // Part of opening: the cursors and every pending entry are read here first, where a torn page shows.
      throw openFailed(this.file, cause);
    }
  }

  private registerOutputsIn(names: readonly string[], audiences: ReadonlyMap<string, Audience>): OutputRegistration {
    this.flush(); // the head and the cursors as committed
    const audienceOf = (name: string): Audience => audiences.get(name) ?? 'central';
    const configured = new Set(names);
    const cursors = this.statements.cursors.all();
    const known = new Set(cursors.map((cursor) => cursor.output));
    const added = [...configured].filter((name) => !known.has(name));
    // An output tracked by an earlier call of this process is not retired by a later one that leaves it out.
    const removed = cursors.filter((cursor) => !configured.has(cursor.output) && !this.index.has(cursor.output));
    const now = this.now();
    const deadLettered: string[] = [];
    const registration = this.db.transaction((): OutputRegistration => {
      const starts = new Map(added.map((name) => [name, this.head]));
      const retired: RetiredOutput[] = [];
      const forgotten: string[] = [];
      for (const { output, watermark, audience } of removed) {
        // No audience: the output left the configuration before the upgrade to schema step 3 (see OutputRegistration).
        if (audience === null) forgotten.push(output);
        else {
          const undelivered = this.statements.undelivered.get({ output, watermark })!;
          if (undelivered.count > 0) {
            const heirs = added.filter((name) => audienceOf(name) === audience);
            for (const heir of heirs) starts.set(heir, Math.min(starts.get(heir)!, undelivered.lowest! - 1));
            if (heirs.length === 0) {
              this.statements.deadLetterUndelivered.run({ output, watermark, reason: RETIRED_REASON, at: now });
              deadLettered.push(output);
            }
            retired.push({ output, undelivered: undelivered.count, duress: undelivered.duress, handedTo: heirs });
          }
        }
        this.statements.deleteCursor.run(output);
        this.statements.deleteDone.run(output);
      }
      for (const [name, start] of starts) this.statements.insertCursor.run(name, start, audienceOf(name));
      for (const name of configured) if (known.has(name)) this.statements.setAudience.run(audienceOf(name), name);
      return { retired, forgotten };
    }).immediate();
    for (const output of deadLettered) this.deadCounts.recounted(output, this.statements.deadLetterCountOf.get(output) ?? 0);
    for (const name of configured) {
      if (!this.index.has(name)) this.index.track(name, this.loadPending(name, this.statements.cursor.get(name)!));
    }
    return registration;
  }

  /** From the ring of recent events where it still holds them, else read back from disk in one query. */
  protected entriesOf(seqs: readonly number[]): OutboxEntry[] {
    const entries = new Array<OutboxEntry>(seqs.length);
    const notRecent: number[] = [];
    for (let i = 0; i < seqs.length; i++) {
      const seq = seqs[i]!;
      const event = this.recent.get(seq);
      if (event === undefined) notRecent.push(seq);
      else entries[i] = { seq, event };
    }
    if (notRecent.length === 0) return entries;
    const texts = this.storedTexts(notRecent);
    for (let i = 0; i < seqs.length; i++) {
      if (entries[i] !== undefined) continue;
      const seq = seqs[i]!;
      const text = texts.get(seq);
      if (text === undefined) throw new Error(`outbox entry ${seq} is missing`);
      entries[i] = { seq, event: parsedEvent(text) };
    }
    return entries;
  }

  /** The wall clock, once the dead letters marked since start have followed any step of it since the last reading. */
  private now(): number {
    const step = this.clockSteps.look();
    if (step !== undefined) this.deadLettersStepped(step);
    return this.clock.now();
  }

  /**
   * Moves the times of the dead letters marked before a step of the wall clock with it, written or still queued: a
   * Pi boots on a stale clock (or in 1970) until NTP steps it forward, by more than deadLetterRetention at times,
   * and the letters marked meanwhile would be pruned at once. Letters of an earlier run keep their times: the gap
   * since is time that passed. At once, before a letter marked after the step could fall in the range a step back
   * moves.
   */
  private deadLettersStepped({ by, from, to }: ClockStep): void {
    for (const { dead } of this.marks) if (dead !== undefined && dead.at >= from && dead.at <= to) dead.at += by;
    if (this.closed) return;
    try {
      this.statements.shiftDead.run(by, from, to);
    } catch {
      this.deadLetterTimesUnsure = true;
    }
  }

  markDelivered(output: string, seqs: readonly number[]): void {
    for (const seq of seqs) {
      if (this.complete(output, seq)) this.marks.push({ output, seq });
    }
    this.scheduleFlush();
  }

  markDead(output: string, seq: number, reason: string): void {
    if (!this.complete(output, seq)) return;
    this.marks.push({ output, seq, dead: { reason, at: this.now() } });
    this.deadCounts.marked(output);
    this.scheduleFlush();
  }

  /**
   * Takes `seq` off the output's pending entries. Once no output has it left to deliver, the ring lets its event
   * go: kept for the seconds the ring lasts, every event would be copied out of the young generation (each
   * scavenge's pause grows with what it copies, and at a steady rate that pause is the ACK latency's tail).
   */
  private complete(output: string, seq: number): boolean {
    if (!this.index.complete(output, seq)) return false;
    if (!this.index.isPending(seq)) this.recent.release(seq);
    return true;
  }

  deadLetters(output?: string, page: DeadLetterPage = {}): DeadLetter[] {
    // Write queued marks first, so a dead letter is listed as soon as it is marked.
    this.flush();
    const after = page.after ?? -1;
    // LIMIT -1: no limit (every letter is read then anyway).
    const rows = page.limit === undefined ? this.statements.deadLetters.all({ output: output ?? null, after, limit: -1 }) : this.deadLetterPage(output, after, page.limit);
    return rows.map((row) => ({
      output: row.output,
      seq: row.seq,
      reason: row.reason,
      at: row.at,
      event: parsedEvent(row.event),
    }));
  }

  /** The letters of the first `limit` seqs after `after` (of every output, or of `output`). */
  private deadLetterPage(output: string | undefined, after: number, limit: number) {
    const outputs = output === undefined ? this.deadCounts.outputs() : [output];
    const seqs = [...new Set(outputs.flatMap((name) => this.statements.deadSeqsOf.all(name, after, limit)))].sort((a, b) => a - b).slice(0, limit);
    if (seqs.length === 0) return [];
    return this.statements.deadLettersAt.all({ outputs: JSON.stringify(outputs), seqs: JSON.stringify(seqs) });
  }

  retryDeadLetters(output: string, seqs?: readonly number[]): { retried: RetriedDeadLetter[]; remaining: number } {
    if (this.closed || !this.index.has(output)) throw new Error(`cannot retry the dead letters of ${output}: no such output is registered`);
    // What is queued first: the letters read are current, and the new seqs come after every committed append's.
    this.flush();
    const rows = this.statements.deadToRetry.all({ output, seqs: seqs === undefined ? null : JSON.stringify(seqs), limit: DEAD_LETTER_RETRY_LIMIT });
    if (rows.length === 0) return { retried: [], remaining: this.deadCounts.of(output) };
    const now = this.clock.now();
    const others = this.index.outputs().filter((name) => name !== output);
    let seqsStored: number[];
    let deadDeleted = 0;
    try {
      seqsStored = this.db.transaction(() => {
        const stored = rows.map((row) => {
          deadDeleted += this.statements.deleteDead.run(output, row.seq).changes;
          return Number(this.statements.insertEntry.run(row.account, row.duress, row.received_at, now, null, row.event).lastInsertRowid);
        });
        // Finished for every other output, as a mark written at once would record it.
        this.writeMarks(others.flatMap((name) => stored.map((seq) => ({ output: name, seq }))), stored.at(-1)!);
        return stored;
      }).immediate();
    } catch (cause) {
      throw outboxWriteFailed('the outbox transaction failed', cause);
    }
    this.deadCounts.deleted(output, deadDeleted);
    const retried = rows.map((row, i): RetriedDeadLetter => {
      const seq = seqsStored[i]!;
      const entry = { seq, event: parsedEvent(row.event) };
      this.index.add({ seq, account: row.account, duress: row.duress === 1, receivedAt: row.received_at }, output);
      this.recent.set(seq, entry.event);
      return { deadSeq: row.seq, entry };
    });
    this.entryCount += retried.length;
    this.head = seqsStored.at(-1)!;
    this.listeners.notify(retried.map((r) => r.entry), output);
    return { retried, remaining: this.deadCounts.of(output) };
  }

  deadDuress(output: string, limit: number): OutboxEntry[] {
    this.flush(); // as deadLetters()
    return this.statements.deadDuress.all(output, limit).map((row) => ({ seq: row.seq, event: parsedEvent(row.event) }));
  }

  /** From memory, without writing what is queued: a letter counts as soon as it is marked (see DeadLetterCounts). */
  deadLetterCount(output?: string): number {
    return this.deadCounts.of(output);
  }

  commitQueued(): void {
    this.flush();
  }

  /** Writes whatever is queued (resolving or rejecting those appends), then closes the database. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    if (this.pruneTimer !== undefined) clearInterval(this.pruneTimer);
    this.index.clear();
    this.db.close();
  }

  private scheduleFlush(): void {
    if (this.scheduled === undefined && (this.appends.length > 0 || this.marks.length > 0)) {
      this.scheduled = setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    if (this.scheduled !== undefined) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    const appends = this.appends;
    const marks = this.marks;
    if (appends.length === 0 && marks.length === 0) return;
    this.appends = [];
    this.marks = [];
    let results: AppendResult[];
    let deadAdded: string[];
    // A batch of delivery marks only needs no fsync of its own: losing one in a power cut means a redelivery,
    // which at-least-once allows; the next append's commit syncs the WAL, marks included.
    const marksOnly = appends.length === 0;
    try {
      if (marksOnly) this.db.pragma('synchronous = NORMAL');
      ({ results, deadAdded } = this.writeBatch.immediate(appends, marks));
    } catch (cause) {
      this.marks = marks.concat(this.marks);
      this.entryCount = this.statements.count.get() ?? 0; // the rolled-back inserts were counted
      for (const append of appends) append.reject(outboxWriteFailed('the outbox transaction failed', cause));
      return;
    } finally {
      if (marksOnly) this.db.pragma('synchronous = FULL');
    }
    this.deadCounts.committed(marks, deadAdded);
    // The pending index learns of the entries only now: a rolled-back batch must leave nothing pending.
    const stored: OutboxEntry[] = [];
    const deepBacklog = this.index.minBacklog() >= RECENT_EVENTS;
    for (let i = 0; i < results.length; i++) {
      const { duplicate, entries } = results[i]!;
      if (duplicate) continue;
      const { at, dedupeKey, hash } = appends[i]!;
      for (const entry of entries) {
        stored.push(entry);
        this.index.add(entryMeta(entry.seq, entry.event, at));
        this.remember(entry, deepBacklog);
        this.head = entry.seq;
      }
      const first = entries[0];
      if (dedupeKey !== undefined && first !== undefined) this.dedupe.add(hash, { firstSeq: first.seq, count: entries.length, at });
    }
    for (let i = 0; i < results.length; i++) appends[i]!.resolve(results[i]!);
    if (stored.length > 0) this.listeners.notify(stored);
  }

  private writeAppends(appends: QueuedAppend[]): AppendResult[] {
    const results: AppendResult[] = [];
    const storedInBatch = new Map<string, OutboxEntry[]>();
    for (const append of appends) {
      const { dedupeKey } = append;
      const earlier = dedupeKey === undefined ? undefined : (storedInBatch.get(dedupeKey) ?? this.storedWithin(dedupeKey, append.hash, append.at));
      if (earlier !== undefined) {
        results.push({ duplicate: true, entries: earlier });
        continue;
      }
      const entries = this.insertEntries(append);
      if (dedupeKey !== undefined && entries.length > 0) storedInBatch.set(dedupeKey, entries);
      results.push({ duplicate: false, entries });
    }
    return results;
  }

  /** Inserts an append's events as rows. */
  private insertEntries(append: QueuedAppend): OutboxEntry[] {
    const { events, jsons } = append;
    // Sized up front: a first push would give a one-event append room for seventeen.
    const entries = new Array<OutboxEntry>(events.length);
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!;
      const { lastInsertRowid } = this.statements.insertEntry.run(
        event.account,
        event.duress ? 1 : 0,
        receivedAtMs(event, append.at),
        append.at,
        append.dedupeKey ?? null,
        jsons[i]!,
      );
      const seq = Number(lastInsertRowid);
      this.entryCount += 1;
      entries[i] = { seq, event };
    }
    return entries;
  }

  /** The committed append stored under this dedupe key within the window, confirmed against the stored rows. */
  private storedWithin(dedupeKey: string, hash: number, at: number): OutboxEntry[] | undefined {
    return this.rowsStoredWithin(dedupeKey, hash, at, this.statements.appendRows)?.map((row) => ({ seq: row.seq, event: this.recent.get(row.seq) ?? parsedEvent(row.event) }));
  }

  /**
   * The rows of the append stored under `dedupeKey` within the window before `at`, or undefined; read by `read`
   * (with their events, or without when only the answer matters).
   */
  private rowsStoredWithin<Row extends { dedupe_key: string | null; stored_at: number }>(
    dedupeKey: string,
    hash: number,
    at: number,
    read: Database.Statement<[number, number], Row>,
  ): Row[] | undefined {
    for (const candidate of this.dedupe.candidates(hash, at)) {
      const rows = read.all(candidate.firstSeq, candidate.count);
      if (rows.length === candidate.count && rows.every((row) => row.dedupe_key === dedupeKey && row.stored_at > at - this.dedupeWindowMs)) return rows;
    }
    return undefined;
  }

  /**
   * Rebuilds the dedupe index from the newest keyed rows back to the start of the window (seq order is store
   * order); the rows of one append are consecutive and share their key.
   */
  private loadDedupe(): void {
    const since = this.clock.now() - this.dedupeWindowMs;
    const appends: Array<{ key: string; firstSeq: number; count: number; at: number }> = [];
    for (const row of this.statements.newestFirst.iterate()) {
      if (row.stored_at <= since) break;
      if (row.dedupe_key === null) continue;
      const newest = appends.at(-1);
      if (newest !== undefined && newest.key === row.dedupe_key && newest.firstSeq === row.seq + 1 && newest.at === row.stored_at) {
        newest.firstSeq = row.seq;
        newest.count += 1;
        continue;
      }
      if (appends.length === DEDUPE_CAPACITY) break;
      appends.push({ key: row.dedupe_key, firstSeq: row.seq, count: 1, at: row.stored_at });
    }
    for (const append of appends.reverse()) this.dedupe.add(this.dedupe.hash(append.key), append);
  }

  /**
   * `head`: the highest seq committed with these marks (the entries of the same transaction included). Returns the
   * output of each dead letter new to the file, for the counts once the transaction commits.
   */
  private writeMarks(marks: QueuedMark[], head = this.head): string[] {
    const deadAdded: string[] = [];
    // The in-memory index already reflects these marks, so each output's new watermark is known up front; only
    // marks above it need a row of their own (in-order delivery, the usual case, writes none).
    const watermarks = new Map<string, number>();
    for (const mark of marks) {
      let watermark = watermarks.get(mark.output);
      if (watermark === undefined) watermarks.set(mark.output, (watermark = this.watermarkOf(mark.output, head)));
      if (mark.seq > watermark) this.statements.insertDone.run(mark.output, mark.seq);
      if (mark.dead === undefined) continue;
      const { reason, at } = mark.dead;
      // Its row may be there already: an output retired with this letter, back in the configuration as an heir.
      if (this.statements.insertDead.run(mark.output, mark.seq, reason, at).changes === 1) deadAdded.push(mark.output);
      else this.statements.updateDead.run(reason, at, mark.output, mark.seq);
    }
    for (const [output, watermark] of watermarks) {
      this.statements.updateCursor.run(watermark, output);
      this.statements.compactDone.run(output, watermark);
    }
    return deadAdded;
  }

  /** Everything below the output's lowest pending seq is finished; with nothing pending, everything committed is. */
  private watermarkOf(output: string, head = this.head): number {
    const lowest = this.index.lowestPending(output);
    return lowest === undefined ? head : lowest - 1;
  }

  /**
   * Row by row: the index keeps one object per pending entry, and reading the whole backlog into an array first
   * held two more per entry at once, so a backlog the heap holds once it is running could not be opened again.
   */
  private *loadPending(output: string, watermark: number): Generator<EntryMeta, void, undefined> {
    for (const row of this.statements.pendingOf.iterate(watermark, output)) {
      yield { seq: row.seq, account: row.account, duress: row.duress === 1, receivedAt: row.received_at };
    }
  }

  /**
   * Keeps just-stored events so the dispatcher does not read back and re-parse what it was handed a moment ago.
   * Behind a backlog deeper than the ring, every output reaches the entry only after the ring has let it go (they
   * read oldest first; a duress goes first, so it is kept): then neither the event nor its text is kept, as both
   * would only be promoted to the old generation to die there.
   */
  private remember(entry: OutboxEntry, deepBacklog: boolean): void {
    const { seq, event } = entry;
    if (deepBacklog && !event.duress) {
      this.recent.set(seq, undefined);
      forgetJson(event);
    } else this.recent.set(seq, event);
  }

  /** The stored texts of these entries, by seq (read in one statement when there are several). */
  private storedTexts(seqs: readonly number[]): Map<number, string> {
    const texts = new Map<number, string>();
    if (seqs.length === 1) {
      const text = this.statements.event.get(seqs[0]!);
      if (text !== undefined) texts.set(seqs[0]!, text);
    } else {
      for (const row of this.statements.events.all(JSON.stringify(seqs))) texts.set(row.seq, row.event);
    }
    return texts;
  }
}
