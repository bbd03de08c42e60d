/**
 * A captured packet's link, network and transport headers: Ethernet (802.1Q/802.1ad VLAN tags), Linux cooked
 * capture (SLL and SLL2), raw IP and BSD loopback; IPv4 and IPv6 (extension headers walked); TCP and UDP. Checksums
 * are not checked: captures taken on the sending host carry the offloaded, unfilled ones. An IP fragment (v4 or v6)
 * is returned as such, for IpReassembly (ip-fragments.ts) to put its datagram back together.
 */
import type { IpFragment } from './ip-fragments.js';

/** LINKTYPE_ values (https://www.tcpdump.org/linktypes.html) this reader takes. */
export const LINK_TYPES = {
  NULL: 0,
  ETHERNET: 1,
  RAW: 101,
  LOOP: 108,
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;

const READABLE_LINK_TYPES: ReadonlySet<number> = new Set(Object.values(LINK_TYPES));

export function isReadableLinkType(linkType: number): boolean {
  return READABLE_LINK_TYPES.has(linkType);
}

/** How the readable link types are named to a user whose capture has another. */
export const READABLE_LINK_TYPES_TEXT = 'Ethernet, Linux cooked (SLL, SLL2), raw IP and loopback';

export interface TransportSegment {
  kind: 'segment';
  transport: 'tcp' | 'udp';
  source: string;
  sourcePort: number;
  destination: string;
  destinationPort: number;
  payload: Uint8Array;
  /** TCP only. */
  tcp?: { seq: number; syn: boolean; ack: boolean; fin: boolean; rst: boolean };
}

/** A piece of an IP datagram: its transport header and payload come once every piece is there (segmentOf). */
export interface IpFragmentPacket extends IpFragment {
  kind: 'fragment';
  protocol: number;
  source: string;
  destination: string;
}

/**
 * `segment`: a TCP or UDP packet; `fragment`: a piece of an IP datagram; `other`: a readable packet of another
 * kind (ARP, ICMP, a link type this reader does not take), of no interest; `malformed`: headers that contradict
 * themselves or were cut off.
 */
export type PacketContent = WholePacketContent | IpFragmentPacket;
/** What a packet, or a datagram made whole again, holds. */
export type WholePacketContent = TransportSegment | { kind: 'other'; why: string } | { kind: 'malformed'; why: string };

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = 0x8100;
const ETHERTYPE_QINQ = 0x88a8;
const ETHERTYPE_QINQ_OLD = 0x9100;
const PROTOCOL_TCP = 6;
const PROTOCOL_UDP = 17;
/** BSD AF_INET is 2 everywhere; AF_INET6 is 24 (NetBSD, OpenBSD), 28 (FreeBSD), 30 (macOS) or 10 (Linux). */
const AF_INET = 2;
const AF_INET6 = new Set([24, 28, 30, 10]);

export function decodePacket(linkType: number, data: Uint8Array): PacketContent {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  switch (linkType) {
    case LINK_TYPES.ETHERNET:
      return data.length < 14 ? malformed('shorter than an Ethernet header') : byEthertype(view, 12);
    case LINK_TYPES.LINUX_SLL:
      return data.length < 16 ? malformed('shorter than a Linux cooked (SLL) header') : byEthertype(view, 14);
    case LINK_TYPES.LINUX_SLL2:
      return data.length < 20 ? malformed('shorter than a Linux cooked (SLL2) header') : ofEthertype(view, view.getUint16(0), 20);
    case LINK_TYPES.RAW:
      return data.length < 1 ? malformed('empty') : byVersion(view, 0);
    case LINK_TYPES.IPV4:
      return ipv4(view, 0);
    case LINK_TYPES.IPV6:
      return ipv6(view, 0);
    case LINK_TYPES.NULL:
    case LINK_TYPES.LOOP:
      return loopback(view);
    default:
      return { kind: 'other', why: `link type ${linkType} is not read (${READABLE_LINK_TYPES_TEXT} are)` };
  }
}

/** The ethertype at `at`, then its payload; VLAN tags (stacked too) are stepped over. */
function byEthertype(view: DataView, at: number): PacketContent {
  return ofEthertype(view, view.getUint16(at), at + 2);
}

function ofEthertype(view: DataView, ethertype: number, at: number): PacketContent {
  if (ethertype === ETHERTYPE_VLAN || ethertype === ETHERTYPE_QINQ || ethertype === ETHERTYPE_QINQ_OLD) {
    return view.byteLength < at + 4 ? malformed('cut inside a VLAN tag') : byEthertype(view, at + 2);
  }
  if (ethertype === ETHERTYPE_IPV4) return ipv4(view, at);
  if (ethertype === ETHERTYPE_IPV6) return ipv6(view, at);
  return { kind: 'other', why: `ethertype 0x${ethertype.toString(16).padStart(4, '0')}` };
}

function byVersion(view: DataView, at: number): PacketContent {
  const version = view.getUint8(at) >> 4;
  if (version === 4) return ipv4(view, at);
  if (version === 6) return ipv6(view, at);
  return malformed(`IP version ${version}`);
}

/** The address family is in the byte order of the host that captured, which need not be the file's. */
function loopback(view: DataView): PacketContent {
  if (view.byteLength < 4) return malformed('shorter than a loopback header');
  const families = [view.getUint32(0, true), view.getUint32(0, false)];
  if (families.includes(AF_INET)) return ipv4(view, 4);
  if (families.some((f) => AF_INET6.has(f))) return ipv6(view, 4);
  return { kind: 'other', why: `loopback address family ${families[0]}` };
}

function ipv4(view: DataView, at: number): PacketContent {
  if (view.byteLength < at + 20) return malformed('cut inside its IPv4 header');
  if (view.getUint8(at) >> 4 !== 4) return malformed('an IPv4 header of another version');
  const headerLength = (view.getUint8(at) & 0x0f) * 4;
  const total = view.getUint16(at + 2);
  if (headerLength < 20 || total < headerLength) return malformed(`IPv4 lengths that contradict (header ${headerLength}, total ${total})`);
  const fragment = view.getUint16(at + 6);
  const end = at + total;
  if (view.byteLength < end) return malformed(`cut by the capture's snap length (${view.byteLength - at} of ${total} IPv4 bytes captured)`);
  const bytes = bytesOf(view);
  const protocol = view.getUint8(at + 9);
  const [source, destination] = [ipv4Text(bytes, at + 12), ipv4Text(bytes, at + 16)];
  // More fragments, or an offset: a piece of a datagram, not the whole.
  if ((fragment & 0x3fff) !== 0) {
    const key = `${source} → ${destination}, protocol ${protocol}, id ${view.getUint16(at + 4)}`;
    const piece = { offset: (fragment & 0x1fff) * 8, more: (fragment & 0x2000) !== 0, data: bytes.subarray(at + headerLength, end) };
    return { kind: 'fragment', key, protocol, source, destination, ...piece };
  }
  return transport(view, protocol, at + headerLength, end, source, destination);
}

/** The TCP or UDP segment of a datagram reassembled from `fragment` and the others of its datagram. */
export function segmentOf(fragment: IpFragmentPacket, payload: Uint8Array): WholePacketContent {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  return transport(view, fragment.protocol, 0, payload.length, fragment.source, fragment.destination);
}

const IPV6_HOP_BY_HOP = 0;
const IPV6_ROUTING = 43;
const IPV6_FRAGMENT = 44;
const IPV6_AUTHENTICATION = 51;
const IPV6_DESTINATION = 60;

function ipv6(view: DataView, at: number): PacketContent {
  if (view.byteLength < at + 40) return malformed('cut inside its IPv6 header');
  if (view.getUint8(at) >> 4 !== 6) return malformed('an IPv6 header of another version');
  const payloadLength = view.getUint16(at + 4);
  if (payloadLength === 0) return malformed('an IPv6 jumbogram or empty payload');
  const end = at + 40 + payloadLength;
  if (view.byteLength < end) return malformed(`cut by the capture's snap length (${view.byteLength - at} of ${40 + payloadLength} IPv6 bytes captured)`);
  let next = view.getUint8(at + 6);
  let offset = at + 40;
  const bytes = bytesOf(view);
  const [source, destination] = [ipv6Text(bytes, at + 8), ipv6Text(bytes, at + 24)];
  for (;;) {
    if (next === IPV6_HOP_BY_HOP || next === IPV6_ROUTING || next === IPV6_DESTINATION || next === IPV6_AUTHENTICATION || next === IPV6_FRAGMENT) {
      if (end < offset + 8) return malformed('cut inside an IPv6 extension header');
      const field = next === IPV6_FRAGMENT ? view.getUint16(offset + 2) : 0;
      // An offset or more to come (an atomic fragment has neither): the fragmentable part follows its header.
      if ((field & 0xfff9) !== 0) {
        const protocol = view.getUint8(offset);
        const key = `${source} → ${destination}, protocol ${protocol}, id ${view.getUint32(offset + 4)}`;
        return { kind: 'fragment', key, protocol, source, destination, offset: field & 0xfff8, more: (field & 1) !== 0, data: bytes.subarray(offset + 8, end) };
      }
      const length = next === IPV6_FRAGMENT ? 8 : next === IPV6_AUTHENTICATION ? (view.getUint8(offset + 1) + 2) * 4 : (view.getUint8(offset + 1) + 1) * 8;
      next = view.getUint8(offset);
      offset += length;
      continue;
    }
    break;
  }
  if (offset > end) return malformed('IPv6 extension headers longer than the packet');
  return transport(view, next, offset, end, source, destination);
}

function transport(view: DataView, protocol: number, at: number, end: number, source: string, destination: string): WholePacketContent {
  if (protocol === PROTOCOL_UDP) {
    if (end < at + 8) return malformed('cut inside its UDP header');
    const length = view.getUint16(at + 4);
    if (length < 8 || at + length > end) return malformed(`a UDP length (${length}) that does not fit its packet`);
    const payload = bytesOf(view).subarray(at + 8, at + length);
    return { kind: 'segment', transport: 'udp', source, sourcePort: view.getUint16(at), destination, destinationPort: view.getUint16(at + 2), payload };
  }
  if (protocol === PROTOCOL_TCP) {
    if (end < at + 20) return malformed('cut inside its TCP header');
    const headerLength = (view.getUint8(at + 12) >> 4) * 4;
    if (headerLength < 20 || at + headerLength > end) return malformed(`a TCP header length (${headerLength}) that does not fit its packet`);
    const flags = view.getUint8(at + 13);
    const payload = bytesOf(view).subarray(at + headerLength, end);
    const tcp = { seq: view.getUint32(at + 4), syn: (flags & 0x02) !== 0, ack: (flags & 0x10) !== 0, fin: (flags & 0x01) !== 0, rst: (flags & 0x04) !== 0 };
    return { kind: 'segment', transport: 'tcp', source, sourcePort: view.getUint16(at), destination, destinationPort: view.getUint16(at + 2), payload, tcp };
  }
  return { kind: 'other', why: `IP protocol ${protocol}` };
}

function bytesOf(view: DataView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

function ipv4Text(bytes: Uint8Array, at: number): string {
  return `${bytes[at]}.${bytes[at + 1]}.${bytes[at + 2]}.${bytes[at + 3]}`;
}

/**
 * RFC 5952 text, as Node prints a socket's remote address (so a peer reads as it did live): lower case, the
 * longest run of two or more zero groups (the first of equal runs) as `::`, an IPv4-mapped address dotted.
 */
export function ipv6Text(bytes: Uint8Array, at: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((bytes[at + 2 * i]! << 8) | bytes[at + 2 * i + 1]!);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return `::ffff:${ipv4Text(bytes, at + 12)}`;
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i += 1;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j += 1;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

function malformed(why: string): WholePacketContent {
  return { kind: 'malformed', why };
}
