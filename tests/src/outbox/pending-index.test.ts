import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backlogLimitWithinHeap, PendingIndex, pendingEntryHeapBytes, type EntryMeta } from '../../../src/outbox/pending-index.js';

const ACCOUNTS = ['1001', '1002', '1003', '1004', '1005', null] as const;

const entryArb = fc.record({ account: fc.constantFrom(...ACCOUNTS), duress: fc.boolean() });

/** What `select` promises, written out over a plain array of the output's pending entries (seq order). */
function expectedSelection(pending: readonly EntryMeta[], limit: number, exclude: ReadonlySet<number>, skipAccounts: ReadonlySet<string>, duressFirst: boolean): number[] {
  const chosen: number[] = [];
  const skipped = (entry: EntryMeta) => exclude.has(entry.seq) || (entry.account !== null && skipAccounts.has(entry.account));
  const take = (entry: EntryMeta) => {
    if (chosen.length < limit && !chosen.includes(entry.seq) && !skipped(entry)) chosen.push(entry.seq);
  };
  if (duressFirst) {
    for (const duress of pending.filter((entry) => entry.duress && !skipped(entry))) {
      if (duress.account !== null) for (const earlier of pending.filter((entry) => entry.account === duress.account && entry.seq < duress.seq)) take(earlier);
      take(duress);
    }
  }
  for (const entry of pending) take(entry);
  return chosen;
}

describe('PendingIndex.select', () => {
  it('picks what the delivery order promises, however many accounts wait out a retry', () => {
    fc.assert(
      fc.property(
        fc.array(entryArb, { minLength: 1, maxLength: 120 }),
        fc.array(fc.nat(), { maxLength: 60 }),
        fc.subarray(ACCOUNTS.filter((account) => account !== null)),
        fc.array(fc.nat(), { maxLength: 8 }),
        fc.integer({ min: 1, max: 12 }),
        fc.boolean(),
        (entries, completions, skip, excludePicks, limit, duressFirst) => {
          const index = new PendingIndex();
          index.track('out', []);
          const metas = entries.map(({ account, duress }, i): EntryMeta => ({ seq: i + 1, account, duress, receivedAt: 0 }));
          for (const meta of metas) index.add(meta);
          for (const pick of completions) index.complete('out', metas[pick % metas.length]!.seq);
          const pending = metas.filter((meta) => index.isPending(meta.seq));
          const exclude = new Set(pending.length === 0 ? [] : excludePicks.map((pick) => pending[pick % pending.length]!.seq));
          const skipAccounts = new Set(skip);

          expect(index.select('out', limit, exclude, skipAccounts, duressFirst)).toEqual(expectedSelection(pending, limit, exclude, skipAccounts, duressFirst));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('passes over a backlog of waiting accounts to the one account that may go', () => {
    const index = new PendingIndex();
    index.track('out', []);
    let seq = 0;
    for (let i = 0; i < 10_000; i++) index.add({ seq: ++seq, account: `w${i % 500}`, duress: false, receivedAt: 0 });
    index.add({ seq: ++seq, account: 'free', duress: false, receivedAt: 0 });
    index.add({ seq: ++seq, account: null, duress: false, receivedAt: 0 });
    const waiting = new Set(Array.from({ length: 500 }, (_, i) => `w${i}`));

    expect(index.select('out', 10, new Set(), waiting)).toEqual([10_001, 10_002]);
    expect(index.select('out', 10, new Set([10_001]), waiting)).toEqual([10_002]);
  });
});

describe('backlogLimitWithinHeap', () => {
  const MB = 2 ** 20;

  it('keeps a backlogLimit whose index fits in half the heap', () => {
    expect(backlogLimitWithinHeap(200_000, 2, 124 * MB)).toEqual({ limit: 200_000, warning: undefined });
  });

  it('lowers a backlogLimit whose index would not fit in half the heap, saying what to change', () => {
    const bound = backlogLimitWithinHeap(1_000_000, 2, 124 * MB);
    expect(bound.limit).toBe(Math.floor((62 * MB) / pendingEntryHeapBytes(2)));
    expect(bound.warning).toBe(
      `backlogLimit 1000000 would keep about ${Math.round((1_000_000 * pendingEntryHeapBytes(2)) / MB)} MB of undelivered events' index in memory, over half the Node heap limit (124 MB): ` +
        `frames other than duress are refused (NAK) past ${bound.limit} undelivered events instead; lower backlogLimit, or give Node a larger heap (--max-old-space-size)`,
    );
  });
});
