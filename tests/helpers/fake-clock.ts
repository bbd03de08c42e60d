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
