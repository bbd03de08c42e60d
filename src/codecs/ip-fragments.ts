/**
 * IP datagrams put back together from their fragments (IPv4: RFC 791; IPv6: RFC 8200 §4.5), as the receiving host does before a socket sees
 * them: a DC-09 datagram larger than the path's MTU, or a TCP segment a router fragmented, arrives as several
 * packets. Bounded, as a packet capture may hold anyone's fragments: at most `maxDatagrams` incomplete datagrams at
 * once and `maxHeldBytes` in all (the oldest given up to make room), `maxFragments` pieces each, and each given up
 * once `timeoutMs` of capture time has passed since its first fragment (Linux's ipfrag_time); no datagram may hold
 * more than IPv4's 65,535 bytes, counting a piece sent twice twice.
 */

/** One fragment as the packet reader found it. */
export interface IpFragment {
  /** The datagram it belongs to: addresses, protocol and identification. */
  key: string;
  /** Where its data goes in the datagram's payload, in bytes. */
  offset: number;
  /** More fragments follow (MF); false on the last one, which fixes the payload's length. */
  more: boolean;
  data: Uint8Array;
}

export interface FragmentLimits {
  maxDatagrams: number;
  maxFragments: number;
  maxHeldBytes: number;
  timeoutMs: number;
}

export const DEFAULT_FRAGMENT_LIMITS: FragmentLimits = { maxDatagrams: 64, maxFragments: 64, maxHeldBytes: 1 << 20, timeoutMs: 30_000 };

/** The most an IPv4 datagram's payload can hold: 65,535 bytes less the smallest header (an IPv6 fragmentable part holds less). */
export const MAX_IPV4_PAYLOAD = 65_535 - 20;

/** A datagram given up incomplete, and why. */
export interface GivenUp {
  key: string;
  fragments: number;
  why: string;
}

export type FragmentOutcome = { kind: 'held' } | { kind: 'whole'; payload: Uint8Array };

interface Pending {
  pieces: Array<{ offset: number; data: Uint8Array }>;
  /** The payload's length, once the last fragment came. */
  length: number | null;
  /** Capture time of its first fragment; null when the capture gave none. */
  since: number | null;
  /** The bytes of its pieces. */
  held: number;
}

export class IpReassembly {
  /** In arrival order of each datagram's first fragment: the first one is the oldest. */
  private readonly pending = new Map<string, Pending>();
  private held = 0;

  constructor(private readonly limits: FragmentLimits = DEFAULT_FRAGMENT_LIMITS) {}

  /**
   * Adds one fragment captured at `time`. `givenUp` receives the datagrams given up on the way: timed out, pushed
   * out by a newer one, or this fragment's own when it breaks a bound.
   */
  push(fragment: IpFragment, time: number | null, givenUp: GivenUp[]): FragmentOutcome {
    if (time !== null) this.expire(time, givenUp);
    let datagram = this.pending.get(fragment.key);
    if (datagram === undefined) {
      if (this.pending.size >= this.limits.maxDatagrams) {
        const [oldestKey, oldest] = this.pending.entries().next().value!;
        this.giveUp(oldestKey, oldest, `${this.limits.maxDatagrams} other datagrams were being reassembled`, givenUp);
      }
      datagram = { pieces: [], length: null, since: time, held: 0 };
      this.pending.set(fragment.key, datagram);
    }
    const end = fragment.offset + fragment.data.length;
    if (end > MAX_IPV4_PAYLOAD) return this.refuse(fragment.key, datagram, `its fragments reach byte ${end}, past the ${MAX_IPV4_PAYLOAD} an IPv4 datagram can hold`, givenUp);
    if (datagram.pieces.length >= this.limits.maxFragments) return this.refuse(fragment.key, datagram, `it came in more than ${this.limits.maxFragments} fragments`, givenUp);
    if (datagram.held + fragment.data.length > MAX_IPV4_PAYLOAD) return this.refuse(fragment.key, datagram, `its fragments hold more than the ${MAX_IPV4_PAYLOAD} bytes an IPv4 datagram can`, givenUp);
    // Which copy of an overlap a replay reads would depend on order; the host's stack drops the datagram instead.
    if (datagram.pieces.some((piece) => overlapDiffers(piece, fragment))) return this.refuse(fragment.key, datagram, 'its fragments overlap with different content (a host drops such a datagram)', givenUp);
    if (!fragment.more) {
      if (datagram.length !== null && datagram.length !== end) return this.refuse(fragment.key, datagram, 'its last fragment came twice with different lengths', givenUp);
      datagram.length = end;
    }
    // Copied: the fragment is a view into the reader's chunk, valid only until its next push.
    datagram.pieces.push({ offset: fragment.offset, data: new Uint8Array(fragment.data) });
    datagram.held += fragment.data.length;
    this.held += fragment.data.length;
    // Room in all: the datagrams begun longest ago go first, this one last.
    for (const [key, oldest] of this.pending) {
      if (this.held <= this.limits.maxHeldBytes) break;
      this.giveUp(key, oldest, `the datagrams being reassembled held more than ${this.limits.maxHeldBytes} bytes`, givenUp);
    }
    if (!this.pending.has(fragment.key)) return { kind: 'held' };
    const payload = wholeOf(datagram);
    if (payload === null) return { kind: 'held' };
    this.forget(fragment.key, datagram);
    return { kind: 'whole', payload };
  }

  /** The capture ended: every datagram still incomplete. */
  end(givenUp: GivenUp[]): void {
    for (const [key, datagram] of this.pending) this.giveUp(key, datagram, 'the capture ended before its other fragments', givenUp);
  }

  private expire(now: number, givenUp: GivenUp[]): void {
    for (const [key, datagram] of this.pending) {
      if (datagram.since === null || now - datagram.since < this.limits.timeoutMs) continue;
      this.giveUp(key, datagram, `its other fragments did not come within ${this.limits.timeoutMs / 1000} s`, givenUp);
    }
  }

  private refuse(key: string, datagram: Pending, why: string, givenUp: GivenUp[]): FragmentOutcome {
    // This fragment counts among the datagram's, though it is not kept.
    datagram.pieces.push({ offset: 0, data: EMPTY });
    this.giveUp(key, datagram, why, givenUp);
    return { kind: 'held' };
  }

  private giveUp(key: string, datagram: Pending, why: string, givenUp: GivenUp[]): void {
    this.forget(key, datagram);
    givenUp.push({ key, fragments: datagram.pieces.length, why });
  }

  private forget(key: string, datagram: Pending): void {
    this.pending.delete(key);
    this.held -= datagram.held;
  }
}

const EMPTY = new Uint8Array(0);

/** The payload when the pieces cover every byte up to the known length; null while any is missing. */
function wholeOf(datagram: Pending): Uint8Array | null {
  const { length } = datagram;
  if (length === null) return null;
  const pieces = [...datagram.pieces].sort((a, b) => a.offset - b.offset);
  let covered = 0;
  for (const piece of pieces) {
    if (piece.offset > covered) return null;
    covered = Math.max(covered, piece.offset + piece.data.length);
  }
  if (covered < length) return null;
  const payload = new Uint8Array(length);
  // In offset order, a later piece over an overlap: the bytes any of them carries are the same (push refuses others).
  for (const piece of pieces) payload.set(piece.data.subarray(0, Math.max(0, length - piece.offset)), piece.offset);
  return payload;
}

/** Whether two pieces of a datagram carry different bytes where they overlap. */
function overlapDiffers(a: { offset: number; data: Uint8Array }, b: { offset: number; data: Uint8Array }): boolean {
  const from = Math.max(a.offset, b.offset);
  const to = Math.min(a.offset + a.data.length, b.offset + b.data.length);
  for (let at = from; at < to; at++) if (a.data[at - a.offset] !== b.data[at - b.offset]) return true;
  return false;
}
