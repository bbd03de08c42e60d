import type { Clock } from '../ports.js';

/**
 * The clock of a replay: it reads the recorded receive time of the frame being processed, so the pipeline
 * (receivedAt, ids, DC-09 timestamp window, dedupe window) sees the times of the original run. It follows the
 * recorded times exactly, backwards too, because receivedAt must come out as recorded.
 */
export class ReplayClock implements Clock {
  constructor(private current: number) {}

  now(): number {
    return this.current;
  }

  /** A frame without a recorded time (plain-log line) keeps the time of the frame before it. */
  follow(recorded: number | null): void {
    if (recorded !== null) this.current = recorded;
  }
}

/** `--speed N` divides the recorded gaps by N; `--fast` (speed: 'fast') feeds frames without waiting. */
export type Pacing = { speed: number } | 'fast';

/** Real milliseconds to wait before feeding a frame recorded at `next`, when the previous one was at `previous`. */
export function pacingDelay(previous: number | null, next: number | null, pacing: Pacing): number {
  if (pacing === 'fast' || previous === null || next === null) return 0;
  return Math.max(0, (next - previous) / pacing.speed);
}

/** Seed of the random source behind a replay's event ids and DC-09 ACK pads: fixed, so replays repeat exactly. */
export const REPLAY_SEED = 0x5eed_0001;
