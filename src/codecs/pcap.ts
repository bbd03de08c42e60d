import type { DecodeError } from './result.js';

/**
 * Packet capture files as tcpdump, Wireshark and tshark write them, read as a stream: pcap (both byte orders,
 * micro- and nanosecond timestamps; https://www.ietf.org/archive/id/draft-ietf-opsawg-pcap-04.html) and pcapng
 * (section header, interface description, enhanced, simple and obsolete packet blocks, both byte orders;
 * https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-02.html). Bytes in, packets or typed errors out.
 */

export type CaptureFormat = 'pcap' | 'pcapng';

/** One packet record: its link-layer bytes and when it was captured. */
export interface CapturedPacket {
  /** 1 for the first packet record of the file, as Wireshark numbers them. */
  number: number;
  /** The LINKTYPE_ value of the packet's interface. */
  linkType: number;
  /** Capture time in ms since the epoch; null when the record carries none (pcapng simple packet block) or one no date can hold. */
  time: number | null;
  /** The bytes captured; a view into the pushed chunk, valid until the next push. */
  data: Uint8Array;
  /** The packet's length on the wire; more than data.length when the snap length cut it. */
  wireLength: number;
}

export type CaptureItem = { kind: 'packet'; packet: CapturedPacket } | { kind: 'error'; number: number; error: DecodeError };

/** Bytes needed to tell the formats apart. */
export const CAPTURE_MAGIC_BYTES = 4;

const PCAP_MICRO = 0xa1b2c3d4;
const PCAP_NANO = 0xa1b23c4d;
const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_BYTE_ORDER = 0x1a2b3c4d;

/** The format a file's first bytes announce; null: not a packet capture (a JSON-lines capture or a plain log). */
export function captureFormat(head: Uint8Array): CaptureFormat | null {
  if (head.length < CAPTURE_MAGIC_BYTES) return null;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const big = view.getUint32(0, false);
  const little = view.getUint32(0, true);
  if (big === PCAP_MICRO || big === PCAP_NANO || little === PCAP_MICRO || little === PCAP_NANO) return 'pcap';
  return big === PCAPNG_SHB ? 'pcapng' : null;
}

/**
 * The most a packet record may hold: Wireshark's largest standard packet (262144 bytes) with room to spare. A
 * record claiming more (a corrupt or hostile file, a host's GRO super-packet) would make the reader hold unbounded
 * bytes: it is skipped as it streams past (PCAP_PACKET_MALFORMED), so the packets after it are still read.
 */
export const MAX_PACKET_BYTES = 1 << 20;

const PCAP_HEADER = 24;
const PCAP_RECORD_HEADER = 16;
const BLOCK_MIN = 12;
const SECTION_MIN = 28;

const BLOCK_INTERFACE = 0x00000001;
const BLOCK_PACKET_OBSOLETE = 0x00000002;
const BLOCK_SIMPLE_PACKET = 0x00000003;
const BLOCK_ENHANCED_PACKET = 0x00000006;
const OPTION_END = 0;
const OPTION_TS_RESOLUTION = 9;
const OPTION_TS_OFFSET = 14;

interface Interface {
  linkType: number;
  snapLength: number;
  /** Timestamp units per second. */
  unitsPerSecond: bigint;
  /** Seconds added to every timestamp (if_tsoffset). */
  offsetSeconds: bigint;
}

/**
 * A capture file pushed in chunks of any size. Holds at most one record (bounded by MAX_PACKET_BYTES) plus a chunk;
 * blocks of no interest (name resolution, statistics, decryption secrets) are skipped as they stream past. A header
 * or block that does not parse stops the reader (PCAP_FORMAT_INVALID): without its length nothing after it can be
 * found. A file that ends inside a record gives PCAP_TRUNCATED at `end()`.
 */
export class CaptureReader {
  private pending: Uint8Array = new Uint8Array(0);
  private format: CaptureFormat | null = null;
  private littleEndian = true;
  /** pcap: the file's one interface; pcapng: the current section's, by id. */
  private interfaces: Interface[] = [];
  private packets = 0;
  /** Bytes of an uninteresting block still to skip. */
  private skipping = 0;
  /** The length a pcapng block skipped unread must end with, once its bytes before the trailer have streamed past. */
  private skippedBlockLength: number | null = null;
  private stoppedWith: DecodeError | null = null;
  private offset = 0;

  /** True once the file proved unreadable: later bytes are ignored. */
  get stopped(): boolean {
    return this.stoppedWith !== null;
  }

  push(chunk: Uint8Array): CaptureItem[] {
    if (this.stopped) return [];
    let bytes = chunk;
    if (this.skipping > 0) {
      const skipped = Math.min(this.skipping, bytes.length);
      this.skipping -= skipped;
      this.offset += skipped;
      bytes = bytes.subarray(skipped);
    }
    this.pending = this.pending.length === 0 ? bytes : concat(this.pending, bytes);
    const items: CaptureItem[] = [];
    let used = 0;
    while (!this.stopped && this.skipping === 0) {
      const taken = this.next(this.pending.subarray(used), items);
      if (taken === 0) break;
      used += taken;
      this.offset += taken;
    }
    if (this.skipping > 0) {
      // The block to skip starts within what is pending: drop the part already here.
      const rest = this.pending.length - used;
      const skipped = Math.min(this.skipping, rest);
      this.skipping -= skipped;
      this.offset += skipped;
      used += skipped;
    }
    // Keep no view into the caller's chunk: the packets handed out are views, valid only until the next push.
    this.pending = copyOf(this.pending.subarray(used));
    return items;
  }

  /** The file ended: bytes left over are a record cut short. */
  end(): CaptureItem[] {
    if (this.stopped || (this.pending.length === 0 && this.skipping === 0 && this.skippedBlockLength === null)) return [];
    const what = this.format === null || (this.format === 'pcap' && this.offset === 0) ? 'its file header' : 'a record';
    return [this.stop('PCAP_TRUNCATED', `the capture was cut short in ${what} at byte ${this.offset}; the packets before it were read`)];
  }

  /** Reads one header or record from the front of `bytes`; returns the bytes it used, 0 when more are needed. */
  private next(bytes: Uint8Array, items: CaptureItem[]): number {
    if (this.format === null) return this.fileHeader(bytes, items);
    if (this.skippedBlockLength !== null) return this.skippedBlockTrailer(bytes, items);
    return this.format === 'pcap' ? this.pcapRecord(bytes, items) : this.pcapngBlock(bytes, items);
  }

  private fileHeader(bytes: Uint8Array, items: CaptureItem[]): number {
    if (bytes.length < CAPTURE_MAGIC_BYTES) return 0;
    const format = captureFormat(bytes);
    if (format === null) {
      items.push(this.stop('PCAP_FORMAT_INVALID', 'the file does not start with a pcap or pcapng magic number'));
      return 0;
    }
    if (format === 'pcapng') {
      this.format = 'pcapng';
      return this.pcapngBlock(bytes, items);
    }
    if (bytes.length < PCAP_HEADER) return 0;
    const view = viewOf(bytes);
    this.littleEndian = view.getUint32(0, true) === PCAP_MICRO || view.getUint32(0, true) === PCAP_NANO;
    const nano = view.getUint32(0, this.littleEndian) === PCAP_NANO;
    const major = view.getUint16(4, this.littleEndian);
    if (major !== 2) {
      items.push(this.stop('PCAP_FORMAT_INVALID', `pcap version ${major}.${view.getUint16(6, this.littleEndian)} is not 2.x`));
      return 0;
    }
    this.format = 'pcap';
    this.interfaces = [
      {
        // The upper bits carry FCS information, not the link type (libpcap's LT_LINKTYPE).
        linkType: view.getUint32(20, this.littleEndian) & 0x03ffffff,
        snapLength: view.getUint32(16, this.littleEndian),
        unitsPerSecond: nano ? 1_000_000_000n : 1_000_000n,
        offsetSeconds: 0n,
      },
    ];
    return PCAP_HEADER;
  }

  private pcapRecord(bytes: Uint8Array, items: CaptureItem[]): number {
    if (bytes.length < PCAP_RECORD_HEADER) return 0;
    const view = viewOf(bytes);
    const captured = view.getUint32(8, this.littleEndian);
    if (captured > MAX_PACKET_BYTES) {
      this.packets += 1;
      const message = `record ${this.packets} at byte ${this.offset} claims ${captured} bytes, more than a packet is read with (${MAX_PACKET_BYTES}); skipped`;
      items.push({ kind: 'error', number: this.packets, error: { code: 'PCAP_PACKET_MALFORMED', message } });
      return this.skip(PCAP_RECORD_HEADER + captured, bytes.length);
    }
    if (bytes.length < PCAP_RECORD_HEADER + captured) return 0;
    const iface = this.interfaces[0]!;
    const seconds = view.getUint32(0, this.littleEndian);
    const fraction = view.getUint32(4, this.littleEndian);
    const time = seconds * 1000 + Math.floor(Number((BigInt(fraction) * 1000n) / iface.unitsPerSecond));
    this.packets += 1;
    const data = bytes.subarray(PCAP_RECORD_HEADER, PCAP_RECORD_HEADER + captured);
    items.push({ kind: 'packet', packet: { number: this.packets, linkType: iface.linkType, time, data, wireLength: view.getUint32(12, this.littleEndian) } });
    return PCAP_RECORD_HEADER + captured;
  }

  private pcapngBlock(bytes: Uint8Array, items: CaptureItem[]): number {
    if (bytes.length < BLOCK_MIN) return 0;
    const view = viewOf(bytes);
    const isSection = view.getUint32(0, true) === PCAPNG_SHB;
    if (isSection) {
      // A section header sets the byte order of everything up to the next one, its own length included.
      const order = view.getUint32(8, true);
      if (order !== PCAPNG_BYTE_ORDER && view.getUint32(8, false) !== PCAPNG_BYTE_ORDER) {
        items.push(this.stop('PCAP_FORMAT_INVALID', `the section header at byte ${this.offset} has no byte-order magic`));
        return 0;
      }
      this.littleEndian = order === PCAPNG_BYTE_ORDER;
    }
    const type = view.getUint32(0, this.littleEndian);
    const length = view.getUint32(4, this.littleEndian);
    if (length < (isSection ? SECTION_MIN : BLOCK_MIN) || length % 4 !== 0) {
      items.push(this.stop('PCAP_FORMAT_INVALID', `the block at byte ${this.offset} has an impossible length (${length})`));
      return 0;
    }
    const isPacket = type === BLOCK_ENHANCED_PACKET || type === BLOCK_SIMPLE_PACKET || type === BLOCK_PACKET_OBSOLETE;
    if (!isSection && type !== BLOCK_INTERFACE && !isPacket) {
      // Of no use to a replay, whatever its size: skipped unread, but for its trailer. A length that does not end
      // there would have taken in the blocks after it (a packet, a duress) without a word.
      this.skippedBlockLength = length;
      return this.skip(length - 4, bytes.length);
    }
    if (length > MAX_PACKET_BYTES + 64) {
      if (!isPacket) {
        items.push(this.stop('PCAP_FORMAT_INVALID', `the block at byte ${this.offset} claims ${length} bytes, more than a header block can have`));
        return 0;
      }
      this.packets += 1;
      this.malformedBlock(items, this.packets, `it claims ${length} bytes, more than a packet is read with (${MAX_PACKET_BYTES}); skipped`);
      return this.skip(length, bytes.length);
    }
    if (bytes.length < length) return 0;
    if (view.getUint32(length - 4, this.littleEndian) !== length) {
      items.push(this.stop('PCAP_FORMAT_INVALID', `the block at byte ${this.offset} does not end with its length (${length})`));
      return 0;
    }
    const block = bytes.subarray(0, length);
    if (isSection) this.section(block, items);
    else if (type === BLOCK_INTERFACE) this.interfaces.push(this.interfaceOf(block));
    else this.packetBlock(type, block, items);
    return length;
  }

  private skippedBlockTrailer(bytes: Uint8Array, items: CaptureItem[]): number {
    if (bytes.length < 4) return 0;
    const length = this.skippedBlockLength!;
    this.skippedBlockLength = null;
    if (viewOf(bytes).getUint32(0, this.littleEndian) !== length) {
      items.push(this.stop('PCAP_FORMAT_INVALID', `the block ending at byte ${this.offset + 4} does not end with its length (${length})`));
      return 0;
    }
    return 4;
  }

  private section(block: Uint8Array, items: CaptureItem[]): void {
    const major = viewOf(block).getUint16(12, this.littleEndian);
    if (major !== 1) items.push(this.stop('PCAP_FORMAT_INVALID', `pcapng version ${major} is not 1`));
    this.interfaces = [];
  }

  private interfaceOf(block: Uint8Array): Interface {
    const view = viewOf(block);
    const iface: Interface = { linkType: view.getUint16(8, this.littleEndian), snapLength: view.getUint32(12, this.littleEndian), unitsPerSecond: 1_000_000n, offsetSeconds: 0n };
    for (const [code, value] of this.options(block, 16)) {
      if (code === OPTION_TS_RESOLUTION && value.length >= 1) {
        const resolution = value[0]!;
        // High bit set: a power of two; else a power of ten.
        iface.unitsPerSecond = resolution & 0x80 ? 1n << BigInt(resolution & 0x7f) : 10n ** BigInt(resolution);
      } else if (code === OPTION_TS_OFFSET && value.length >= 8) {
        iface.offsetSeconds = viewOf(value).getBigInt64(0, this.littleEndian);
      }
    }
    return iface;
  }

  private *options(block: Uint8Array, from: number): Generator<[number, Uint8Array]> {
    const view = viewOf(block);
    const end = block.length - 4;
    for (let at = from; at + 4 <= end; ) {
      const code = view.getUint16(at, this.littleEndian);
      const length = view.getUint16(at + 2, this.littleEndian);
      if (code === OPTION_END || at + 4 + length > end) return;
      yield [code, block.subarray(at + 4, at + 4 + length)];
      at += 4 + length + ((4 - (length % 4)) % 4);
    }
  }

  private packetBlock(type: number, block: Uint8Array, items: CaptureItem[]): void {
    this.packets += 1;
    const number = this.packets;
    const view = viewOf(block);
    const le = this.littleEndian;
    // [interface id, timestamp high, timestamp low, captured length, wire length, where the data starts]
    let layout: [number, number | null, number | null, number, number, number];
    if (type === BLOCK_ENHANCED_PACKET) {
      if (block.length < 32) return this.malformedBlock(items, number, 'an enhanced packet block too short for its fields');
      layout = [view.getUint32(8, le), view.getUint32(12, le), view.getUint32(16, le), view.getUint32(20, le), view.getUint32(24, le), 28];
    } else if (type === BLOCK_PACKET_OBSOLETE) {
      if (block.length < 32) return this.malformedBlock(items, number, 'a packet block too short for its fields');
      layout = [view.getUint16(8, le), view.getUint32(12, le), view.getUint32(16, le), view.getUint32(20, le), view.getUint32(24, le), 28];
    } else {
      if (block.length < 16) return this.malformedBlock(items, number, 'a simple packet block too short for its fields');
      const wire = view.getUint32(8, le);
      const snap = this.interfaces[0]?.snapLength ?? 0;
      layout = [0, null, null, Math.min(wire, snap === 0 ? wire : snap, block.length - 16), wire, 12];
    }
    const [id, high, low, captured, wireLength, start] = layout;
    const iface = this.interfaces[id];
    if (iface === undefined) return this.malformedBlock(items, number, `its interface ${id} was never described`);
    if (start + captured > block.length - 4) return this.malformedBlock(items, number, `it claims ${captured} captured bytes, more than its block holds`);
    const time = high === null || low === null ? null : timeOf(iface, high, low);
    items.push({ kind: 'packet', packet: { number, linkType: iface.linkType, time, data: block.subarray(start, start + captured), wireLength } });
  }

  private malformedBlock(items: CaptureItem[], number: number, why: string): void {
    items.push({ kind: 'error', number, error: { code: 'PCAP_PACKET_MALFORMED', message: `packet record at byte ${this.offset}: ${why}` } });
  }

  /** Passes over a record or block of `length` bytes of which `available` are here; returns the bytes used now. */
  private skip(length: number, available: number): number {
    if (available >= length) return length;
    this.skipping = length - available;
    return available;
  }

  private stop(code: 'PCAP_FORMAT_INVALID' | 'PCAP_TRUNCATED', message: string, number = this.packets + 1): CaptureItem {
    const error: DecodeError = { code, message };
    this.stoppedWith = error;
    return { kind: 'error', number, error };
  }
}

/** The most ms from the epoch a Date can hold, either way (ECMAScript's time value range). */
const MAX_TIME_MS = 8.64e15;

/**
 * A pcapng timestamp in ms: exact for every resolution (nanosecond counts pass 2^53); null past what a Date holds,
 * where a damaged block's time would make every event built from the packet fail.
 */
function timeOf(iface: Interface, high: number, low: number): number | null {
  const units = (BigInt(high) << 32n) | BigInt(low);
  const ms = Number((units * 1000n) / iface.unitsPerSecond + iface.offsetSeconds * 1000n);
  return Math.abs(ms) <= MAX_TIME_MS ? ms : null;
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a, 0);
  joined.set(b, a.length);
  return joined;
}

function copyOf(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}
