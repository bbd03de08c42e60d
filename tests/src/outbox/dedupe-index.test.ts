import { describe, expect, it } from 'vitest';
import { DedupeIndex, dedupeHash } from '../../../src/outbox/dedupe-index.js';

describe('DedupeIndex', () => {
  it('finds an append stored within the window, and forgets it once the window has passed', () => {
    const index = new DedupeIndex(1_000, 100);
    index.add(index.hash('k'), { firstSeq: 5, count: 2, at: 10_000 });
    expect(index.candidates(index.hash('k'), 10_999)).toEqual([{ firstSeq: 5, count: 2, at: 10_000 }]);
    expect(index.candidates(index.hash('other'), 10_500)).toEqual([]);
    expect(index.candidates(index.hash('k'), 11_000)).toEqual([]);
    expect(index.size).toBe(0);
  });

  it('keeps at most `capacity` appends, dropping the oldest first', () => {
    const index = new DedupeIndex(60_000, 3);
    for (let i = 1; i <= 5; i++) index.add(index.hash(`k${i}`), { firstSeq: i, count: 1, at: 1_000 + i });
    expect(index.size).toBe(3);
    expect(index.candidates(index.hash('k2'), 2_000)).toEqual([]);
    expect(index.candidates(index.hash('k3'), 2_000).map((c) => c.firstSeq)).toEqual([3]);
    expect(index.candidates(index.hash('k5'), 2_000).map((c) => c.firstSeq)).toEqual([5]);
  });

  it('returns every append whose key hash collides, oldest first, and drops each on its own', () => {
    const index = new DedupeIndex(1_000, 100, () => 42);
    index.add(index.hash('a'), { firstSeq: 1, count: 1, at: 100 });
    index.add(index.hash('b'), { firstSeq: 2, count: 1, at: 600 });
    expect(index.candidates(index.hash('c'), 900).map((c) => c.firstSeq)).toEqual([1, 2]);
    expect(index.candidates(index.hash('c'), 1_200).map((c) => c.firstSeq)).toEqual([2]);
  });

  it('survives long runs of evictions (the slot array is compacted)', () => {
    const index = new DedupeIndex(10, 50_000);
    for (let i = 0; i < 20_000; i++) {
      index.add(index.hash(`k${i}`), { firstSeq: i + 1, count: 1, at: i });
      index.candidates(index.hash(`k${i}`), i);
    }
    expect(index.size).toBeLessThanOrEqual(11);
    expect(index.candidates(index.hash('k19999'), 19_999).map((c) => c.firstSeq)).toEqual([20_000]);
  });

  it('hashes to a safe integer that depends on every character', () => {
    const a = dedupeHash('dc09|ip|1234|0001|abc');
    expect(Number.isSafeInteger(a)).toBe(true);
    expect(dedupeHash('dc09|ip|1234|0001|abd')).not.toBe(a);
    expect(dedupeHash('ec09|ip|1234|0001|abc')).not.toBe(a);
  });
});
