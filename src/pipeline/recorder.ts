import type { EventBus } from '../bus.js';
import { GatewayError, isGatewayError } from '../errors.js';
import type { NormalizedEvent } from '../model/event.js';
import type { AppendResult, Outbox } from '../outbox/outbox.js';
import type { Counters } from '../observability/counters.js';
import { systemClock, type Clock, type Logger } from '../ports.js';

/**
 * Adds to every event on its way into the outbox, before it is stored (the duress assurance: test window,
 * incident id). Part of the store: when it throws, the store fails and the input answers NAK.
 */
export interface EventAnnotator {
  annotate(event: NormalizedEvent): void;
}

export type RecordOutcome =
  /**
   * `events`: those stored, or a retransmit's earlier ones; with `answersSent: false` or `earlierEvents: false`,
   * earlier events already stored are not read back, and a retransmit's outcome may have none.
   */
  | { ok: true; duplicate: boolean; events: NormalizedEvent[] }
  | { ok: false; error: GatewayError };

export interface RecordOptions {
  /**
   * False when the caller's answer does not show a retransmit's earlier events (a DC-09 ACK is the same either
   * way): the outbox confirms the retransmit without reading them back and parsing them. Unset: true.
   */
  earlierEvents?: boolean;
}

const READ_BACK: RecordOptions = {};

/**
 * Runs `work` once the frame's answer has gone out (an input sends it in this turn of the event loop, after the
 * store's promises settle). For what only a duress does, such as its log lines: a write to the log before the
 * answer would delay a duress's ACK alone, and a panel-side observer times the ACKs.
 */
export function afterAnswer(work: () => void): void {
  setImmediate(work);
}

/** The store has failed since `since` (the first failure's `cause`): every frame is refused until a store succeeds. */
export interface StoreFault {
  since: number;
  cause: string;
  /** Frames refused since then (what the gateway raised itself is not counted). */
  refusedFrames: number;
}

export interface RecorderDeps {
  outbox: Outbox;
  counters: Counters;
  logger: Logger;
  backlogLimit: number;
  /**
   * The outputs whose backlog counts toward `backlogLimit`: the `central` ones (a `local` output sheds its own
   * oldest events instead). Unset: every output counts.
   */
  backlogOutputs?: readonly string[];
  /** Told `frameStored` once a frame's events are durable; its listeners cannot fail the store. */
  bus?: Pick<EventBus, 'emitFrameStored'>;
  /**
   * False when no sender is ever answered (`replay`): nothing shows a retransmit's earlier events, so they are not
   * read back from the outbox. Unset: true.
   */
  answersSent?: boolean;
  clock?: Clock;
  /** Told when the store starts failing, and when it stores again after that (with the fault it recovered from). */
  onStoreFault?: (fault: StoreFault, state: 'failing' | 'recovered') => void;
}

/**
 * The durable step every input shares: recognise a retransmit, check the backlog limit, annotate, store.
 * Resolves after the fsync. A retransmit (an earlier append with the same dedupe key, stored or still being
 * stored) touches nothing: neither the annotator nor `frameStored` sees it, so it never opens an incident, counts
 * toward one, marks a device tested or updates the ledger.
 */
export class Recorder {
  /** Appends still being stored, by dedupe key: a retransmit that arrives meanwhile waits for the first. */
  private readonly storing = new Map<string, Promise<RecordOutcome>>();
  private annotator: EventAnnotator | undefined;
  private fault: StoreFault | undefined;

  constructor(private readonly deps: RecorderDeps) {}

  /** The one part that adds to events before they are stored; undefined: none (a replay, or once it stops). */
  setAnnotator(annotator: EventAnnotator | undefined): void {
    this.annotator = annotator;
  }

  /** Stores what `record` calls have queued so far now (Outbox.commitQueued). */
  commitQueued(): void {
    this.deps.outbox.commitQueued();
  }

  /** Undefined while stores succeed. */
  storeFault(): StoreFault | undefined {
    return this.fault;
  }

  /**
   * The report of `earlier`, a fault that was over, could not be stored (the disk filled up again): the fault under
   * way now carries it on, from its start and with its refused frames, so that its report covers the whole outage.
   * False when no fault is under way: the store works, and the report can be tried again at once.
   */
  carryOver(earlier: StoreFault): boolean {
    const fault = this.fault;
    if (fault === undefined) return false;
    fault.since = Math.min(fault.since, earlier.since);
    fault.cause = earlier.cause;
    fault.refusedFrames += earlier.refusedFrames;
    return true;
  }

  /** Undelivered entries of the outputs that count toward the backlog limit (the largest of them). */
  backlog(): number {
    const { outbox, backlogOutputs } = this.deps;
    if (backlogOutputs === undefined) return outbox.maxBacklog();
    let max = 0;
    for (const output of backlogOutputs) max = Math.max(max, outbox.backlog(output));
    return max;
  }

  record(events: NormalizedEvent[], dedupeKey?: string, options: RecordOptions = READ_BACK): Promise<RecordOutcome> {
    if (dedupeKey !== undefined) {
      const storing = this.storing.get(dedupeKey);
      if (storing !== undefined) return storing.then((first) => (first.ok ? this.retransmit(first.events) : this.record(events, dedupeKey, options)));
      const earlier = this.earlierEvents(dedupeKey, options.earlierEvents !== false);
      if (earlier !== undefined) return Promise.resolve(this.retransmit(earlier));
    }
    const refused = this.overLimit(events);
    if (refused !== undefined) return Promise.resolve(refused);
    return this.store(events, dedupeKey, 'frame');
  }

  /**
   * Stores events the gateway raises itself (the assurance's supervisory and control events, an output's link
   * state), past the backlog limit too: that limit bounds panel traffic, and these are few (one per window, device,
   * link or duress they report) and must reach central whatever the backlog (a control action, a deadline alert).
   */
  recordRaised(events: NormalizedEvent[]): Promise<RecordOutcome> {
    return this.store(events, undefined, 'raised');
  }

  /** The events stored under `dedupeKey` (none read back when no answer shows them), or undefined: not a retransmit. */
  private earlierEvents(dedupeKey: string, wanted: boolean): NormalizedEvent[] | undefined {
    const { outbox, answersSent } = this.deps;
    if (answersSent === false || !wanted) return outbox.hasStored(dedupeKey) ? [] : undefined;
    return outbox.storedUnder(dedupeKey)?.map((entry) => entry.event);
  }

  private retransmit(events: NormalizedEvent[]): RecordOutcome {
    this.deps.counters.inc('events_duplicate_total');
    return { ok: true, duplicate: true, events };
  }

  /**
   * Over the limit only what is not a duress waits: a person under threat is never refused for a backlog (nor is
   * what the gateway raises itself, see recordRaised).
   */
  private overLimit(events: readonly NormalizedEvent[]): RecordOutcome | undefined {
    const { counters, logger, backlogLimit } = this.deps;
    if (events.some((event) => event.duress) || this.backlog() < backlogLimit) return undefined;
    counters.inc('outbox_rejections_total', { code: 'OUTBOX_BACKLOG_FULL' });
    logger.error({ backlog: this.backlog(), backlogLimit }, 'outbox backlog limit reached');
    return { ok: false, error: new GatewayError('OUTBOX_BACKLOG_FULL', `backlog limit ${backlogLimit} reached`) };
  }

  /**
   * Never rejects: a failure (the outbox's, or the annotator's) is an outcome the input answers with NAK. A keyed
   * append is in `storing` until its outcome is known. One promise step per frame, not an async function's: their
   * state lives until the group commit, long enough under load to be copied out of the young generation.
   */
  private store(events: NormalizedEvent[], dedupeKey: string | undefined, origin: 'frame' | 'raised'): Promise<RecordOutcome> {
    let appended: Promise<AppendResult>;
    try {
      const annotator = this.annotator;
      if (annotator !== undefined) for (const event of events) annotator.annotate(event);
      appended = this.deps.outbox.append(events, dedupeKey === undefined ? undefined : { dedupeKey });
    } catch (error) {
      return Promise.resolve(this.failed(error, origin));
    }
    const stored = appended.then(
      (result) => this.stored(result, dedupeKey),
      (error: unknown) => this.failed(error, origin, dedupeKey),
    );
    if (dedupeKey !== undefined) this.storing.set(dedupeKey, stored);
    return stored;
  }

  private stored(result: AppendResult, dedupeKey?: string): RecordOutcome {
    if (dedupeKey !== undefined) this.storing.delete(dedupeKey);
    const { counters, logger } = this.deps;
    this.recovered();
    try {
      const stored = result.entries.map((e) => e.event);
      if (result.duplicate) counters.inc('events_duplicate_total');
      else {
        for (const event of stored) {
          counters.inc('events_total', { category: event.category, input: event.source.input });
          if (event.duress) afterAnswer(() => logger.warn({ eventId: event.id, category: event.category, account: event.account }, 'duress event stored'));
        }
        this.deps.bus?.emitFrameStored(stored);
      }
      return { ok: true, duplicate: result.duplicate, events: stored };
    } catch (error) {
      return this.failed(error, 'frame');
    }
  }

  /**
   * Logged once per fault, not once per frame: with the disk full every panel's every retry fails alike (the
   * counter has them all), and a line each would flood the log the operator must find the cause in.
   */
  private failed(error: unknown, origin: 'frame' | 'raised', dedupeKey?: string): RecordOutcome {
    if (dedupeKey !== undefined) this.storing.delete(dedupeKey);
    const { counters, logger } = this.deps;
    const gatewayError = isGatewayError(error)
      ? error
      : new GatewayError('OUTBOX_WRITE_FAILED', 'outbox write failed', { cause: error });
    counters.inc('outbox_rejections_total', { code: gatewayError.code });
    const refused = origin === 'frame' ? 1 : 0;
    if (this.fault !== undefined) this.fault.refusedFrames += refused;
    else {
      // The root cause (SQLite's "database or disk is full"), not the wrapper's text around it.
      const cause = gatewayError.cause instanceof Error ? gatewayError.cause.message : gatewayError.message;
      this.fault = { since: (this.deps.clock ?? systemClock).now(), cause, refusedFrames: refused };
      logger.error(
        { code: gatewayError.code, cause },
        `outbox cannot store events (${cause}): every frame is NAKed until it can; free space on (or fix) the disk under dataDir, or end another process that holds its files locked`,
      );
      this.deps.onStoreFault?.(this.fault, 'failing');
    }
    return { ok: false, error: gatewayError };
  }

  private recovered(): void {
    const fault = this.fault;
    if (fault === undefined) return;
    this.fault = undefined;
    this.deps.logger.warn(
      { since: new Date(fault.since).toISOString(), refusedFrames: fault.refusedFrames },
      `outbox stores again; ${fault.refusedFrames} frames were NAKed while it could not`,
    );
    this.deps.onStoreFault?.(fault, 'recovered');
  }
}
