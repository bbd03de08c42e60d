import { receivedAtMs, type NormalizedEvent } from '../model/event.js';
import { eventJson, parsedEvent } from '../model/event-json.js';
import { systemClock, type Clock } from '../ports.js';
import type { AppendResult, DeadLetter, Outbox, OutboxEntry } from './outbox.js';
import {
  IndexedOutbox,
  compareDeadLetters,
  DEDUPE_CAPACITY,
  DEFAULT_DEDUPE_WINDOW_MS,
  outboxWriteFailed,
  serializeEvents,
} from './outbox-shared.js';
import { entryMeta } from './pending-index.js';
import { DedupeIndex, type StoredAppend } from './dedupe-index.js';

export interface MemoryOutboxOptions {
  dedupeWindowMs?: number;
  clock?: Clock;
}

/**
 * The Outbox without disk, for `decode`, `replay --dry-run` and tests. Same ordering, cursor and dedupe rules
 * as SqliteOutbox (both use PendingIndex). An entry is held only while an output still has it to deliver, and a
 * dedupe key only for the dedupe window and the last DEDUPE_CAPACITY keyed appends (as on disk), so a replay of
 * a day of traffic does not keep the day in memory.
 */
export class MemoryOutbox extends IndexedOutbox implements Outbox {
  /** Entries some registered output still has to deliver. */
  private readonly entries = new Map<number, OutboxEntry>();
  /** Keyed appends within the dedupe window, as SqliteOutbox keeps them; their texts are in `keyedTexts`. */
  private readonly dedupe: DedupeIndex;
  /**
   * The stored text and key of each entry the dedupe index still remembers, by seq: read back only on a hit, so
   * the window holds strings rather than event objects the GC has to walk.
   */
  private readonly keyedTexts = new Map<number, { key: string; text: string }>();
  private readonly deadByOutput = new Map<string, DeadLetter[]>();
  private readonly clock: Clock;
  private head = 0;
  /** Entries ever stored: nothing is deleted by retention here. */
  private storedCount = 0;
  private oldestStoredAt: number | null = null;
  private closed = false;

  constructor(options: MemoryOutboxOptions = {}) {
    super();
    this.clock = options.clock ?? systemClock;
    const windowMs = options.dedupeWindowMs ?? DEFAULT_DEDUPE_WINDOW_MS;
    this.dedupe = new DedupeIndex(windowMs, DEDUPE_CAPACITY, undefined, (append) => this.forget(append));
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
      this.index.add(entryMeta(entry.seq, entry.event, now));
    }
    this.storedCount += entries.length;
    // An empty append stores nothing, so (as on disk) it leaves nothing to be a duplicate of.
    if (entries.length === 0) return { duplicate: false, entries };
    if (dedupeKey !== undefined) this.remember(dedupeKey, now, entries);
    this.listeners.notify();
    return { duplicate: false, entries };
  }

  storedUnder(dedupeKey: string): OutboxEntry[] | undefined {
    for (const candidate of this.dedupe.candidates(this.dedupe.hash(dedupeKey), this.clock.now())) {
      const entries: OutboxEntry[] = [];
      for (let seq = candidate.firstSeq; seq < candidate.firstSeq + candidate.count; seq++) {
        const kept = this.keyedTexts.get(seq);
        if (kept?.key !== dedupeKey) break;
        entries.push({ seq, event: parsedEvent(kept.text) });
      }
      if (entries.length === candidate.count) return entries;
    }
    return undefined;
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

  /** Keeps an append's entries under its key while the dedupe index remembers it (the window, the capacity). */
  private remember(dedupeKey: string, now: number, entries: OutboxEntry[]): void {
    for (const { seq, event } of entries) this.keyedTexts.set(seq, { key: dedupeKey, text: eventJson(event) });
    this.dedupe.add(this.dedupe.hash(dedupeKey), { firstSeq: entries[0]!.seq, count: entries.length, at: now });
  }

  private forget(append: StoredAppend): void {
    for (let seq = append.firstSeq; seq < append.firstSeq + append.count; seq++) this.keyedTexts.delete(seq);
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
