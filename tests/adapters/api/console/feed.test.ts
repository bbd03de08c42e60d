import { describe, expect, it } from 'vitest';
import { ConsoleFeed, TRACE_LIMIT } from '../../../../adapters/api/console/feed.js';
import type { NormalizedEvent } from '../../../../src/model/event.js';

const event = (id: string) => ({ id }) as NormalizedEvent;

describe('ConsoleFeed trace', () => {
  it('keeps the last TRACE_LIMIT stored events, oldest first, and forgets the ones before them', () => {
    const feed = new ConsoleFeed(() => 0);
    const ids = Array.from({ length: TRACE_LIMIT + 5 }, (_, i) => `e${i}`);
    feed.stored(ids.slice(0, 3).map(event));
    feed.stored(ids.slice(3).map(event));
    const kept = feed.select(() => true).map((t) => t.event.id);
    expect(kept).toEqual(ids.slice(5));
    expect(feed.trace('e4')).toBeUndefined();
    expect(feed.trace('e5')?.event.id).toBe('e5');
    feed.stop();
  });
});
