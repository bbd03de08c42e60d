import type { Clock } from './ports.js';

/** The wall clock moving against the monotonic one by less than this is jitter between two readings, not a step. */
export const CLOCK_STEP_MS = 1_000;

/** A step of the wall clock: by how much, and which wall times were read before it. */
export interface ClockStep {
  /** Negative when the clock went back. */
  by: number;
  /** Times read from the wall clock since the first look up to the step lie in [from, to], before the step. */
  from: number;
  to: number;
}

/**
 * Tells when the wall clock was stepped, by the monotonic clock, which nobody steps. A Raspberry Pi has no RTC: it
 * boots on the time it shut down at (or in 1970) and NTP steps it forward, by days, once it syncs; a clock that ran
 * fast is stepped back. A suspend looks the same as a step forward (the monotonic clock stops with it).
 */
export class ClockSteps {
  /** The wall clock less the monotonic reading at the last look. */
  private offset: number | undefined;
  private firstLook = 0;
  private lastLook = 0;

  constructor(private readonly clock: Clock) {}

  /** The step since the last look, if there was one; undefined as well on a clock without a monotonic reading. */
  look(): ClockStep | undefined {
    const monotonic = this.clock.monotonic?.();
    if (monotonic === undefined) return undefined;
    const now = this.clock.now();
    const offset = now - monotonic;
    const previous = this.offset;
    const step: ClockStep = { by: offset - (previous ?? offset), from: this.firstLook, to: this.lastLook };
    this.offset = offset;
    this.lastLook = now;
    if (previous === undefined) this.firstLook = now;
    if (Math.abs(step.by) < CLOCK_STEP_MS) return undefined;
    // What was read before the step is now known as times of the new clock: the next step's range starts there.
    this.firstLook += step.by;
    return step;
  }
}
