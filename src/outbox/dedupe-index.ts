/** One append stored under a dedupe key: its events have the consecutive seqs firstSeq … firstSeq + count − 1. */
export interface StoredAppend {
  firstSeq: number;
  count: number;
  /** Store time (ms). */
  at: number;
}

const NONE: readonly StoredAppend[] = [];

/**
 * 53-bit hash of a dedupe key (two 32-bit FNV-1a lanes with different offsets). Not collision-free: a hit is a
 * candidate the outbox confirms against the stored key.
 */
export function dedupeHash(key: string): number {
  let low = 0x811c9dc5;
  let high = 0x050c5d1f;
  for (let i = 0; i < key.length; i++) {
    const code = key.charCodeAt(i);
    low = Math.imul(low ^ code, 0x01000193);
    high = Math.imul(high ^ code, 0x01000193);
  }
  return (high >>> 11) * 0x1_0000_0000 + (low >>> 0);
}

/**
 * The appends the SQLite outbox stored with a dedupe key within the dedupe window, by key hash, oldest first.
 * It replaces an on-disk index on the key: random keys made every group commit rewrite index pages all over the
 * file, which cost a fifth of the receiver's CPU per frame and grew with the table. Bounded by the window and by
 * `capacity` appends; past the capacity the oldest are dropped early, so under a sustained flood a very late
 * retransmit may be stored a second time (a duplicate, never a loss).
 *
 * Held in typed arrays, not an object and a map entry per append: those lived for the window, so every one was
 * promoted to the old generation, and under load they were a tenth of what the gateway promoted per frame.
 * Appends are numbered in store order (their serial); serial s lives in ring slot s % capacity while it is at or
 * above `oldest`. Each append links to the next older one in its hash bucket, so a bucket's chain runs newest
 * first and ends at the first link below `oldest`: evicting is only moving `oldest` on.
 */
export class DedupeIndex {
  private readonly hashes: Float64Array;
  private readonly firstSeqs: Float64Array;
  private readonly counts: Float64Array;
  private readonly ats: Float64Array;
  /** Links hold serial + 1, so that 0 (a fresh array) means none: per slot, the next older append in its bucket. */
  private readonly olderInBucket: Float64Array;
  /** Per bucket (low bits of the hash), a link to its newest append. */
  private readonly buckets: Float64Array;
  private readonly bucketMask: number;
  /** Serial of the oldest live append; `next` is the serial the next append gets. */
  private oldest = 0;
  private next = 0;
  /**
   * Callers hash each key with this and pass the hash to `add` and `candidates`. The last key's hash is kept: a
   * frame's key is looked up before it is stored, and stored under right after.
   */
  readonly hash: (key: string) => number;

  constructor(
    private readonly windowMs: number,
    private readonly capacity: number,
    hashKey: (key: string) => number = dedupeHash,
    /** Told of each append the index forgets (window passed or capacity reached), so a caller can drop what it keeps for it. */
    private readonly onEvict?: (append: StoredAppend) => void,
  ) {
    this.hashes = new Float64Array(capacity);
    this.firstSeqs = new Float64Array(capacity);
    this.counts = new Float64Array(capacity);
    this.ats = new Float64Array(capacity);
    this.olderInBucket = new Float64Array(capacity);
    const bucketCount = 2 ** Math.ceil(Math.log2(Math.max(capacity, 2)));
    this.buckets = new Float64Array(bucketCount);
    this.bucketMask = bucketCount - 1;
    let lastKey: string | undefined;
    let lastHash = 0;
    this.hash = (key) => {
      if (key !== lastKey) {
        lastHash = hashKey(key);
        lastKey = key;
      }
      return lastHash;
    };
  }

  get size(): number {
    return this.next - this.oldest;
  }

  /** Records a committed append (its key's `hash`). Appends arrive in store order (`at` not decreasing, save for clock steps). */
  add(hash: number, append: StoredAppend): void {
    if (this.size >= this.capacity) this.evictOldest();
    const serial = this.next++;
    const slot = serial % this.capacity;
    this.hashes[slot] = hash;
    this.firstSeqs[slot] = append.firstSeq;
    this.counts[slot] = append.count;
    this.ats[slot] = append.at;
    const bucket = this.bucketOf(hash);
    this.olderInBucket[slot] = this.buckets[bucket]!;
    this.buckets[bucket] = serial + 1;
  }

  /**
   * Appends stored within the window before `now` whose key has this `hash`, oldest first. One stored after `now`
   * was stored before the clock was stepped back: its window is not hours long (a new frame under its key, a panel
   * numbering from 0001 again, would be ACKed and never stored), so it is no candidate; a retransmit of it is then
   * stored twice, which at-least-once allows.
   */
  candidates(hash: number, now: number): readonly StoredAppend[] {
    this.evictExpired(now);
    const since = now - this.windowMs;
    // Asked once per keyed append and nearly always a miss: nothing is allocated then.
    let found: StoredAppend[] | undefined;
    for (let link = this.buckets[this.bucketOf(hash)]!; link > this.oldest; ) {
      const slot = (link - 1) % this.capacity;
      const at = this.ats[slot]!;
      if (this.hashes[slot] === hash && at > since && at <= now) (found ??= []).push(this.appendAt(slot));
      link = this.olderInBucket[slot]!;
    }
    return found === undefined ? NONE : found.reverse();
  }

  private bucketOf(hash: number): number {
    return (hash >>> 0) & this.bucketMask;
  }

  private appendAt(slot: number): StoredAppend {
    return { firstSeq: this.firstSeqs[slot]!, count: this.counts[slot]!, at: this.ats[slot]! };
  }

  private evictExpired(now: number): void {
    while (this.size > 0 && this.ats[this.oldest % this.capacity]! <= now - this.windowMs) this.evictOldest();
  }

  private evictOldest(): void {
    if (this.size === 0) return;
    const slot = this.oldest % this.capacity;
    this.oldest += 1;
    this.onEvict?.(this.appendAt(slot));
  }
}
