import type { Transport } from '../model/event.js';
import type { Clock, Logger } from '../ports.js';
import { gatewayEvent, VERIFIED, type EventBuilderDeps, type FrameOrigin } from './event-builder.js';
import type { Recorder } from './recorder.js';

/**
 * After an input reached a limit of its whole capacity (connections turned away, datagrams discarded, an accept
 * that failed), it reports degraded for this long, and raises at most one supervisory event in it: a hold-up from
 * a panel may not be getting through.
 */
export const CAPACITY_ALARM_MS = 60_000;

/**
 * A connection turned away at a connection limit is forgiven when the limit stops refusing within this long: panels
 * behind one address that report together (power back on a site) overflow it for a moment and retry. Still refusing
 * after it, the places are held (a flood, squatters), and a panel reporting now is not heard.
 */
export const REFUSAL_BURST_MS = 5_000;

/** What raising the supervisory event needs: the input's name and what stores a gateway event. */
export interface CapacityAlarmDeps {
  input: string;
  clock: Clock;
  recorder: Recorder;
  builder: EventBuilderDeps;
  logger: Logger;
}

/**
 * The supervisory event of an input at a limit, so the operator learns that a panel may not get through, not only
 * the log. Never rejects: a store that fails is logged.
 */
export async function raiseCapacityAlarm(deps: CapacityAlarmDeps, reason: string, transport: Transport): Promise<void> {
  const origin: FrameOrigin = { input: deps.input, transport, receivedAt: deps.clock.now(), raw: new Uint8Array(), trust: VERIFIED };
  const event = gatewayEvent({ category: 'supervisory', account: null, reasons: [reason] }, origin, deps.builder);
  const recorded = await deps.recorder.recordRaised([event]);
  if (!recorded.ok) deps.logger.error({ err: recorded.error, reason }, 'supervisory event not stored');
}

/** What reaching a limit means: the supervisory event's reason, and what the input's health says (when it says it). */
export interface LimitReached {
  reason: string;
  detail?: string;
  transport: Transport;
}

/**
 * Whether the limit still refuses a new connection; a promise where the connection places are kept on another thread
 * (the DC-09 socket worker), which is asked.
 */
export type StillRefused = () => boolean | Promise<boolean>;

export interface CapacityAlarmOptions {
  clock: Clock;
  /** Stores the supervisory event (raiseCapacityAlarm, or a receiver's method around it). */
  raise(reason: string, transport: Transport): Promise<void>;
}

/**
 * When an input last reached each of its limits, for its health, and the supervisory events that say so: at most
 * one per CAPACITY_ALARM_MS for the whole input, however many limits are reached and however often.
 */
export class CapacityAlarm<Limit extends string> {
  /** When each limit was last reached (on the monotonic clock where there is one), and what it meant. */
  private readonly lastReached = new Map<Limit, { at: number; what: LimitReached }>();
  private lastRaisedAt: number | undefined;
  /** The refusals being forgiven as a burst, by limit: the latest one's, with its check of whether the limit still refuses. */
  private readonly bursts = new Map<Limit, { what: LimitReached; stillRefused: StillRefused; timer: ReturnType<typeof setTimeout> }>();
  private readonly raising = new Set<Promise<void>>();
  private stopped = false;

  constructor(private readonly options: CapacityAlarmOptions) {}

  /** A limit of the whole input was reached now: degraded for a while, and a supervisory event unless one was raised lately. */
  reached(limit: Limit, what: LimitReached): void {
    const now = this.now();
    this.lastReached.set(limit, { at: now, what });
    if (this.lastRaisedAt !== undefined && now - this.lastRaisedAt < CAPACITY_ALARM_MS) return;
    this.lastRaisedAt = now;
    const raised = this.options.raise(what.reason, what.transport);
    this.raising.add(raised);
    const settled = (): void => void this.raising.delete(raised);
    raised.then(settled, settled);
  }

  /**
   * A connection was turned away at `limit`. The limit counts as reached if it still refuses (`stillRefused`, asked
   * REFUSAL_BURST_MS later) or, when it was reached within the last CAPACITY_ALARM_MS, at once.
   */
  refused(limit: Limit, stillRefused: StillRefused, what: LimitReached): void {
    if (this.lately(limit) !== undefined) return this.reached(limit, what);
    const burst = this.bursts.get(limit);
    if (burst !== undefined) {
      Object.assign(burst, { what, stillRefused });
      return;
    }
    const timer = setTimeout(() => {
      const ended = this.bursts.get(limit);
      this.bursts.delete(limit);
      if (ended === undefined) return;
      const reachedIfStill = (still: boolean): void => {
        if (still && !this.stopped) this.reached(limit, ended.what);
      };
      const still = ended.stillRefused();
      if (typeof still === 'boolean') reachedIfStill(still);
      else still.then(reachedIfStill, () => undefined);
    }, REFUSAL_BURST_MS);
    timer.unref?.();
    this.bursts.set(limit, { what, stillRefused, timer });
  }

  /** What was last reached at `limit`, if that was within the last CAPACITY_ALARM_MS. */
  lately(limit: Limit): LimitReached | undefined {
    const last = this.lastReached.get(limit);
    return last !== undefined && this.now() - last.at < CAPACITY_ALARM_MS ? last.what : undefined;
  }

  /** Forgets the bursts being timed; resolves once the events raised are stored (or their store failed). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const { timer } of this.bursts.values()) clearTimeout(timer);
    this.bursts.clear();
    await Promise.allSettled([...this.raising]);
  }

  /** Spans of time: the monotonic clock, where there is one, so a wall clock stepped back does not stretch them. */
  private now(): number {
    return this.options.clock.monotonic?.() ?? this.options.clock.now();
  }
}
