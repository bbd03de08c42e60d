import v8 from 'node:v8';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { memoryReducingCollection, runWhenIdle, type LoopMeter } from '../../../adapters/system/memory.js';

const V8_WITH_COLLECTION_OPTIONS = Number.parseInt(process.versions.v8, 10) >= 12;

describe('memoryReducingCollection', () => {
  it.runIf(V8_WITH_COLLECTION_OPTIONS)('gives the pages of the garbage the heap holds back to the system', () => {
    const collect = memoryReducingCollection();
    expect(collect).toBeTypeOf('function');
    let garbage: Array<{ n: number; text: string }> | null = [];
    for (let n = 0; n < 400_000; n++) garbage.push({ n, text: `entry ${n}` });
    garbage = null;
    const committed = v8.getHeapStatistics().total_heap_size;
    collect!();
    expect(committed - v8.getHeapStatistics().total_heap_size).toBeGreaterThan(10 * 1024 * 1024);
  });

  it.runIf(!V8_WITH_COLLECTION_OPTIONS)('offers nothing where V8 has no memory-reducing collection to call (Node 20)', () => {
    expect(memoryReducingCollection()).toBeUndefined();
  });

  it('leaves no global gc behind for other code to find', () => {
    memoryReducingCollection();
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
  });
});

describe('runWhenIdle', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A meter whose watches find the loop busy for the shares given, one watch after another. */
  const meterOf = (shares: number[]): LoopMeter => () => {
    const share = shares.shift() ?? 0;
    return () => share;
  };

  it('waits while the event loop is busy and runs the task once a whole watch finds it idle', () => {
    vi.useFakeTimers();
    const task = vi.fn();
    runWhenIdle(task, 10_000, meterOf([0.9, 0.3, 0.01]));

    vi.advanceTimersByTime(10_999); // first look at 10 s, its verdict a watch later
    expect(task).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1); // busy (0.9): looks again 10 s later
    vi.advanceTimersByTime(11_000); // busy again (0.3)
    expect(task).not.toHaveBeenCalled();
    vi.advanceTimersByTime(10_999);
    expect(task).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1); // idle (0.01)
    expect(task).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(100_000);
    expect(task).toHaveBeenCalledTimes(1);
  });

  it('measures the real event loop: a loop kept busy is not idle', async () => {
    const task = vi.fn();
    let spin = true;
    const busyLoop = (): void => {
      const until = performance.now() + 20;
      while (performance.now() < until);
      if (spin) setImmediate(busyLoop);
    };
    busyLoop();
    runWhenIdle(task, 0);
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    spin = false;
    expect(task).not.toHaveBeenCalled();
  });
});
