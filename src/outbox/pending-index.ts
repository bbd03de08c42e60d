import { receivedAtMs, type NormalizedEvent } from '../model/event.js';

/** What delivery ordering needs to know about a stored entry; kept in memory while it is pending anywhere. */
export interface EntryMeta {
  seq: number;
  account: string | null;
  duress: boolean;
  /** ms since the epoch. */
  receivedAt: number;
}

/** `receivedAt` is the event's own ISO time; the store time stands in when it does not parse. */
export function entryMeta(seq: number, event: NormalizedEvent, storedAt: number): EntryMeta {
  return { seq, account: event.account, duress: event.duress, receivedAt: receivedAtMs(event, storedAt) };
}

/**
 * Heap bytes one pending entry costs the index with `outputs` tracked: its record with its account string and its
 * place in the map of entries (about 140), and its place in each output's sets (about 48 each). Measured on Node 20
 * with 500,000 entries: 175 bytes with one output, 217 with two.
 */
export function pendingEntryHeapBytes(outputs: number): number {
  return 140 + 48 * Math.max(outputs, 1);
}

/** The share of the heap the index may take: the rest of the gateway and the collector's headroom need the other. */
const INDEX_HEAP_SHARE = 0.5;

/**
 * The backlogLimit the heap can hold: the configured one, or fewer undelivered events when their index would take
 * more than INDEX_HEAP_SHARE of `heapLimitBytes` (V8's heap_size_limit), with a warning saying so. Running out of
 * heap is a crash loop in which no panel is answered; refusing frames other than duress (NAK) past a lower limit
 * makes panels retry or fail over, and loses no event already acknowledged.
 */
export function backlogLimitWithinHeap(configured: number, outputs: number, heapLimitBytes: number): { limit: number; warning: string | undefined } {
  const perEntry = pendingEntryHeapBytes(outputs);
  const held = Math.floor((heapLimitBytes * INDEX_HEAP_SHARE) / perEntry);
  if (configured <= held) return { limit: configured, warning: undefined };
  const mb = (bytes: number) => Math.round(bytes / 2 ** 20);
  return {
    limit: held,
    warning:
      `backlogLimit ${configured} would keep about ${mb(configured * perEntry)} MB of undelivered events' index in memory, over half the Node heap limit (${mb(heapLimitBytes)} MB): ` +
      `frames other than duress are refused (NAK) past ${held} undelivered events instead; lower backlogLimit, or give Node a larger heap (--max-old-space-size)`,
  };
}

/**
 * An entry pending somewhere, with how many outputs still hold it. One object per pending entry (not the
 * caller's meta wrapped in another): under a backlog these live until delivery, in the old generation.
 */
interface HeldEntry extends EntryMeta {
  holders: number;
}

function held(meta: EntryMeta, holders: number): HeldEntry {
  return { seq: meta.seq, account: meta.account, duress: meta.duress, receivedAt: meta.receivedAt, holders };
}

/**
 * Pending seqs of one output. JS Sets iterate in insertion order and seqs are only ever added in increasing
 * order, so every set below is sorted by seq and deletion is O(1).
 */
class OutputQueue {
  readonly all = new Set<number>();
  readonly duress = new Set<number>();
  readonly byAccount = new Map<string, Set<number>>();
  /** Entries without an account (in `all` but in no `byAccount` set). */
  readonly withoutAccount = new Set<number>();
}

/** One account's pending seqs, read in order during a merge: its next seq and the rest. */
interface MergeHead {
  seq: number;
  rest: Iterator<number>;
}

/** Moves `heads[at]` down the binary min-heap (by seq) to its place. */
function siftDown(heads: MergeHead[], at: number): void {
  const head = heads[at]!;
  for (;;) {
    let least = 2 * at + 1;
    if (least >= heads.length) break;
    if (least + 1 < heads.length && heads[least + 1]!.seq < heads[least]!.seq) least += 1;
    if (heads[least]!.seq >= head.seq) break;
    heads[at] = heads[least]!;
    at = least;
  }
  heads[at] = head;
}

/**
 * The output's pending seqs in seq order, leaving out the accounts in `skipAccounts`: a merge of the other
 * accounts' sets (and of the entries without an account), so its cost follows the accounts and the seqs taken,
 * not the skipped accounts' backlog.
 */
function* pendingOutside(queue: OutputQueue, skipAccounts: ReadonlySet<string>): Generator<number, void, undefined> {
  const heads: MergeHead[] = [];
  const addHead = (seqs: Set<number>): void => {
    const rest = seqs.values();
    const first = rest.next();
    if (first.done !== true) heads.push({ seq: first.value, rest });
  };
  for (const [account, seqs] of queue.byAccount) if (!skipAccounts.has(account)) addHead(seqs);
  addHead(queue.withoutAccount);
  for (let at = (heads.length >> 1) - 1; at >= 0; at--) siftDown(heads, at);
  while (heads.length > 0) {
    const least = heads[0]!;
    yield least.seq;
    const next = least.rest.next();
    if (next.done === true) {
      const last = heads.pop()!;
      if (heads.length === 0) break;
      heads[0] = last;
    } else least.seq = next.value;
    siftDown(heads, 0);
  }
}

/** Up to `limit` of `seqs`, in their order, skipping `exclude`. */
function firstOf(seqs: Iterable<number>, limit: number, exclude?: ReadonlySet<number>): number[] {
  const first: number[] = [];
  for (const seq of seqs) {
    if (first.length >= limit) break;
    if (exclude?.has(seq) !== true) first.push(seq);
  }
  return first;
}

/**
 * The in-memory delivery state shared by every Outbox implementation: which entries each output still has to
 * deliver, and in which order. Implementations own storage; this owns ordering and counting.
 */
export class PendingIndex {
  private readonly metas = new Map<number, HeldEntry>();
  private readonly queues = new Map<string, OutputQueue>();
  /** Highest seq ever added, to keep the sorted-set invariant honest. */
  private lastSeq = 0;

  has(output: string): boolean {
    return this.queues.has(output);
  }

  /** Whether any output is tracked (with none, a stored entry is pending nowhere). */
  tracksAny(): boolean {
    return this.queues.size > 0;
  }

  outputs(): string[] {
    return [...this.queues.keys()];
  }

  /** Starts tracking `output` with the entries it still has to deliver, in ascending seq order. */
  track(output: string, pending: Iterable<EntryMeta>): void {
    if (this.queues.has(output)) throw new Error(`output ${output} is already tracked`);
    const queue = new OutputQueue();
    this.queues.set(output, queue);
    let previous = 0;
    for (const meta of pending) {
      if (meta.seq <= previous) throw new Error(`pending entries of ${output} are not in ascending seq order`);
      previous = meta.seq;
      this.enqueue(queue, this.retain(meta));
    }
    this.lastSeq = Math.max(this.lastSeq, previous);
  }

  /** A newly stored entry: pending for every tracked output, or for `output` alone (a dead letter retried). */
  add(meta: EntryMeta, output?: string): void {
    if (meta.seq <= this.lastSeq) throw new Error(`seq ${meta.seq} is not above ${this.lastSeq}`);
    if (output !== undefined) {
      const queue = this.queues.get(output);
      if (queue === undefined) throw new Error(`output ${output} is not tracked`);
      this.lastSeq = meta.seq;
      const entry = held(meta, 1);
      this.metas.set(meta.seq, entry);
      this.enqueue(queue, entry);
      return;
    }
    this.lastSeq = meta.seq;
    if (this.queues.size === 0) return;
    const entry = held(meta, this.queues.size);
    this.metas.set(meta.seq, entry);
    for (const queue of this.queues.values()) this.enqueue(queue, entry);
  }

  /** Whether any tracked output still has `seq` to deliver. */
  isPending(seq: number): boolean {
    return this.metas.has(seq);
  }

  /** Removes `seq` from the output's pending entries; false when it was not pending there. */
  complete(output: string, seq: number): boolean {
    const queue = this.queues.get(output);
    const entry = this.metas.get(seq);
    if (queue === undefined || entry === undefined || !queue.all.delete(seq)) return false;
    queue.duress.delete(seq);
    const { account } = entry;
    if (account === null) queue.withoutAccount.delete(seq);
    else {
      const ofAccount = queue.byAccount.get(account);
      ofAccount?.delete(seq);
      if (ofAccount?.size === 0) queue.byAccount.delete(account);
    }
    entry.holders -= 1;
    if (entry.holders === 0) this.metas.delete(seq);
    return true;
  }

  /**
   * Up to `limit` pending seqs in delivery order: each duress entry preceded by the earlier pending entries of
   * its account, then everything else by seq. Entries without an account have no account order to keep.
   */
  select(output: string, limit: number, exclude?: ReadonlySet<number>, skipAccounts?: ReadonlySet<string>, duressFirst = true): number[] {
    const queue = this.queues.get(output);
    if (queue === undefined || limit <= 0) return [];
    const chosen = new Set<number>();
    const skipped = (seq: number): boolean => {
      if (exclude?.has(seq) === true) return true;
      if (skipAccounts === undefined || skipAccounts.size === 0) return false;
      const account = this.meta(seq).account;
      return account !== null && skipAccounts.has(account);
    };
    const take = (seq: number): boolean => {
      if (!chosen.has(seq) && !skipped(seq)) chosen.add(seq);
      return chosen.size < limit;
    };
    for (const duressSeq of duressFirst ? queue.duress : []) {
      if (skipped(duressSeq)) continue;
      const account = this.meta(duressSeq).account;
      const ofAccount = account === null ? undefined : queue.byAccount.get(account);
      for (const seq of ofAccount ?? []) {
        if (seq >= duressSeq) break;
        if (!take(seq)) return [...chosen];
      }
      if (!take(duressSeq)) return [...chosen];
    }
    const inOrder = skipAccounts !== undefined && this.skipsMoreThanMerging(queue, skipAccounts, limit) ? pendingOutside(queue, skipAccounts) : queue.all;
    for (const seq of inOrder) {
      if (!take(seq)) break;
    }
    return [...chosen];
  }

  /**
   * Whether walking every pending seq would pass over more skipped entries than a merge of the other accounts
   * costs: in an outage every account waits out a retry, and each retry's scan would otherwise walk the backlog.
   */
  private skipsMoreThanMerging(queue: OutputQueue, skipAccounts: ReadonlySet<string>, limit: number): boolean {
    let skippedEntries = 0;
    for (const account of skipAccounts) skippedEntries += queue.byAccount.get(account)?.size ?? 0;
    return skippedEntries > limit + queue.byAccount.size;
  }

  /** Up to `limit` pending seqs of the output in seq order, skipping `exclude`. */
  oldest(output: string, limit: number, exclude?: ReadonlySet<number>): number[] {
    return firstOf(this.queues.get(output)?.all ?? [], limit, exclude);
  }

  /** Up to `limit` pending duress seqs of the output in seq order, whatever else of their accounts waits. */
  duress(output: string, limit: number): number[] {
    return firstOf(this.queues.get(output)?.duress ?? [], limit);
  }

  backlog(output: string): number {
    return this.queues.get(output)?.all.size ?? 0;
  }

  /** Smallest backlog over the tracked outputs (0 with none tracked). */
  minBacklog(): number {
    let min = Number.POSITIVE_INFINITY;
    for (const queue of this.queues.values()) min = Math.min(min, queue.all.size);
    return min === Number.POSITIVE_INFINITY ? 0 : min;
  }

  maxBacklog(): number {
    let max = 0;
    for (const queue of this.queues.values()) max = Math.max(max, queue.all.size);
    return max;
  }

  /** Lowest pending seq of the output (its resume point), or undefined when it is caught up. */
  lowestPending(output: string): number | undefined {
    const queue = this.queues.get(output);
    if (queue === undefined) return undefined;
    for (const seq of queue.all) return seq;
    return undefined;
  }

  /** receivedAt of the output's first pending entry in storage order. */
  oldestPendingAt(output: string): number | null {
    const seq = this.lowestPending(output);
    return seq === undefined ? null : this.meta(seq).receivedAt;
  }

  clear(): void {
    this.metas.clear();
    this.queues.clear();
  }

  private retain(meta: EntryMeta): EntryMeta {
    const entry = this.metas.get(meta.seq);
    if (entry === undefined) {
      const first = held(meta, 1);
      this.metas.set(meta.seq, first);
      return first;
    }
    entry.holders += 1;
    return entry;
  }

  private enqueue(queue: OutputQueue, meta: EntryMeta): void {
    queue.all.add(meta.seq);
    if (meta.duress) queue.duress.add(meta.seq);
    if (meta.account === null) queue.withoutAccount.add(meta.seq);
    else {
      let ofAccount = queue.byAccount.get(meta.account);
      if (ofAccount === undefined) queue.byAccount.set(meta.account, (ofAccount = new Set()));
      ofAccount.add(meta.seq);
    }
  }

  private meta(seq: number): EntryMeta {
    const entry = this.metas.get(seq);
    if (entry === undefined) throw new Error(`pending seq ${seq} has no metadata`);
    return entry;
  }
}
