import { receivedAtMs, type NormalizedEvent } from '../model/event.js';
import { parsedEvent } from '../model/event-json.js';
import { systemClock, type Clock } from '../ports.js';
import { DEAD_LETTER_RETRY_LIMIT, type AppendResult, type DeadLetter, type DeadLetterPage, type Outbox, type OutboxEntry, type OutputRegistration, type RetriedDeadLetter } from './outbox.js';
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
  /** Keyed appends within the dedupe window, as SqliteOutbox keeps them; their keys and texts are in `kept`. */
  private readonly dedupe: DedupeIndex;
  /** The key and stored texts of each append the dedupe index still remembers. */
  private readonly kept = new KeptAppends(DEDUPE_CAPACITY);
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
    const texts = serializeEvents(events);
    const now = this.clock.now();
    const { dedupeKey } = options;
    const earlier = dedupeKey === undefined ? undefined : this.storedUnder(dedupeKey);
    if (earlier !== undefined) return { duplicate: true, entries: earlier };
    const entries = events.map((event) => ({ seq: ++this.head, event }));
    for (const entry of entries) {
      this.oldestStoredAt ??= receivedAtMs(entry.event, now);
      // No output registered (a dry run): the entry is pending nowhere.
      if (!this.index.tracksAny()) continue;
      this.entries.set(entry.seq, entry);
      this.index.add(entryMeta(entry.seq, entry.event, now));
    }
    this.storedCount += entries.length;
    // An empty append stores nothing, so (as on disk) it leaves nothing to be a duplicate of.
    if (entries.length === 0) return { duplicate: false, entries };
    if (dedupeKey !== undefined) this.remember(dedupeKey, now, entries[0]!.seq, texts);
    this.listeners.notify(entries);
    return { duplicate: false, entries };
  }

  storedUnder(dedupeKey: string): OutboxEntry[] | undefined {
    const slot = this.keptSlotOf(dedupeKey);
    if (slot === undefined) return undefined;
    const firstSeq = this.kept.firstSeqAt(slot);
    return this.kept.textsAt(slot).map((text, i) => ({ seq: firstSeq + i, event: parsedEvent(text) }));
  }

  hasStored(dedupeKey: string): boolean {
    return this.keptSlotOf(dedupeKey) !== undefined;
  }

  /** Nothing outlives the process here, so no output is ever retired with events pending. */
  registerOutputs(names: readonly string[]): OutputRegistration {
    for (const name of names) {
      if (this.index.has(name)) continue;
      this.index.track(name, []);
    }
    return { retired: [], forgotten: [] };
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

  deadLetters(output?: string, page: DeadLetterPage = {}): DeadLetter[] {
    const letters = output === undefined ? [...this.deadByOutput.values()].flat() : (this.deadByOutput.get(output) ?? []);
    const after = page.after ?? -Infinity;
    const sorted = letters.filter((letter) => letter.seq > after).sort(compareDeadLetters);
    if (page.limit === undefined) return sorted;
    const events = new Set<number>();
    return sorted.filter((letter) => {
      events.add(letter.seq);
      return events.size <= page.limit!;
    });
  }

  retryDeadLetters(output: string, seqs?: readonly number[]): { retried: RetriedDeadLetter[]; remaining: number } {
    if (!this.index.has(output)) throw new Error(`cannot retry the dead letters of ${output}: no such output is registered`);
    const letters = this.deadByOutput.get(output) ?? [];
    const named = seqs === undefined ? undefined : new Set(seqs);
    const chosen = new Set(
      letters
        .filter((letter) => named === undefined || named.has(letter.seq))
        .sort(compareDeadLetters)
        .slice(0, DEAD_LETTER_RETRY_LIMIT),
    );
    const now = this.clock.now();
    const retried = [...chosen].map((letter): RetriedDeadLetter => {
      const entry = { seq: ++this.head, event: letter.event };
      this.entries.set(entry.seq, entry);
      this.index.add(entryMeta(entry.seq, entry.event, now), output);
      return { deadSeq: letter.seq, entry };
    });
    const left = letters.filter((letter) => !chosen.has(letter));
    this.deadByOutput.set(output, left);
    this.storedCount += retried.length;
    if (retried.length > 0) this.listeners.notify(retried.map((r) => r.entry), output);
    return { retried, remaining: left.length };
  }

  deadDuress(output: string, limit: number): OutboxEntry[] {
    const letters = (this.deadByOutput.get(output) ?? []).filter((letter) => letter.event.duress).sort(compareDeadLetters);
    return letters.slice(Math.max(0, letters.length - limit)).map(({ seq, event }) => ({ seq, event }));
  }

  deadLetterCount(output?: string): number {
    return output === undefined ? [...this.deadByOutput.values()].reduce((n, letters) => n + letters.length, 0) : (this.deadByOutput.get(output)?.length ?? 0);
  }

  storage(): { entries: number; oldestStoredAt: number | null } {
    return { entries: this.storedCount, oldestStoredAt: this.oldestStoredAt };
  }

  wal(): { bytes: number; stuck: boolean } {
    return { bytes: 0, stuck: false };
  }

  /** Every append is stored as it comes: nothing waits for a commit. */
  commitQueued(): void {}

  close(): void {
    this.closed = true;
  }

  /** Keeps an append's texts under its key while the dedupe index remembers it (the window, the capacity). */
  private remember(dedupeKey: string, now: number, firstSeq: number, texts: string[]): void {
    // Added to the index first: at capacity it forgets its oldest append, which frees that append's place here.
    this.dedupe.add(this.dedupe.hash(dedupeKey), { firstSeq, count: texts.length, at: now });
    this.kept.push(firstSeq, dedupeKey, texts);
  }

  /** Where `kept` holds the append stored under `dedupeKey` within the window, or undefined. */
  private keptSlotOf(dedupeKey: string): number | undefined {
    for (const candidate of this.dedupe.candidates(this.dedupe.hash(dedupeKey), this.clock.now())) {
      const slot = this.kept.slotOf(candidate.firstSeq);
      if (slot !== undefined && this.kept.countAt(slot) === candidate.count && this.kept.keyAt(slot) === dedupeKey) return slot;
    }
    return undefined;
  }

  private forget(append: StoredAppend): void {
    this.kept.dropOldest(append.firstSeq);
  }

  /** An entry no output has to deliver any more is not needed here. */
  private release(seq: number): void {
    if (!this.index.isPending(seq)) this.entries.delete(seq);
  }

  protected entriesOf(seqs: readonly number[]): OutboxEntry[] {
    return seqs.map((seq) => {
      const entry = this.entries.get(seq);
      if (entry === undefined) throw new Error(`outbox entry ${seq} is missing`);
      return entry;
    });
  }
}

/** Bytes of one chunk of the text arena; an append longer than this gets a chunk of its own size. */
const ARENA_CHUNK_BYTES = 4 << 20;

/** One chunk of the arena, with the ordinal of the last append written into it. */
interface ArenaChunk {
  bytes: Buffer;
  lastOrdinal: number;
}

/**
 * What the memory outbox keeps of each append the dedupe index remembers: its key and its texts, read back only on
 * a hit. They are written into large buffers outside the JavaScript heap: kept on the heap, every event's text
 * outlived the young generation (the window holds a hundred thousand appends), so the collector copied each one
 * twice and then marked it until it was forgotten. The index forgets appends in the order they were stored, so
 * they sit in a ring in store order (ascending first seq), found by binary search, and a chunk is reused once
 * every append in it is forgotten.
 */
class KeptAppends {
  private readonly firstSeqs: Float64Array;
  /** Per slot: the texts' count, and where the key starts, where it ends (the texts follow) and where the texts end. */
  private readonly counts: Float64Array;
  private readonly chunkSerials: Float64Array;
  private readonly starts: Float64Array;
  private readonly keyEnds: Float64Array;
  private readonly ends: Float64Array;
  /** Chunks in use, oldest first; the first has serial `firstChunkSerial`, the last is written to at `used`. */
  private readonly chunks: ArenaChunk[] = [];
  private firstChunkSerial = 0;
  private used = 0;
  /** A released chunk of the usual size, kept for the next one needed. */
  private spare: Buffer | undefined;
  /** Ordinal of the oldest append kept; `next` is the ordinal the next one gets (slot: ordinal % capacity). */
  private oldest = 0;
  private next = 0;

  constructor(private readonly capacity: number) {
    this.firstSeqs = new Float64Array(capacity);
    this.counts = new Float64Array(capacity);
    this.chunkSerials = new Float64Array(capacity);
    this.starts = new Float64Array(capacity);
    this.keyEnds = new Float64Array(capacity);
    this.ends = new Float64Array(capacity);
  }

  push(firstSeq: number, key: string, texts: readonly string[]): void {
    if (this.next - this.oldest === this.capacity) throw new Error('kept appends: over capacity (the dedupe index did not forget its oldest)');
    // The key as UTF-16, which gives back any string exactly; the texts (JSON.stringify's, so well-formed) as UTF-8,
    // three bytes at most per UTF-16 unit, with a separator each.
    let most = 2 * key.length;
    for (const text of texts) most += 3 * text.length + 1;
    const chunk = this.chunkWithRoom(most);
    const start = this.used;
    let at = start + chunk.bytes.write(key, start, 'utf16le');
    const keyEnd = at;
    for (const [i, text] of texts.entries()) {
      // A JSON text has no raw LF: it separates the texts.
      if (i > 0) chunk.bytes[at++] = LF;
      at += chunk.bytes.write(text, at, 'utf8');
    }
    this.used = at;
    const ordinal = this.next++;
    chunk.lastOrdinal = ordinal;
    const slot = ordinal % this.capacity;
    this.firstSeqs[slot] = firstSeq;
    this.counts[slot] = texts.length;
    this.chunkSerials[slot] = this.firstChunkSerial + this.chunks.length - 1;
    this.starts[slot] = start;
    this.keyEnds[slot] = keyEnd;
    this.ends[slot] = at;
  }

  /** The oldest kept append, which the index has just forgotten; frees the chunks that held only older ones. */
  dropOldest(firstSeq: number): void {
    if (this.oldest === this.next || this.firstSeqs[this.oldest % this.capacity] !== firstSeq) {
      throw new Error(`kept appends: seq ${firstSeq} forgotten out of order`);
    }
    this.oldest += 1;
    while (this.chunks.length > 1 && this.chunks[0]!.lastOrdinal < this.oldest) {
      const released = this.chunks.shift()!;
      this.firstChunkSerial += 1;
      if (released.bytes.length === ARENA_CHUNK_BYTES) this.spare = released.bytes;
    }
  }

  /** The slot of the kept append whose first seq is `firstSeq`, or undefined. */
  slotOf(firstSeq: number): number | undefined {
    let low = this.oldest;
    let high = this.next - 1;
    while (low <= high) {
      const middle = low + Math.floor((high - low) / 2);
      const slot = middle % this.capacity;
      const seq = this.firstSeqs[slot]!;
      if (seq === firstSeq) return slot;
      if (seq < firstSeq) low = middle + 1;
      else high = middle - 1;
    }
    return undefined;
  }

  firstSeqAt(slot: number): number {
    return this.firstSeqs[slot]!;
  }

  countAt(slot: number): number {
    return this.counts[slot]!;
  }

  keyAt(slot: number): string {
    return this.chunkAt(slot).toString('utf16le', this.starts[slot], this.keyEnds[slot]);
  }

  textsAt(slot: number): string[] {
    const texts = this.chunkAt(slot).toString('utf8', this.keyEnds[slot], this.ends[slot]);
    return this.counts[slot] === 1 ? [texts] : texts.split('\n');
  }

  private chunkAt(slot: number): Buffer {
    return this.chunks[this.chunkSerials[slot]! - this.firstChunkSerial]!.bytes;
  }

  /** The newest chunk when `bytes` more fit in it, else a new one. */
  private chunkWithRoom(bytes: number): ArenaChunk {
    const newest = this.chunks[this.chunks.length - 1];
    if (newest !== undefined && this.used + bytes <= newest.bytes.length) return newest;
    let buffer: Buffer;
    if (bytes > ARENA_CHUNK_BYTES) buffer = Buffer.allocUnsafeSlow(bytes);
    else {
      buffer = this.spare ?? Buffer.allocUnsafeSlow(ARENA_CHUNK_BYTES);
      this.spare = undefined;
    }
    const chunk = { bytes: buffer, lastOrdinal: -1 };
    this.chunks.push(chunk);
    this.used = 0;
    return chunk;
  }
}

const LF = 0x0a;
