import type { Clock } from '../../src/ports.js';

/** Time that moves only when the test says so (dedupe windows, backoffs, weeks between device tests). */
export class FakeClock implements Clock {
  constructor(private ms = Date.UTC(2024, 0, 15, 12, 0, 0)) {}
  now(): number {
    return this.ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}

/**
 * A fake clock with a monotonic reading: `step` moves the wall clock alone, as NTP steps a clock that ran fast or
 * sets a Pi that booted on a stale one; the monotonic reading goes on unmoved.
 */
export class SteppingClock extends FakeClock {
  private stepped = 0;

  monotonic(): number {
    return this.now() - this.stepped;
  }

  step(ms: number): void {
    this.advance(ms);
    this.stepped += ms;
  }
}
