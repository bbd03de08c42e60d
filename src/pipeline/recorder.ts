import { GatewayError, isGatewayError } from '../errors.js';
import type { NormalizedEvent } from '../model/event.js';
import type { Outbox } from '../outbox/outbox.js';
import type { Counters } from '../observability/counters.js';
import type { Logger } from '../ports.js';

/**
 * Sees every event on its way into the outbox: `annotate` may add to it (test window, incident id) before it is
 * stored; `stored` learns about it once it is durable (device ledger, supervision).
 */
export interface EventHook {
  annotate?(event: NormalizedEvent): void;
  stored?(events: readonly NormalizedEvent[]): void;
}

export type RecordOutcome =
  | { ok: true; duplicate: boolean; events: NormalizedEvent[] }
  | { ok: false; error: GatewayError };

export interface RecorderDeps {
  outbox: Outbox;
  counters: Counters;
  logger: Logger;
  backlogLimit: number;
  hooks?: EventHook[];
}

/** The durable step every input shares: annotate, check the backlog limit, store. Resolves after the fsync. */
export class Recorder {
  constructor(private readonly deps: RecorderDeps) {}

  /** Stores what `record` calls have queued so far now (Outbox.commitQueued). */
  commitQueued(): void {
    this.deps.outbox.commitQueued();
  }

  async record(events: NormalizedEvent[], dedupeKey?: string): Promise<RecordOutcome> {
    const { outbox, counters, logger, backlogLimit, hooks = [] } = this.deps;
    if (outbox.maxBacklog() >= backlogLimit) {
      counters.inc('outbox_rejections_total', { code: 'OUTBOX_BACKLOG_FULL' });
      logger.error({ backlog: outbox.maxBacklog(), backlogLimit }, 'outbox backlog limit reached');
      return { ok: false, error: new GatewayError('OUTBOX_BACKLOG_FULL', `backlog limit ${backlogLimit} reached`) };
    }
    for (const event of events) for (const hook of hooks) hook.annotate?.(event);
    try {
      const result = await outbox.append(events, dedupeKey === undefined ? undefined : { dedupeKey });
      const stored = result.entries.map((e) => e.event);
      if (result.duplicate) counters.inc('events_duplicate_total');
      else {
        for (const event of stored) {
          counters.inc('events_total', { category: event.category, input: event.source.input });
          if (event.duress) logger.warn({ eventId: event.id, category: event.category, account: event.account }, 'duress event stored');
        }
        for (const hook of hooks) hook.stored?.(stored);
      }
      return { ok: true, duplicate: result.duplicate, events: stored };
    } catch (error) {
      const gatewayError = isGatewayError(error)
        ? error
        : new GatewayError('OUTBOX_WRITE_FAILED', 'outbox write failed', { cause: error });
      counters.inc('outbox_rejections_total', { code: gatewayError.code });
      logger.error({ err: gatewayError }, 'outbox write failed');
      return { ok: false, error: gatewayError };
    }
  }
}
