import type { Framer, FramerOutput } from '../framing.js';
import { isSiaBlockRun } from '../sia-dc03-block.js';
import { crc16 } from './crc16.js';

/** The length field allows 0xFFF, but real frames stay far below 1 KiB; the headroom covers LF, header and CR. */
export const DEFAULT_DC09_MAX_FRAME_BYTES = 1024 + 64;

export interface Dc09FramerOptions {
  /** Largest frame (LF…CR inclusive) accepted; longer partial frames are discarded as FRAME_OVERSIZE. */
  maxFrameBytes?: number;
}

const LF = 0x0a;
const CR = 0x0d;
const NUL = 0x00;
const QUOTE = 0x22;
const ZERO = 0x30;
const CLOSE_BRACKET = 0x5d;
const EMPTY = new Uint8Array(0);
/** Enough bytes after the LF to tell the ASCII header (LF + 4 CRC + 4 length + '"') from the binary one. */
const HEADER_PROBE = 10;
/** Below this not even a bare NULL frame fits. */
const MIN_FRAME_LIMIT = 16;

type HuntReason = 'FRAME_NOISE' | 'FRAME_OVERSIZE';

function isHexCode(code: number | undefined): boolean {
  return code !== undefined && ((code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x46) || (code >= 0x61 && code <= 0x66));
}

function isHexRange(bytes: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (!isHexCode(bytes[i])) return false;
  return true;
}

/**
 * Where the body of the frame starting with LF at 0 begins, i.e. where scanning for its CR may start: binary CRC
 * bytes (positions 1-2) may be 0x0A/0x0D, nothing after them may. -1 while too few bytes are buffered to tell.
 */
function bodyOffset(pending: Uint8Array): number {
  if (pending.length >= HEADER_PROBE) {
    if (pending[9] === QUOTE && isHexRange(pending, 5, 9)) return 9;
    if (pending[7] === QUOTE && isHexRange(pending, 3, 7)) return 7;
    return 1;
  }
  for (let i = 3; i < pending.length; i++) if (pending[i] === CR || pending[i] === LF) return 1;
  return -1;
}

/** A byte-wise text of pending[start, end) (header fields are ASCII). */
function ascii(pending: Uint8Array, start: number, end: number): string {
  return String.fromCharCode(...pending.subarray(start, end));
}

/**
 * Where a frame whose ASCII header `<4 hex CRC><0LLL>"` starts at `start` ends by its length field, or -1. Only
 * for senders that send no CR (pysiaalarm's `tests/create_line.py` sends neither LF nor CR over TCP): a frame
 * that has its CR is always cut at the CR. The length is read as hex (the standard), as decimal (ELDES) and as
 * pysiaalarm writes it (the decimal length read as hex, written in decimal: 52 bytes → "0082"); the reading whose
 * body carries the sent CRC wins. Without a CRC match only the standard reading is taken, and only when the
 * buffered bytes end exactly there or the next frame's header follows.
 */
function endByLength(pending: Uint8Array, start: number): number {
  if (pending.length < start + 9 || pending[start + 8] !== QUOTE || pending[start + 4] !== ZERO) return -1;
  if (!isHexRange(pending, start, start + 8)) return -1;
  const field = ascii(pending, start + 4, start + 8);
  const decimal = /^\d{4}$/.test(field) ? Number.parseInt(field, 10) : -1;
  const readings = [Number.parseInt(field, 16), decimal, decimal < 0 ? -1 : Number.parseInt(decimal.toString(16), 10)];
  const crcSent = Number.parseInt(ascii(pending, start, start + 4), 16);
  const body = start + 8;
  for (const length of readings) {
    if (length > 0 && body + length <= pending.length && crc16(pending, body, body + length) === crcSent) return body + length;
  }
  const standard = body + (readings[0] ?? 0);
  const nextStarts = standard === pending.length || endByHeaderAt(pending, standard);
  return standard <= pending.length && nextStarts ? standard : -1;
}

function endByHeaderAt(pending: Uint8Array, at: number): boolean {
  return pending.length >= at + 9 && pending[at + 8] === QUOTE && isHexRange(pending, at, at + 8);
}

/** A body ends with ']' (no timestamp), a timestamp digit, or ciphertext hex: anything else is not a whole frame. */
function endsLikeABody(pending: Uint8Array, end: number): boolean {
  const last = pending[end - 1];
  return last === CLOSE_BRACKET || isHexCode(last);
}

/**
 * A frame without its CR can be cut at the end its length field gives when no LF or CR came before and the next
 * byte, if any, is not the CR (then the CR path cuts it).
 */
function cutByLength(pending: Uint8Array, from: number, end: number): boolean {
  if (end < 0 || (pending.length > end && pending[end] === CR)) return false;
  for (let i = from; i < end; i++) if (pending[i] === CR || pending[i] === LF) return false;
  return endsLikeABody(pending, end);
}

/** The first CR or LF at or after `from`, or -1 when there is none. */
function firstLineBreak(pending: Uint8Array, from: number): number {
  for (let i = from; i < pending.length; i++) {
    const byte = pending[i]!;
    if (byte === CR || byte === LF) return byte;
  }
  return -1;
}

/** A CR-terminated line without the LF still counts as a frame when it opens with `<4 hex CRC><0LLL>"` or `SR` (OH). */
function isFrameWithoutLf(line: Uint8Array): boolean {
  return (line[8] === QUOTE && isHexRange(line, 0, 8)) || (line[0] === 0x53 && line[1] === 0x52);
}

/**
 * Splits a DC-09 TCP byte stream into LF…CR frames. The CR is the first one after the header: the body is printable
 * text or hex, so a CR inside it cannot be told from the terminator without waiting for the declared length, and
 * waiting would stall frames whose length field is wrong (ELDES decimal lengths, PYSIA-style captures).
 */
export class Dc09Framer implements Framer {
  private readonly maxFrameBytes: number;
  private pending: Uint8Array = EMPTY;
  /** pending[0] is the LF of a frame (otherwise it holds bytes outside any frame). */
  private inFrame = false;
  private bodyStart = -1;
  /** pending bytes already searched for a terminator. */
  private scanned = 0;
  /** What bytes outside a frame are: noise, or the tail of a frame that was discarded as oversize. */
  private huntReason: HuntReason = 'FRAME_NOISE';
  /**
   * How the last output ended: a frame with its CR, a frame cut by its length field (a CR arriving late for it is
   * no noise), or anything else. NULs right after a frame are padding (OH-style senders), not noise.
   */
  private after: 'frame' | 'frame-without-cr' | 'other' = 'other';

  constructor(options: Dc09FramerOptions = {}) {
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_DC09_MAX_FRAME_BYTES;
    if (!Number.isInteger(this.maxFrameBytes) || this.maxFrameBytes < MIN_FRAME_LIMIT) {
      throw new RangeError(`"maxFrameBytes" must be an integer of at least ${MIN_FRAME_LIMIT}, got ${this.maxFrameBytes}`);
    }
  }

  push(chunk: Uint8Array): FramerOutput[] {
    this.pending = this.pending.length === 0 ? chunk : concat(this.pending, chunk);
    const out: FramerOutput[] = [];
    let progressed = true;
    while (progressed) progressed = this.inFrame ? this.cutFrame(out) : this.hunt(out);
    // Keep no view into the caller's chunk.
    if (this.pending.length > 0 && this.pending.buffer === chunk.buffer) this.pending = copyOf(this.pending, 0, this.pending.length);
    return out;
  }

  flush(): FramerOutput[] {
    const out: FramerOutput[] = [];
    if (this.pending.length > 0) {
      out.push(this.inFrame ? { kind: 'discarded', bytes: this.pending, reason: 'FRAME_IDLE_TIMEOUT' } : this.outside(this.pending));
    }
    this.pending = EMPTY;
    this.inFrame = false;
    this.bodyStart = -1;
    this.scanned = 0;
    this.huntReason = 'FRAME_NOISE';
    this.after = 'other';
    return out;
  }

  /**
   * The sender half-closed: no byte follows. A frame after its LF that lacks only its CR ends where its length field
   * says, as it would at the next frame's LF; what is left is discarded, as `flush` does.
   */
  end(): FramerOutput[] {
    const pending = this.pending;
    const end = this.inFrame && bodyOffset(pending) === 9 ? endByLength(pending, 1) : -1;
    const out: FramerOutput[] = [];
    if (end >= 0 && cutByLength(pending, 9, end)) {
      out.push({ kind: 'frame', bytes: copyOf(pending, 0, end) });
      this.take(end);
      this.inFrame = false;
    }
    const inFrame = this.inFrame;
    for (const left of this.flush()) out.push(inFrame && left.kind === 'discarded' ? { ...left, reason: 'FRAME_TRUNCATED' } : left);
    return out;
  }

  /** Outside a frame: look for the next LF (frame start) or a CR ending an LF-less frame or noise. */
  private hunt(out: FramerOutput[]): boolean {
    const pending = this.pending;
    // A NUL after a frame's CR (seen from OH-style senders) and the late CR of a frame cut by length are no noise.
    if ((this.after !== 'other' && pending[0] === NUL) || (this.after === 'frame-without-cr' && pending[0] === CR)) {
      this.take(1);
      return true;
    }
    if (pending.length > 0) this.after = 'other';
    if (this.huntReason === 'FRAME_NOISE') {
      const end = endByLength(pending, 0);
      if (cutByLength(pending, 0, end)) {
        out.push({ kind: 'frame', bytes: copyOf(pending, 0, end) });
        this.take(end);
        this.after = 'frame-without-cr';
        return true;
      }
    }
    for (let i = this.scanned; i < pending.length; i++) {
      const byte = pending[i];
      if (byte === LF) {
        if (i > 0) out.push(this.outside(copyOf(pending, 0, i)));
        this.huntReason = 'FRAME_NOISE';
        this.take(i);
        this.inFrame = true;
        return true;
      }
      if (byte === CR) {
        const line = copyOf(pending, 0, i + 1);
        const isFrame = this.huntReason === 'FRAME_NOISE' && isFrameWithoutLf(line);
        out.push(isFrame ? { kind: 'frame', bytes: line } : this.outside(line));
        this.huntReason = 'FRAME_NOISE';
        this.take(i + 1);
        this.after = isFrame ? 'frame' : 'other';
        return true;
      }
    }
    if (pending.length >= this.maxFrameBytes) {
      out.push(this.outside(copyOf(pending, 0, pending.length)));
      this.take(pending.length);
      return false;
    }
    this.scanned = pending.length;
    return false;
  }

  /**
   * Bytes outside any frame, discarded: whole SIA DC-03 blocks are named (a panel set to SIA over IP, which the
   * input does not read, so its installer is told what to change), the rest keeps the reason the hunt has.
   */
  private outside(bytes: Uint8Array): FramerOutput {
    const reason = this.huntReason === 'FRAME_NOISE' && isSiaBlockRun(bytes) ? 'FRAME_SIA_BLOCK' : this.huntReason;
    return { kind: 'discarded', bytes, reason };
  }

  /** Inside a frame: cut at the CR, restart at a stray LF, or give up at maxFrameBytes. */
  private cutFrame(out: FramerOutput[]): boolean {
    const pending = this.pending;
    if (this.bodyStart < 0) {
      this.bodyStart = bodyOffset(pending);
      if (this.bodyStart < 0) return false;
      this.scanned = this.bodyStart;
    }
    // After an LF, a frame is cut by length only once the next frame's LF shows its CR is not coming: never when
    // a CR comes first, as in every frame with its CR, so only then are its length field and CRC read here.
    const end = this.bodyStart === 9 && firstLineBreak(pending, this.bodyStart) !== CR ? endByLength(pending, 1) : -1;
    if (pending[end] === LF && cutByLength(pending, this.bodyStart, end)) {
      out.push({ kind: 'frame', bytes: copyOf(pending, 0, end) });
      this.take(end);
      this.inFrame = false;
      this.after = 'frame-without-cr';
      return true;
    }
    for (let i = this.scanned; i < pending.length; i++) {
      const byte = pending[i];
      if (byte === CR) {
        out.push({ kind: 'frame', bytes: copyOf(pending, 0, i + 1) });
        this.take(i + 1);
        this.inFrame = false;
        this.after = 'frame';
        return true;
      }
      if (byte === LF) {
        out.push({ kind: 'discarded', bytes: copyOf(pending, 0, i), reason: 'FRAME_NOISE' });
        this.take(i);
        return true;
      }
      if (i + 1 >= this.maxFrameBytes) {
        out.push({ kind: 'discarded', bytes: copyOf(pending, 0, i + 1), reason: 'FRAME_OVERSIZE' });
        this.take(i + 1);
        this.inFrame = false;
        this.huntReason = 'FRAME_OVERSIZE';
        return true;
      }
    }
    this.scanned = pending.length;
    return false;
  }

  /** Drops the first `count` pending bytes and restarts scanning. */
  private take(count: number): void {
    this.pending = this.pending.subarray(count);
    this.scanned = 0;
    this.bodyStart = -1;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a, 0);
  joined.set(b, a.length);
  return joined;
}

/** A copy, never a view: Buffer#slice would share memory with the caller's chunk. */
function copyOf(bytes: Uint8Array, start: number, end: number): Uint8Array {
  return new Uint8Array(bytes.subarray(start, end));
}
