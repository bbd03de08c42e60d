import type { Framer, FramerOutput } from './framing.js';

export interface DelimitedFramerOptions {
  /** Any of these bytes ends a frame, e.g. [0x14] (Sur-Gard DC4) or [0x0d, 0x0a] (lines). */
  terminators: readonly number[];
  /** Longest frame content, terminator excluded; longer frames are discarded as FRAME_OVERSIZE. */
  maxFrameBytes: number;
  /** Keep the terminating byte at the end of each frame. */
  keepTerminator?: boolean;
}

/**
 * Splits a byte stream at terminator bytes. Empty frames (the LF of a CRLF pair, blank lines) are skipped.
 * Memory is bounded: an oversize frame is discarded up to its terminator instead of buffered.
 */
export class DelimitedFramer implements Framer {
  private readonly isTerminator = new Uint8Array(256);
  private readonly maxFrameBytes: number;
  private readonly keepTerminator: boolean;
  private pending: Uint8Array[] = [];
  private pendingLength = 0;
  /** Inside an oversize frame: everything up to the next terminator is thrown away. */
  private discarding = false;

  constructor(options: DelimitedFramerOptions) {
    if (options.terminators.length === 0) throw new RangeError('DelimitedFramer needs at least one terminator byte');
    if (!Number.isInteger(options.maxFrameBytes) || options.maxFrameBytes < 1) {
      throw new RangeError('DelimitedFramer maxFrameBytes must be a positive integer');
    }
    for (const byte of options.terminators) this.isTerminator[byte & 0xff] = 1;
    this.maxFrameBytes = options.maxFrameBytes;
    this.keepTerminator = options.keepTerminator ?? false;
  }

  push(chunk: Uint8Array): FramerOutput[] {
    const out: FramerOutput[] = [];
    let start = 0;
    for (let index = 0; index < chunk.length; index++) {
      if (this.isTerminator[chunk[index] ?? 0] === 1) {
        this.take(chunk.subarray(start, index), chunk.subarray(index, index + 1), out);
        start = index + 1;
      }
    }
    if (start < chunk.length) this.take(chunk.subarray(start), null, out);
    return out;
  }

  flush(): FramerOutput[] {
    const partial = this.pendingLength > 0 ? this.drain() : null;
    this.discarding = false;
    return partial ? [{ kind: 'discarded', bytes: partial, reason: 'FRAME_IDLE_TIMEOUT' }] : [];
  }

  /** Handles the bytes before a terminator (or the unterminated tail of a chunk when `terminator` is null). */
  private take(segment: Uint8Array, terminator: Uint8Array | null, out: FramerOutput[]): void {
    if (this.discarding) {
      if (segment.length > 0) out.push({ kind: 'discarded', bytes: segment.slice(), reason: 'FRAME_OVERSIZE' });
      if (terminator) this.discarding = false;
      return;
    }
    if (this.pendingLength + segment.length > this.maxFrameBytes) {
      this.pending.push(segment);
      out.push({ kind: 'discarded', bytes: this.drain(), reason: 'FRAME_OVERSIZE' });
      this.discarding = terminator === null;
      return;
    }
    if (terminator === null) {
      this.pending.push(segment.slice());
      this.pendingLength += segment.length;
      return;
    }
    if (this.pendingLength + segment.length === 0) return;
    this.pending.push(segment);
    if (this.keepTerminator) this.pending.push(terminator);
    out.push({ kind: 'frame', bytes: this.drain() });
  }

  /** Joins the pending parts into one new array and empties the buffer. */
  private drain(): Uint8Array {
    const length = this.pending.reduce((sum, part) => sum + part.length, 0);
    const joined = new Uint8Array(length);
    let offset = 0;
    for (const part of this.pending) {
      joined.set(part, offset);
      offset += part.length;
    }
    this.pending = [];
    this.pendingLength = 0;
    return joined;
  }
}
