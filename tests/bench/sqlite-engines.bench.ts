/**
 * node:sqlite (built into Node 22.5+, unflagged from 22.13 and 24) against better-sqlite3, on the outbox's own
 * terms: WAL, synchronous=FULL, group commit (many appends in one transaction, one fsync), then reading the oldest
 * pending rows. The same SQL runs on both through the few calls they share. Results and the decision: docs/storage.md.
 * On a Node without node:sqlite only the better-sqlite3 figures are printed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { outboxTestEvent } from '../helpers/outbox-events.js';
import { type BenchFigure, percentile } from './figures.js';

/** What both drivers offer alike: run SQL, and prepared statements with run/all. */
interface Statement {
  run(...values: unknown[]): unknown;
  all(...values: unknown[]): unknown[];
}
interface Engine {
  exec(sql: string): void;
  prepare(sql: string): Statement;
  close(): void;
}

const require = createRequire(import.meta.url);
const EVENTS = 20_000;
const GROUP_SIZES = [1, 32, 512] as const;
const SINGLE_COMMITS = 500;

function openBetterSqlite(file: string): Engine {
  const Database = require('better-sqlite3') as new (file: string) => Engine;
  return new Database(file);
}

function openNodeSqlite(file: string): Engine | undefined {
  try {
    // process.getBuiltinModule: a plain import would fail to load this module on a Node without node:sqlite.
    const sqlite = process.getBuiltinModule?.('node:sqlite') as { DatabaseSync: new (file: string) => Engine } | undefined;
    return sqlite === undefined ? undefined : new sqlite.DatabaseSync(file);
  } catch {
    return undefined;
  }
}

function setUp(db: Engine): void {
  db.exec('PRAGMA journal_mode = WAL');
  db.exec('PRAGMA synchronous = FULL');
  db.exec(`CREATE TABLE entries (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, account TEXT, received_at INTEGER NOT NULL, body TEXT NOT NULL);
           CREATE TABLE delivered (output TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (output, seq)) WITHOUT ROWID;`);
}

function measure(label: string, open: (file: string) => Engine | undefined, dir: string): BenchFigure[] {
  const figures: BenchFigure[] = [];
  const bodies = Array.from({ length: EVENTS }, (_, i) => JSON.stringify(outboxTestEvent({ id: `e${i}`, account: `acct${i % 50}`, receivedAt: i })));
  for (const group of GROUP_SIZES) {
    const db = open(path.join(dir, `${label}-${group}.sqlite`));
    if (db === undefined) return [];
    setUp(db);
    const insert = db.prepare('INSERT INTO entries (id, account, received_at, body) VALUES (?, ?, ?, ?)');
    const commitMs: number[] = [];
    const total = group === 1 ? SINGLE_COMMITS : EVENTS;
    const started = performance.now();
    for (let i = 0; i < total; i += group) {
      const commitStarted = performance.now();
      db.exec('BEGIN');
      for (let j = i; j < Math.min(i + group, total); j++) insert.run(`e${j}`, `acct${j % 50}`, j, bodies[j]);
      db.exec('COMMIT');
      commitMs.push(performance.now() - commitStarted);
    }
    const seconds = (performance.now() - started) / 1000;
    commitMs.sort((a, b) => a - b);
    figures.push({ name: `${label} append, ${group} per commit (WAL, FULL)`, value: total / seconds, unit: 'events/s' });
    figures.push({ name: `${label} commit p99, ${group} per commit`, value: percentile(commitMs, 99), unit: 'ms' });
    if (group === GROUP_SIZES.at(-1)) {
      // The dispatcher's read: the oldest entries not yet delivered to one output, 100 at a time.
      db.exec('BEGIN');
      const mark = db.prepare('INSERT INTO delivered (output, seq) VALUES (?, ?)');
      for (let seq = 1; seq <= EVENTS / 2; seq++) mark.run('central', seq);
      db.exec('COMMIT');
      const pending = db.prepare(
        'SELECT seq, body FROM entries WHERE seq > ? AND NOT EXISTS (SELECT 1 FROM delivered d WHERE d.output = ? AND d.seq = entries.seq) ORDER BY seq LIMIT 100',
      );
      const reads = 2_000;
      const readStarted = performance.now();
      for (let i = 0; i < reads; i++) pending.all(EVENTS / 2 - 50 + (i % 50), 'central');
      figures.push({ name: `${label} pending read (100 rows)`, value: reads / ((performance.now() - readStarted) / 1000), unit: 'reads/s' });
    }
    db.close();
  }
  return figures;
}

export async function benchSqliteEngines(): Promise<BenchFigure[]> {
  const dir = await mkdtemp(path.join(tmpdir(), 'pb-sqlite-engines-'));
  try {
    return [...measure('better-sqlite3', openBetterSqlite, dir), ...measure('node:sqlite', openNodeSqlite, dir)];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
