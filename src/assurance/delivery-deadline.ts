import type { NormalizedEvent } from '../model/event.js';
import type { ClockStep } from '../clock-steps.js';
import { isDuress } from './devices.js';

export interface UndeliveredDuress {
  eventId: string;
  account: string | null;
  site: string | null;
  category: NormalizedEvent['category'];
  incident: string | null;
  test: boolean;
  receivedAt: number;
  /** When the missed deadline was reported; null while it has not passed. */
  alertedAt: number | null;
  /** The monotonic clock's reading when it was tracked (Clock.monotonic), when there is one. */
  trackedAtMonotonic: number | undefined;
}

/**
 * Every duress or hold-up event must be confirmed by an output of audience `central` within the deadline. One
 * that is not is reported once (`due`); its confirmation after that clears the report (`confirm`).
 */
export class DeliveryDeadline {
  private readonly waiting = new Map<string, UndeliveredDuress>();

  constructor(private readonly deadlineMs: number) {}

  track(event: NormalizedEvent, receivedAt: number, monotonic?: number): void {
    if (!isDuress(event) || this.waiting.has(event.id)) return;
    this.waiting.set(event.id, {
      eventId: event.id,
      account: event.account,
      site: event.site?.id ?? null,
      category: event.category,
      incident: event.incident ?? null,
      test: event.test,
      receivedAt,
      alertedAt: null,
      trackedAtMonotonic: monotonic,
    });
  }

  /** A central output delivered the event. Returns it when its deadline had been reported missed. */
  confirm(eventId: string): UndeliveredDuress | undefined {
    // Every central delivery asks; with no duress waiting (nearly always) the id need not be hashed.
    if (this.waiting.size === 0) return undefined;
    const entry = this.waiting.get(eventId);
    this.waiting.delete(eventId);
    return entry?.alertedAt == null ? undefined : entry;
  }

  /**
   * Events whose deadline passed since the last call, by whichever clock says so first: the wall clock alone would
   * wait the hours NTP stepped it back by a duress recovered after a restart, the monotonic one alone the time a
   * suspend lasted.
   */
  due(now: number, monotonic?: number): UndeliveredDuress[] {
    const elapsed = (e: UndeliveredDuress): number =>
      Math.max(now - e.receivedAt, monotonic === undefined || e.trackedAtMonotonic === undefined ? -Infinity : monotonic - e.trackedAtMonotonic);
    const missed = [...this.waiting.values()].filter((e) => e.alertedAt === null && elapsed(e) > this.deadlineMs);
    for (const entry of missed) entry.alertedAt = now;
    return missed;
  }

  /**
   * Moves the receipt times read before a step of the wall clock with it: NTP setting a Pi that booted on a stale
   * clock forward by days must not make a duress waiting for its confirmation days old, and late at once. A duress
   * recovered from a previous run keeps its time: the gap since is time that passed.
   */
  clockStepped(step: ClockStep): void {
    for (const entry of this.waiting.values()) if (entry.receivedAt >= step.from && entry.receivedAt <= step.to) entry.receivedAt += step.by;
  }

  /** Events past their deadline and still unconfirmed. */
  alerts(): UndeliveredDuress[] {
    return [...this.waiting.values()].filter((e) => e.alertedAt !== null);
  }
}
