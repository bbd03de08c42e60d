import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MemoryOutbox } from '../../../src/outbox/memory-outbox.js';
import { OUTBOX_FILE_NAME, PAGE_SIZE, SqliteOutbox } from '../../../src/outbox/sqlite-outbox.js';
import { FakeClock, outboxTestEvent } from '../../helpers/outbox-events.js';
import { SteppingClock } from '../../helpers/fake-clock.js';
import { outboxContract, type OutboxBuildOptions, type OutboxUnderTest } from './outbox.contract.js';

/** A full garbage collection, from a context that alone sees `gc`. */
function fullCollection(): void {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  v8.setFlagsFromString('--no-expose-gc');
  gc();
}

const tempDir = (): Promise<string> => mkdtemp(path.join(tmpdir(), 'panelbridge-outbox-'));

/** Reads the store through a second, read-only connection, as an operator's sqlite3 shell would. */
function inspect<T>(dataDir: string, read: (db: Database.Database) => T): T {
  const db = new Database(path.join(dataDir, OUTBOX_FILE_NAME), { readonly: true });
  try {
    return read(db);
  } finally {
    db.close();
  }
}

outboxContract('MemoryOutbox', async (options) => ({ outbox: new MemoryOutbox(options) }));

outboxContract('SqliteOutbox', async (options: OutboxBuildOptions): Promise<OutboxUnderTest> => {
  const dataDir = await tempDir();
  const open = () => SqliteOutbox.open({ dataDir, ...options });
  let current = open();
  return {
    outbox: current,
    reopen: async () => {
      current.close();
      current = open();
      return current;
    },
    // A trigger added by another connection makes every insert raise, as a full disk or I/O error would.
    breakWrites: () => {
      const db = new Database(path.join(dataDir, OUTBOX_FILE_NAME));
      db.exec(`CREATE TRIGGER simulated_io_error BEFORE INSERT ON entry BEGIN SELECT RAISE(ABORT, 'simulated I/O error'); END`);
      return () => {
        db.exec('DROP TRIGGER simulated_io_error');
        db.close();
      };
    },
    dispose: async () => {
      current.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
});

describe('SqliteOutbox storage', () => {
  let dataDir: string;
  let clock: FakeClock;
  const event = (id: string, account = '1234') => outboxTestEvent({ id, account, receivedAt: clock.now() });

  beforeEach(async () => {
    dataDir = path.join(await tempDir(), 'state', 'outbox');
    clock = new FakeClock();
  });

  afterEach(async () => {
    await rm(path.dirname(path.dirname(dataDir)), { recursive: true, force: true });
  });

  it('creates the data directory and a WAL database at the current schema version', () => {
    SqliteOutbox.open({ dataDir, clock }).close();

    const { journalMode, userVersion } = inspect(dataDir, (db) => ({
      journalMode: db.pragma('journal_mode', { simple: true }),
      userVersion: db.pragma('user_version', { simple: true }),
    }));
    expect(journalMode).toBe('wal');
    expect(userVersion).toBe(3);
  });

  it('gives a new database 16 KB pages and leaves an existing database its own', () => {
    SqliteOutbox.open({ dataDir, clock }).close();
    expect(inspect(dataDir, (db) => db.pragma('page_size', { simple: true }))).toBe(PAGE_SIZE);

    const older = path.join(path.dirname(dataDir), 'older');
    mkdirSync(older, { recursive: true });
    const db = new Database(path.join(older, OUTBOX_FILE_NAME));
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE placeholder (x)');
    db.close();
    SqliteOutbox.open({ dataDir: older, clock }).close();
    expect(inspect(older, (d) => d.pragma('page_size', { simple: true }))).toBe(4096);
  });

  it('upgrades a schema-1 store (with the on-disk dedupe index) in place, keeping its entries and dedupe', async () => {
    let outbox = SqliteOutbox.open({ dataDir, clock });
    outbox.registerOutputs(['mqtt']);
    const first = await outbox.append([event('a'), event('b')], { dedupeKey: 'frame-1' });
    outbox.close();
    const db = new Database(path.join(dataDir, OUTBOX_FILE_NAME));
    db.exec('CREATE INDEX entry_dedupe ON entry (dedupe_key, stored_at) WHERE dedupe_key IS NOT NULL');
    db.exec('ALTER TABLE output_cursor DROP COLUMN audience');
    db.pragma('user_version = 1');
    db.close();

    outbox = SqliteOutbox.open({ dataDir, clock });
    outbox.registerOutputs(['mqtt']);
    const indexes = inspect(dataDir, (d) => d.prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'entry_dedupe'`).all());
    expect(indexes).toEqual([]);
    expect(inspect(dataDir, (d) => d.pragma('user_version', { simple: true }))).toBe(3);
    expect(outbox.pending('mqtt', 10).map((e) => e.event.id)).toEqual(['a', 'b']);
    expect(await outbox.append([event('a-again')], { dedupeKey: 'frame-1' })).toEqual({ duplicate: true, entries: first.entries });
    outbox.close();
  });

  it('lets a stored event go once no output has it left to deliver, and not before', async () => {
    const outbox = SqliteOutbox.open({ dataDir, clock });
    outbox.registerOutputs(['mqtt', 'webhook']);
    // The event is referenced only weakly here: what keeps it alive is the outbox.
    const { seq, stored } = await outbox.append([event('a')]).then(({ entries }) => ({ seq: entries[0]!.seq, stored: new WeakRef(entries[0]!.event) }));
    const collected = async (): Promise<boolean> => {
      await new Promise((resolve) => setImmediate(resolve)); // a WeakRef's target is kept until the job that made or read it ends
      fullCollection();
      return stored.deref() === undefined;
    };

    outbox.markDelivered('mqtt', [seq]);
    expect(await collected()).toBe(false);
    outbox.markDead('webhook', seq, 'refused');
    expect(await collected()).toBe(true);
    expect(outbox.deadLetters('webhook').map((letter) => letter.event.id)).toEqual(['a']);
    outbox.close();
  });

  it('confirms an in-memory dedupe hit against the stored key: colliding keys are both stored', async () => {
    const outbox = SqliteOutbox.open({ dataDir, clock, dedupeHash: () => 7 });
    outbox.registerOutputs(['mqtt']);
    const first = await outbox.append([event('a')], { dedupeKey: 'frame-1' });
    const other = await outbox.append([event('b')], { dedupeKey: 'frame-2' });
    const retransmit = await outbox.append([event('a-again')], { dedupeKey: 'frame-1' });
    const later = await outbox.append([event('b-again')], { dedupeKey: 'frame-2' });

    expect(other.duplicate).toBe(false);
    expect(retransmit).toEqual({ duplicate: true, entries: first.entries });
    expect(later).toEqual({ duplicate: true, entries: other.entries });
    expect(outbox.pending('mqtt', 10).map((e) => e.event.id)).toEqual(['a', 'b']);
    outbox.close();
  });

  it('after a restart still recognises retransmits of appends stored within the window, and only those', async () => {
    let outbox = SqliteOutbox.open({ dataDir, clock, dedupeWindowMs: 60_000 });
    const old = await outbox.append([event('old')], { dedupeKey: 'old' });
    clock.advance(50_000);
    const recent = await outbox.append([event('r1'), event('r2'), event('r3')], { dedupeKey: 'recent' });
    outbox.close();
    clock.advance(20_000);

    outbox = SqliteOutbox.open({ dataDir, clock, dedupeWindowMs: 60_000 });
    expect(await outbox.append([event('recent-again')], { dedupeKey: 'recent' })).toEqual({ duplicate: true, entries: recent.entries });
    const oldAgain = await outbox.append([event('old-again')], { dedupeKey: 'old' });
    expect(oldAgain.duplicate).toBe(false);
    expect(oldAgain.entries[0]!.seq).toBeGreaterThan(old.entries[0]!.seq);
    outbox.close();
  });

  it('refuses a database written by a newer schema version', () => {
    SqliteOutbox.open({ dataDir, clock }).close();
    const db = new Database(path.join(dataDir, OUTBOX_FILE_NAME));
    db.pragma('user_version = 99');
    db.close();

    expect(() => SqliteOutbox.open({ dataDir, clock })).toThrow(expect.objectContaining({ code: 'OUTBOX_OPEN_FAILED' }));
  });

  it('commits appends made in the same macrotask as one batch (group commit)', async () => {
    const outbox = SqliteOutbox.open({ dataDir, clock });
    const committedBatches = vi.fn();
    outbox.onAppend(committedBatches);
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => outbox.append([event(`e${i}`)])));
    await outbox.append([event('next-macrotask')]);
    outbox.close();

    expect(committedBatches).toHaveBeenCalledTimes(2);
    expect(results.map((result) => result.entries[0]!.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
  });

  it('advances each output watermark past finished entries and compacts the done rows below it', async () => {
    let outbox = SqliteOutbox.open({ dataDir, clock });
    outbox.registerOutputs(['mqtt', 'webhook']);
    await outbox.append([event('a'), event('b'), event('c'), event('d')]);
    outbox.markDelivered('mqtt', [2, 3]);
    outbox.markDelivered('webhook', [1, 2]);
    outbox.markDead('webhook', 4, 'rejected');
    outbox.close();

    const cursors = () =>
      inspect(dataDir, (db) => ({
        watermarks: db.prepare('SELECT output, watermark FROM output_cursor ORDER BY output').all(),
        done: db.prepare('SELECT output, seq FROM output_done ORDER BY output, seq').all(),
      }));
    expect(cursors()).toEqual({
      watermarks: [
        { output: 'mqtt', watermark: 0 },
        { output: 'webhook', watermark: 2 },
      ],
      done: [
        { output: 'mqtt', seq: 2 },
        { output: 'mqtt', seq: 3 },
        { output: 'webhook', seq: 4 },
      ],
    });

    outbox = SqliteOutbox.open({ dataDir, clock });
    outbox.registerOutputs(['mqtt']);
    outbox.markDelivered('mqtt', [1]);
    outbox.close();
    expect(cursors().watermarks).toContainEqual({ output: 'mqtt', watermark: 3 });
    expect(cursors().done.filter((row) => (row as { output: string }).output === 'mqtt')).toEqual([]);
  });

  it('retires an output that is no longer registered: its backlog becomes its dead letters, and the name starts afresh', async () => {
    let outbox = SqliteOutbox.open({ dataDir, clock });
    outbox.registerOutputs(['mqtt', 'retired']);
    await outbox.append([event('a')]);
    outbox.close();

    outbox = SqliteOutbox.open({ dataDir, clock });
    outbox.registerOutputs(['mqtt']);
    outbox.markDelivered('mqtt', [1]);
    await outbox.append([event('b')]);
    expect(outbox.maxBacklog()).toBe(1);
    expect(outbox.deadLetters('retired').map((letter) => letter.event.id)).toEqual(['a']);
    outbox.registerOutputs(['retired']);
    expect(outbox.pending('retired', 10).map((entry) => entry.event.id)).toEqual([]);
    outbox.close();
  });

  it('prunes entries finished for every output after the retention time, keeping dead letters', async () => {
    const outbox = SqliteOutbox.open({ dataDir, clock, retentionMs: 1_000, dedupeWindowMs: 1_000 });
    outbox.registerOutputs(['mqtt']);
    await outbox.append([event('delivered'), event('dead'), event('waiting')]);
    outbox.markDelivered('mqtt', [1]);
    outbox.markDead('mqtt', 2, 'rejected');
    expect(outbox.deadLetters()).toHaveLength(1);
    clock.advance(60_000);
    await outbox.append([event('new')]);
    outbox.prune();

    expect(outbox.deadLetters().map((letter) => letter.event.id)).toEqual(['dead']);
    expect(outbox.pending('mqtt', 10).map((entry) => entry.event.id)).toEqual(['waiting', 'new']);
    outbox.close();
    expect(inspect(dataDir, (db) => db.prepare('SELECT seq FROM entry ORDER BY seq').pluck().all())).toEqual([2, 3, 4]);
  });

  it('prunes in small batches, one transaction each, until nothing expired is left', async () => {
    const outbox = SqliteOutbox.open({ dataDir, clock, retentionMs: 1_000, dedupeWindowMs: 1_000 });
    outbox.registerOutputs(['mqtt']);
    const { entries } = await outbox.append(Array.from({ length: 1_200 }, (_, i) => event(`e${i}`)));
    outbox.markDelivered('mqtt', entries.map((entry) => entry.seq));
    clock.advance(60_000);
    expect(outbox.prune()).toBe(500);
    expect(outbox.storage().entries).toBe(700);
    // The next batches run on the following turns of the loop; a busy machine may need many.
    await vi.waitFor(() => expect(outbox.storage()).toEqual({ entries: 0, oldestStoredAt: null }), { timeout: 5_000, interval: 10 });
    outbox.close();
    expect(inspect(dataDir, (db) => db.prepare('SELECT count(*) FROM entry').pluck().get())).toBe(0);
  });

  it('prunes dead letters after deadLetterRetention, and then their entries after retention', async () => {
    const outbox = SqliteOutbox.open({ dataDir, clock, retentionMs: 1_000, deadLetterRetentionMs: 90_000, dedupeWindowMs: 1_000 });
    outbox.registerOutputs(['mqtt']);
    await outbox.append([event('dead'), event('pending')]);
    outbox.markDead('mqtt', 1, 'rejected');
    clock.advance(60_000);
    outbox.prune();
    expect(outbox.deadLetters()).toHaveLength(1);
    clock.advance(60_000);
    outbox.prune();
    outbox.prune();
    expect(outbox.deadLetters()).toHaveLength(0);
    expect(outbox.pending('mqtt', 10).map((entry) => entry.event.id)).toEqual(['pending']);
    expect(outbox.storage().entries).toBe(1);
    outbox.close();
  });

  it('keeps the dead letters marked before NTP steps the clock forward past deadLetterRetention, until that long has passed', async () => {
    const DAY = 86_400_000;
    const stepping = new SteppingClock(Date.UTC(1970, 0, 1)); // a Pi without an RTC boots in 1970
    const outbox = SqliteOutbox.open({ dataDir, clock: stepping, deadLetterRetentionMs: 90 * DAY });
    outbox.registerOutputs(['mqtt', 'cms']);
    await outbox.append([outboxTestEvent({ id: 'marked', account: '1234', duress: true, receivedAt: stepping.now() }), event('queued')]);
    outbox.markDead('mqtt', 1, 'rejected');
    outbox.prune(); // written
    outbox.markDead('cms', 1, 'rejected'); // still queued when NTP syncs
    stepping.step(Date.UTC(2024, 4, 1) - stepping.now());
    outbox.prune();
    expect(outbox.deadLetters().map((letter) => `${letter.output} ${new Date(letter.at).toISOString()}`).sort()).toEqual([
      'cms 2024-05-01T00:00:00.000Z',
      'mqtt 2024-05-01T00:00:00.000Z',
    ]);
    // A letter marked after the step keeps its time.
    stepping.advance(DAY);
    outbox.markDead('mqtt', 2, 'rejected');
    stepping.advance(89 * DAY + 1);
    outbox.prune();
    expect(outbox.deadLetters().map((letter) => letter.event.id)).toEqual(['queued']);
    outbox.close();
  });

  it('never prunes a retried dead letter before its output delivers it; the letter it replaces then falls under retention', async () => {
    const outbox = SqliteOutbox.open({ dataDir, clock, retentionMs: 1_000, deadLetterRetentionMs: 90_000, dedupeWindowMs: 1_000 });
    outbox.registerOutputs(['hook', 'mqtt']);
    const { entries } = await outbox.append([event('holdup'), event('b')]);
    outbox.markDead('hook', 1, 'HTTP 401');
    outbox.markDelivered('hook', [2]);
    outbox.markDelivered('mqtt', [1, 2]);
    clock.advance(60_000);
    const { retried } = outbox.retryDeadLetters('hook');
    const retriedSeq = retried[0]!.entry.seq;
    clock.advance(86_400_000);
    const later = await outbox.append([event('later')]);
    outbox.markDelivered('mqtt', [later.entries[0]!.seq]);
    clock.advance(60_000);
    while (outbox.prune() > 0);

    expect(outbox.pending('hook', 10).map((entry) => [entry.seq, entry.event.id])).toEqual([[retriedSeq, 'holdup'], [later.entries[0]!.seq, 'later']]);
    expect(outbox.pending('hook', 10)[0]!.event).toEqual(entries[0]!.event);
    outbox.close();
    expect(inspect(dataDir, (db) => db.prepare('SELECT seq FROM entry ORDER BY seq').pluck().all())).toEqual([retriedSeq, later.entries[0]!.seq]);
  });

  it('never prunes an entry an output has not delivered, however old', async () => {
    const outbox = SqliteOutbox.open({ dataDir, clock, retentionMs: 1_000, dedupeWindowMs: 1_000 });
    outbox.registerOutputs(['mqtt', 'keypad']);
    const { entries } = await outbox.append([event('a'), event('b')]);
    outbox.markDelivered('mqtt', entries.map((entry) => entry.seq));
    clock.advance(86_400_000);
    expect(outbox.prune()).toBe(0);
    expect(outbox.pending('keypad', 10)).toHaveLength(2);
    outbox.close();
  });

  it('keeps every acknowledged append when the process is SIGKILLed mid-stream', async () => {
    // The child imports the TypeScript sources through a tiny typescript-based loader (no dist/ needed).
    const fixture = (name: string) => fileURLToPath(new URL(`../../helpers/${name}`, import.meta.url));
    const child = spawn(process.execPath, ['--import', fixture('register-ts.mjs'), fixture('crash-appender.mjs'), dataDir, 'crash'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Bounded even if the child never prints: the test fails on the assertions below, not on a leaked process.
    const guard = setTimeout(() => child.kill('SIGKILL'), 10_000);
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_code, signal) => resolve(signal)));
    const acknowledged = new Map<number, string>();
    for await (const line of createInterface({ input: child.stdout })) {
      const [seq, id] = line.split(' ');
      acknowledged.set(Number(seq), id!);
      if (acknowledged.size === 300) child.kill('SIGKILL');
    }
    clearTimeout(guard);
    expect(await exited, stderr).toBe('SIGKILL');
    expect(acknowledged.size).toBeGreaterThanOrEqual(300);

    const reopened = SqliteOutbox.open({ dataDir });
    reopened.registerOutputs(['crash']);
    const stored = new Map(reopened.pending('crash', Number.MAX_SAFE_INTEGER).map((entry) => [entry.seq, entry.event.id]));
    reopened.close();
    for (const [seq, id] of acknowledged) expect(stored.get(seq), `seq ${seq}`).toBe(id);
  });
});
