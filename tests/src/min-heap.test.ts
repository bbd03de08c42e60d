import { describe, expect, it } from 'vitest';
import { MinHeap } from '../../src/min-heap.js';
import { seededRandom } from '../../src/model/ids.js';

describe('MinHeap', () => {
  it('gives back any pushes and pops in key order, ties included', () => {
    const bytes = seededRandom(3);
    const heap = new MinHeap<{ key: number }>((item) => item.key);
    const kept: number[] = [];
    const popped: number[] = [];
    for (let i = 0; i < 2_000; i++) {
      if (bytes(1)[0]! < 160) {
        const key = bytes(1)[0]! % 50;
        heap.push({ key });
        kept.push(key);
      } else if (heap.size > 0) {
        const least = Math.min(...kept);
        expect(heap.peek()?.key).toBe(least);
        popped.push(heap.pop()!.key);
        kept.splice(kept.indexOf(least), 1);
      }
    }
    while (heap.size > 0) popped.push(heap.pop()!.key);
    expect(heap.pop()).toBeUndefined();
    expect(popped.length).toBeGreaterThan(500);
  });
});
