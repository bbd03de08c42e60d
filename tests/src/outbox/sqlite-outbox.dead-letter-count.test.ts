import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { spyOnStatements, type StatementRun } from '../../helpers/statement-spy.js';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { OUTBOX_FILE_NAME, SqliteOutbox } from '../../../src/outbox/sqlite-outbox.js';
import { SteppingClock } from '../../helpers/fake-clock.js';
import { outboxTestEvent } from '../../helpers/outbox-events.js';

/**
 * `/healthz` (with a token), the console overview (polled by every open console) and `/metrics` read each output's
 * dead-letter count on every request. Counted in SQLite that was a scan of every dead letter (some 35 ms for
 * 200,000) on the event loop that stores and ACKs duress frames; the outbox keeps the counts in memory instead, and
 * they must stay what SQLite holds through every way a dead letter comes or goes.
 */
describe('SqliteOutbox dead-letter counts', () => {
  const DAY = 86_400_000;
  let dataDir: string;
  let clock: SteppingClock;
  /** Every statement run by any connection opened while spying, with the parameters it ran with. */
  let runs: StatementRun[];

  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'panelbridge-dead-count-'));
    clock = new SteppingClock();
    runs = spyOnStatements();
  });

  afterEach(async () => {
    vi.restoreAllMocks();
    await rm(dataDir, { recursive: true, force: true });
  });

  const events = (n: number, prefix: string) =>
    Array.from({ length: n }, (_, i) => outboxTestEvent({ id: `${prefix}-${i}`, account: '1234', duress: i % 100 === 0, receivedAt: clock.now() }));

  /** Each output's dead letters as the file holds them, through a connection of its own. */
  function storedCounts(): Record<string, number> {
    const db = new Database(path.join(dataDir, OUTBOX_FILE_NAME), { readonly: true });
    try {
      const rows = db.prepare<[], { output: string; n: number }>('SELECT output, count(*) AS n FROM dead_letter GROUP BY output').all();
      return Object.fromEntries(rows.map((row) => [row.output, row.n]));
    } finally {
      db.close();
    }
  }

  /** The outbox's counts, per output and in total, equal the file's (after writing what is queued). */
  function expectCountsStored(outbox: SqliteOutbox, outputs: readonly string[], step: string): void {
    outbox.commitQueued();
    const stored = storedCounts();
    const total = Object.values(stored).reduce((sum, n) => sum + n, 0);
    expect(Object.fromEntries(outputs.map((output) => [output, outbox.deadLetterCount(output)])), step).toEqual(
      Object.fromEntries(outputs.map((output) => [output, stored[output] ?? 0])),
    );
    expect(outbox.deadLetterCount(), `${step}: total`).toBe(total);
  }

  it('answers a count without running a statement, a letter marked a moment ago included', async () => {
    const outbox = SqliteOutbox.open({ dataDir, clock, deadLetterRetentionMs: 90 * DAY });
    outbox.registerOutputs(['mqtt', 'hook']);
    const { entries } = await outbox.append(events(50, 'a'));
    for (const { seq } of entries.slice(0, 40)) outbox.markDead('mqtt', seq, 'rejected');
    outbox.commitQueued();
    outbox.markDead('hook', entries[0]!.seq, 'HTTP 401'); // queued, not yet written

    runs.length = 0;
    // What 100 refreshes of /healthz, the console overview and /metrics ask.
    for (let i = 0; i < 100; i++) {
      expect(outbox.deadLetterCount('mqtt')).toBe(40);
      expect(outbox.deadLetterCount('hook')).toBe(1);
      expect(outbox.deadLetterCount()).toBe(41);
    }
    expect(runs.map(({ source }) => source), 'statements run to count dead letters').toEqual([]);
    outbox.close();
  });

  it('reads a page of dead letters along the primary key, never every letter (GET /dead-letters)', async () => {
    const outbox = SqliteOutbox.open({ dataDir, clock });
    outbox.registerOutputs(['mqtt', 'hook', 'cms']);
    const seqs = (await outbox.append(events(300, 'a'))).entries.map((entry) => entry.seq);
    for (const seq of seqs) outbox.markDead('mqtt', seq, 'rejected');
    for (const seq of seqs.filter((seq) => seq % 3 === 0)) outbox.markDead('hook', seq, 'HTTP 401');
    outbox.markDelivered('hook', seqs.filter((seq) => seq % 3 !== 0));
    outbox.markDelivered('cms', seqs);
    outbox.commitQueued();
    const everything = outbox.deadLetters();

    runs.length = 0;
    const pages = [
      outbox.deadLetters('mqtt', { limit: 11 }),
      outbox.deadLetters('hook', { after: 150, limit: 11 }),
      outbox.deadLetters(undefined, { limit: 11 }),
      outbox.deadLetters(undefined, { after: 290, limit: 11 }),
      outbox.deadLetters('cms', { limit: 11 }),
    ];
    const plans = runs.map(({ source, args }) => {
      const db = new Database(path.join(dataDir, OUTBOX_FILE_NAME), { readonly: true });
      try {
        return { source, plan: db.prepare<unknown[], { detail: string }>(`EXPLAIN QUERY PLAN ${source}`).all(...args).map((row) => row.detail) };
      } finally {
        db.close();
      }
    });
    expect(plans.filter(({ plan }) => plan.some((step) => /^SCAN (d|dead_letter)\b/.test(step)))).toEqual([]);

    // The same letters as the full listing gives, a page at a time.
    const page = (output: string | undefined, after: number) => {
      const letters = everything.filter((letter) => (output === undefined || letter.output === output) && letter.seq > after);
      const firstSeqs = [...new Set(letters.map((letter) => letter.seq))].slice(0, 11);
      return letters.filter((letter) => firstSeqs.includes(letter.seq)).map((letter) => [letter.output, letter.seq]);
    };
    expect(pages.map((letters) => letters.map((letter) => [letter.output, letter.seq]))).toEqual([
      page('mqtt', -1),
      page('hook', 150),
      page(undefined, -1),
      page(undefined, 290),
      [],
    ]);
    expect(pages[2]!.filter((letter) => letter.seq === 3).map((letter) => letter.output)).toEqual(['hook', 'mqtt']);
    outbox.close();
  });

  it('keeps the counts equal to the stored dead letters through marking, retry, retention, clock steps, restart and retirement', async () => {
    let outbox = SqliteOutbox.open({ dataDir, clock, deadLetterRetentionMs: 90 * DAY });
    outbox.registerOutputs(['mqtt', 'hook']);
    const outputs = ['mqtt', 'hook'];
    expectCountsStored(outbox, outputs, 'empty');

    // More than one prune batch (500) of old letters.
    const old = (await outbox.append(events(1200, 'old'))).entries.map((entry) => entry.seq);
    for (const seq of old) outbox.markDead('mqtt', seq, 'rejected');
    outbox.markDelivered('hook', old.slice(1));
    outbox.markDead('hook', old[0]!, 'HTTP 401');
    outbox.markDead('mqtt', old[0]!, 'again'); // no longer pending for mqtt: ignored
    expectCountsStored(outbox, outputs, 'marked dead');

    const { retried, remaining } = outbox.retryDeadLetters('mqtt', old.slice(0, 3));
    expect(retried).toHaveLength(3);
    expect(remaining).toBe(1197);
    expectCountsStored(outbox, outputs, 'retried');
    outbox.retryDeadLetters('mqtt', [old[0]!]); // already retried: nothing to do
    expectCountsStored(outbox, outputs, 'retried again');

    // A clock stepped back and forth moves the letters' times, not their number.
    clock.step(-2 * DAY);
    outbox.prune();
    clock.step(2 * DAY);
    outbox.prune();
    expectCountsStored(outbox, outputs, 'clock stepped');

    clock.advance(60 * DAY);
    const young = (await outbox.append(events(20, 'young'))).entries.map((entry) => entry.seq);
    for (const seq of young) outbox.markDead('hook', seq, 'HTTP 500');
    outbox.markDelivered('mqtt', young);
    clock.advance(31 * DAY); // past retention for the old letters only
    const pruned: number[] = [];
    for (let rows = outbox.prune(); rows > 0; rows = outbox.prune()) {
      pruned.push(rows);
      expectCountsStored(outbox, outputs, `pruned ${rows}`);
    }
    expect(pruned.reduce((sum, n) => sum + n, 0)).toBe(1198);
    expect(outbox.deadLetterCount('hook')).toBe(20);

    const pending = (await outbox.append(events(5, 'pending'))).entries.map((entry) => entry.seq);
    outbox.markDead('hook', pending[0]!, 'HTTP 500');
    outbox.close();

    outbox = SqliteOutbox.open({ dataDir, clock, deadLetterRetentionMs: 90 * DAY });
    outbox.registerOutputs(['mqtt', 'hook']);
    expectCountsStored(outbox, outputs, 'restarted');
    outbox.close();

    // mqtt leaves the configuration with 5 + 3 retried events undelivered and no heir: they become its dead letters.
    outbox = SqliteOutbox.open({ dataDir, clock, deadLetterRetentionMs: 90 * DAY });
    const registration = outbox.registerOutputs(['hook']);
    expect(registration.retired.map((r) => [r.output, r.undelivered])).toEqual([['mqtt', 8]]);
    expectCountsStored(outbox, outputs, 'mqtt retired');
    expect(outbox.deadLetterCount('mqtt')).toBe(8);
    outbox.close();

    // mqtt comes back in hook's place and inherits hook's undelivered events, which are already its dead letters:
    // marking one dead again replaces its row, and counts it once.
    outbox = SqliteOutbox.open({ dataDir, clock, deadLetterRetentionMs: 90 * DAY });
    expect(outbox.registerOutputs(['mqtt']).retired.map((r) => [r.output, r.undelivered, r.handedTo])).toEqual([['hook', 4, ['mqtt']]]);
    outbox.markDead('mqtt', pending[1]!, 'rejected again');
    expectCountsStored(outbox, outputs, 'marked dead again');
    expect(outbox.deadLetterCount('mqtt')).toBe(8);
    expect(outbox.deadLetters('mqtt').find((letter) => letter.seq === pending[1])?.reason).toBe('rejected again');
    outbox.close();
  });
});
