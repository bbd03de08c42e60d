import { createReadStream } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { CAPTURE_MAGIC_BYTES, captureFormat } from '../../src/codecs/pcap.js';
import { parseLastReplayLine, parseReplayLine } from '../../src/replay/capture.js';
import { CaptureFrames } from '../../src/replay/capture-frames.js';
import { Credits, LinesBatchBuilder, STDIN_FILE, type FromReplayReader, type ReplayReaderSettings, type ReplayRead, type ToReplayReader } from './replay-reader-protocol.js';

/**
 * The replay reader's thread: reads the file and posts what it holds to the main thread a batch per read, in file
 * order, while the main thread runs the pipeline on the batch before. A text file (capture record or plain-log
 * frame per line) is split into lines and each line parsed; a packet capture (pcap, pcapng, told by its magic
 * number) becomes the DC-09 frames its packets carry. At most `batchesAhead` batches are out at a time.
 */

if (parentPort === null) throw new Error('replay-reader-worker runs as a worker thread');
const settings = workerData as ReplayReaderSettings;
const { port } = settings;
const credits = new Credits(settings.batchesAhead);
port.on('message', (message: ToReplayReader) => {
  if (message.kind === 'credit') credits.give();
});

const post = (message: FromReplayReader, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

/** What the file's reads are turned into: lines added to the batch; `end` after the last read. */
interface Reading {
  batch: LinesBatchBuilder;
  read(chunk: Buffer, bytesRead: number): void;
  end(bytesRead: number): ReplayRead;
  /** True when nothing more of the file can be read (a packet capture whose structure broke). */
  readonly done: boolean;
}

/**
 * Lines split on LF only, so a raw CR inside a plain-log frame stays part of it; latin1 keeps every byte of a
 * plain log as one character.
 */
function textLines(): Reading {
  const batch = new LinesBatchBuilder('line');
  let lineNumber = 0;
  let bytesRead = 0;
  let rest = '';
  const add = (lines: string[], parse = parseReplayLine) => {
    for (const line of lines) {
      lineNumber += 1;
      bytesRead += line.length + 1;
      const parsed = parse(line);
      if (parsed !== null) batch.add({ lineNumber, parsed, bytesRead });
    }
  };
  return {
    batch,
    done: false,
    read(chunk) {
      const lines = (rest + chunk.toString('latin1')).split('\n');
      rest = lines.pop() ?? '';
      add(lines);
    },
    end() {
      // No LF after it: a record here may have been cut while it was written.
      if (rest !== '') add([rest], parseLastReplayLine);
      return { unit: 'line', count: lineNumber, skipped: 0 };
    },
  };
}

function capturePackets(): Reading {
  const batch = new LinesBatchBuilder('packet');
  const capture = new CaptureFrames({ receivers: settings.receivers });
  const add = (lines: ReturnType<CaptureFrames['push']>, bytesRead: number) => {
    for (const line of lines) batch.add({ lineNumber: line.packet, parsed: line.parsed, bytesRead });
  };
  return {
    batch,
    get done() {
      return capture.stopped;
    },
    read(chunk, bytesRead) {
      add(capture.push(chunk), bytesRead);
    },
    end(bytesRead) {
      add(capture.end(), bytesRead);
      return { unit: 'packet', count: capture.packets, skipped: capture.skipped, fragments: { ...capture.fragments } };
    },
  };
}

async function read(): Promise<void> {
  // `-`: standard input (tcpdump -w - | panelbridge replay -), read here as any file, by its descriptor.
  const stream = settings.file === STDIN_FILE ? createReadStream('', { fd: 0, autoClose: false, highWaterMark: settings.chunkBytes }) : createReadStream(settings.file, { highWaterMark: settings.chunkBytes });
  const chunks = stream[Symbol.asyncIterator]();
  let reading: Reading | undefined;
  /** The file's first bytes, until there are enough to tell a packet capture from text. */
  let head = Buffer.alloc(0);
  let bytesRead = 0;
  for (;;) {
    const next = await chunks.next();
    const ended = next.done === true;
    if (!ended) {
      const chunk = next.value as Buffer;
      bytesRead += chunk.length;
      if (reading === undefined) {
        head = Buffer.concat([head, chunk]);
        if (head.length < CAPTURE_MAGIC_BYTES) continue;
        reading = captureFormat(head) === null ? textLines() : capturePackets();
        reading.read(head, bytesRead);
      } else reading.read(chunk, bytesRead);
    } else if (reading === undefined) {
      reading = textLines();
      reading.read(head, bytesRead);
    }
    const summary = ended || reading.done ? reading.end(bytesRead) : undefined;
    if (reading.batch.count > 0) {
      await credits.take();
      const { batch: packed, transfer } = reading.batch.take();
      post(packed, transfer);
    }
    if (summary !== undefined) {
      post({ kind: 'end', ...summary });
      return;
    }
  }
}

read().catch((error: unknown) => post({ kind: 'failed', message: (error as Error).message }));
