import type { Framer, FramerOutput } from './framing.js';

export interface DelimitedFramerOptions {
  /** Any of these bytes ends a frame, e.g. [0x14] (Sur-Gard DC4) or [0x0d, 0x0a] (lines). */
  terminators: readonly number[];
  /** Longest frame content, terminator excluded; longer frames are discarded as FRAME_OVERSIZE (but see keepLastOfOversize). */
  maxFrameBytes: number;
  /**
   * Of a longer run, keep the last maxFrameBytes as the frame, the bytes before them discarded: for lines where
   * nothing marks a frame's start, so noise glued before a line does not take the line with it (a one-way panel never
   * sends it again). Without it, the whole run is discarded up to its terminator, unanswered: a Sur-Gard receiver
   * sends again a packet it got no answer for, and a NAK for noise would be taken as the answer to its packet.
   */
  keepLastOfOversize?: boolean;
  /** Keep the terminating byte at the end of each frame. */
  keepTerminator?: boolean;
}

/**
 * Splits a byte stream at terminator bytes. Empty frames (the LF of a CRLF pair, blank lines) are skipped.
 * Memory is bounded: an oversize frame is discarded up to its terminator, or only its last maxFrameBytes kept.
 */
export class DelimitedFramer implements Framer {
  private readonly isTerminator = new Uint8Array(256);
  private readonly maxFrameBytes: number;
  private readonly keepTerminator: boolean;
  private readonly keepLastOfOversize: boolean;
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
    this.keepLastOfOversize = options.keepLastOfOversize ?? false;
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
    if (segment.length > 0) {
      // A tail waits for more chunks: a copy, as the caller may reuse the chunk.
      this.pending.push(terminator === null ? segment.slice() : segment);
      this.pendingLength += segment.length;
    }
    if (this.pendingLength > this.maxFrameBytes) {
      if (!this.keepLastOfOversize) {
        out.push({ kind: 'discarded', bytes: this.drain(), reason: 'FRAME_OVERSIZE' });
        this.discarding = terminator === null;
        return;
      }
      this.keepLast(out);
    }
    if (terminator === null || this.pendingLength === 0) return;
    if (this.keepTerminator) this.pending.push(terminator);
    out.push({ kind: 'frame', bytes: this.drain() });
  }

  /** Discards (FRAME_OVERSIZE) all but the last maxFrameBytes pending bytes. */
  private keepLast(out: FramerOutput[]): void {
    const joined = this.drain();
    const cut = joined.length - this.maxFrameBytes;
    out.push({ kind: 'discarded', bytes: joined.subarray(0, cut), reason: 'FRAME_OVERSIZE' });
    this.pending = [joined.slice(cut)];
    this.pendingLength = this.maxFrameBytes;
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
