import type { MemoryOutbox } from '../../src/outbox/memory-outbox.js';

/**
 * Holds every append of `outbox` until `release()`: `appending` resolves once an append has started, so a test
 * can check that nothing was answered before the store resolved.
 */
export function gateAppends(outbox: MemoryOutbox): { appending: Promise<void>; release: () => void } {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let appendCalled!: () => void;
  const appending = new Promise<void>((resolve) => (appendCalled = resolve));
  const append = outbox.append.bind(outbox);
  outbox.append = async (events, options) => {
    appendCalled();
    await gate;
    return append(events, options);
  };
  return { appending, release };
}
