/**
 * Packet captures built byte by byte, as tcpdump (pcap) and Wireshark/tshark (pcapng) write them, so tests need no
 * capture tool: link layers, IPv4/IPv6, TCP/UDP, and the two file formats in either byte order.
 */

export type ByteOrder = 'le' | 'be';

/** A packet on one of the link types the reader takes, built from its IP packet. */
export type LinkType = 'ethernet' | 'ethernet-vlan' | 'sll' | 'sll2' | 'raw' | 'null' | 'loop';

export const LINKTYPE: Record<LinkType, number> = {
  ethernet: 1,
  'ethernet-vlan': 1,
  sll: 113,
  sll2: 276,
  raw: 101,
  null: 0,
  loop: 108,
};

class Bytes {
  private readonly parts: number[] = [];
  constructor(private readonly order: ByteOrder = 'be') {}
  u8(value: number): this {
    this.parts.push(value & 0xff);
    return this;
  }
  u16(value: number): this {
    const bytes = [(value >> 8) & 0xff, value & 0xff];
    this.parts.push(...(this.order === 'be' ? bytes : bytes.reverse()));
    return this;
  }
  u32(value: number): this {
    const bytes = [(value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff];
    this.parts.push(...(this.order === 'be' ? bytes : bytes.reverse()));
    return this;
  }
  raw(bytes: Uint8Array | readonly number[]): this {
    for (const b of bytes) this.parts.push(b);
    return this;
  }
  pad4(): this {
    while (this.parts.length % 4 !== 0) this.parts.push(0);
    return this;
  }
  get length(): number {
    return this.parts.length;
  }
  done(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

function ipv4Address(text: string): number[] {
  return text.split('.').map(Number);
}

function ipv6Address(text: string): number[] {
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const groups = (s: string | undefined) => (s === undefined || s === '' ? [] : s.split(':').map((g) => Number.parseInt(g, 16)));
  const front = groups(head);
  const back = groups(tail);
  const all = tail === undefined ? front : [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
  return all.flatMap((g) => [g >> 8, g & 0xff]);
}

export interface TcpFlags {
  syn?: boolean;
  ack?: boolean;
  fin?: boolean;
  rst?: boolean;
  psh?: boolean;
}

export function tcpSegment(sourcePort: number, destinationPort: number, seq: number, payload: Uint8Array, flags: TcpFlags = { ack: true, psh: true }): Uint8Array {
  const bits = (flags.fin ? 1 : 0) | (flags.syn ? 2 : 0) | (flags.rst ? 4 : 0) | (flags.psh ? 8 : 0) | (flags.ack ? 16 : 0);
  // Checksum left 0: the reader does not check it (offloaded checksums are unfilled in captures).
  return new Bytes().u16(sourcePort).u16(destinationPort).u32(seq >>> 0).u32(0).u8(5 << 4).u8(bits).u16(65535).u16(0).u16(0).raw(payload).done();
}

export function udpDatagram(sourcePort: number, destinationPort: number, payload: Uint8Array): Uint8Array {
  return new Bytes().u16(sourcePort).u16(destinationPort).u16(8 + payload.length).u16(0).raw(payload).done();
}

export const PROTOCOL = { tcp: 6, udp: 17 } as const;

/** `fragmentOffset` in 8-byte units, as the header holds it; `identification` names the datagram a fragment is of. */
export function ipv4Packet(source: string, destination: string, protocol: number, payload: Uint8Array, options: { fragmentOffset?: number; moreFragments?: boolean; identification?: number } = {}): Uint8Array {
  const fragment = (options.moreFragments ? 0x2000 : 0) | (options.fragmentOffset ?? 0) | (options.moreFragments || options.fragmentOffset ? 0 : 0x4000);
  return new Bytes()
    .u8(0x45)
    .u8(0)
    .u16(20 + payload.length)
    .u16(options.identification ?? 0x1234)
    .u16(fragment)
    .u8(64)
    .u8(protocol)
    .u16(0)
    .raw(ipv4Address(source))
    .raw(ipv4Address(destination))
    .raw(payload)
    .done();
}

export function ipv6Packet(source: string, destination: string, nextHeader: number, payload: Uint8Array): Uint8Array {
  return new Bytes().u32(0x6000_0000).u16(payload.length).u8(nextHeader).u8(64).raw(ipv6Address(source)).raw(ipv6Address(destination)).raw(payload).done();
}

/** An IP packet wrapped in a link-layer header; Ethernet frames are padded to their 60-byte minimum as on the wire. */
export function linkFrame(link: LinkType, ip: Uint8Array, options: { loopbackOrder?: ByteOrder } = {}): Uint8Array {
  const version = ip[0]! >> 4;
  const ethertype = version === 6 ? 0x86dd : 0x0800;
  const mac = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55];
  switch (link) {
    case 'ethernet':
    case 'ethernet-vlan': {
      const frame = new Bytes().raw(mac).raw(mac);
      // An 802.1ad outer tag and an 802.1Q inner one (QinQ), VLAN 100 inside 7.
      if (link === 'ethernet-vlan') frame.u16(0x88a8).u16(7).u16(0x8100).u16(100);
      frame.u16(ethertype).raw(ip);
      while (frame.length < 60) frame.u8(0);
      return frame.done();
    }
    case 'sll':
      return new Bytes().u16(0).u16(1).u16(6).raw(mac).u16(0).u16(ethertype).raw(ip).done();
    case 'sll2':
      return new Bytes().u16(ethertype).u16(0).u32(2).u16(1).u8(0).u8(6).raw(mac).u16(0).raw(ip).done();
    case 'raw':
      return ip;
    case 'null':
      // The capturing host's byte order; AF_INET6 as on macOS (30).
      return new Bytes(options.loopbackOrder ?? 'le').u32(version === 6 ? 30 : 2).raw(ip).done();
    case 'loop':
      return new Bytes('be').u32(version === 6 ? 24 : 2).raw(ip).done();
  }
}

export interface CapturedRecord {
  /** ms since the epoch, with a fraction for sub-ms precision. */
  time: number;
  data: Uint8Array;
  /** pcapng: the interface it was captured on (default 0). */
  interfaceId?: number;
}

/** A classic pcap file (version 2.4). */
export function pcapFile(records: readonly CapturedRecord[], options: { linkType: number; order?: ByteOrder; nano?: boolean; snapLength?: number }): Uint8Array {
  const order = options.order ?? 'le';
  const nano = options.nano === true;
  const file = new Bytes(order)
    .u32(nano ? 0xa1b23c4d : 0xa1b2c3d4)
    .u16(2)
    .u16(4)
    .u32(0)
    .u32(0)
    .u32(options.snapLength ?? 262144)
    .u32(options.linkType);
  for (const record of records) {
    const seconds = Math.floor(record.time / 1000);
    const fraction = Math.round((record.time - seconds * 1000) * (nano ? 1_000_000 : 1000));
    file.u32(seconds).u32(fraction).u32(record.data.length).u32(record.data.length).raw(record.data);
  }
  return file.done();
}

export interface PcapngInterface {
  linkType: number;
  /** if_tsresol: 6 (microseconds, the default) or 9 (nanoseconds). */
  resolution?: number;
}

/**
 * A pcapng file: a section header, the interfaces, then each record as an enhanced packet block (or a simple one
 * with `simple`); a name resolution block sits before the packets, as Wireshark writes, for the reader to skip.
 */
export function pcapngFile(records: readonly (CapturedRecord & { simple?: boolean })[], options: { interfaces: readonly PcapngInterface[]; order?: ByteOrder }): Uint8Array {
  const order = options.order ?? 'le';
  const blocks: Uint8Array[] = [];
  const block = (type: number, body: Bytes) => {
    body.pad4();
    const total = body.length + 12;
    blocks.push(new Bytes(order).u32(type).u32(total).raw(body.done()).u32(total).done());
  };
  // Section length unknown (-1); shb_userappl "Test".
  block(0x0a0d0d0a, new Bytes(order).u32(0x1a2b3c4d).u16(1).u16(0).u32(0xffffffff).u32(0xffffffff).u16(4).u16(4).raw(charCodes('Test')).u16(0).u16(0));
  for (const iface of options.interfaces) {
    const body = new Bytes(order).u16(iface.linkType).u16(0).u32(262144);
    if (iface.resolution !== undefined) body.u16(9).u16(1).u8(iface.resolution).pad4();
    body.u16(0).u16(0);
    block(1, body);
  }
  // One IPv4 name record (192.0.2.1 "rx"), then the end of the records.
  block(4, new Bytes(order).u16(1).u16(7).raw([192, 0, 2, 1]).raw(charCodes('rx')).u8(0).pad4().u16(0).u16(0));
  for (const record of records) {
    if (record.simple === true) {
      block(3, new Bytes(order).u32(record.data.length).raw(record.data));
      continue;
    }
    const id = record.interfaceId ?? 0;
    const resolution = options.interfaces[id]?.resolution ?? 6;
    const units = BigInt(Math.round(record.time * 1000)) * 10n ** BigInt(resolution) / 1_000_000n;
    block(
      6,
      new Bytes(order)
        .u32(id)
        .u32(Number(units >> 32n))
        .u32(Number(units & 0xffffffffn))
        .u32(record.data.length)
        .u32(record.data.length)
        .raw(record.data)
        .pad4(),
    );
  }
  const length = blocks.reduce((sum, b) => sum + b.length, 0);
  const file = new Uint8Array(length);
  let at = 0;
  for (const b of blocks) {
    file.set(b, at);
    at += b.length;
  }
  return file;
}

function charCodes(text: string): number[] {
  return [...text].map((c) => c.charCodeAt(0));
}

/** Text as latin1 bytes (frames with \n and \r). */
export function latin1(text: string): Uint8Array {
  return Uint8Array.from(charCodes(text));
}

/**
 * One TCP connection from a panel to a receiver, in packets (IP, no link layer): the handshake, data segments
 * whose sequence numbers follow the bytes sent, the receiver's answers, and the close.
 */
export class TcpConversation {
  private panelSeq: number;
  private receiverSeq: number;

  constructor(
    private readonly panel: { address: string; port: number },
    private readonly receiver: { address: string; port: number },
    initialSeq = 1000,
  ) {
    this.panelSeq = initialSeq;
    this.receiverSeq = 5000;
  }

  private ip(fromPanel: boolean, segment: Uint8Array): Uint8Array {
    const [from, to] = fromPanel ? [this.panel, this.receiver] : [this.receiver, this.panel];
    return from.address.includes(':') ? ipv6Packet(from.address, to.address, PROTOCOL.tcp, segment) : ipv4Packet(from.address, to.address, PROTOCOL.tcp, segment);
  }

  /** SYN, SYN-ACK, ACK. */
  open(): Uint8Array[] {
    const syn = this.ip(true, tcpSegment(this.panel.port, this.receiver.port, this.panelSeq, new Uint8Array(0), { syn: true }));
    const synAck = this.ip(false, tcpSegment(this.receiver.port, this.panel.port, this.receiverSeq, new Uint8Array(0), { syn: true, ack: true }));
    this.panelSeq += 1;
    this.receiverSeq += 1;
    const ack = this.ip(true, tcpSegment(this.panel.port, this.receiver.port, this.panelSeq, new Uint8Array(0), { ack: true }));
    return [syn, synAck, ack];
  }

  /** The panel's bytes as one segment each of the given sizes (all in one when none given). */
  send(bytes: Uint8Array, sizes: readonly number[] = [bytes.length]): Uint8Array[] {
    const packets: Uint8Array[] = [];
    let at = 0;
    for (const size of sizes) {
      packets.push(this.segmentAt(this.panelSeq + at, bytes.subarray(at, at + size)));
      at += size;
    }
    this.panelSeq += bytes.length;
    return packets;
  }

  /** A panel segment at an explicit sequence number (retransmits, overlaps); moves nothing. */
  segmentAt(seq: number, payload: Uint8Array): Uint8Array {
    return this.ip(true, tcpSegment(this.panel.port, this.receiver.port, seq, payload));
  }

  get nextSeq(): number {
    return this.panelSeq;
  }

  /** The receiver's answer (an ACK frame), which a replay must leave out. */
  answer(bytes: Uint8Array): Uint8Array {
    const packet = this.ip(false, tcpSegment(this.receiver.port, this.panel.port, this.receiverSeq, bytes));
    this.receiverSeq += bytes.length;
    return packet;
  }

  /** The panel's FIN. */
  close(): Uint8Array {
    return this.ip(true, tcpSegment(this.panel.port, this.receiver.port, this.panelSeq, new Uint8Array(0), { fin: true, ack: true }));
  }
}

/**
 * An IPv4 packet cut into fragments of at most `size` bytes of its payload (a multiple of 8 but the last), as a
 * host sends a datagram larger than its MTU.
 */
export function ipv4Fragments(source: string, destination: string, protocol: number, payload: Uint8Array, size: number, identification = 0x4242): Uint8Array[] {
  const fragments: Uint8Array[] = [];
  for (let at = 0; at < payload.length; at += size) {
    const moreFragments = at + size < payload.length;
    fragments.push(ipv4Packet(source, destination, protocol, payload.subarray(at, at + size), { fragmentOffset: at / 8, moreFragments, identification }));
  }
  return fragments;
}

/** The same for IPv6: each piece behind a fragment header (RFC 8200 §4.5), `size` a multiple of 8 but the last. */
export function ipv6Fragments(source: string, destination: string, nextHeader: number, payload: Uint8Array, size: number, identification = 0x4242): Uint8Array[] {
  const fragments: Uint8Array[] = [];
  for (let at = 0; at < payload.length; at += size) {
    const more = at + size < payload.length ? 1 : 0;
    const header = new Bytes().u8(nextHeader).u8(0).u16(at | more).u32(identification).raw(payload.subarray(at, at + size)).done();
    fragments.push(ipv6Packet(source, destination, 44, header));
  }
  return fragments;
}

/** A UDP datagram from one address:port to another, as an IP packet. */
export function udpPacket(from: { address: string; port: number }, to: { address: string; port: number }, payload: Uint8Array): Uint8Array {
  const datagram = udpDatagram(from.port, to.port, payload);
  return from.address.includes(':') ? ipv6Packet(from.address, to.address, PROTOCOL.udp, datagram) : ipv4Packet(from.address, to.address, PROTOCOL.udp, datagram);
}
