import { describe, expect, it } from 'vitest';
import { DiscardCaptureBudget } from '../../../src/replay/discard-budget.js';

describe('DiscardCaptureBudget: how many discards run --capture writes down', () => {
  it('allows a few per sender address whatever its port, a few more in all, and starts again each window', () => {
    const budget = new DiscardCaptureBudget({ windowMs: 60_000, perSender: 2, total: 3 });
    const taken = (peer: string, now: number) => budget.take(peer, now);
    expect([taken('192.0.2.9:1000', 0), taken('192.0.2.9:1001', 1), taken('192.0.2.9:1002', 2)]).toEqual([true, true, false]);
    // Another sender still has room after a flood from the first; the total then closes it.
    expect([taken('192.0.2.10:40001', 3), taken('192.0.2.11:40001', 4)]).toEqual([true, false]);
    expect(taken('192.0.2.9:1000', 60_000)).toBe(true);
  });
});
