import { receivedAtMs, type NormalizedEvent } from '../model/event.js';
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
 * as SqliteOutbox (both use PendingIndex); entries are kept for the object's lifetime.
 */
export class MemoryOutbox extends IndexedOutbox implements Outbox {
  private readonly entries = new Map<number, OutboxEntry>();
  private readonly storedByKey = new Map<string, { at: number; entries: OutboxEntry[] }>();
  private readonly deadByOutput = new Map<string, DeadLetter[]>();
  private readonly dedupeWindowMs: number;
  private readonly clock: Clock;
  private head = 0;
  private closed = false;

  constructor(options: MemoryOutboxOptions = {}) {
    super();
    this.dedupeWindowMs = options.dedupeWindowMs ?? DEFAULT_DEDUPE_WINDOW_MS;
    this.clock = options.clock ?? systemClock;
  }

  async append(events: NormalizedEvent[], options: { dedupeKey?: string } = {}): Promise<AppendResult> {
    if (this.closed) throw outboxWriteFailed('outbox is closed');
    // A JSON round trip, so callers see exactly what a disk-backed store would give back.
    const copies = serializeEvents(events).map((json) => JSON.parse(json) as NormalizedEvent);
    const now = this.clock.now();
    const { dedupeKey } = options;
    const earlier = dedupeKey === undefined ? undefined : this.storedUnder(dedupeKey);
    if (earlier !== undefined) return { duplicate: true, entries: earlier };
    const entries = copies.map((event) => ({ seq: ++this.head, event }));
    for (const entry of entries) {
      this.entries.set(entry.seq, entry);
      this.index.add({ seq: entry.seq, ...describeEntry(entry.event, now) });
    }
    // An empty append stores nothing, so (as on disk) it leaves nothing to be a duplicate of.
    if (entries.length === 0) return { duplicate: false, entries };
    if (dedupeKey !== undefined) this.storedByKey.set(dedupeKey, { at: now, entries });
    this.listeners.notify();
    return { duplicate: false, entries };
  }

  storedUnder(dedupeKey: string): OutboxEntry[] | undefined {
    const stored = this.storedByKey.get(dedupeKey);
    return stored !== undefined && this.clock.now() - stored.at < this.dedupeWindowMs ? stored.entries : undefined;
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
    for (const seq of seqs) this.index.complete(output, seq);
  }

  markDead(output: string, seq: number, reason: string): void {
    if (!this.index.complete(output, seq)) return;
    const letters = this.deadByOutput.get(output) ?? [];
    letters.push({ output, seq, reason, at: this.clock.now(), event: this.entry(seq).event });
    this.deadByOutput.set(output, letters);
  }

  deadLetters(output?: string): DeadLetter[] {
    const letters = output === undefined ? [...this.deadByOutput.values()].flat() : (this.deadByOutput.get(output) ?? []);
    return [...letters].sort(compareDeadLetters);
  }

  storage(): { entries: number; oldestStoredAt: number | null } {
    const first = this.entries.values().next();
    return { entries: this.entries.size, oldestStoredAt: first.done === true ? null : receivedAtMs(first.value.event, this.clock.now()) };
  }

  /** Every append is stored as it comes: nothing waits for a commit. */
  commitQueued(): void {}

  close(): void {
    this.closed = true;
  }

  private entry(seq: number): OutboxEntry {
    const entry = this.entries.get(seq);
    if (entry === undefined) throw new Error(`outbox entry ${seq} is missing`);
    return entry;
  }
}
