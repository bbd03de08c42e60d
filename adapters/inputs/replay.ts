import { setTimeout as sleepFor } from 'node:timers/promises';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { pacingDelay, type Pacing } from '../../src/replay/clock.js';
import type { CaptureReceiver } from '../../src/replay/capture-frames.js';
import { batchLines, type FromReplayReader, type LinesBatch, type ReplayLine, type ReplayRead, type ReplayReaderSettings, type ToReplayReader } from './replay-reader-protocol.js';

export type { ReplayLine, ReplayRead };

export interface ReplayFileOptions {
  pacing: Pacing;
  /** Real-time wait between frames; replaceable so pacing can be observed without waiting. */
  sleep?: (ms: number) => Promise<void>;
  /** Bytes read at a time (a batch of lines each); smaller in tests, to cross many batch boundaries. */
  chunkBytes?: number;
  /** Batches the reader may have parsed ahead of the pipeline. */
  batchesAhead?: number;
  /** The DC-09 and SIA over IP inputs' ports, by which a packet capture's panel side is found (none: by who speaks first). */
  receivers?: readonly CaptureReceiver[];
}

const DEFAULT_CHUNK_BYTES = 1 << 20;
const DEFAULT_BATCHES_AHEAD = 4;

function readerEntry(): URL {
  const here = import.meta.url;
  return here.endsWith('.ts') ? new URL('../../dist/adapters/inputs/replay-reader-worker.js', here) : new URL('./replay-reader-worker.js', here);
}

/**
 * A capture, plain log or packet capture (pcap, pcapng), read as a stream (a day of traffic need not fit in memory), one line (or frame) at a time. Before
 * each frame it waits the recorded gap to the previous frame divided by the speed. Reading and parsing the lines
 * runs on a worker thread, a few batches ahead of the caller, so a replay's pipeline has the main thread to itself.
 * The thread starts when the ReplayFile is made, so it loads and reads while the caller starts its pipeline: read
 * `lines()` once, or `close()` it when the lines are not wanted after all.
 */
export class ReplayFile {
  private readonly reader: ReplayReader;

  constructor(
    file: string,
    private readonly options: ReplayFileOptions,
  ) {
    this.reader = new ReplayReader({
      file,
      chunkBytes: options.chunkBytes ?? DEFAULT_CHUNK_BYTES,
      batchesAhead: options.batchesAhead ?? DEFAULT_BATCHES_AHEAD,
      receivers: options.receivers ?? [],
    });
  }

  /** What was read, once `lines()` has ended: how many lines or packets, and the packets skipped. */
  get read(): ReplayRead | undefined {
    return this.reader.read;
  }

  /** The lines in file order, each after its pacing wait. Leaving the loop early closes the reader. */
  lines(): AsyncIterableIterator<ReplayLine> {
    return new PacedLines(this.reader, this.options.pacing, this.options.sleep ?? ((ms: number) => sleepFor(ms)));
  }

  close(): void {
    this.reader.close();
  }
}

/**
 * The lines of the reader's batches, one `next` each. Written out rather than as an async generator, which takes
 * several promise steps a line: here a line ready without a wait is one resolved promise.
 */
class PacedLines implements AsyncIterableIterator<ReplayLine> {
  private batch: Iterator<ReplayLine> | undefined;
  private previousTime: number | null = null;

  constructor(
    private readonly reader: ReplayReader,
    private readonly pacing: Pacing,
    private readonly sleep: (ms: number) => Promise<void>,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<ReplayLine>> {
    const next = this.batch?.next();
    if (next === undefined || next.done === true) return this.nextBatch();
    const { parsed } = next.value;
    if (parsed.ok) {
      const delay = pacingDelay(this.previousTime, parsed.value.t, this.pacing);
      this.previousTime = parsed.value.t ?? this.previousTime;
      if (delay > 0) return this.sleep(delay).then(() => next);
    }
    return Promise.resolve(next);
  }

  return(): Promise<IteratorResult<ReplayLine>> {
    this.reader.close();
    return Promise.resolve({ done: true, value: undefined });
  }

  private async nextBatch(): Promise<IteratorResult<ReplayLine>> {
    let batch: LinesBatch | null;
    try {
      batch = await this.reader.next();
    } catch (error) {
      this.reader.close();
      throw error;
    }
    if (batch === null) return this.return();
    this.batch = batchLines(batch);
    return this.next();
  }
}

/**
 * The worker's batches, in the order it posts them; each one taken returns a credit to the worker. A batch already
 * posted is taken at once (receiveMessageOnPort): the pipeline runs in promise callbacks and may not give the event
 * loop a turn to deliver it between two batches.
 */
class ReplayReader {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private ended = false;
  private failure: Error | undefined;
  private wake: ((message: FromReplayReader | undefined) => void) | undefined;
  read: ReplayRead | undefined;

  constructor(settings: Omit<ReplayReaderSettings, 'port'>) {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.worker = new Worker(readerEntry(), { workerData: { ...settings, port: port2 }, transferList: [port2] });
    this.worker.on('error', (error) => this.failed(error));
    // The worker waits for credits until it is closed: an exit before its last batch is a failure.
    this.worker.on('exit', () => this.failed(new Error('the replay reader stopped')));
  }

  /** The next batch; null after the last. Rejects with the read's failure (after the batches before it). */
  async next(): Promise<LinesBatch | null> {
    if (this.ended) return null;
    const message = (receiveMessageOnPort(this.port)?.message as FromReplayReader | undefined) ?? (await this.nextMessage());
    if (message === undefined) throw this.failure;
    if (message.kind === 'failed') throw new Error(message.message);
    if (message.kind === 'end') {
      this.ended = true;
      const { kind: _, ...read } = message;
      this.read = read;
      return null;
    }
    this.port.postMessage({ kind: 'credit' } satisfies ToReplayReader);
    return message;
  }

  close(): void {
    this.ended = true;
    this.port.close();
    void this.worker.terminate();
  }

  /** The worker's next message; undefined when the worker failed instead. */
  private nextMessage(): Promise<FromReplayReader | undefined> {
    if (this.failure !== undefined) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const delivered = (message: FromReplayReader) => {
        this.wake = undefined;
        resolve(message);
      };
      this.wake = (message) => {
        this.port.off('message', delivered);
        resolve(message);
      };
      this.port.once('message', delivered);
    });
  }

  private failed(error: Error): void {
    if (this.ended) return;
    this.failure ??= error;
    const wake = this.wake;
    this.wake = undefined;
    wake?.(undefined);
  }
}
