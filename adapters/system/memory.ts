import v8 from 'node:v8';
import vm from 'node:vm';
import { performance } from 'node:perf_hooks';

/** V8's own options for a collection (V8 12 and later; Node 22 and later). */
interface CollectionOptions {
  type: 'major';
  execution: 'sync';
  flavor: 'last-resort';
}

type Collect = (options?: CollectionOptions) => void;

/**
 * Whether this V8 reads the options argument. V8 11 (Node 20) takes an object as its old boolean flag and runs a
 * young-generation collection; its memory reducer does shrink an idle heap on its own, so nothing is needed there.
 */
const READS_COLLECTION_OPTIONS = Number.parseInt(process.versions.v8, 10) >= 12;

/**
 * A function that runs V8's memory-reducing full collection (the one its memory reducer runs on an idle heap,
 * which returns the freed pages to the system), or undefined where V8 has none to call. `--expose-gc` is on only
 * while one new context is created to take `gc` from, so no other code sees a global `gc`.
 */
export function memoryReducingCollection(): (() => void) | undefined {
  if (!READS_COLLECTION_OPTIONS) return undefined;
  const exposed = typeof (globalThis as { gc?: unknown }).gc === 'function';
  if (!exposed) v8.setFlagsFromString('--expose-gc');
  let collect: Collect;
  try {
    collect = vm.runInNewContext('gc') as Collect;
  } finally {
    if (!exposed) v8.setFlagsFromString('--no-expose-gc');
  }
  return () => collect({ type: 'major', execution: 'sync', flavor: 'last-resort' });
}

/** When start-up's work (API, broker connections, the first supervision pass) is done, with time to spare. */
const AFTER_STARTUP_MS = 10_000;

/** How long the event loop is watched before the collection, and the share of it that may be busy. */
const IDLE_WATCH_MS = 1_000;
const IDLE_UTILIZATION = 0.02;

/** Starts watching the event loop; the function returned gives the share of time it was busy since. */
export type LoopMeter = () => () => number;

const eventLoopMeter: LoopMeter = () => {
  const start = performance.eventLoopUtilization();
  return () => performance.eventLoopUtilization(start).utilization;
};

/**
 * Runs `task` once the event loop has been idle for a whole watch, first looking `afterMs` from now and again
 * every `afterMs` while it is busy.
 */
export function runWhenIdle(task: () => void, afterMs: number, meter: LoopMeter = eventLoopMeter): void {
  const look = (): void => {
    const busyShare = meter();
    setTimeout(() => {
      if (busyShare() <= IDLE_UTILIZATION) task();
      else setTimeout(look, afterMs).unref();
    }, IDLE_WATCH_MS).unref();
  };
  setTimeout(look, afterMs).unref();
}

/**
 * Once start-up's garbage is all that fills the heap, gives its pages back. Node 24's V8 judges an idle gateway's
 * allocation rate high and never runs its own memory reducer, so the heap (main thread and TCP worker alike)
 * would stay as start-up left it, about 17 MB more resident for good. One collection of a small heap, a few
 * milliseconds, on each thread that calls this; but only on an idle event loop: on a heap a burst is filling it
 * takes tens of milliseconds, every frame waits for it, and it would give back nothing the burst keeps.
 */
export function reduceMemoryAfterStartup(): void {
  const collect = memoryReducingCollection();
  if (collect !== undefined) runWhenIdle(collect, AFTER_STARTUP_MS);
}
