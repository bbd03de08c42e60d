import { createReadStream } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { parseReplayLine } from '../../src/replay/capture.js';
import { Credits, LinesBatchBuilder, type FromReplayReader, type ReplayReaderSettings, type ToReplayReader } from './replay-reader-protocol.js';

/**
 * The replay reader's thread: reads the file, splits it into lines, parses each line (capture record or plain-log
 * frame) and posts them to the main thread a batch per read, in file order, while the main thread runs the
 * pipeline on the batch before. At most `batchesAhead` batches are out at a time.
 */

if (parentPort === null) throw new Error('replay-reader-worker runs as a worker thread');
const settings = workerData as ReplayReaderSettings;
const { port } = settings;
const credits = new Credits(settings.batchesAhead);
port.on('message', (message: ToReplayReader) => {
  if (message.kind === 'credit') credits.give();
});

const post = (message: FromReplayReader, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

/**
 * Lines split on LF only, so a raw CR inside a plain-log frame stays part of it; latin1 keeps every byte of a
 * plain log as one character.
 */
async function read(): Promise<void> {
  const chunks = createReadStream(settings.file, { encoding: 'latin1', highWaterMark: settings.chunkBytes })[Symbol.asyncIterator]();
  const batch = new LinesBatchBuilder();
  let lineNumber = 0;
  let bytesRead = 0;
  let rest = '';
  let ended = false;
  while (!ended) {
    const next = await chunks.next();
    let lines: string[];
    if (next.done === true) {
      ended = true;
      if (rest === '') break;
      lines = [rest];
    } else {
      lines = (rest + (next.value as string)).split('\n');
      rest = lines.pop() ?? '';
    }
    for (const line of lines) {
      lineNumber += 1;
      bytesRead += line.length + 1;
      const parsed = parseReplayLine(line);
      if (parsed !== null) batch.add({ lineNumber, parsed, bytesRead });
    }
    if (batch.count === 0) continue;
    await credits.take();
    const { batch: packed, transfer } = batch.take();
    post(packed, transfer);
  }
  post({ kind: 'end' });
}

read().catch((error: unknown) => post({ kind: 'failed', message: (error as Error).message }));
