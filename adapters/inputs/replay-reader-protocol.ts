import type { MessagePort } from 'node:worker_threads';
import type { DecodeError, DecodeResult } from '../../src/codecs/result.js';
import type { Transport } from '../../src/model/event.js';
import type { DiscardNote, ReplayFrame } from '../../src/replay/capture.js';
import type { CaptureReceiver, FragmentCounts } from '../../src/replay/capture-frames.js';
import { PackedBytesBuilder } from './packed-bytes.js';

/** The file name that means standard input. */
export const STDIN_FILE = '-';

/** What the replay reader's worker is started with. */
export interface ReplayReaderSettings {
  /** A path, or STDIN_FILE. */
  file: string;
  /** Bytes read from the file at a time; the lines of each read are one batch. */
  chunkBytes: number;
  /** Batches posted and not yet taken by the main thread, at most: the worker waits for a credit before the next. */
  batchesAhead: number;
  /** Where the worker posts its batches and receives its credits. */
  port: MessagePort;
  /** The DC-09 and SIA over IP inputs' ports: which side of a packet capture's flows the panels are on. */
  receivers: readonly CaptureReceiver[];
}

/** What a replay file is read in: text lines (a capture of `run --capture`, a plain log) or packets (pcap, pcapng). */
export type ReplayUnit = 'line' | 'packet';

/** What the reader read, once it is done: how many lines or packets, and how many packets carried nothing replayed. */
export interface ReplayRead {
  unit: ReplayUnit;
  count: number;
  skipped: number;
  /** A packet capture's IPv4 fragments. */
  fragments?: FragmentCounts;
}

/**
 * The parsed lines of one read of the file, packed into a few arrays: one message (and one structured clone) per
 * batch rather than per line, and the frames' bytes in one transferred buffer.
 */
export interface LinesBatch {
  kind: 'lines';
  unit: ReplayUnit;
  count: number;
  lineNumbers: Float64Array;
  bytesRead: Float64Array;
  /** The recorded time of each line; NaN: none (a plain-log line). */
  times: Float64Array;
  /** Per line, three indices into `strings`: its input, transport and peer; -1: none. */
  fields: Int32Array;
  strings: string[];
  /** Where each line's frame ends in `frames`; it starts where the line before ends. */
  frameEnds: Int32Array;
  frames: Uint8Array;
  /** The lines that did not parse, by index in this batch, ascending. */
  failures: Array<[number, DecodeError]>;
  /** The capture records of bytes an input discarded live, by index in this batch, ascending. */
  discards: Array<[number, DiscardNote]>;
}

export type FromReplayReader = LinesBatch | ({ kind: 'end' } & ReplayRead) | { kind: 'failed'; message: string };
export type ToReplayReader = { kind: 'credit' };

/**
 * One non-blank line of a replay file, parsed, with how far into the file it ends; of a packet capture, one frame
 * (or error) with the number of the packet it came with.
 */
export interface ReplayLine {
  unit: ReplayUnit;
  /** The line's number, or the packet's (Wireshark's "No."). */
  lineNumber: number;
  parsed: DecodeResult<ReplayFrame>;
  /** Bytes of the file up to the end of this line (for the progress bar). */
  bytesRead: number;
}

/** Packs parsed lines into a LinesBatch (the worker's side). */
export class LinesBatchBuilder {
  private lineNumbers: number[] = [];
  private bytesRead: number[] = [];
  private times: number[] = [];
  private fields: number[] = [];
  private strings: string[] = [];
  private stringIndex = new Map<string, number>();
  private readonly frames = new PackedBytesBuilder();
  private failures: Array<[number, DecodeError]> = [];
  private discards: Array<[number, DiscardNote]> = [];

  constructor(private readonly unit: ReplayUnit) {}

  get count(): number {
    return this.lineNumbers.length;
  }

  add(line: Omit<ReplayLine, 'unit'>): void {
    const { parsed } = line;
    if (!parsed.ok) this.failures.push([this.count, parsed.error]);
    else if (parsed.value.discarded !== undefined) this.discards.push([this.count, parsed.value.discarded]);
    this.lineNumbers.push(line.lineNumber);
    this.bytesRead.push(line.bytesRead);
    const frame = parsed.ok ? parsed.value : null;
    this.times.push(frame?.t ?? Number.NaN);
    this.fields.push(this.indexOf(frame?.input ?? null), this.indexOf(frame?.transport ?? null), this.indexOf(frame?.peer ?? null));
    this.frames.add(frame?.bytes ?? EMPTY);
  }

  /** The batch so far, with the buffers to transfer; the builder starts empty again. */
  take(): { batch: LinesBatch; transfer: ArrayBuffer[] } {
    const { bytes: frames, ends: frameEnds } = this.frames.take();
    const batch: LinesBatch = {
      kind: 'lines',
      unit: this.unit,
      count: this.count,
      lineNumbers: Float64Array.from(this.lineNumbers),
      bytesRead: Float64Array.from(this.bytesRead),
      times: Float64Array.from(this.times),
      fields: Int32Array.from(this.fields),
      strings: this.strings,
      frameEnds,
      frames,
      failures: this.failures,
      discards: this.discards,
    };
    this.lineNumbers = [];
    this.bytesRead = [];
    this.times = [];
    this.fields = [];
    this.strings = [];
    this.stringIndex = new Map();
    this.failures = [];
    this.discards = [];
    const transfer = [batch.lineNumbers, batch.bytesRead, batch.times, batch.fields, batch.frameEnds, batch.frames].map((a) => a.buffer as ArrayBuffer);
    return { batch, transfer };
  }

  private indexOf(text: string | null): number {
    if (text === null) return -1;
    let index = this.stringIndex.get(text);
    if (index === undefined) {
      index = this.strings.push(text) - 1;
      this.stringIndex.set(text, index);
    }
    return index;
  }
}

const EMPTY = new Uint8Array(0);

/**
 * The lines of a batch, in order, as ReplayFile yields them. Each frame gets memory of its own: a frame kept
 * by the pipeline must not keep its whole batch alive.
 */
export function* batchLines(batch: LinesBatch): Generator<ReplayLine> {
  const { unit, strings, fields, frames, frameEnds, failures, discards } = batch;
  const field = (index: number): string | null => (index < 0 ? null : strings[index]!);
  let failure = 0;
  let discard = 0;
  for (let i = 0; i < batch.count; i++) {
    const lineNumber = batch.lineNumbers[i]!;
    const bytesRead = batch.bytesRead[i]!;
    const failed = failures[failure];
    if (failed !== undefined && failed[0] === i) {
      failure += 1;
      yield { unit, lineNumber, parsed: { ok: false, error: failed[1] }, bytesRead };
      continue;
    }
    const t = batch.times[i]!;
    const frame: ReplayFrame = {
      t: Number.isNaN(t) ? null : t,
      input: field(fields[3 * i]!),
      transport: field(fields[3 * i + 1]!) as Transport | null,
      peer: field(fields[3 * i + 2]!),
      bytes: frames.slice(i === 0 ? 0 : frameEnds[i - 1]!, frameEnds[i]!),
    };
    if (discards[discard]?.[0] === i) frame.discarded = discards[discard++]![1];
    yield { unit, lineNumber, parsed: { ok: true, value: frame }, bytesRead };
  }
}

/**
 * Credits for batches in flight: `take` resolves at once while fewer than `limit` are out, else when `give`
 * returns one. Bounds what the worker reads ahead of a pipeline slower than it.
 */
export class Credits {
  private available: number;
  private readonly waiting: Array<() => void> = [];

  constructor(limit: number) {
    this.available = limit;
  }

  take(): Promise<void> {
    if (this.available > 0) {
      this.available -= 1;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  give(): void {
    const waiting = this.waiting.shift();
    if (waiting === undefined) this.available += 1;
    else waiting();
  }
}
