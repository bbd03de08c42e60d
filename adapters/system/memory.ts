import v8 from 'node:v8';
import vm from 'node:vm';

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

/**
 * Once start-up's garbage is all that fills the heap, gives its pages back. Node 24's V8 judges an idle gateway's
 * allocation rate high and never runs its own memory reducer, so the heap (main thread and TCP worker alike)
 * would stay as start-up left it, about 17 MB more resident for good. One collection of a small heap, a few
 * milliseconds, on each thread that calls this.
 */
export function reduceMemoryAfterStartup(): void {
  const collect = memoryReducingCollection();
  if (collect !== undefined) setTimeout(collect, AFTER_STARTUP_MS).unref();
}
