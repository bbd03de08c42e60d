import { EventEmitter } from 'node:events';
import type http from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConsoleFeed, MAX_STREAMS, MAX_UNSENT_BYTES, TRACE_LIMIT } from '../../../../adapters/api/console/feed.js';
import type { NormalizedEvent } from '../../../../src/model/event.js';

const event = (id: string) => ({ id, site: { id: 'hq' } }) as NormalizedEvent;

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

  it('keeps each output\'s first delivery time of a traced event, and none for an event no longer traced', () => {
    let now = 100;
    const feed = new ConsoleFeed(() => now);
    feed.stored([event('a'), event('b')]);
    now = 150;
    feed.delivered('cms', event('a'));
    now = 170;
    feed.delivered('cms', event('a'));
    feed.delivered('siren', event('a'));
    expect(feed.trace('a')).toEqual({ event: event('a'), storedAt: 100, delivered: { cms: 150, siren: 170 } });
    expect(feed.trace('b')).toEqual({ event: event('b'), storedAt: 100, delivered: {} });
    feed.stored(Array.from({ length: TRACE_LIMIT }, (_, i) => event(`later-${i}`)));
    feed.delivered('cms', event('b'));
    expect(feed.trace('b')).toBeUndefined();
    expect(feed.select((e) => e.id === 'later-0')).toEqual([{ event: event('later-0'), storedAt: 170, delivered: {} }]);
    feed.stop();
  });

  it('traces only events the console shows: those of a site or of an incident', () => {
    const feed = new ConsoleFeed(() => 0);
    const siteless = { id: 'no-site', site: null } as NormalizedEvent;
    const ofIncident = { id: 'incident', site: null, incident: 'inc-1' } as NormalizedEvent;
    feed.stored([event('site'), siteless, ofIncident]);
    expect(feed.select(() => true).map((t) => t.event.id)).toEqual(['site', 'incident']);
    expect(feed.trace('no-site')).toBeUndefined();
    feed.stop();
  });
});

/** A live view whose browser reads nothing: every byte written stays queued in the gateway. */
class UnreadResponse extends EventEmitter {
  writableLength = 0;
  destroyed = false;
  write(text: string): boolean {
    this.writableLength += Buffer.byteLength(text);
    return false;
  }
  end(): void {}
  destroy(): void {
    this.destroyed = true;
    this.emit('close');
  }
}

describe('ConsoleFeed live views', () => {
  afterEach(() => vi.useRealTimers());

  it('drops a view that reads nothing before what waits for it grows without bound, and frees its place', () => {
    vi.useFakeTimers();
    const feed = new ConsoleFeed(() => Date.now());
    const unread = new UnreadResponse();
    expect(feed.subscribe(unread as unknown as http.ServerResponse, 'wall-screen', () => true)).toBe(true);
    const others = Array.from({ length: MAX_STREAMS - 1 }, (_, i) => {
      const reading = new UnreadResponse();
      reading.write = () => true; // a browser that keeps up: nothing stays queued
      expect(feed.subscribe(reading as unknown as http.ServerResponse, `screen-${i}`, () => true)).toBe(true);
      return reading;
    });
    // A day of events arriving every second (a panel flood does it faster): each is one update to every view.
    for (let i = 0; i < 86_400 && !unread.destroyed; i++) {
      feed.changed();
      vi.advanceTimersByTime(1_000);
    }
    expect(unread.destroyed).toBe(true);
    expect(unread.writableLength).toBeLessThanOrEqual(MAX_UNSENT_BYTES + 100);
    expect(others.some((view) => view.destroyed)).toBe(false);
    expect(feed.subscribe(new UnreadResponse() as unknown as http.ServerResponse, 'wall-screen', () => true)).toBe(true);
    feed.stop();
  });
});
