import type { NormalizedEvent } from '../model/event.js';
import type { Audience } from '../ports.js';

export interface OutboxEntry {
  /** Monotonic storage sequence number (insertion order). */
  seq: number;
  event: NormalizedEvent;
}

/**
 * Told of the entries one commit stored: pending for every output, or for `output` alone (dead letters retried,
 * see Outbox.retryDeadLetters).
 */
export type AppendListener = (entries: readonly OutboxEntry[], output?: string) => void;

export interface AppendResult {
  /** True when `dedupeKey` was already stored inside the dedupe window: nothing new was written. */
  duplicate: boolean;
  /** The stored events (the earlier copies when duplicate). */
  entries: OutboxEntry[];
}

/**
 * An output that had a cursor in the outbox but is no longer configured, with the events it had not delivered. They
 * are delivered by the outputs added in its place with the same audience (`handedTo`), or, with none, become its dead
 * letters: either way they are not pruned before they are finished.
 */
export interface RetiredOutput {
  output: string;
  /** Events it had not delivered. */
  undelivered: number;
  /** How many of those are duress or hold-up events. */
  duress: number;
  /** The outputs added in its place that now deliver them; empty: they became its dead letters. */
  handedTo: string[];
}

/** What registerOutputs found on disk besides the configured outputs. */
export interface OutputRegistration {
  /** Outputs no longer configured that had events undelivered. */
  retired: RetiredOutput[];
  /**
   * Outputs no longer configured whose cursor predates the stored audiences (outbox schema step 3): removed before
   * the upgrade, when a removed output's cursor was left on disk and ignored. Their cursors are dropped, not
   * retired: everything stored since they left counts as undelivered for them, though the configured outputs
   * delivered it.
   */
  forgotten: string[];
}

export interface DeadLetter {
  output: string;
  seq: number;
  reason: string;
  at: number;
  event: NormalizedEvent;
}

/** A page of dead letters: those of at most `limit` events (all of an event's outputs together), after seq `after`. */
export interface DeadLetterPage {
  after?: number;
  limit?: number;
}

/**
 * Dead letters one retryDeadLetters call puts back at most: each is a row written in one transaction, which the
 * ingest waits behind (a webhook refusing for weeks leaves hundreds of thousands).
 */
export const DEAD_LETTER_RETRY_LIMIT = 1_000;

/** A dead letter put back in its output's pending queue: the new entry carrying its event. */
export interface RetriedDeadLetter {
  /** The dead letter's seq (as deadLetters lists it). */
  deadSeq: number;
  entry: OutboxEntry;
}

/**
 * The durable store between acknowledgement and delivery. `append` resolves only after the events are on
 * disk (group commit: appends arriving together share one fsync). Each output keeps its own cursor.
 */
export interface Outbox {
  append(events: NormalizedEvent[], options?: { dedupeKey?: string }): Promise<AppendResult>;
  /**
   * The entries an earlier append stored under `dedupeKey` within the dedupe window (committed appends only), or
   * undefined. Lets a caller tell a retransmit before it touches anything else.
   */
  storedUnder(dedupeKey: string): OutboxEntry[] | undefined;
  /** Whether `storedUnder(dedupeKey)` would name entries, without reading them back. */
  hasStored(dedupeKey: string): boolean;
  /**
   * Declares the outputs that exist (`audiences` names the local ones; an output missing from it is central, the
   * configuration's default). An output seen for the first time starts at the current head, unless it takes over
   * the undelivered events of a retired output of its audience (see RetiredOutput, which lists the retired ones).
   */
  registerOutputs(names: readonly string[], audiences?: ReadonlyMap<string, Audience>): OutputRegistration;
  /**
   * Up to `limit` undelivered entries for `output`: duress/hold-up entries first, each preceded by the
   * earlier pending entries of its account (per-account order), then the rest in seq order.
   * Entries whose seq is in `exclude` (in flight) are skipped, and so are the entries of the accounts in
   * `skipAccounts` (waiting out a retry), without reading them from storage. `duressFirst: false` gives plain seq
   * order (a `local` output: pulling a duress's account forward would show it that one is pending).
   */
  pending(output: string, limit: number, exclude?: ReadonlySet<number>, skipAccounts?: ReadonlySet<string>, duressFirst?: boolean): OutboxEntry[];
  /**
   * Up to `limit` of the output's undelivered duress/hold-up entries in seq order, without the earlier entries of
   * their accounts that `pending` puts before each (a restart's backlog must not hide one).
   */
  pendingDuress(output: string, limit: number): OutboxEntry[];
  /** Seqs of up to `limit` of the output's oldest undelivered entries (storage order), skipping `exclude`. */
  oldestPending(output: string, limit: number, exclude?: ReadonlySet<number>): number[];
  /** The stored entries of these seqs, in the order given; each must be pending for some output (see oldestPending). */
  pendingEntries(seqs: readonly number[]): OutboxEntry[];
  markDelivered(output: string, seqs: readonly number[]): void;
  markDead(output: string, seq: number, reason: string): void;
  /** Dead letters (of one output, or all) in seq order, then by output; every one unless `page` cuts them. */
  deadLetters(output?: string, page?: DeadLetterPage): DeadLetter[];
  /**
   * The output's newest `limit` dead-lettered duress/hold-up entries (never delivered by it), in seq order: past the
   * limit the oldest are left out, the nearest to being pruned.
   */
  deadDuress(output: string, limit: number): OutboxEntry[];
  /**
   * Puts up to DEAD_LETTER_RETRY_LIMIT of the output's dead letters (the oldest; those among `seqs` when given)
   * back in its pending queue, durably, once its cause is fixed. Each becomes a new entry (the next seq) carrying
   * the same event, id included, so a receiver that saw an earlier attempt dedupes it: pending for this output
   * alone, finished for every other, so seqs only ever grow and every other invariant holds as for an append.
   * Its dead letter is removed in the same transaction. Throws for an output not registered (its entries would be
   * pending nowhere). A covert entry put back for a `local` output is passed over by the dispatcher, as any is.
   */
  retryDeadLetters(output: string, seqs?: readonly number[]): { retried: RetriedDeadLetter[]; remaining: number };
  /** How many dead letters the output has (all outputs when omitted), without reading their events. */
  deadLetterCount(output?: string): number;
  /** Undelivered entries for the output (dead letters excluded). */
  backlog(output: string): number;
  /** Largest backlog over all outputs; the ingest NAKs when it passes the configured limit. */
  maxBacklog(): number;
  /** Entries kept (pending, delivered within retention, dead letters) and store time (ms) of the oldest, or null. */
  storage(): { entries: number; oldestStoredAt: number | null };
  /**
   * The write-ahead log on disk (0 bytes for a store without one), and whether it has outgrown twice the size at
   * which SQLite checkpoints it: a read transaction another process holds keeps it from being checkpointed.
   */
  wal(): { bytes: number; stuck: boolean };
  /** receivedAt (ms) of the oldest undelivered entry for the output, or null. */
  oldestPendingAt(output: string): number | null;
  /**
   * Commits the appends queued so far now, in one transaction, instead of at the end of this turn of the event
   * loop. An input that hands over frames in batches calls it after each batch, so that batch is answered
   * before the next is read. A no-op for a store that writes every append at once.
   */
  commitQueued(): void;
  /**
   * Called after every successful append with the entries it stored (to wake the dispatcher), never for a
   * duplicate. Returns an unsubscribe function.
   */
  onAppend(listener: AppendListener): () => void;
  close(): void;
}
