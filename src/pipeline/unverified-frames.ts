/** Non-duress refused frames are stored at most once per origin in this span, with a count. */
export const UNVERIFIED_AGGREGATION_MS = 60_000;

/** Origins remembered at once; past this, those quiet for a whole span are forgotten first. */
const MAX_TRACKED_ORIGINS = 10_000;

interface OriginState {
  /** When an event of this origin was last stored. */
  storedAt: number;
  /** Frames folded since then (not stored). */
  folded: number;
}

/**
 * Bounds what refused (unverified) frames cost: a flood of non-duress frames from one account or peer stores one
 * event per minute, which carries the number of frames it stands for. Duress and hold-up content never passes
 * through here: it is always stored. The same rule also rate-limits the log lines about refused frames.
 */
export class UnverifiedFrames {
  private readonly origins = new Map<string, OriginState>();

  /**
   * Whether a non-duress refused frame from `origin` should be stored now. When it should, `count` is the number
   * of frames the stored event stands for (itself and those folded since the last one).
   */
  admit(origin: string, now: number): { store: true; count: number } | { store: false } {
    const state = this.origins.get(origin);
    if (state !== undefined && now - state.storedAt < UNVERIFIED_AGGREGATION_MS) {
      state.folded += 1;
      return { store: false };
    }
    return { store: true, count: (state?.folded ?? 0) + 1 };
  }

  /** The event `admit` allowed was stored (not a retransmit of one already stored): a new span starts. */
  stored(origin: string, now: number): void {
    if (this.origins.size >= MAX_TRACKED_ORIGINS && !this.origins.has(origin)) this.forgetQuiet(now);
    this.origins.delete(origin); // re-inserted last: the map stays in storedAt order
    this.origins.set(origin, { storedAt: now, folded: 0 });
  }

  private forgetQuiet(now: number): void {
    for (const [origin, state] of this.origins) {
      if (now - state.storedAt < UNVERIFIED_AGGREGATION_MS && this.origins.size < MAX_TRACKED_ORIGINS) break;
      this.origins.delete(origin);
    }
  }
}

/** At most one log line per key per span (an account's or a peer's refused frames). */
export class LogLimiter {
  private readonly lastAt = new Map<string, number>();

  constructor(private readonly spanMs: number = UNVERIFIED_AGGREGATION_MS) {}

  allow(key: string, now: number): boolean {
    const last = this.lastAt.get(key);
    if (last !== undefined && now - last < this.spanMs) return false;
    if (this.lastAt.size >= MAX_TRACKED_ORIGINS) this.lastAt.clear();
    this.lastAt.set(key, now);
    return true;
  }
}
