/**
 * The faults of a write that is retried until it succeeds (a full disk, another process's lock), told once each
 * way: when it starts failing and when it succeeds again. Told at every retry, a retry a second logged a line a
 * second for as long as the fault lasted.
 */
export class WriteFaults<E extends Error> {
  private readonly failedListeners: Array<(error: E) => void> = [];
  private readonly recoveredListeners: Array<(failedForMs: number) => void> = [];
  /** When the write still failing first failed (performance.now()). */
  private failingSince: number | undefined;

  onFailed(listener: (error: E) => void): void {
    this.failedListeners.push(listener);
  }

  onRecovered(listener: (failedForMs: number) => void): void {
    this.recoveredListeners.push(listener);
  }

  failed(error: E): void {
    if (this.failingSince !== undefined) return;
    this.failingSince = performance.now();
    for (const listener of this.failedListeners) listener(error);
  }

  succeeded(): void {
    if (this.failingSince === undefined) return;
    const failedForMs = performance.now() - this.failingSince;
    this.failingSince = undefined;
    for (const listener of this.recoveredListeners) listener(failedForMs);
  }
}
