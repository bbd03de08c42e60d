import { peerHost } from '../observability/rate-limited-log.js';

/** How many discard records `run --capture` writes per window, per sender address and in all (README "Capture and replay"). */
export interface DiscardBudgetLimits {
  windowMs: number;
  perSender: number;
  total: number;
}

export const DISCARD_CAPTURE_LIMITS: DiscardBudgetLimits = { windowMs: 60_000, perSender: 5, total: 30 };

/**
 * Which discarded runs `run --capture` writes down. A flood (noise, oversized or surplus datagrams) is what
 * discards are made of, and each record holds up to 2 KiB of hex: in each window at most `perSender` records per
 * sender address, so one flooding sender leaves room for the panels, and `total` in all, so a flood from many
 * (forged) addresses cannot fill the disk either. What is refused is only counted.
 */
export class DiscardCaptureBudget {
  private windowStart = Number.NEGATIVE_INFINITY;
  private used = 0;
  /** Cleared every window; it holds at most `total` addresses. */
  private readonly bySender = new Map<string, number>();

  constructor(private readonly limits: DiscardBudgetLimits = DISCARD_CAPTURE_LIMITS) {}

  /** True when a record of a discard from `peer` may be written at `now` (and counts it). */
  take(peer: string, now: number): boolean {
    if (now - this.windowStart >= this.limits.windowMs || now < this.windowStart) {
      this.windowStart = now;
      this.used = 0;
      this.bySender.clear();
    }
    const sender = peerHost(peer);
    const ofSender = this.bySender.get(sender) ?? 0;
    if (this.used >= this.limits.total || ofSender >= this.limits.perSender) return false;
    this.used += 1;
    this.bySender.set(sender, ofSender + 1);
    return true;
  }
}
