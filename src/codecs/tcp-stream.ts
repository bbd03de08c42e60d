/**
 * One direction of a captured TCP connection, put back in sequence order: a retransmitted or overlapping segment
 * yields its new bytes only, a segment ahead of the next expected byte waits until the bytes before it come. The
 * first copy of a byte is the one read (as a receiving host reads in-order data); a later copy that differs from it
 * (a hostile capture, an injected segment: which copy the host kept depends on its stack) is yielded whole as a
 * `conflict`, so what it carried is never dropped without a word. Copies are compared over the last
 * RETRANSMIT_CHECK_BYTES bytes read (a copy of older ones is taken for the retransmit it nearly always is); bytes the
 * stream never read (before the first segment of a connection captured without its handshake, in a gap given up)
 * are yielded whole as `late`.
 * Bytes the capture never saw make a gap: when the segments waiting pass `maxHeldBytes` or MAX_HELD_SEGMENTS, or
 * the stream ends, the stream gives up on the missing bytes, says how many, and goes on from the next segment it
 * holds.
 */
export type StreamPiece = { kind: 'data'; bytes: Uint8Array } | { kind: 'gap'; missing: number } | { kind: 'conflict'; bytes: Uint8Array } | { kind: 'late'; bytes: Uint8Array };

interface Held {
  seq: number;
  bytes: Uint8Array;
}

/**
 * The most segments a stream holds ahead of a gap: each costs a few hundred bytes of heap beyond its payload, so
 * one-byte segments would otherwise hold gigabytes under a 16 KiB `maxHeldBytes` across a capture's many flows. A
 * panel sends a frame in one segment or a few, and waits for its answer before the next.
 */
export const MAX_HELD_SEGMENTS = 256;

/**
 * Bytes read that a later copy is compared with: more than a frame or a full segment, as a sender resends a whole
 * segment. A power of two, so a sequence number (mod 2^32) is its place in the ring.
 */
export const RETRANSMIT_CHECK_BYTES = 4096;

/** Signed distance from sequence number b to a, modulo 2^32. */
function after(a: number, b: number): number {
  return (a - b) | 0;
}

export class TcpStream {
  /** The sequence number of the next byte in order; null until the first segment shows where the stream is. */
  private next: number | null = null;
  /** Segments ahead of `next`, by sequence number; each its own copy (never a view into a capture chunk). */
  private held: Held[] = [];
  private heldBytes = 0;
  /** The last bytes read, each at its sequence number modulo RETRANSMIT_CHECK_BYTES; made at the first byte. */
  private readBytes: Uint8Array | undefined;
  /** How many bytes before `next` readBytes holds: none across a gap, which no byte was read in. */
  private readCount = 0;
  /** How many bytes before `next` were read without a gap (at most 2^31): older ones were never read. */
  private readRun = 0;

  constructor(private readonly maxHeldBytes: number) {}

  /** Bytes waiting behind a gap. */
  get waiting(): number {
    return this.heldBytes;
  }

  /** A segment: its sequence number (of the SYN itself when `syn`) and payload; returns what is now in order. */
  push(seq: number, payload: Uint8Array, syn = false): StreamPiece[] {
    // A SYN takes one sequence number before the data.
    const start = syn ? (seq + 1) >>> 0 : seq;
    // A capture that starts inside a connection: the first segment seen is where the stream starts.
    this.next ??= start;
    const out: StreamPiece[] = [];
    if (payload.length === 0) return out;
    const ahead = after(start, this.next);
    if (ahead > 0) {
      this.hold(start, payload, out);
      while (this.heldBytes > this.maxHeldBytes || this.held.length > MAX_HELD_SEGMENTS) this.skipGap(out);
      return out;
    }
    this.take(start, payload, out);
    this.release(out);
    return out;
  }

  /** The stream ended (FIN, RST, the end of the capture): what waits behind gaps, with the gaps. */
  end(): StreamPiece[] {
    const out: StreamPiece[] = [];
    while (this.held.length > 0) this.skipGap(out);
    return out;
  }

  /** The new part of bytes starting at `seq` (not after `next`), if any; the part already read is compared with it. */
  private take(seq: number, bytes: Uint8Array, out: StreamPiece[]): void {
    const seen = -after(seq, this.next!);
    const again = seen > 0 ? this.againstRead(seq, bytes.subarray(0, Math.min(seen, bytes.length))) : 'same';
    if (again !== 'same') out.push({ kind: again, bytes: new Uint8Array(bytes) });
    if (seen >= bytes.length) return;
    const fresh = seen > 0 ? bytes.subarray(seen) : bytes;
    out.push({ kind: 'data', bytes: fresh });
    this.remember(fresh);
    this.next = (this.next! + fresh.length) >>> 0;
  }

  /**
   * `bytes`, at `seq` before `next`, against the bytes read there: the same (or read too long ago to compare), other
   * (`conflict`), or some never read (`late`).
   */
  private againstRead(seq: number, bytes: Uint8Array): 'same' | 'conflict' | 'late' {
    let late = false;
    for (let i = 0; i < bytes.length; i++) {
      const at = (seq + i) >>> 0;
      const back = -after(at, this.next!);
      if (back > this.readRun) late = true;
      // Read too long ago to compare: taken for the retransmit it nearly always is.
      else if (back <= this.readCount && this.readBytes![at & (RETRANSMIT_CHECK_BYTES - 1)] !== bytes[i]) return 'conflict';
    }
    return late ? 'late' : 'same';
  }

  /** Bytes read from `next` on, kept to compare later copies with. */
  private remember(fresh: Uint8Array): void {
    const read = (this.readBytes ??= new Uint8Array(RETRANSMIT_CHECK_BYTES));
    const tail = fresh.length > RETRANSMIT_CHECK_BYTES ? fresh.subarray(fresh.length - RETRANSMIT_CHECK_BYTES) : fresh;
    const from = (this.next! + fresh.length - tail.length) >>> 0;
    for (let i = 0; i < tail.length; i++) read[((from + i) >>> 0) & (RETRANSMIT_CHECK_BYTES - 1)] = tail[i]!;
    this.readCount = Math.min(RETRANSMIT_CHECK_BYTES, this.readCount + fresh.length);
    this.readRun = Math.min(2 ** 31, this.readRun + fresh.length);
  }

  private hold(seq: number, bytes: Uint8Array, out: StreamPiece[]): void {
    let index = this.held.length;
    while (index > 0 && after(this.held[index - 1]!.seq, seq) > 0) index -= 1;
    const same = this.held[index - 1];
    // A second copy of a segment already waiting: the first is kept, and one that differs from it is reported.
    if (same !== undefined && same.seq === seq && same.bytes.length >= bytes.length) {
      if (!equalBytes(same.bytes.subarray(0, bytes.length), bytes)) out.push({ kind: 'conflict', bytes: new Uint8Array(bytes) });
      return;
    }
    this.held.splice(index, 0, { seq, bytes: new Uint8Array(bytes) });
    this.heldBytes += bytes.length;
  }

  /** Held segments that the stream has reached, in order. */
  private release(out: StreamPiece[]): void {
    while (this.held.length > 0 && after(this.held[0]!.seq, this.next!) <= 0) {
      const segment = this.held.shift()!;
      this.heldBytes -= segment.bytes.length;
      this.take(segment.seq, segment.bytes, out);
    }
  }

  private skipGap(out: StreamPiece[]): void {
    const first = this.held[0]!;
    out.push({ kind: 'gap', missing: after(first.seq, this.next!) });
    this.next = first.seq;
    this.readCount = 0;
    this.readRun = 0;
    this.release(out);
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
