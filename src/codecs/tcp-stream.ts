/**
 * One direction of a captured TCP connection, put back in sequence order: a retransmitted or overlapping segment
 * yields its new bytes only, a segment ahead of the next expected byte waits until the bytes before it come.
 * Bytes the capture never saw make a gap: when the segments waiting pass `maxHeldBytes` or MAX_HELD_SEGMENTS, or
 * the stream ends, the stream gives up on the missing bytes, says how many, and goes on from the next segment it
 * holds.
 */
export type StreamPiece = { kind: 'data'; bytes: Uint8Array } | { kind: 'gap'; missing: number };

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
      this.hold(start, payload);
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

  /** The new part of bytes starting at `seq` (not after `next`), if any. */
  private take(seq: number, bytes: Uint8Array, out: StreamPiece[]): void {
    const seen = -after(seq, this.next!);
    if (seen >= bytes.length) return;
    const fresh = seen > 0 ? bytes.subarray(seen) : bytes;
    out.push({ kind: 'data', bytes: fresh });
    this.next = (this.next! + fresh.length) >>> 0;
  }

  private hold(seq: number, bytes: Uint8Array): void {
    let index = this.held.length;
    while (index > 0 && after(this.held[index - 1]!.seq, seq) > 0) index -= 1;
    const same = this.held[index - 1];
    // A retransmit of a segment already waiting.
    if (same !== undefined && same.seq === seq && same.bytes.length >= bytes.length) return;
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
    this.release(out);
  }
}
