import type http from 'node:http';
import type { NormalizedEvent } from '../../../src/model/event.js';

/** An event the gateway stored recently, with when it was stored and delivered to each output. */
export interface TracedEvent {
  event: NormalizedEvent;
  storedAt: number;
  delivered: Record<string, number>;
}

/** Recent events kept for walks and incident timelines (older ones show without per-output times). */
export const TRACE_LIMIT = 2_000;

/**
 * What the console can show: a walk lists a site's events, an incident timeline its incident's. Any other event
 * is not traced: held by the trace, it would outlive the young generation for nothing.
 */
export function shownByConsole(event: NormalizedEvent): boolean {
  return event.site !== null || event.incident != null;
}
/**
 * Live views open at once; more are refused, so open consoles never take the API listener's connections (64 by
 * default, `api.maxConnections`) from API clients and from console pages loading.
 */
export const MAX_STREAMS = 16;
/** Live views one token name may hold, so that one (a viewer's) cannot take them all; more poll instead. */
export const MAX_STREAMS_PER_NAME = 4;
/**
 * What may wait unsent for one live view (beyond what the kernel holds): past it the view reads nothing (a stalled
 * browser, or a client that never reads) and is dropped, so its queue cannot grow with every update for the
 * session's 12 hours. A browser that still listens reconnects and fetches what it shows.
 */
export const MAX_UNSENT_BYTES = 64 * 1024;
/** Several events arriving together become one update. */
const UPDATE_DELAY_MS = 200;
/** A comment line this often keeps proxies from closing an idle stream. */
const KEEPALIVE_MS = 15_000;

/**
 * What the console shows live: a bounded trace of recently stored events and their deliveries, and the
 * server-sent-event streams told when something changed (they then fetch what they show).
 */
export class ConsoleFeed {
  /**
   * The trace, as a ring of TRACE_LIMIT slots (`next` is the oldest) in parallel arrays: an object per event,
   * living for thousands of events, would be copied out of the young generation only to die in the old one.
   * `slots` finds an id's slot: a ring, because finding a Map's first key after many deletions at its front walks
   * past their holes on every event.
   */
  private readonly ids: Array<string | undefined> = new Array<string | undefined>(TRACE_LIMIT);
  private readonly events: Array<NormalizedEvent | undefined> = new Array<NormalizedEvent | undefined>(TRACE_LIMIT);
  private readonly storedAt = new Float64Array(TRACE_LIMIT);
  /** Per slot, when each output delivered the event; undefined until the first delivery. */
  private readonly deliveredAt: Array<Record<string, number> | undefined> = new Array<Record<string, number> | undefined>(TRACE_LIMIT);
  private readonly slots = new Map<string, number>();
  private next = 0;
  /** Each open live view, with the token name that opened it and whether it may still listen. */
  private readonly streams = new Map<http.ServerResponse, { name: string; authorised: () => boolean }>();
  private pending: NodeJS.Timeout | undefined;
  private readonly keepalive: NodeJS.Timeout;

  constructor(private readonly now: () => number) {
    this.keepalive = setInterval(() => this.tell(': keepalive\n\n'), KEEPALIVE_MS).unref();
  }

  stored(events: readonly NormalizedEvent[]): void {
    const at = this.now();
    for (const event of events) {
      if (!shownByConsole(event)) continue;
      const slot = this.next;
      // The id stored TRACE_LIMIT events ago gives up its place.
      const evicted = this.ids[slot];
      if (evicted !== undefined && this.slots.get(evicted) === slot) this.slots.delete(evicted);
      this.ids[slot] = event.id;
      this.events[slot] = event;
      this.storedAt[slot] = at;
      this.deliveredAt[slot] = undefined;
      this.slots.set(event.id, slot);
      this.next = (slot + 1) % TRACE_LIMIT;
    }
    this.changed();
  }

  delivered(output: string, event: NormalizedEvent): void {
    const slot = this.slots.get(event.id);
    if (slot === undefined) return;
    let delivered = this.deliveredAt[slot];
    if (delivered === undefined) this.deliveredAt[slot] = delivered = {};
    else if (delivered[output] !== undefined) return;
    delivered[output] = this.now();
    this.changed();
  }

  trace(id: string): TracedEvent | undefined {
    const slot = this.slots.get(id);
    return slot === undefined ? undefined : this.traceAt(slot);
  }

  /** Traced events, oldest first, that pass the filter. */
  select(filter: (event: NormalizedEvent) => boolean): TracedEvent[] {
    const selected: TracedEvent[] = [];
    for (let i = 0; i < TRACE_LIMIT; i++) {
      const slot = (this.next + i) % TRACE_LIMIT;
      const event = this.events[slot];
      if (event !== undefined && this.slots.get(event.id) === slot && filter(event)) selected.push(this.traceAt(slot));
    }
    return selected;
  }

  private traceAt(slot: number): TracedEvent {
    return { event: this.events[slot]!, storedAt: this.storedAt[slot]!, delivered: { ...this.deliveredAt[slot] } };
  }

  /**
   * Takes a response as a live stream for token name `name`; false when too many are open, in all or for it.
   * `authorised` is asked before each write: once its token is replaced or removed, or its session ended, the
   * stream is ended instead, so it tells nothing more and frees its place.
   */
  subscribe(res: http.ServerResponse, name: string, authorised: () => boolean): boolean {
    if (this.streams.size >= MAX_STREAMS || [...this.streams.values()].filter((s) => s.name === name).length >= MAX_STREAMS_PER_NAME) return false;
    this.streams.set(res, { name, authorised });
    res.on('close', () => this.streams.delete(res));
    res.write('retry: 3000\n\nevent: update\ndata: {}\n\n');
    return true;
  }

  /** Tells every live view to refresh (soon, once for a burst). */
  changed(): void {
    if (this.pending !== undefined || this.streams.size === 0) return;
    this.pending = setTimeout(() => {
      this.pending = undefined;
      this.tell(`event: update\ndata: {"at":${this.now()}}\n\n`);
    }, UPDATE_DELAY_MS);
  }

  private tell(text: string): void {
    for (const [stream, { authorised }] of this.streams) {
      if (!authorised()) {
        this.streams.delete(stream);
        stream.end();
      } else if (stream.writableLength > MAX_UNSENT_BYTES) {
        // end() would wait behind what is queued; the view reads nothing, so nothing more is written to it.
        this.streams.delete(stream);
        stream.destroy();
      } else stream.write(text);
    }
  }

  stop(): void {
    clearInterval(this.keepalive);
    clearTimeout(this.pending);
    for (const stream of this.streams.keys()) stream.end();
    this.streams.clear();
  }
}
