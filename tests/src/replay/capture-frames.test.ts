import { describe, expect, it } from 'vitest';
import { CaptureFrames, type CaptureFramesOptions, type CaptureLine } from '../../../src/replay/capture-frames.js';
import { encodeSiaBlock } from '../../../src/codecs/sia-dc03-block.js';
import { LINKTYPE, PROTOCOL, TcpConversation, type LinkType, ipv4Fragments, ipv4Packet, ipv6Fragments, latin1, linkFrame, pcapFile, tcpSegment, udpDatagram, udpPacket } from '../../helpers/pcap-writer.js';

// Public vectors 26 and 27 (Ajax, https://github.com/eavanvalkenburg/sia/issues/51) and 31 (Hikvision NULL,
// https://github.com/eavanvalkenburg/sia/issues/17), with their DC-09 LF…CR framing.
const JC = latin1('\n45930037"SIA-DCS"4197L0#AAA[#AAA|Nri2/JC12]_11:36:49,09-26-2021\r');
const YG = latin1('\n2FDD0036"SIA-DCS"4198L0#AAA[#AAA|Nri0/YG0]_11:37:52,09-26-2021\r');
const NULL_FRAME = latin1('\n821F003A"NULL"0000R0L0#AAAB[#0000|0000 00 000]_18:25:49,07-05-2020\r');
/** What a receiver answers (vector 36's shape): it starts with LF too, and must never be replayed. */
const ACK = latin1('\n59890012"ACK"0000L0#1409[]\r');

const T0 = Date.UTC(2024, 4, 1, 8, 0, 0);
const PANEL = { address: '192.0.2.10', port: 40001 };
const RECEIVER = { address: '192.0.2.1', port: 12000 };
const RECEIVERS: CaptureFramesOptions['receivers'] = [{ framing: 'dc09', input: 'panels', port: 12000, maxFrameBytes: 4096 }];

/** IP packets, one ms apart, in an Ethernet pcap; the lines CaptureFrames makes of it, fed in small chunks. */
function framesOf(packets: Uint8Array[], options: CaptureFramesOptions = { receivers: RECEIVERS }): { lines: CaptureLine[]; capture: CaptureFrames } {
  const file = pcapFile(
    packets.map((ip, i) => ({ time: T0 + i, data: linkFrame('ethernet', ip) })),
    { linkType: LINKTYPE.ethernet },
  );
  const capture = new CaptureFrames(options);
  const lines: CaptureLine[] = [];
  for (let at = 0; at < file.length; at += 100) lines.push(...capture.push(file.subarray(at, at + 100)));
  lines.push(...capture.end());
  return { lines, capture };
}

/** Each line as [packet, frame text | error code]. */
function summary(lines: CaptureLine[]): Array<[number, string]> {
  return lines.map((l) => [l.packet, l.parsed.ok ? Buffer.from(l.parsed.value.bytes).toString('latin1') : l.parsed.error.code]);
}

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString('latin1');

describe('CaptureFrames: TCP', () => {
  it('puts a panel stream in order (out-of-order, retransmitted, split frames) and leaves out the receiver\'s answers', () => {
    const tcp = new TcpConversation(PANEL, RECEIVER);
    const [syn, synAck, ack] = tcp.open();
    const first = tcp.nextSeq;
    // JC in three segments: the second arrives before the first, the first is then sent twice.
    const [a, b, c] = tcp.send(JC, [10, 30, JC.length - 40]);
    const [yg1, yg2] = tcp.send(YG, [5, YG.length - 5]);
    const packets = [syn!, synAck!, ack!, b!, a!, tcp.segmentAt(first, JC.subarray(0, 10)), c!, tcp.answer(ACK), yg1!, tcp.segmentAt(first + 20, JC.subarray(20, 50)), yg2!, tcp.answer(ACK), tcp.close()];
    const { lines, capture } = framesOf(packets);
    expect(summary(lines)).toEqual([
      [7, text(JC)],
      [11, text(YG)],
    ]);
    expect(lines[0]!.parsed).toEqual({ ok: true, value: { t: T0 + 6, input: 'panels', transport: 'tcp', peer: '192.0.2.10:40001', bytes: JC } });
    expect(capture.packets).toBe(13);
  });

  it('without a configured port, replays the side that speaks first with LF, and no flow that is not DC-09', () => {
    const tcp = new TcpConversation(PANEL, { address: '192.0.2.1', port: 3061 });
    const http = new TcpConversation({ address: '192.0.2.10', port: 40002 }, { address: '192.0.2.80', port: 80 });
    const packets = [...tcp.open(), ...http.open(), ...http.send(latin1('GET / HTTP/1.1\r\nHost: x\r\n\r\n')), ...tcp.send(NULL_FRAME), tcp.answer(ACK), http.answer(latin1('\nHTTP/1.1 200 OK\r\n'))];
    const { lines, capture } = framesOf(packets);
    expect(lines.map((l) => l.parsed)).toEqual([{ ok: true, value: { t: T0 + 7, input: null, transport: 'tcp', peer: '192.0.2.10:40001', bytes: NULL_FRAME } }]);
    // The two SYN-ACKs, the HTTP request and the two answers; the panels' handshakes are no one else's.
    expect(capture.skipped).toBe(5);
  });

  it('without a configured port, takes the client of a handshake whose stream starts with LF, its first segment late or not', () => {
    const tcp = new TcpConversation(PANEL, { address: '192.0.2.1', port: 3061 });
    const open = tcp.open();
    const [head, tail] = tcp.send(JC, [10, JC.length - 10]);
    const { lines } = framesOf([...open, tail!, tcp.answer(ACK), head!]);
    expect(lines.map((l) => l.parsed)).toEqual([{ ok: true, value: { t: T0 + 5, input: null, transport: 'tcp', peer: '192.0.2.10:40001', bytes: JC } }]);
  });

  it('without a configured port, takes the answers\' side for the receiver when the capture starts with a receiver\'s answer', () => {
    // decode --pcap has no configuration. The receiver's ACK, NAK or DUH starts with LF too: the side that sent it
    // first is not the panel, whose frames (a duress among them) would all be skipped as "receivers' answers".
    // The receiver's NAK of public vector fioletoven/dc09 message.tests.rs parse_nak_test.
    const NAK = latin1('\nE4410025"NAK"0000R0L0A0[]_16:20:01,09-24-2025\r');
    for (const answer of [ACK, NAK]) {
      const tcp = new TcpConversation(PANEL, { address: '192.0.2.1', port: 3061 });
      tcp.open();
      tcp.send(JC);
      const { lines } = framesOf([tcp.answer(answer), ...tcp.send(YG), tcp.answer(ACK)], { receivers: [] });
      expect(summary(lines)).toEqual([[2, text(YG)]]);
      const udp = framesOf([udpPacket(RECEIVER, PANEL, answer), udpPacket(PANEL, RECEIVER, YG)], { receivers: [] });
      expect(summary(udp.lines)).toEqual([[2, text(YG)]]);
    }
  });

  it('takes the direction toward the configured port even when the capture starts after the panel spoke', () => {
    const tcp = new TcpConversation(PANEL, RECEIVER);
    tcp.open();
    tcp.send(JC);
    // The capture holds the receiver's answer first, then the panel's next frame.
    const { lines } = framesOf([tcp.answer(ACK), ...tcp.send(YG)]);
    expect(summary(lines)).toEqual([[2, text(YG)]]);
  });

  it('says so, with their bytes, when a panel\'s frame comes before the first segment of a connection captured without its handshake', () => {
    // A forged segment far ahead of the panel's, first in a capture that began inside the connection: the panel's
    // own frame after it (a duress) looked like an old retransmit and was dropped without a word.
    const tcp = new TcpConversation(PANEL, RECEIVER);
    const { lines } = framesOf([tcp.segmentAt(tcp.nextSeq + 100_000, NULL_FRAME), ...tcp.send(JC)]);
    expect(summary(lines)).toEqual([
      [1, text(NULL_FRAME)],
      [2, 'PCAP_TCP_LATE'],
    ]);
    const late = lines[1]!.parsed;
    expect(!late.ok && late.error.message).toBe(`${JC.length} byte(s) from 192.0.2.10:40001 came after the stream had gone past them (before the first segment of a connection captured without its handshake, or in a gap given up); not replayed`);
    expect(!late.ok && late.error.rawPreview).toContain('Nri2/JC12');
  });

  it('counts the bytes a capture missed as a gap, discards the frame they cut, and reads on', () => {
    const tcp = new TcpConversation(PANEL, RECEIVER);
    const [syn] = tcp.open();
    // The first 20 bytes of JC never made it into the capture.
    const [, rest] = tcp.send(JC, [20, JC.length - 20]);
    const packets = [syn!, rest!, ...tcp.send(YG), tcp.close()];
    const { lines } = framesOf(packets, { receivers: RECEIVERS });
    // At the FIN the stream ends: the 20 missing bytes are a gap; the rest of JC (no LF) is noise up to its CR.
    expect(summary(lines)).toEqual([
      [4, 'PCAP_TCP_GAP'],
      [4, 'FRAME_NOISE'],
      [4, text(YG)],
    ]);
    const gap = lines[0]!.parsed;
    expect(!gap.ok && gap.error.message).toBe('20 byte(s) from 192.0.2.10:40001 are missing from the capture');
  });

  it('declares the gap as soon as more than maxHeldBytes wait behind it, discarding the partial frame before it', () => {
    const tcp = new TcpConversation(PANEL, RECEIVER);
    const [syn] = tcp.open();
    const [head, , tail] = tcp.send(JC, [10, 10, JC.length - 20]);
    const { lines } = framesOf([syn!, head!, tail!, ...tcp.send(YG)], { receivers: RECEIVERS, maxHeldBytes: 32 });
    expect(summary(lines)).toEqual([
      [3, 'PCAP_TCP_GAP'],
      [3, 'FRAME_NOISE'],
      [4, text(YG)],
    ]);
    const gap = lines[0]!.parsed;
    expect(!gap.ok && gap.error.message).toBe('10 byte(s) from 192.0.2.10:40001 are missing from the capture; the 10 byte(s) of a frame before them are discarded');
  });

  it('reports a frame left unfinished when the connection closes', () => {
    const tcp = new TcpConversation(PANEL, RECEIVER);
    const open = tcp.open();
    const [head] = tcp.send(JC, [30, JC.length - 30]);
    const { lines } = framesOf([...open, head!, tcp.close()]);
    // Cut short by the panel's FIN: FRAME_TRUNCATED, as the live input counts it.
    expect(summary(lines)).toEqual([[5, 'FRAME_TRUNCATED']]);
  });

  it('reads a last frame that lacks only its CR before the panel\'s FIN by its length and CRC, as the live input does', () => {
    // The live DC-09 input reads such a frame at the FIN (Dc09Framer.end) and stores and answers it: a replay of the
    // same traffic must give the same frame, not discard it.
    const withoutCr = JC.subarray(0, JC.length - 1);
    const tcp = new TcpConversation(PANEL, RECEIVER);
    const { lines } = framesOf([...tcp.open(), ...tcp.send(withoutCr), tcp.close()]);
    expect(summary(lines)).toEqual([[5, text(withoutCr)]]);
    expect(lines[0]!.parsed).toEqual({ ok: true, value: { t: T0 + 4, input: 'panels', transport: 'tcp', peer: '192.0.2.10:40001', bytes: withoutCr } });
  });

  it('follows at most maxFlows connections: one evicted between frames loses nothing, one evicted inside a frame is counted', () => {
    const panels = [40001, 40002, 40003].map((port) => new TcpConversation({ address: '192.0.2.10', port }, RECEIVER));
    const whole = panels.flatMap((tcp) => tcp.send(NULL_FRAME));
    expect(summary(framesOf(whole, { receivers: RECEIVERS, maxFlows: 1 }).lines).map(([, f]) => f)).toEqual([text(NULL_FRAME), text(NULL_FRAME), text(NULL_FRAME)]);
    const [firstHalf, secondHalf] = panels[0]!.send(JC, [30, JC.length - 30]);
    const { lines } = framesOf([firstHalf!, ...panels[1]!.send(YG), secondHalf!], { receivers: RECEIVERS, maxFlows: 1 });
    expect(summary(lines)).toEqual([
      [2, 'FRAME_IDLE_TIMEOUT'],
      [2, text(YG)],
      [3, 'FRAME_NOISE'],
    ]);
  });
});

describe('CaptureFrames: UDP', () => {
  it('takes each datagram to the receiver as a frame, leaves out the answers, and discards one larger than maxFrameBytes', () => {
    const other = { address: '192.0.2.11', port: 5072 };
    const big = new Uint8Array(JC.length + 1).fill(0x41);
    big[0] = 0x0a;
    const packets = [udpPacket(PANEL, RECEIVER, JC), udpPacket(RECEIVER, PANEL, ACK), udpPacket(other, RECEIVER, YG), udpPacket(PANEL, RECEIVER, big)];
    const { lines } = framesOf(packets, { receivers: [{ framing: 'dc09', input: 'panels', port: 12000, maxFrameBytes: JC.length }] });
    expect(summary(lines)).toEqual([
      [1, text(JC)],
      [3, text(YG)],
      [4, 'FRAME_OVERSIZE'],
    ]);
    expect(lines[1]!.parsed).toEqual({ ok: true, value: { t: T0 + 2, input: 'panels', transport: 'udp', peer: '192.0.2.11:5072', bytes: YG } });
  });
});

describe('CaptureFrames: packets it cannot read', () => {
  it('counts a malformed packet with its number and reads on; other traffic is skipped without a word', () => {
    const cut = udpPacket(PANEL, RECEIVER, JC).subarray(0, 40);
    const icmp = ipv4Packet('192.0.2.10', '192.0.2.1', 1, new Uint8Array(8));
    const { lines, capture } = framesOf([cut, icmp, udpPacket(PANEL, RECEIVER, YG)]);
    expect(summary(lines)).toEqual([
      [1, 'PCAP_PACKET_MALFORMED'],
      [3, text(YG)],
    ]);
    expect(capture.skipped).toBe(1);
  });

  it('names a link type it does not read once, and skips its packets', () => {
    const file = pcapFile(
      [1, 2, 3].map((i) => ({ time: T0 + i, data: new Uint8Array(40) })),
      { linkType: 127 },
    );
    const capture = new CaptureFrames({ receivers: RECEIVERS });
    const lines = [...capture.push(file), ...capture.end()];
    expect(summary(lines)).toEqual([[1, 'PCAP_PACKET_MALFORMED']]);
    expect(!lines[0]!.parsed.ok && lines[0]!.parsed.error.message).toContain('link type 127 is not read');
    expect(capture.skipped).toBe(3);
  });

  it('ends with PCAP_TRUNCATED after the frames of the whole packets', () => {
    const file = pcapFile([udpPacket(PANEL, RECEIVER, JC), udpPacket(PANEL, RECEIVER, YG)].map((ip, i) => ({ time: T0 + i, data: ip })), { linkType: LINKTYPE.raw });
    const capture = new CaptureFrames({ receivers: RECEIVERS });
    const lines = [...capture.push(file.subarray(0, file.length - 10)), ...capture.end()];
    expect(summary(lines)).toEqual([
      [1, text(JC)],
      [2, 'PCAP_TRUNCATED'],
    ]);
  });
});

describe('CaptureFrames: IPv4 fragments', () => {
  /** IP packets at the given capture times, as framesOf reads them. */
  function framesAt(packets: Array<[number, Uint8Array]>, options: CaptureFramesOptions = { receivers: RECEIVERS }) {
    const file = pcapFile(packets.map(([time, ip]) => ({ time, data: linkFrame('ethernet', ip) })), { linkType: LINKTYPE.ethernet });
    const capture = new CaptureFrames(options);
    const lines = [...capture.push(file), ...capture.end()];
    return { lines, capture };
  }
  // A DC-09 datagram larger than the path's MTU: the sending host cut it in IP fragments.
  const BIG = latin1(`\n${'A'.repeat(2_000)}\r`);
  const bigDatagram = (identification = 0x4242) => ipv4Fragments(PANEL.address, RECEIVER.address, PROTOCOL.udp, udpDatagram(PANEL.port, RECEIVER.port, BIG), 1_480, identification);

  it('reassembles a datagram from its fragments, in any order, as the receiving host did live', () => {
    const [first, second] = bigDatagram();
    const { lines, capture } = framesOf([second!, first!]);
    expect(summary(lines)).toEqual([[2, text(BIG)]]);
    expect(lines[0]!.parsed).toMatchObject({ ok: true, value: { t: T0 + 1, input: 'panels', transport: 'udp', peer: '192.0.2.10:40001' } });
    expect(capture.fragments).toEqual({ packets: 2, reassembled: 1, incomplete: 0 });
  });

  it('reassembles a TCP segment sent in fragments into the stream', () => {
    const tcp = new TcpConversation(PANEL, RECEIVER);
    const opening = tcp.open();
    const seq = tcp.nextSeq;
    const [, segment] = [tcp.send(JC), tcpSegment(PANEL.port, RECEIVER.port, seq, JC)];
    const fragments = ipv4Fragments(PANEL.address, RECEIVER.address, PROTOCOL.tcp, segment, 40);
    const { lines } = framesOf([...opening, ...fragments]);
    expect(summary(lines)).toEqual([[3 + fragments.length, text(JC)]]);
  });

  it('gives up, and says so, a datagram whose fragments did not all come within 30 s, or before the file ended', () => {
    const [first, second] = bigDatagram(1);
    const [other] = bigDatagram(2);
    const { lines, capture } = framesAt([
      [T0, first!],
      [T0 + 31_000, second!],
      [T0 + 31_001, other!],
    ]);
    expect(summary(lines).map(([, what]) => what)).toEqual(['PCAP_IP_FRAGMENTS_INCOMPLETE', 'PCAP_IP_FRAGMENTS_INCOMPLETE', 'PCAP_IP_FRAGMENTS_INCOMPLETE']);
    expect(lines[0]!.parsed).toMatchObject({ ok: false, error: { message: expect.stringContaining('192.0.2.10 → 192.0.2.1') } });
    expect(capture.fragments).toEqual({ packets: 3, reassembled: 0, incomplete: 3 });
  });

  it('holds a bounded number of incomplete datagrams: a flood of first fragments gives up the oldest', () => {
    const firsts = Array.from({ length: 100 }, (_, i) => bigDatagram(i + 1)[0]!);
    const [, lastSecond] = bigDatagram(100);
    const { lines, capture } = framesOf([...firsts, lastSecond!], { receivers: RECEIVERS, maxFragmentedDatagrams: 8 });
    expect(capture.fragments).toEqual({ packets: 101, reassembled: 1, incomplete: 99 });
    expect(summary(lines).filter(([, what]) => what === text(BIG))).toHaveLength(1);
    // The 92 given up at once are reported as they go, the 7 left at the end.
    expect(lines.filter((l) => !l.parsed.ok)).toHaveLength(99);
  });

  it('reassembles an IPv6 datagram from its fragments as well', () => {
    const panel = { address: '2001:db8::10', port: 40001 };
    const datagram = udpDatagram(panel.port, RECEIVER.port, BIG);
    const [first, second] = ipv6Fragments(panel.address, '2001:db8::1', PROTOCOL.udp, datagram, 1_448);
    const { lines, capture } = framesOf([second!, first!]);
    expect(summary(lines)).toEqual([[2, text(BIG)]]);
    expect(lines[0]!.parsed).toMatchObject({ ok: true, value: { transport: 'udp', peer: '2001:db8::10:40001' } });
    expect(capture.fragments).toEqual({ packets: 2, reassembled: 1, incomplete: 0 });
  });

  it('refuses fragments that would make a datagram larger than IPv4 allows', () => {
    const huge = ipv4Packet(PANEL.address, RECEIVER.address, PROTOCOL.udp, new Uint8Array(800), { fragmentOffset: 8_100, moreFragments: true, identification: 7 });
    const { lines, capture } = framesOf([huge]);
    expect(summary(lines)).toEqual([[1, 'PCAP_IP_FRAGMENTS_INCOMPLETE']]);
    expect(capture.fragments).toEqual({ packets: 1, reassembled: 0, incomplete: 1 });
  });
});

describe('CaptureFrames: SIA over IP (DC-03 blocks on TCP)', () => {
  // The FX020's account block (eavanvalkenburg/sia#32), a hold-up event block and the end-of-data block, each
  // answered by the receiver's acknowledge block (0x40 '8' parity), as a Galaxy or FX panel sends them.
  const ACCOUNT = latin1('D#0192\x92');
  const HOLDUP = encodeSiaBlock('N', 'ti11:46/HA1011', true);
  const END = encodeSiaBlock('0', '', true);
  const SIA_ACK = Uint8Array.of(0x40, 0x38, 0x87);
  const GALAXY = { address: '192.0.2.1', port: 10002 };
  const SIA_RECEIVERS: CaptureFramesOptions['receivers'] = [...RECEIVERS, { framing: 'sia-ip', input: 'galaxy', port: 10002 }];

  it('cuts the panel side of a connection to a sia-ip input\'s port into blocks, as the live input does', () => {
    const tcp = new TcpConversation(PANEL, GALAXY);
    // Two blocks in one segment, one block cut across two: the framer, not the segments, decides.
    const both = new Uint8Array([...ACCOUNT, ...HOLDUP.subarray(0, 4)]);
    const packets = [...tcp.open(), ...tcp.send(both), tcp.answer(SIA_ACK), ...tcp.send(HOLDUP.subarray(4)), tcp.answer(SIA_ACK), ...tcp.send(END), tcp.answer(SIA_ACK), tcp.close()];
    const { lines, capture } = framesOf(packets, { receivers: SIA_RECEIVERS });
    expect(lines.map((l) => l.parsed)).toEqual([
      { ok: true, value: { t: T0 + 3, input: 'galaxy', transport: 'tcp', peer: '192.0.2.10:40001', bytes: ACCOUNT } },
      { ok: true, value: { t: T0 + 5, input: 'galaxy', transport: 'tcp', peer: '192.0.2.10:40001', bytes: HOLDUP } },
      { ok: true, value: { t: T0 + 7, input: 'galaxy', transport: 'tcp', peer: '192.0.2.10:40001', bytes: END } },
    ]);
    // The SYN-ACK and the three acknowledge blocks.
    expect(capture.skipped).toBe(4);
  });

  it('counts what it cannot read: a block cut short by the close, a connection that opens with Galaxy encryption', () => {
    const cut = new TcpConversation(PANEL, GALAXY);
    const encrypted = new TcpConversation({ address: '192.0.2.11', port: 40002 }, GALAXY);
    const packets = [...cut.open(), ...cut.send(ACCOUNT), ...cut.send(HOLDUP.subarray(0, 6)), cut.close(), ...encrypted.send(Uint8Array.of(0x05, 0x01, 0x81, 0x59, 0x68, 0x10, 0x20))];
    const { lines } = framesOf(packets, { receivers: SIA_RECEIVERS });
    expect(summary(lines)).toEqual([
      [4, text(ACCOUNT)],
      [6, 'FRAME_TRUNCATED'],
      [7, 'FRAME_SIA_ENCRYPTED'],
    ]);
  });

  it('says so when a retransmission carries other bytes than the copy read: a hold-up under a forged block is not lost without a word', () => {
    // An attacker on the panel network gets a burglary block with the hold-up's sequence numbers to the receiver
    // first; the panel's own segment then looks like a retransmit. The copy read first is replayed (as the
    // receiving host read it); the other is reported with its bytes, and the replay exits 2.
    const tcp = new TcpConversation(PANEL, GALAXY);
    const forged = encodeSiaBlock('N', 'ti11:46/BA1011', true);
    const open = tcp.open();
    const account = tcp.send(ACCOUNT);
    const packets = [...open, ...account, tcp.segmentAt(tcp.nextSeq, forged), ...tcp.send(HOLDUP)];
    const { lines } = framesOf(packets, { receivers: SIA_RECEIVERS });
    expect(summary(lines)).toEqual([
      [4, text(ACCOUNT)],
      [5, text(forged)],
      [6, 'PCAP_TCP_CONFLICT'],
    ]);
    const conflict = lines[2]!.parsed;
    expect(!conflict.ok && conflict.error).toEqual({
      code: 'PCAP_TCP_CONFLICT',
      message: `${HOLDUP.length} byte(s) from 192.0.2.10:40001 came again with other content than the copy read before, which is replayed; the other copy is not`,
      rawPreview: 'NNti11:46/HA1011\\xfd',
    });
  });

  it('reads the same session on every link type a capture may have, its sequence numbers crossing 2^32', () => {
    // tcpdump -i any (SLL, SLL2), a tunnel or raw-IP capture, a loopback capture on BSD/macOS in either byte order.
    const links: Array<[LinkType, { loopbackOrder?: 'le' | 'be' }]> = [['sll', {}], ['sll2', {}], ['raw', {}], ['null', { loopbackOrder: 'le' }], ['null', { loopbackOrder: 'be' }], ['loop', {}], ['ethernet-vlan', {}]];
    for (const [link, options] of links) {
      for (const address of ['192.0.2.10', '2001:db8::10']) {
        const tcp = new TcpConversation({ address, port: 40001 }, { address: address.includes(':') ? '2001:db8::1' : GALAXY.address, port: GALAXY.port }, 0xffff_fff0);
        const session = new Uint8Array([...ACCOUNT, ...HOLDUP, ...END]);
        const ip = [...tcp.open(), ...tcp.send(session, [5, 9, session.length - 14]), tcp.close()];
        const file = pcapFile(ip.map((data, i) => ({ time: T0 + i, data: linkFrame(link, data, options) })), { linkType: LINKTYPE[link] });
        const capture = new CaptureFrames({ receivers: SIA_RECEIVERS });
        const lines = [...capture.push(file), ...capture.end()];
        const peer = `${address}:40001`;
        expect(lines.map((l) => l.parsed), `${link} ${options.loopbackOrder ?? ''} ${address}`).toEqual([ACCOUNT, HOLDUP, END].map((bytes) => ({ ok: true, value: { t: expect.any(Number), input: 'galaxy', transport: 'tcp', peer, bytes } })));
      }
    }
  });
});
