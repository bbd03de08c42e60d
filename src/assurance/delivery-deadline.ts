import type { NormalizedEvent } from '../model/event.js';
import type { ClockStep } from '../clock-steps.js';
import { MinHeap } from '../min-heap.js';
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
  /** The waiting events past their deadline, in the order they were reported. */
  private readonly alerted = new Set<UndeliveredDuress>();
  /**
   * The waiting events not reported yet, oldest first by each clock: a tick looks at those past their deadline only,
   * not at every duress a flood left waiting. A confirmed or reported event leaves them when it reaches the top.
   */
  private byReceipt = new MinHeap<UndeliveredDuress>((e) => e.receivedAt);
  private byMonotonic = new MinHeap<UndeliveredDuress>((e) => e.trackedAtMonotonic!);

  constructor(private readonly deadlineMs: number) {}

  track(event: NormalizedEvent, receivedAt: number, monotonic?: number): void {
    if (!isDuress(event) || this.waiting.has(event.id)) return;
    const entry: UndeliveredDuress = {
      eventId: event.id,
      account: event.account,
      site: event.site?.id ?? null,
      category: event.category,
      incident: event.incident ?? null,
      test: event.test,
      receivedAt,
      alertedAt: null,
      trackedAtMonotonic: monotonic,
    };
    this.waiting.set(event.id, entry);
    // Confirmed events leave the queues only when they reach the top: a flood confirmed at once must not stay in them.
    if (Math.max(this.byReceipt.size, this.byMonotonic.size) > 2 * this.waiting.size + COMPACT_SLACK) this.queueNotAlerted();
    else this.queue(entry);
  }

  private queue(entry: UndeliveredDuress): void {
    // Not a finite time: never late by that clock, as `now - receivedAt` never exceeds the deadline.
    if (Number.isFinite(entry.receivedAt)) this.byReceipt.push(entry);
    if (entry.trackedAtMonotonic !== undefined && Number.isFinite(entry.trackedAtMonotonic)) this.byMonotonic.push(entry);
  }

  /** Rebuilds the queues from the waiting events not reported yet. */
  private queueNotAlerted(): void {
    this.byReceipt = new MinHeap<UndeliveredDuress>((e) => e.receivedAt);
    this.byMonotonic = new MinHeap<UndeliveredDuress>((e) => e.trackedAtMonotonic!);
    for (const entry of this.waiting.values()) if (entry.alertedAt === null) this.queue(entry);
  }

  /** A central output delivered the event. Returns it when its deadline had been reported missed. */
  confirm(eventId: string): UndeliveredDuress | undefined {
    // Every central delivery asks; with no duress waiting (nearly always) the id need not be hashed.
    if (this.waiting.size === 0) return undefined;
    const entry = this.waiting.get(eventId);
    if (entry === undefined) return undefined;
    this.waiting.delete(eventId);
    return this.alerted.delete(entry) ? entry : undefined;
  }

  /**
   * Events whose deadline passed since the last call, by whichever clock says so first: the wall clock alone would
   * wait the hours NTP stepped it back by a duress recovered after a restart, the monotonic one alone the time a
   * suspend lasted.
   */
  due(now: number, monotonic?: number): UndeliveredDuress[] {
    const missed: UndeliveredDuress[] = [];
    const reportPassed = (heap: MinHeap<UndeliveredDuress>, passed: (e: UndeliveredDuress) => boolean): void => {
      for (let top = heap.peek(); top !== undefined && passed(top); top = heap.peek()) {
        heap.pop();
        if (this.waiting.get(top.eventId) !== top || top.alertedAt !== null) continue;
        top.alertedAt = now;
        this.alerted.add(top);
        missed.push(top);
      }
    };
    reportPassed(this.byReceipt, (e) => now - e.receivedAt > this.deadlineMs);
    if (monotonic !== undefined) reportPassed(this.byMonotonic, (e) => monotonic - e.trackedAtMonotonic! > this.deadlineMs);
    return missed;
  }

  /**
   * Moves the receipt times read before a step of the wall clock with it: NTP setting a Pi that booted on a stale
   * clock forward by days must not make a duress waiting for its confirmation days old, and late at once. A duress
   * recovered from a previous run keeps its time: the gap since is time that passed.
   */
  clockStepped(step: ClockStep): void {
    for (const entry of this.waiting.values()) if (entry.receivedAt >= step.from && entry.receivedAt <= step.to) entry.receivedAt += step.by;
    // The moved times reorder the waiting events (a step is rare: one walk of them each).
    this.queueNotAlerted();
  }

  /** Events past their deadline and still unconfirmed. */
  alerts(): UndeliveredDuress[] {
    return [...this.alerted];
  }
}

/** Stale entries (confirmed, or reported) a heap may hold beyond twice the waiting events before it is rebuilt. */
const COMPACT_SLACK = 1_024;
