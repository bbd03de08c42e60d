import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodePacket, ipv6Text } from '../../../src/codecs/packet.js';
import { LINKTYPE, PROTOCOL, TcpConversation, ipv4Packet, ipv6Packet, latin1, linkFrame, pcapngFile, tcpSegment, udpPacket, type LinkType } from '../../helpers/pcap-writer.js';

const FRAME = latin1('\nFE2E0013"NULL"0000L0#8312[]\r');
const V4 = { panel: { address: '192.0.2.10', port: 40001 }, receiver: { address: '192.0.2.1', port: 12000 } };
const V6 = { panel: { address: '2001:db8::10', port: 40001 }, receiver: { address: '2001:db8::1', port: 12000 } };

const LINKS: LinkType[] = ['ethernet', 'ethernet-vlan', 'sll', 'sll2', 'raw', 'null', 'loop'];

describe('decodePacket', () => {
  for (const link of LINKS) {
    for (const [family, ends] of [
      ['IPv4', V4],
      ['IPv6', V6],
    ] as const) {
      it(`${link}, ${family}: a UDP datagram and a TCP segment with their addresses, ports and payload`, () => {
        const udp = decodePacket(LINKTYPE[link], linkFrame(link, udpPacket(ends.panel, ends.receiver, FRAME)));
        expect(udp).toEqual({
          kind: 'segment',
          transport: 'udp',
          source: ends.panel.address,
          sourcePort: 40001,
          destination: ends.receiver.address,
          destinationPort: 12000,
          payload: FRAME,
        });
        const [segment] = new TcpConversation(ends.panel, ends.receiver, 0xfffffff0).send(FRAME);
        const tcp = decodePacket(LINKTYPE[link], linkFrame(link, segment!));
        expect(tcp).toMatchObject({ kind: 'segment', transport: 'tcp', source: ends.panel.address, destinationPort: 12000, payload: FRAME });
        expect(tcp.kind === 'segment' && tcp.tcp).toEqual({ seq: 0xfffffff0, syn: false, ack: true, fin: false, rst: false });
      });
    }
  }

  it('reads a BSD loopback header in either byte order (it is the capturing host\'s, not the file\'s)', () => {
    for (const loopbackOrder of ['le', 'be'] as const) {
      const packet = decodePacket(LINKTYPE.null, linkFrame('null', udpPacket(V4.panel, V4.receiver, FRAME), { loopbackOrder }));
      expect(packet).toMatchObject({ kind: 'segment', payload: FRAME });
    }
  });

  it('leaves out the Ethernet padding of a short frame: the IP length says where the payload ends', () => {
    const tiny = latin1('\n');
    const frame = linkFrame('ethernet', udpPacket(V4.panel, V4.receiver, tiny));
    expect(frame.length).toBe(60);
    expect(decodePacket(LINKTYPE.ethernet, frame)).toMatchObject({ payload: tiny });
  });

  it('reads TCP flags', () => {
    const ip = ipv4Packet('192.0.2.10', '192.0.2.1', PROTOCOL.tcp, tcpSegment(40001, 12000, 7, new Uint8Array(0), { syn: true }));
    expect(decodePacket(LINKTYPE.raw, ip)).toMatchObject({ tcp: { seq: 7, syn: true, ack: false, fin: false, rst: false } });
    const fin = ipv4Packet('192.0.2.10', '192.0.2.1', PROTOCOL.tcp, tcpSegment(40001, 12000, 7, new Uint8Array(0), { fin: true, rst: true }));
    expect(decodePacket(LINKTYPE.raw, fin)).toMatchObject({ tcp: { syn: false, ack: false, fin: true, rst: true } });
  });

  it('takes other traffic (ARP, ICMP, an unread link type) for what it is, not for an error', () => {
    const arp = new Uint8Array(42);
    arp[12] = 0x08;
    arp[13] = 0x06;
    expect(decodePacket(LINKTYPE.ethernet, arp)).toEqual({ kind: 'other', why: 'ethertype 0x0806' });
    expect(decodePacket(LINKTYPE.raw, ipv4Packet('192.0.2.10', '192.0.2.1', 1, new Uint8Array(8)))).toEqual({ kind: 'other', why: 'IP protocol 1' });
    expect(decodePacket(105, new Uint8Array(30))).toMatchObject({ kind: 'other' });
  });

  it('calls malformed a packet cut by the snap length and lengths that contradict; an IPv4 fragment is returned as one, for reassembly', () => {
    const ip = udpPacket(V4.panel, V4.receiver, FRAME);
    expect(decodePacket(LINKTYPE.raw, ip.subarray(0, ip.length - 4))).toEqual({ kind: 'malformed', why: expect.stringContaining('snap length') });
    expect(decodePacket(LINKTYPE.raw, ipv6Packet('2001:db8::10', '2001:db8::1', PROTOCOL.udp, new Uint8Array(8)).subarray(0, 44))).toMatchObject({ kind: 'malformed' });
    const fragment = ipv4Packet('192.0.2.10', '192.0.2.1', PROTOCOL.udp, new Uint8Array(16), { moreFragments: true });
    expect(decodePacket(LINKTYPE.raw, fragment)).toEqual({
      kind: 'fragment',
      key: '192.0.2.10 → 192.0.2.1, protocol 17, id 4660',
      protocol: PROTOCOL.udp,
      source: '192.0.2.10',
      destination: '192.0.2.1',
      offset: 0,
      more: true,
      data: new Uint8Array(16),
    });
    const badUdp = new Uint8Array(ip);
    badUdp[20 + 4] = 0xff; // the UDP length: past its packet
    expect(decodePacket(LINKTYPE.raw, badUdp)).toEqual({ kind: 'malformed', why: expect.stringContaining('UDP length') });
    expect(decodePacket(LINKTYPE.ethernet, new Uint8Array(10))).toMatchObject({ kind: 'malformed' });
    expect(decodePacket(LINKTYPE.raw, Uint8Array.of(0x75, 0, 0, 0))).toEqual({ kind: 'malformed', why: 'IP version 7' });
  });
});

describe('ipv6Text', () => {
  const text = (groups: number[]) => ipv6Text(Uint8Array.from(groups.flatMap((g) => [g >> 8, g & 0xff])), 0);

  it('writes addresses as Node reports a peer (RFC 5952)', () => {
    expect(text([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1])).toBe('2001:db8::1');
    expect(text([0, 0, 0, 0, 0, 0, 0, 1])).toBe('::1');
    expect(text([0, 0, 0, 0, 0, 0, 0, 0])).toBe('::');
    expect(text([0x2001, 0xdb8, 0, 1, 0, 0, 0, 1])).toBe('2001:db8:0:1::1');
    expect(text([0x2001, 0, 0, 1, 0, 0, 1, 1])).toBe('2001::1:0:0:1:1');
    expect(text([0xfe80, 0, 0, 0, 0xabcd, 0, 0, 0])).toBe('fe80::abcd:0:0:0');
    expect(text([0, 0, 0, 0, 0, 0xffff, 0xc000, 0x020a])).toBe('::ffff:192.0.2.10');
  });
});

function hasTshark(): boolean {
  try {
    execFileSync('tshark', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** tshark, when installed, cross-checks the test link layers against Wireshark's dissectors. Tests never need it. */
describe.skipIf(!hasTshark())('the test link layers, as tshark reads them', () => {
  it('every link type, IPv4 and IPv6: the same addresses, ports and payload', () => {
    const cases = LINKS.flatMap((link) => [V4, V6].map((ends) => ({ link, ends })));
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'links-')), 'links.pcapng');
    const interfaces = LINKS.map((link) => ({ linkType: LINKTYPE[link] }));
    const records = cases.map(({ link, ends }, i) => ({ time: 1_700_000_000_000 + i, data: linkFrame(link, udpPacket(ends.panel, ends.receiver, FRAME)), interfaceId: LINKS.indexOf(link) }));
    writeFileSync(file, pcapngFile(records, { interfaces }));
    const fields = ['ip.src', 'ipv6.src', 'udp.srcport', 'udp.dstport', 'udp.payload'];
    const rows = execFileSync('tshark', ['-r', file, '-T', 'fields', ...fields.flatMap((f) => ['-e', f])], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((l) => l.split('\t'));
    expect(rows).toHaveLength(cases.length);
    for (const [i, { ends }] of cases.entries()) {
      const decoded = decodePacket(interfaces[records[i]!.interfaceId]!.linkType, records[i]!.data);
      expect(decoded.kind === 'segment' && [decoded.source, `${decoded.sourcePort}`, `${decoded.destinationPort}`, Buffer.from(decoded.payload).toString('hex')]).toEqual([
        rows[i]![0] || rows[i]![1],
        rows[i]![2],
        rows[i]![3],
        rows[i]![4],
      ]);
      expect(rows[i]![0] || rows[i]![1]).toBe(ends.panel.address);
    }
  });
});
