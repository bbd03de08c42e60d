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
 */
export class DedupeIndex {
  private readonly byHash = new Map<number, StoredAppend[]>();
  /** Oldest first; `head` is the first live slot (shifting a long array on every eviction would be quadratic). */
  private slots: StoredAppend[] = [];
  /** Each slot's key hash, at the slot's index. */
  private hashes: number[] = [];
  private head = 0;
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
    return this.slots.length - this.head;
  }

  /** Records a committed append (its key's `hash`). Appends arrive in store order (`at` not decreasing, save for clock steps). */
  add(hash: number, append: StoredAppend): void {
    const slot: StoredAppend = { firstSeq: append.firstSeq, count: append.count, at: append.at };
    this.slots.push(slot);
    this.hashes.push(hash);
    const sameHash = this.byHash.get(hash);
    if (sameHash === undefined) this.byHash.set(hash, [slot]);
    else sameHash.push(slot);
    if (this.size > this.capacity) this.evictOldest();
  }

  /** Appends stored within the window before `now` whose key has this `hash`, oldest first. */
  candidates(hash: number, now: number): readonly StoredAppend[] {
    this.evictExpired(now);
    const sameHash = this.byHash.get(hash);
    // Asked once per keyed append and nearly always a miss or one slot: no copies on that path.
    if (sameHash === undefined) return NONE;
    const since = now - this.windowMs;
    if (sameHash.length === 1) return sameHash[0]!.at > since ? sameHash : NONE;
    return sameHash.filter((slot) => slot.at > since);
  }

  private evictExpired(now: number): void {
    for (let slot = this.slots[this.head]; slot !== undefined && slot.at <= now - this.windowMs; slot = this.slots[this.head]) {
      this.evictOldest();
    }
  }

  private evictOldest(): void {
    const slot = this.slots[this.head];
    if (slot === undefined) return;
    const hash = this.hashes[this.head]!;
    this.head += 1;
    const sameHash = this.byHash.get(hash);
    if (sameHash === undefined || sameHash.length === 1) this.byHash.delete(hash);
    else this.byHash.set(hash, sameHash.filter((other) => other !== slot));
    this.onEvict?.(slot);
    // Compact once the dead prefix is as long as the live part: amortised O(1) per eviction.
    if (this.head > 1024 && this.head * 2 > this.slots.length) {
      this.slots = this.slots.slice(this.head);
      this.hashes = this.hashes.slice(this.head);
      this.head = 0;
    }
  }
}
