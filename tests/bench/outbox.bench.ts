import fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { NormalizedEvent } from '../../src/model/event.js';
import { SqliteOutbox } from '../../src/outbox/sqlite-outbox.js';
import { outboxTestEvent } from '../helpers/outbox-events.js';
import { type BenchFigure, percentile } from './figures.js';

const CONCURRENT_APPENDERS = 1_000;
const THROUGHPUT_MS = 1_000;
const STEADY_RATE_PER_S = 1_000;
const STEADY_MS = 1_000;
const BACKLOG = 100_000;
const PENDING_LIMIT = 100;

/** The one operation both stores are measured on: store one event durably, resolve when it is on disk. */
type DurableAppend = (event: NormalizedEvent) => Promise<unknown>;

/**
 * The comparison baseline: a minimal append-only journal with the same group commit (every line queued in one
 * macrotask is written with one writeSync + fsyncSync). No dedupe, no index, no cursors: the floor of the cost.
 */
class FsyncJournal {
  private readonly fd: number;
  private queue: Array<{ line: string; resolve: () => void }> = [];
  private scheduled = false;

  constructor(file: string) {
    this.fd = fs.openSync(file, 'a');
  }

  readonly append: DurableAppend = (event) =>
    new Promise<void>((resolve) => {
      this.queue.push({ line: `${JSON.stringify(event)}\n`, resolve });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });

  close(): void {
    fs.closeSync(this.fd);
  }

  private flush(): void {
    const batch = this.queue;
    this.queue = [];
    this.scheduled = false;
    fs.writeSync(this.fd, batch.map((item) => item.line).join(''));
    fs.fsyncSync(this.fd);
    for (const item of batch) item.resolve();
  }
}

let eventCounter = 0;
function benchEvent(accounts = 50, duressEvery = 0): NormalizedEvent {
  const n = eventCounter++;
  const duress = duressEvery > 0 && n % duressEvery === 0;
  return outboxTestEvent({ id: `bench-${n}`, account: String(1000 + (n % accounts)), duress, receivedAt: Date.now() });
}

/** Appends/s with many appenders each awaiting its own append before the next (panels waiting for their ACK). */
async function concurrentThroughput(append: DurableAppend): Promise<number> {
  let completed = 0;
  const started = performance.now();
  const deadline = started + THROUGHPUT_MS;
  const appender = async (): Promise<void> => {
    while (performance.now() < deadline) {
      await append(benchEvent());
      completed += 1;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENT_APPENDERS }, appender));
  return completed / ((performance.now() - started) / 1_000);
}

/** Latency of appends issued on a steady schedule (catching up on timer jitter), measured from issue to resolve. */
async function steadyLatency(append: DurableAppend): Promise<{ p50: number; p99: number }> {
  const total = (STEADY_RATE_PER_S * STEADY_MS) / 1_000;
  const latencies: number[] = [];
  const inFlight: Array<Promise<void>> = [];
  const started = performance.now();
  await new Promise<void>((done) => {
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - started) * STEADY_RATE_PER_S) / 1_000));
      while (inFlight.length < due) {
        const issuedAt = performance.now();
        inFlight.push(append(benchEvent()).then(() => void latencies.push(performance.now() - issuedAt)));
      }
      if (inFlight.length === total) {
        clearInterval(timer);
        done();
      }
    }, 1);
  });
  await Promise.all(inFlight);
  latencies.sort((a, b) => a - b);
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

const BACKLOG_ACCOUNTS = 200;

/** p50 and p99 of 200 calls, in ms. */
function timedCalls(call: () => void): { p50: number; p99: number } {
  const timings: number[] = [];
  for (let i = 0; i < 200; i += 1) {
    const callStarted = performance.now();
    call();
    timings.push(performance.now() - callStarted);
  }
  timings.sort((a, b) => a - b);
  return { p50: percentile(timings, 50), p99: percentile(timings, 99) };
}

/**
 * Open + index rebuild of a 100k backlog (1 % duress across 200 accounts), then pending() on it: as a caught-up
 * output reads it, and as an output in an outage does when one account's retry comes due while the others wait.
 */
async function largeBacklog(dataDir: string): Promise<{ openMs: number; pending: { p50: number; p99: number }; pendingInOutage: { p50: number; p99: number } }> {
  const filler = SqliteOutbox.open({ dataDir });
  filler.registerOutputs(['mqtt', 'webhook']);
  const chunk = 1_000;
  await Promise.all(
    Array.from({ length: BACKLOG / chunk }, () => filler.append(Array.from({ length: chunk }, () => benchEvent(BACKLOG_ACCOUNTS, 100)))),
  );
  filler.close();

  const openStarted = performance.now();
  const outbox = SqliteOutbox.open({ dataDir });
  outbox.registerOutputs(['mqtt', 'webhook']);
  const openMs = performance.now() - openStarted;
  if (outbox.backlog('mqtt') !== BACKLOG) throw new Error(`expected a backlog of ${BACKLOG}, got ${outbox.backlog('mqtt')}`);

  const pending = timedCalls(() => outbox.pending('mqtt', PENDING_LIMIT));
  // benchEvent's accounts are 1000…1199; the last one's retry is due.
  const waiting = new Set(Array.from({ length: BACKLOG_ACCOUNTS - 1 }, (_, i) => String(1000 + i)));
  const pendingInOutage = timedCalls(() => outbox.pending('mqtt', PENDING_LIMIT, undefined, waiting));
  outbox.close();
  return { openMs, pending, pendingInOutage };
}

export async function benchOutbox(): Promise<BenchFigure[]> {
  const root = await mkdtemp(path.join(tmpdir(), 'panelbridge-outbox-bench-'));
  const sqlite = SqliteOutbox.open({ dataDir: path.join(root, 'sqlite') });
  sqlite.registerOutputs(['mqtt']);
  const appendToSqlite: DurableAppend = (event) => sqlite.append([event]);
  const journal = new FsyncJournal(path.join(root, 'journal.ndjson'));
  try {
    const sqliteRate = await concurrentThroughput(appendToSqlite);
    const journalRate = await concurrentThroughput(journal.append);
    const sqliteSteady = await steadyLatency(appendToSqlite);
    const journalSteady = await steadyLatency(journal.append);
    const backlog = await largeBacklog(path.join(root, 'backlog'));
    return [
      { name: `outbox sqlite appends/s (${CONCURRENT_APPENDERS} concurrent appenders)`, value: sqliteRate, unit: 'appends/s' },
      { name: `outbox fsync journal appends/s (${CONCURRENT_APPENDERS} concurrent appenders)`, value: journalRate, unit: 'appends/s' },
      { name: 'outbox sqlite / journal throughput ratio', value: sqliteRate / journalRate, unit: 'x' },
      { name: `outbox sqlite append latency p50 @${STEADY_RATE_PER_S}/s`, value: sqliteSteady.p50, unit: 'ms' },
      { name: `outbox sqlite append latency p99 @${STEADY_RATE_PER_S}/s`, value: sqliteSteady.p99, unit: 'ms' },
      { name: `outbox fsync journal append latency p50 @${STEADY_RATE_PER_S}/s`, value: journalSteady.p50, unit: 'ms' },
      { name: `outbox fsync journal append latency p99 @${STEADY_RATE_PER_S}/s`, value: journalSteady.p99, unit: 'ms' },
      { name: `outbox sqlite open + index rebuild, ${BACKLOG} pending x 2 outputs`, value: backlog.openMs, unit: 'ms' },
      { name: `outbox sqlite pending(${PENDING_LIMIT}) p50 on ${BACKLOG} backlog`, value: backlog.pending.p50, unit: 'ms' },
      { name: `outbox sqlite pending(${PENDING_LIMIT}) p99 on ${BACKLOG} backlog`, value: backlog.pending.p99, unit: 'ms' },
      {
        name: `outbox sqlite pending(${PENDING_LIMIT}) p50 on ${BACKLOG} backlog, ${BACKLOG_ACCOUNTS - 1} of ${BACKLOG_ACCOUNTS} accounts waiting out a retry`,
        value: backlog.pendingInOutage.p50,
        unit: 'ms',
      },
    ];
  } finally {
    sqlite.close();
    journal.close();
    await rm(root, { recursive: true, force: true });
  }
}
