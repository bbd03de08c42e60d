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
 * Live views open at once; more are refused, so open consoles never take the API listener's connections (64 by
 * default, `api.maxConnections`) from API clients and from console pages loading.
 */
export const MAX_STREAMS = 16;
/** Several events arriving together become one update. */
const UPDATE_DELAY_MS = 200;
/** A comment line this often keeps proxies from closing an idle stream. */
const KEEPALIVE_MS = 15_000;

/**
 * What the console shows live: a bounded trace of recently stored events and their deliveries, and the
 * server-sent-event streams told when something changed (they then fetch what they show).
 */
export class ConsoleFeed {
  private readonly traces = new Map<string, TracedEvent>();
  /** The traced ids in store order, as a ring of TRACE_LIMIT slots; `next` is the oldest. */
  private readonly order: Array<string | undefined> = new Array<string | undefined>(TRACE_LIMIT);
  private next = 0;
  private readonly streams = new Set<http.ServerResponse>();
  private pending: NodeJS.Timeout | undefined;
  private readonly keepalive: NodeJS.Timeout;

  constructor(private readonly now: () => number) {
    this.keepalive = setInterval(() => {
      for (const stream of this.streams) stream.write(': keepalive\n\n');
    }, KEEPALIVE_MS).unref();
  }

  stored(events: readonly NormalizedEvent[]): void {
    const at = this.now();
    for (const event of events) {
      // The id stored TRACE_LIMIT events ago gives up its place: a ring, because finding a Map's first key after
      // many deletions at its front walks past their holes on every event.
      const evicted = this.order[this.next];
      if (evicted !== undefined) this.traces.delete(evicted);
      this.order[this.next] = event.id;
      this.next = (this.next + 1) % TRACE_LIMIT;
      this.traces.set(event.id, { event, storedAt: at, delivered: {} });
    }
    this.changed();
  }

  delivered(output: string, event: NormalizedEvent): void {
    const trace = this.traces.get(event.id);
    if (trace === undefined || trace.delivered[output] !== undefined) return;
    trace.delivered[output] = this.now();
    this.changed();
  }

  trace(id: string): TracedEvent | undefined {
    return this.traces.get(id);
  }

  /** Traced events, oldest first, that pass the filter. */
  select(filter: (event: NormalizedEvent) => boolean): TracedEvent[] {
    return [...this.traces.values()].filter((t) => filter(t.event));
  }

  /** Takes a response as a live stream; false when too many are open. */
  subscribe(res: http.ServerResponse): boolean {
    if (this.streams.size >= MAX_STREAMS) return false;
    this.streams.add(res);
    res.on('close', () => this.streams.delete(res));
    res.write('retry: 3000\n\nevent: update\ndata: {}\n\n');
    return true;
  }

  /** Tells every live view to refresh (soon, once for a burst). */
  changed(): void {
    if (this.pending !== undefined || this.streams.size === 0) return;
    this.pending = setTimeout(() => {
      this.pending = undefined;
      for (const stream of this.streams) stream.write(`event: update\ndata: {"at":${this.now()}}\n\n`);
    }, UPDATE_DELAY_MS);
  }

  stop(): void {
    clearInterval(this.keepalive);
    clearTimeout(this.pending);
    for (const stream of this.streams) stream.end();
    this.streams.clear();
  }
}
