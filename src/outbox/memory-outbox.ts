import { receivedAtMs, type NormalizedEvent } from '../model/event.js';
import { eventJson, parsedEvent } from '../model/event-json.js';
import { systemClock, type Clock } from '../ports.js';
import type { AppendResult, DeadLetter, Outbox, OutboxEntry } from './outbox.js';
import {
  IndexedOutbox,
  compareDeadLetters,
  DEFAULT_DEDUPE_WINDOW_MS,
  outboxWriteFailed,
  serializeEvents,
} from './outbox-shared.js';
import { describeEntry } from './pending-index.js';

export interface MemoryOutboxOptions {
  dedupeWindowMs?: number;
  clock?: Clock;
}

/**
 * The Outbox without disk, for `decode`, `replay --dry-run` and tests. Same ordering, cursor and dedupe rules
 * as SqliteOutbox (both use PendingIndex). An entry is held only while an output still has it to deliver, and a
 * dedupe key only for the dedupe window, so a replay of a day of traffic does not keep the day in memory.
 */
export class MemoryOutbox extends IndexedOutbox implements Outbox {
  /** Entries some registered output still has to deliver. */
  private readonly entries = new Map<number, OutboxEntry>();
  /**
   * By dedupe key, in store order (oldest first), for the dedupe window: each entry's seq and stored text, read
   * back only on a hit, so the window holds flat strings rather than event objects the GC has to walk.
   */
  private readonly storedByKey = new Map<string, { at: number; entries: Array<{ seq: number; text: string }> }>();
  private readonly deadByOutput = new Map<string, DeadLetter[]>();
  private readonly dedupeWindowMs: number;
  private readonly clock: Clock;
  private head = 0;
  /** Entries ever stored: nothing is deleted by retention here. */
  private storedCount = 0;
  private oldestStoredAt: number | null = null;
  private closed = false;

  constructor(options: MemoryOutboxOptions = {}) {
    super();
    this.dedupeWindowMs = options.dedupeWindowMs ?? DEFAULT_DEDUPE_WINDOW_MS;
    this.clock = options.clock ?? systemClock;
  }

  async append(events: NormalizedEvent[], options: { dedupeKey?: string } = {}): Promise<AppendResult> {
    if (this.closed) throw outboxWriteFailed('outbox is closed');
    // Serialised as a disk-backed store would (an unserialisable event fails its append); the text is kept
    // with the event, so an output sends exactly what was stored.
    serializeEvents(events);
    const now = this.clock.now();
    const { dedupeKey } = options;
    const earlier = dedupeKey === undefined ? undefined : this.storedUnder(dedupeKey);
    if (earlier !== undefined) return { duplicate: true, entries: earlier };
    const entries = events.map((event) => ({ seq: ++this.head, event }));
    const tracked = this.index.outputs().length > 0;
    for (const entry of entries) {
      this.oldestStoredAt ??= receivedAtMs(entry.event, now);
      if (tracked) this.entries.set(entry.seq, entry);
      this.index.add({ seq: entry.seq, ...describeEntry(entry.event, now) });
    }
    this.storedCount += entries.length;
    // An empty append stores nothing, so (as on disk) it leaves nothing to be a duplicate of.
    if (entries.length === 0) return { duplicate: false, entries };
    if (dedupeKey !== undefined) this.remember(dedupeKey, now, entries);
    this.listeners.notify();
    return { duplicate: false, entries };
  }

  storedUnder(dedupeKey: string): OutboxEntry[] | undefined {
    const stored = this.storedByKey.get(dedupeKey);
    if (stored === undefined || this.clock.now() - stored.at >= this.dedupeWindowMs) return undefined;
    return stored.entries.map(({ seq, text }) => ({ seq, event: parsedEvent(text) }));
  }

  registerOutputs(names: readonly string[]): void {
    for (const name of names) {
      if (!this.index.has(name)) this.index.track(name, []);
    }
  }

  pending(output: string, limit: number, exclude?: ReadonlySet<number>, skipAccounts?: ReadonlySet<string>, duressFirst = true): OutboxEntry[] {
    return this.index.select(output, limit, exclude, skipAccounts, duressFirst).map((seq) => this.entry(seq));
  }

  markDelivered(output: string, seqs: readonly number[]): void {
    for (const seq of seqs) if (this.index.complete(output, seq)) this.release(seq);
  }

  markDead(output: string, seq: number, reason: string): void {
    const entry = this.entries.get(seq);
    if (entry === undefined || !this.index.complete(output, seq)) return;
    this.release(seq);
    const letters = this.deadByOutput.get(output) ?? [];
    letters.push({ output, seq, reason, at: this.clock.now(), event: entry.event });
    this.deadByOutput.set(output, letters);
  }

  deadLetters(output?: string): DeadLetter[] {
    const letters = output === undefined ? [...this.deadByOutput.values()].flat() : (this.deadByOutput.get(output) ?? []);
    return [...letters].sort(compareDeadLetters);
  }

  deadLetterCount(output?: string): number {
    return output === undefined ? [...this.deadByOutput.values()].reduce((n, letters) => n + letters.length, 0) : (this.deadByOutput.get(output)?.length ?? 0);
  }

  storage(): { entries: number; oldestStoredAt: number | null } {
    return { entries: this.storedCount, oldestStoredAt: this.oldestStoredAt };
  }

  /** Every append is stored as it comes: nothing waits for a commit. */
  commitQueued(): void {}

  close(): void {
    this.closed = true;
  }

  /** Keeps an append's entries under its key for the window; keys past it are dropped, oldest first. */
  private remember(dedupeKey: string, now: number, entries: OutboxEntry[]): void {
    this.storedByKey.delete(dedupeKey); // stored again after its window: it moves to the end of the store order
    this.storedByKey.set(dedupeKey, { at: now, entries: entries.map(({ seq, event }) => ({ seq, text: eventJson(event) })) });
    for (const [key, stored] of this.storedByKey) {
      if (now - stored.at < this.dedupeWindowMs) break;
      this.storedByKey.delete(key);
    }
  }

  /** An entry no output has to deliver any more is not needed here. */
  private release(seq: number): void {
    if (!this.index.isPending(seq)) this.entries.delete(seq);
  }

  private entry(seq: number): OutboxEntry {
    const entry = this.entries.get(seq);
    if (entry === undefined) throw new Error(`outbox entry ${seq} is missing`);
    return entry;
  }
}
