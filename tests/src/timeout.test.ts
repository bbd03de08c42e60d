import { describe, expect, it, vi } from 'vitest';
import { withTimeout } from '../../src/timeout.js';

describe('withTimeout', () => {
  it('gives the work\'s result when it settles first, and leaves no timer behind', async () => {
    vi.useFakeTimers();
    try {
      await expect(withTimeout(Promise.resolve('done'), 1_000)).resolves.toBe('done');
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('gives "timeout" when the time runs out first, and passes a rejection through', async () => {
    vi.useFakeTimers();
    try {
      const raced = withTimeout(new Promise<never>(() => {}), 1_000);
      await vi.advanceTimersByTimeAsync(1_000);
      await expect(raced).resolves.toBe('timeout');
      await expect(withTimeout(Promise.reject(new Error('broken')), 1_000)).rejects.toThrow('broken');
    } finally {
      vi.useRealTimers();
    }
  });
});
