import { describe, expect, it } from 'vitest';
import { MAX_UNLISTED_ACCOUNTS, UNLISTED_NAMES_SHOWN, UnlistedUnreadable } from '../../../src/pipeline/unlisted-unreadable.js';

const HOUR = 3_600_000;

describe('encrypted frames that cannot be read from accounts off the allowlist', () => {
  it('reports the first at once, then at most once an interval with everything counted since', () => {
    const unlisted = new UnlistedUnreadable(HOUR);
    expect(unlisted.note('4321', 0)).toMatchObject({ since: 0, frames: 1, accounts: 1, names: [['4321', 1]] });
    expect(unlisted.note('4321', 10)).toBeUndefined();
    expect(unlisted.note(undefined, 20)).toBeUndefined();
    expect(unlisted.note('4321', HOUR)).toEqual({ since: 10, frames: 3, accounts: 2, accountsCapped: false, names: [['4321', 2], ['(none)', 1]] });
  });

  it('holds at most MAX_UNLISTED_ACCOUNTS accounts however many a flood names, and names the most frequent few', () => {
    const unlisted = new UnlistedUnreadable(HOUR);
    unlisted.note('1', 0);
    for (let n = 0; n < 3 * MAX_UNLISTED_ACCOUNTS; n++) unlisted.note(String(100_000 + n), 1);
    for (let n = 0; n < 3; n++) unlisted.note('4321', 2);
    const summary = unlisted.note('4321', HOUR)!;
    expect(summary).toMatchObject({ frames: 3 * MAX_UNLISTED_ACCOUNTS + 4, accounts: MAX_UNLISTED_ACCOUNTS, accountsCapped: true });
    expect(summary.names).toHaveLength(UNLISTED_NAMES_SHOWN);
    expect(summary.names[0]).toEqual(['4321', 4]);
  });

  it('reports with the next frame when a summary could not be stored', () => {
    const unlisted = new UnlistedUnreadable(HOUR);
    expect(unlisted.note('4321', 0)).toBeDefined();
    unlisted.failed();
    expect(unlisted.note('4321', 1)).toMatchObject({ frames: 1 });
  });
});
