import v8 from 'node:v8';
import { describe, expect, it } from 'vitest';
import { memoryReducingCollection } from '../../../adapters/system/memory.js';

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
