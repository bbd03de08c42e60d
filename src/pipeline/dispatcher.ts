import { DURESS_CATEGORIES, type NormalizedEvent } from '../model/event.js';
import type { Outbox, OutboxEntry, RetiredOutput } from '../outbox/outbox.js';
import type { Clock, DeliveryResult, Logger, OutputAdapter } from '../ports.js';
import { backoffDelay, type BackoffPolicy } from '../backoff.js';
import { errorText } from '../errors.js';
import { withTimeout } from '../timeout.js';
import { RateLimitedLog } from '../observability/rate-limited-log.js';

export const DEFAULT_MAX_IN_FLIGHT = 64;

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 60_000, factor: 2, jitter: 0.2 };

export interface DispatcherOptions {
  outbox: Outbox;
  outputs: readonly OutputAdapter<NormalizedEvent>[];
  clock: Clock;
  logger: Logger;
  /** Uniform [0, 1) source for the backoff jitter. */
  random?: () => number;
  backoff?: Partial<BackoffPolicy>;
  /** Entries read from the outbox per scan. */
  batch?: number;
  /**
   * Deliveries in flight per output (different accounts in parallel; one at a time per account), for outputs
   * that do not declare their own `maxInFlight`.
   */
  maxInFlight?: number;
  /** How long stop() waits for in-flight deliveries before giving up on them (they are redelivered later). */
  stopTimeoutMs?: number;
  /**
   * Undelivered events a `local` output may fall behind by (default DEFAULT_LOCAL_MAX_BACKLOG), by output name:
   * past it, its oldest are skipped for that output and counted, so a local output that is down never holds the
   * outbox (central outputs are bounded by the recorder's backlogLimit instead).
   */
  localMaxBacklog?: ReadonlyMap<string, number>;
  /** Called once per event after an output delivered it and the outbox recorded that. */
  onDelivered?: (output: string, event: NormalizedEvent) => void;
}

export interface OutputCounters {
  delivered: number;
  /** Retryable failures (each attempt counts). */
  failed: number;
  /** Entries refused permanently and kept as dead letters. */
  dead: number;
  /** Duress/hold-up entries (and events about them) withheld from a `local` output. */
  skippedCovert: number;
  /** Oldest entries a `local` output skipped because its backlog passed its maxBacklog. */
  skippedOverflow: number;
}

export interface OutputDispatchStats extends OutputCounters {
  inFlight: number;
  /** Accounts (or account-less entries) whose head entry failed and is waiting out its backoff. */
  waiting: number;
  /** Undelivered entries that failed at least once and will be tried again. */
  retrying: number;
  backlog: number;
}

/**
 * A `local` output (siren bridge, keypad, owner's phone) must receive exactly what it would have received had no
 * duress happened: no duress or hold-up event, no event about one (`covert`: deadline alerts, device results).
 */
function isCovertFor(output: OutputAdapter<NormalizedEvent>, event: NormalizedEvent): boolean {
  // Both fields are checked so a mislabelled event still cannot leak.
  return output.audience === 'local' && (event.duress || DURESS_CATEGORIES.has(event.category) || event.covert === true || event.control != null);
}

/** What an output is sent: for a `local` one, without the incident id a later event of the site carries. */
function deliverable(output: OutputAdapter<NormalizedEvent>, event: NormalizedEvent): NormalizedEvent {
  if (output.audience !== 'local' || event.incident === undefined) return event;
  const { incident: _incident, ...withoutIncident } = event;
  return withoutIncident;
}

/** A `local` output's default bound on undelivered events, past which its oldest are skipped. */
export const DEFAULT_LOCAL_MAX_BACKLOG = 10_000;


/**
 * Entries with the same key are delivered one at a time, in order: the account's entries share one key, the
 * account itself. An entry without an account has no order to keep (as in the outbox's own ordering) and gets a
 * key of its own, its seq (a number never equals an account). No string is built: this runs for every delivery.
 */
type OrderKey = string | number;

function orderKeyOf(entry: OutboxEntry): OrderKey {
  return entry.event.account ?? entry.seq;
}

type DispatcherState = 'idle' | 'running' | 'stopping' | 'stopped';

interface Shared {
  outbox: Outbox;
  clock: Clock;
  random: () => number;
  backoff: BackoffPolicy;
  batch: number;
  onDelivered: ((output: string, event: NormalizedEvent) => void) | undefined;
  state: () => DispatcherState;
}

/** How many entries one scan may look past while the accounts ahead of them wait out a backoff. */
const LOOKAHEAD_BATCHES = 4;
/** The smallest slice a scan reads; slices double up to `batch` while every entry read can start. */
const FIRST_SLICE = 8;

/** The delivery loop of one output: its in-flight set, waiting accounts and counters. */
class OutputLane {
  readonly counters: OutputCounters = { delivered: 0, failed: 0, dead: 0, skippedCovert: 0, skippedOverflow: 0 };
  /** Seqs being delivered, plus delivered ones not yet recorded in the outbox. */
  private readonly inFlight = new Set<number>();
  /** Order keys (see orderKeyOf) with a delivery in flight. */
  private readonly busy = new Set<OrderKey>();
  /** Order keys whose head entry failed and waits out its backoff, with the retry timer. */
  private readonly waiting = new Map<OrderKey, ReturnType<typeof setTimeout>>();
  /** The accounts behind `waiting`, so a scan skips their entries without reading them from the outbox. */
  private readonly waitingAccounts = new Set<string>();
  /** Keys in `waiting` that the next success releases at once (see releaseWaiting), with their head entry's seq. */
  private readonly releasable = new Map<OrderKey, number>();
  /**
   * Keys released early whose head entry (seq) has not settled yet: if it fails again, it waits out its whole
   * backoff. A shed head never settles, so shedding forgets its key.
   */
  private readonly released = new Map<OrderKey, number>();
  /** Failed attempts by seq, for the backoff: each leaves when its entry is delivered, dead or shed. */
  private readonly failedAttempts = new Map<number, number>();
  private deliveredUnrecorded: OutboxEntry[] = [];
  private readonly running = new Set<Promise<void>>();
  private pumpScheduled = false;
  /**
   * Retryable failures in a row, ended by any other result: from the first the output is probably down (broker,
   * endpoint); from the second, when the deliveries beside or after the first failed too, it is taken as down.
   */
  private failuresInARow = 0;
  /** Whether a failure may still trigger one scan (reset by a success or a retry timer). */
  private probeAllowed = true;
  /** Where the next scan's first slice starts: large while slices get used in full, small once accounts are busy. */
  private sliceHint = FIRST_SLICE;
  /** Local outputs: whether every covert entry pending since before this process was passed over (see sweepCovert). */
  private covertSwept = false;
  /** Why the outbox cannot be read for this output (deliveries stopped); undefined while it can. */
  private scanFailure: string | undefined;
  /** The one timer that tries the failed scan again: every append also wakes a scan, and each must not add a loop. */
  private scanRetry: NodeJS.Timeout | undefined;
  /**
   * Dead letters of ordinary events, a line per window: an endpoint that refuses everything (a rotated secret) makes
   * a whole backlog dead at once, and a line each would flood the journal past its rate limit (counters keep the count).
   */
  private readonly refusals: RateLimitedLog;

  constructor(
    private readonly output: OutputAdapter<NormalizedEvent>,
    private readonly shared: Shared,
    private readonly logger: Logger,
    private readonly maxInFlight: number,
    /** Local outputs only: how far behind it may fall before its oldest undelivered entries are skipped. */
    private readonly maxBacklog: number | undefined,
  ) {
    this.refusals = new RateLimitedLog({ logger, clock: shared.clock });
  }

  readFailure(): string | undefined {
    return this.scanFailure;
  }

  stats(): OutputDispatchStats {
    return {
      ...this.counters,
      inFlight: this.inFlight.size,
      waiting: this.waiting.size,
      retrying: this.failedAttempts.size,
      backlog: this.shared.outbox.backlog(this.output.name),
    };
  }

  /**
   * New entries were stored. A local output passes over those it must never receive at once: left pending while
   * it is down, they would count toward its maxBacklog and make it skip one more of its ordinary events, which
   * it would then miss only because a duress happened. While the output is failing, new entries wait for the
   * next retry timer instead: scanning on every append during an outage would spend the event loop the inputs
   * need to store and ACK.
   */
  onAppend(entries: readonly OutboxEntry[]): void {
    if (this.output.audience === 'local') {
      const covert = entries.filter((entry) => isCovertFor(this.output, entry.event)).map((entry) => entry.seq);
      if (covert.length > 0) this.skipCovert(covert);
    }
    this.shedOverflow();
    if (this.failuresInARow === 0) this.schedulePump();
  }

  /** A local output past its maxBacklog skips its oldest undelivered entries (not those in flight). */
  shedOverflow(): void {
    if (this.maxBacklog === undefined) return;
    const { outbox } = this.shared;
    if (outbox.backlog(this.output.name) <= this.maxBacklog || !this.sweepCovert()) return;
    const excess = outbox.backlog(this.output.name) - this.maxBacklog;
    if (excess <= 0) return;
    const oldest = outbox.oldestPending(this.output.name, excess, this.inFlight);
    if (oldest.length === 0) return;
    outbox.markDelivered(this.output.name, oldest);
    // A shed entry is never settled, so nothing else would forget how often it failed, or that it was released.
    for (const seq of oldest) this.failedAttempts.delete(seq);
    const shed = new Set(oldest);
    for (const [key, seq] of this.released) if (shed.has(seq)) this.released.delete(key);
    if (this.counters.skippedOverflow === 0) this.logger.warn({ maxBacklog: this.maxBacklog }, 'local output fell behind its maxBacklog: skipping its oldest events');
    this.counters.skippedOverflow += oldest.length;
  }

  /**
   * Passes over every covert entry pending for this local output, once, before its first shed: onAppend passes
   * over those stored while this process runs, but others can be pending from before it (a crash lost the lazy
   * skip mark, a database from before the skip at append, a retired output's backlog handed over), and each would
   * make the output shed one more ordinary event. The whole backlog, not only the oldest entries: a covert entry
   * anywhere in it counts. Returns false when the entries could not be read (then nothing is shed: a duress must
   * not change what the output misses).
   */
  private sweepCovert(): boolean {
    if (this.covertSwept) return true;
    const { outbox, batch } = this.shared;
    const name = this.output.name;
    try {
      const seqs = outbox.oldestPending(name, outbox.backlog(name), this.inFlight);
      for (let from = 0; from < seqs.length; from += batch) {
        const covert = outbox.pendingEntries(seqs.slice(from, from + batch)).filter((entry) => isCovertFor(this.output, entry.event));
        if (covert.length > 0) this.skipCovert(covert.map((entry) => entry.seq));
      }
    } catch (error) {
      this.logger.error({ err: errorText(error) }, 'reading the pending entries of a local output failed: its backlog is shed once they can be read');
      return false;
    }
    this.covertSwept = true;
    return true;
  }

  /** Coalesces wake-ups (appends, completions, timers) into one scan per turn of the event loop. */
  schedulePump(): void {
    if (this.pumpScheduled || this.shared.state() !== 'running') return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    if (this.shared.state() !== 'running') return;
    try {
      this.recordDelivered();
      this.startDeliveries();
    } catch (error) {
      // The outbox failed (disk error): try again after the initial backoff rather than spin, logging it once.
      if (this.scanFailure === undefined) this.logger.error({ err: errorText(error) }, 'cannot read the outbox: deliveries to this output stop until it can; retrying');
      this.scanFailure = `cannot read the outbox: ${errorText(error)}`;
      this.scanRetry ??= setTimeout(() => {
        this.scanRetry = undefined;
        this.schedulePump();
      }, this.shared.backoff.initialMs);
      return;
    }
    if (this.scanFailure !== undefined) {
      this.scanFailure = undefined;
      this.logger.warn({}, 'the outbox can be read again: deliveries to this output resume');
    }
  }

  /**
   * Reads pending entries in growing slices (reading one can cost a disk read, wasted when its account is
   * busy), never more than the in-flight window has room for, and starts every one whose account is free, until
   * the window is full.
   */
  private startDeliveries(): void {
    const { outbox, batch } = this.shared;
    const { maxInFlight } = this;
    const name = this.output.name;
    let exclude: ReadonlySet<number> = this.inFlight;
    let limit = Math.min(this.sliceHint, batch);
    for (let scanned = 0; this.inFlight.size < maxInFlight && scanned < batch * LOOKAHEAD_BATCHES; ) {
      const wanted = Math.min(limit, maxInFlight - this.inFlight.size);
      const entries = outbox.pending(name, wanted, exclude, this.waitingAccounts, this.output.audience !== 'local');
      scanned += entries.length;
      const covert: number[] = [];
      let heldBack = false;
      let passedWaiting = false;
      for (const entry of entries) {
        if (this.inFlight.size >= maxInFlight) break;
        if (isCovertFor(this.output, entry.event)) {
          covert.push(entry.seq);
          continue;
        }
        const key = orderKeyOf(entry);
        if (this.waiting.has(key)) passedWaiting = true;
        else if (this.busy.has(key)) heldBack = true;
        else this.start(entry, key);
      }
      if (covert.length > 0) this.skipCovert(covert);
      if (entries.length < wanted) break; // nothing more is pending
      // Look past accounts held back by a failure; a busy account frees up on its own soon.
      if (heldBack && !passedWaiting) {
        this.sliceHint = FIRST_SLICE;
        break;
      }
      if (passedWaiting) {
        const seen = new Set(exclude);
        for (const entry of entries) seen.add(entry.seq);
        exclude = seen;
      }
      limit = Math.min(limit * 2, batch);
      this.sliceHint = limit;
    }
  }

  private skipCovert(seqs: number[]): void {
    this.shared.outbox.markDelivered(this.output.name, seqs);
    this.counters.skippedCovert += seqs.length;
    this.logger.debug({ seqs }, 'duress entries withheld from local-audience output');
  }

  /** One delivery is one promise here beyond the output's own: this runs for every event and output. */
  private start(entry: OutboxEntry, key: OrderKey): void {
    this.inFlight.add(entry.seq);
    this.busy.add(key);
    let attempt: Promise<DeliveryResult>;
    try {
      attempt = Promise.resolve(this.output.deliver(deliverable(this.output, entry.event)));
    } catch (error) {
      attempt = Promise.reject(error);
    }
    const delivery: Promise<void> = attempt.then(
      (result) => this.settled(delivery, entry, key, result),
      (error: unknown) => this.settled(delivery, entry, key, { ok: false, retryable: true, error: `deliver threw: ${errorText(error)}` }),
    );
    this.running.add(delivery);
  }

  private settled(delivery: Promise<void>, entry: OutboxEntry, key: OrderKey, result: DeliveryResult): void {
    this.running.delete(delivery);
    this.settle(entry, key, result);
  }

  private settle(entry: OutboxEntry, key: OrderKey, result: DeliveryResult): void {
    if (this.shared.state() === 'stopped') return; // stop() gave up on this delivery; it stays pending in the outbox
    this.busy.delete(key);
    const earlyRetry = this.released.delete(key);
    const outageEnded = result.ok && this.failuresInARow >= 2;
    this.failuresInARow = !result.ok && result.retryable ? this.failuresInARow + 1 : 0;
    const failing = this.failuresInARow > 0;
    if (result.ok) {
      this.failedAttempts.delete(entry.seq);
      this.deliveredUnrecorded.push(entry);
      this.counters.delivered++;
      if (outageEnded) this.releaseWaiting();
    } else {
      this.inFlight.delete(entry.seq);
      if (result.retryable) this.retryLater(entry, key, result.error, earlyRetry);
      else this.bury(entry, result.error);
    }
    // After a retryable failure, one more scan lets other accounts go ahead; if they fail too, the output is down
    // and only the retry timers wake the lane, so an outage does not turn every append into a scan.
    if (!failing || this.probeAllowed) this.schedulePump();
    this.probeAllowed = !failing;
  }

  private retryLater(entry: OutboxEntry, key: OrderKey, error: string, earlyRetry: boolean): void {
    const attempt = (this.failedAttempts.get(entry.seq) ?? 0) + 1;
    this.failedAttempts.set(entry.seq, attempt);
    this.counters.failed++;
    const delayMs = backoffDelay(this.shared.backoff, attempt, this.shared.random);
    // The account's later entries wait behind this one; other accounts carry on.
    const account = entry.event.account;
    const timer = setTimeout(() => {
      this.waiting.delete(key);
      this.releasable.delete(key);
      this.probeAllowed = true;
      if (account !== null) this.waitingAccounts.delete(account);
      this.schedulePump();
    }, delayMs);
    this.waiting.set(key, timer);
    if (!earlyRetry) this.releasable.set(key, entry.seq);
    if (account !== null) this.waitingAccounts.add(account);
    const retryAt = new Date(this.shared.clock.now() + delayMs).toISOString();
    // One warning per entry; the repeats of a long outage go to debug (the counters keep the total).
    const log = attempt === 1 ? this.logger.warn : this.logger.debug;
    log.call(this.logger, { seq: entry.seq, eventId: entry.event.id, attempt, retryAt, error }, 'delivery failed; will retry');
  }

  /** The output says it works again (OutputAdapter.onRecovered): what waits out a backoff goes now, as after a success. */
  recovered(): void {
    if (this.shared.state() !== 'running' || this.releasable.size === 0) return;
    this.releaseWaiting();
    this.probeAllowed = true;
    this.schedulePump();
  }

  /**
   * A delivery succeeded after the output was down, so it is up again: the keys waiting out a backoff are retried
   * at once, and the scan's order sends a pending duress first instead of leaving it behind a timer of up to a
   * minute. A released entry that fails again waits out its whole backoff before a success may release it again,
   * so an output that flaps, or accounts that keep failing beside healthy ones, are tried at most twice per
   * backoff, never in a loop paced by the successes.
   */
  private releaseWaiting(): void {
    for (const [key, seq] of this.releasable) {
      clearTimeout(this.waiting.get(key));
      this.waiting.delete(key);
      if (typeof key === 'string') this.waitingAccounts.delete(key); // an account's key is the account
      this.released.set(key, seq);
    }
    this.releasable.clear();
  }

  private bury(entry: OutboxEntry, reason: string): void {
    this.failedAttempts.delete(entry.seq);
    this.shared.outbox.markDead(this.output.name, entry.seq, reason);
    this.counters.dead++;
    const fields = { seq: entry.seq, eventId: entry.event.id, reason };
    // Each duress or hold-up refused is a line of its own: someone must see that this one did not go.
    if (entry.event.duress) this.logger.error({ ...fields, category: entry.event.category }, 'delivery refused; kept as dead letter');
    else this.refusals.error('dead-letter', undefined, fields, 'delivery refused; kept as dead letter');
  }

  /** Records completed deliveries in one outbox call (group commit), then tells the hook. */
  recordDelivered(): void {
    const entries = this.deliveredUnrecorded;
    if (entries.length === 0) return;
    this.shared.outbox.markDelivered(this.output.name, entries.map((entry) => entry.seq));
    this.deliveredUnrecorded = []; // only once recorded: a failed markDelivered leaves them for the next pump
    for (const entry of entries) {
      this.inFlight.delete(entry.seq);
      this.notifyDelivered(entry.event);
    }
  }

  private notifyDelivered(event: NormalizedEvent): void {
    if (this.shared.onDelivered === undefined) return;
    try {
      this.shared.onDelivered(this.output.name, event);
    } catch (error) {
      this.logger.error({ eventId: event.id, err: errorText(error) }, 'onDelivered hook threw');
    }
  }

  cancelRetryTimers(): void {
    for (const timer of this.waiting.values()) clearTimeout(timer);
    this.waiting.clear();
    this.waitingAccounts.clear();
    this.releasable.clear();
    this.released.clear();
  }

  async drain(): Promise<void> {
    await Promise.allSettled([...this.running]);
  }
}

/**
 * Moves events from the durable outbox to the outputs, at least once. Each output has its own loop and
 * cursor: deliveries are pipelined across accounts and kept in order within an account; a retryable
 * failure holds that account back with exponential backoff; a permanent one becomes a dead letter.
 */
export class Dispatcher {
  private readonly lanes: Map<string, OutputLane>;
  private readonly options: DispatcherOptions;
  private state: DispatcherState = 'idle';
  private unsubscribe: (() => void) | undefined;
  private readonly recoveryWatches: Array<() => void> = [];

  constructor(options: DispatcherOptions) {
    this.options = options;
    const shared: Shared = {
      outbox: options.outbox,
      clock: options.clock,
      random: options.random ?? Math.random,
      backoff: { ...DEFAULT_BACKOFF, ...options.backoff },
      batch: options.batch ?? 256,
      onDelivered: options.onDelivered,
      state: () => this.state,
    };
    this.lanes = new Map(
      options.outputs.map((output) => [
        output.name,
        new OutputLane(
          output,
          shared,
          options.logger.child({ component: 'dispatcher', output: output.name }),
          output.maxInFlight ?? options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT,
          output.audience === 'local' ? (options.localMaxBacklog?.get(output.name) ?? DEFAULT_LOCAL_MAX_BACKLOG) : undefined,
        ),
      ]),
    );
  }

  /**
   * Registers the outputs with the outbox and starts delivering. Returns the outputs no longer configured that had
   * events undelivered (each logged here: handed over to the outputs added in its place, or dead-lettered).
   */
  start(): RetiredOutput[] {
    if (this.state !== 'idle') return [];
    this.state = 'running';
    const { outbox, outputs, logger } = this.options;
    const { retired, forgotten } = outbox.registerOutputs(
      [...this.lanes.keys()],
      new Map(outputs.map((output) => [output.name, output.audience])),
    );
    if (forgotten.length > 0) {
      logger.warn(
        { component: 'dispatcher', outputs: forgotten, count: forgotten.length },
        'outputs removed from the configuration before this release: their cursors are dropped, their undelivered events not handed over',
      );
    }
    for (const { output, undelivered, duress, handedTo } of retired) {
      const log = logger.child({ component: 'dispatcher', output });
      if (handedTo.length > 0) log.warn({ undelivered, duress, handedTo }, 'output removed from the configuration with events undelivered: the outputs added in its place deliver them');
      else log.error({ undelivered, duress }, 'output removed from the configuration with events undelivered: they are its dead letters now (GET /dead-letters)');
    }
    this.unsubscribe = this.options.outbox.onAppend((entries, only) => {
      // Retried dead letters are pending for their output alone: the others have nothing to pass over or count.
      if (only !== undefined) this.lanes.get(only)?.onAppend(entries);
      else for (const lane of this.lanes.values()) lane.onAppend(entries);
    });
    for (const output of outputs) {
      const lane = this.lanes.get(output.name);
      const unwatch = lane === undefined ? undefined : output.onRecovered?.(() => lane.recovered());
      if (unwatch !== undefined) this.recoveryWatches.push(unwatch);
    }
    this.wake();
    return retired;
  }

  /** Stops starting deliveries, waits (bounded) for those in flight and records the ones that succeeded. */
  async stop(): Promise<void> {
    if (this.state !== 'running') {
      this.state = 'stopped';
      return;
    }
    this.state = 'stopping';
    this.unsubscribe?.();
    for (const unwatch of this.recoveryWatches.splice(0)) unwatch();
    const lanes = [...this.lanes.values()];
    for (const lane of lanes) lane.cancelRetryTimers();
    await withTimeout(Promise.all(lanes.map((lane) => lane.drain())), this.options.stopTimeoutMs ?? 5_000);
    for (const lane of lanes) lane.recordDelivered();
    this.state = 'stopped';
  }

  /** Why deliveries to `output` stopped because the outbox cannot be read for it; undefined while it can. */
  readFailure(output: string): string | undefined {
    return this.lanes.get(output)?.readFailure();
  }

  stats(): Record<string, OutputDispatchStats> {
    return Object.fromEntries([...this.lanes].map(([name, lane]) => [name, lane.stats()]));
  }

  private wake(): void {
    for (const lane of this.lanes.values()) {
      lane.shedOverflow(); // a local output may have fallen behind before a restart
      lane.schedulePump();
    }
  }
}
