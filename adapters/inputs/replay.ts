import { setTimeout as sleepFor } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { pacingDelay, type Pacing } from '../../src/replay/clock.js';
import { batchLines, type FromReplayReader, type LinesBatch, type ReplayLine, type ReplayReaderSettings } from './replay-reader-protocol.js';

export type { ReplayLine };

export interface ReplayFileOptions {
  pacing: Pacing;
  /** Real-time wait between frames; replaceable so pacing can be observed without waiting. */
  sleep?: (ms: number) => Promise<void>;
  /** Bytes read at a time (a batch of lines each); smaller in tests, to cross many batch boundaries. */
  chunkBytes?: number;
  /** Batches the reader may have parsed ahead of the pipeline. */
  batchesAhead?: number;
}

const DEFAULT_CHUNK_BYTES = 1 << 20;
const DEFAULT_BATCHES_AHEAD = 4;

function readerEntry(): URL {
  const here = import.meta.url;
  return here.endsWith('.ts') ? new URL('../../dist/adapters/inputs/replay-reader-worker.js', here) : new URL('./replay-reader-worker.js', here);
}

/**
 * A capture or plain log, read as a stream (a day of traffic need not fit in memory), one line at a time. Before
 * each frame it waits the recorded gap to the previous frame divided by the speed. Reading and parsing the lines
 * runs on a worker thread, a few batches ahead of the caller, so a replay's pipeline has the main thread to itself.
 */
export async function* readReplayFile(file: string, options: ReplayFileOptions): AsyncGenerator<ReplayLine> {
  const sleep = options.sleep ?? ((ms: number) => sleepFor(ms));
  let previousTime: number | null = null;
  const reader = new ReplayReader({ file, chunkBytes: options.chunkBytes ?? DEFAULT_CHUNK_BYTES, batchesAhead: options.batchesAhead ?? DEFAULT_BATCHES_AHEAD });
  try {
    for (let batch = await reader.next(); batch !== null; batch = await reader.next()) {
      // One generator for the whole file, lines handled in place: a generator per line cost more than the parse.
      for (const line of batchLines(batch)) {
        if (line.parsed.ok) {
          const delay = pacingDelay(previousTime, line.parsed.value.t, options.pacing);
          if (delay > 0) await sleep(delay);
          previousTime = line.parsed.value.t ?? previousTime;
        }
        yield line;
      }
    }
  } finally {
    reader.close();
  }
}

/** The worker's batches, in the order it posts them; each one taken returns a credit to the worker. */
class ReplayReader {
  private readonly worker: Worker;
  private readonly batches: LinesBatch[] = [];
  private ended = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(settings: ReplayReaderSettings) {
    this.worker = new Worker(readerEntry(), { workerData: settings });
    this.worker.on('message', (message: FromReplayReader) => {
      if (message.kind === 'lines') this.batches.push(message);
      else if (message.kind === 'end') this.ended = true;
      else this.failure = new Error(message.message);
      this.woken();
    });
    this.worker.on('error', (error) => {
      this.failure = error;
      this.woken();
    });
    this.worker.on('exit', () => {
      this.failure ??= this.ended ? undefined : new Error('the replay reader stopped');
      this.woken();
    });
  }

  /** The next batch; null after the last. Rejects with the read's failure (after the batches before it). */
  async next(): Promise<LinesBatch | null> {
    for (;;) {
      const batch = this.batches.shift();
      if (batch !== undefined) {
        this.worker.postMessage({ kind: 'credit' });
        return batch;
      }
      if (this.failure !== undefined) throw this.failure;
      if (this.ended) return null;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  close(): void {
    void this.worker.terminate();
  }

  private woken(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
