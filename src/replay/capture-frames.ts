import { DC09_ANSWER_TOKENS, type Dc09Token } from '../codecs/dc09/frame.js';
import { DEFAULT_DC09_MAX_FRAME_BYTES, Dc09Framer } from '../codecs/dc09/framer.js';
import type { FramerOutput } from '../codecs/framing.js';
import { DEFAULT_FRAGMENT_LIMITS, IpReassembly, type GivenUp } from '../codecs/ip-fragments.js';
import { decodePacket, isReadableLinkType, READABLE_LINK_TYPES_TEXT, segmentOf, type IpFragmentPacket, type TransportSegment, type WholePacketContent } from '../codecs/packet.js';
import { CaptureReader, type CaptureItem, type CapturedPacket } from '../codecs/pcap.js';
import { fail, ok, type DecodeResult } from '../codecs/result.js';
import { SiaBlockFramer } from '../codecs/sia-dc03-block.js';
import { TcpStream, type StreamPiece } from '../codecs/tcp-stream.js';
import type { ReplayFrame } from './capture.js';

/**
 * A configured input as a packet capture sees it: the port panels sent to, and how the live input cuts what they
 * sent into frames (`dc09`: LF…CR frames of at most maxFrameBytes, TCP and UDP; `sia-ip`: DC-03 blocks on TCP).
 */
export type CaptureReceiver = { framing: 'dc09'; input: string; port: number; maxFrameBytes: number } | { framing: 'sia-ip'; input: string; port: number };

export interface CaptureFramesOptions {
  receivers: readonly CaptureReceiver[];
  /** Connections and datagram flows followed at a time; past it the one idle longest is ended (its partial frame counted). */
  maxFlows?: number;
  /** Out-of-order bytes one stream may hold waiting for the bytes before them; past it the missing bytes are a gap. */
  maxHeldBytes?: number;
  /** IP datagrams reassembled at a time; past it the one begun longest ago is given up (PCAP_IP_FRAGMENTS_INCOMPLETE). */
  maxFragmentedDatagrams?: number;
}

/** The IP fragments read (v4 and v6): packets, datagrams made whole of them, and datagrams given up incomplete. */
export interface FragmentCounts {
  packets: number;
  reassembled: number;
  incomplete: number;
}

/** A frame of the capture, or an error, with the number of the packet it came with (Wireshark's "No."). */
export interface CaptureLine {
  packet: number;
  parsed: DecodeResult<ReplayFrame>;
}

/** Enough for thousands of panels at once; a flow evicted between frames loses nothing. */
const DEFAULT_MAX_FLOWS = 1024;
/** A DC-09 panel waits for each answer, so a stream never has more than a frame or two in flight. */
const DEFAULT_MAX_HELD_BYTES = 16 * 1024;
const LF = 0x0a;

/**
 * The panel→receiver side of a flow, once known; `ignored`: not a DC-09 flow. `confirmed` false: the side is the
 * connection's client, and its stream must still start with LF to be a panel's.
 */
type Side = { panel: string; receiver: CaptureReceiver | undefined; confirmed: boolean } | 'ignored';

interface Flow {
  side: Side | undefined;
  /** TCP: the panel's bytes in order, and the live input's framer splitting them. */
  stream?: TcpStream;
  framer?: Dc09Framer | SiaBlockFramer;
}

/**
 * The frames a packet capture holds, as a replay feeds them: only what panels sent to a receiver. A flow's panel
 * side is the one sending to a configured DC-09 or SIA over IP input's port; when no port matches, the side whose
 * first payload starts with LF (a panel speaks first, the receiver only answers; an answer caught first names the
 * other side), and a flow whose first payload does not is no DC-09 flow. A UDP datagram is a DC-09 frame; a TCP
 * stream is put in order (TcpStream) and split by the live input's own framer (Dc09Framer, or SiaBlockFramer for a
 * sia-ip input's port). Each frame carries its packet's time, its sender as `peer`, and the input whose port it was
 * sent to (null when none matched: replay routes it by protocol). IP fragments are reassembled first (IpReassembly,
 * bounded on its own). Memory is bounded by `maxFlows` flows of at most `maxHeldBytes` (in at most MAX_HELD_SEGMENTS
 * segments) and a frame each, whatever the size of the capture.
 */
export class CaptureFrames {
  private readonly reader = new CaptureReader();
  private readonly flows = new Map<string, Flow>();
  private readonly maxFlows: number;
  private readonly maxHeldBytes: number;
  private readonly unreadableLinks = new Set<number>();
  private lastPacket = 0;
  private lastTime: number | null = null;
  private readonly reassembly: IpReassembly;
  /** Packets read that are no panel's: other protocols, flows that are not DC-09, the receivers' answers. */
  skipped = 0;
  readonly fragments: FragmentCounts = { packets: 0, reassembled: 0, incomplete: 0 };

  constructor(private readonly options: CaptureFramesOptions) {
    this.maxFlows = options.maxFlows ?? DEFAULT_MAX_FLOWS;
    this.maxHeldBytes = options.maxHeldBytes ?? DEFAULT_MAX_HELD_BYTES;
    this.reassembly = new IpReassembly({ ...DEFAULT_FRAGMENT_LIMITS, maxDatagrams: options.maxFragmentedDatagrams ?? DEFAULT_FRAGMENT_LIMITS.maxDatagrams });
  }

  /** Packet records read so far. */
  get packets(): number {
    return this.lastPacket;
  }

  /** True once the file proved unreadable: later bytes are ignored. */
  get stopped(): boolean {
    return this.reader.stopped;
  }

  push(chunk: Uint8Array): CaptureLine[] {
    return this.lines(this.reader.push(chunk));
  }

  /** The file ended: a record cut short, and every flow's bytes still waiting. */
  end(): CaptureLine[] {
    const out = this.lines(this.reader.end());
    const at: PacketAt = { number: this.lastPacket, time: this.lastTime };
    const givenUp: GivenUp[] = [];
    this.reassembly.end(givenUp);
    this.reportGivenUp(givenUp, at.number, out);
    for (const flow of this.flows.values()) this.endStream(flow, at, out);
    this.flows.clear();
    return out;
  }

  private lines(items: CaptureItem[]): CaptureLine[] {
    const out: CaptureLine[] = [];
    for (const item of items) {
      if (item.kind === 'error') out.push({ packet: item.number, parsed: { ok: false, error: item.error } });
      else this.packet(item.packet, out);
    }
    return out;
  }

  private packet(packet: CapturedPacket, out: CaptureLine[]): void {
    this.lastPacket = packet.number;
    this.lastTime = packet.time ?? this.lastTime;
    if (!isReadableLinkType(packet.linkType)) {
      this.skipped += 1;
      if (this.unreadableLinks.has(packet.linkType)) return;
      this.unreadableLinks.add(packet.linkType);
      const message = `link type ${packet.linkType} is not read (${READABLE_LINK_TYPES_TEXT} are): its packets are skipped`;
      out.push({ packet: packet.number, parsed: fail('PCAP_PACKET_MALFORMED', message) });
      return;
    }
    const decoded = decodePacket(packet.linkType, packet.data);
    const content = decoded.kind === 'fragment' ? this.reassemble(decoded, packet, out) : decoded;
    if (content === null) return;
    if (content.kind === 'other') {
      this.skipped += 1;
      return;
    }
    if (content.kind === 'malformed') {
      out.push({ packet: packet.number, parsed: fail('PCAP_PACKET_MALFORMED', `${content.why}; skipped`, packet.data) });
      return;
    }
    this.segment(content, packet, out);
  }

  /** The segment of the datagram this fragment completes; null while its datagram is incomplete. */
  private reassemble(fragment: IpFragmentPacket, packet: CapturedPacket, out: CaptureLine[]): WholePacketContent | null {
    this.fragments.packets += 1;
    const givenUp: GivenUp[] = [];
    const outcome = this.reassembly.push(fragment, packet.time, givenUp);
    this.reportGivenUp(givenUp, packet.number, out);
    if (outcome.kind === 'held') return null;
    this.fragments.reassembled += 1;
    return segmentOf(fragment, outcome.payload);
  }

  private reportGivenUp(givenUp: readonly GivenUp[], packet: number, out: CaptureLine[]): void {
    for (const datagram of givenUp) {
      this.fragments.incomplete += 1;
      const message = `the IP datagram ${datagram.key} was given up after ${datagram.fragments} fragment(s): ${datagram.why}; skipped`;
      out.push({ packet, parsed: fail('PCAP_IP_FRAGMENTS_INCOMPLETE', message) });
    }
  }

  private segment(segment: TransportSegment, packet: CapturedPacket, out: CaptureLine[]): void {
    const sender = `${segment.source}:${segment.sourcePort}`;
    const at: PacketAt = { number: packet.number, time: packet.time };
    const flow = this.flowOf(segment, sender, at, out);
    flow.side ??= this.sideOf(segment, sender);
    const side = flow.side;
    const rst = segment.tcp?.rst === true;
    if (side === undefined || side === 'ignored' || side.panel !== sender) {
      // A reset from the receiver ends the panel's stream too.
      if (rst) this.endStream(flow, at, out);
      this.skipped += 1;
      return;
    }
    if (segment.tcp === undefined) {
      // A sia-ip input listens on TCP only: no one read a datagram to its port.
      if (side.receiver?.framing === 'sia-ip') {
        this.skipped += 1;
        return;
      }
      if (segment.payload.length === 0) return;
      const maxFrameBytes = this.frameLimit(side.receiver);
      // As the live input: a datagram is one frame, and one larger than any frame is discarded unread.
      if (segment.payload.length > maxFrameBytes) {
        const message = `a ${segment.payload.length}-byte datagram from ${sender} is larger than maxFrameBytes (${maxFrameBytes}); discarded`;
        out.push({ packet: at.number, parsed: fail('FRAME_OVERSIZE', message, segment.payload) });
      } else out.push(frameLine(side, 'udp', at, new Uint8Array(segment.payload)));
      return;
    }
    const { seq, syn, fin } = segment.tcp;
    // A SYN opens a new connection on these addresses: whatever the last one left is ended first.
    if (syn) this.endStream(flow, at, out);
    flow.stream ??= new TcpStream(this.maxHeldBytes);
    flow.framer ??= side.receiver?.framing === 'sia-ip' ? new SiaBlockFramer() : new Dc09Framer({ maxFrameBytes: this.frameLimit(side.receiver) });
    this.feed(flow, flow.stream.push(seq, segment.payload, syn), at, out);
    // A client that turned out not to be a panel: its packet carried nothing replayed.
    if (flow.side === 'ignored') this.skipped += 1;
    if (fin || rst) this.endStream(flow, at, out, fin && !rst);
  }

  /** The flow of a segment's two endpoints, made the most recently used; the least recently used one makes room. */
  private flowOf(segment: TransportSegment, sender: string, at: PacketAt, out: CaptureLine[]): Flow {
    const receiver = `${segment.destination}:${segment.destinationPort}`;
    const key = `${segment.transport} ${sender < receiver ? `${sender} ${receiver}` : `${receiver} ${sender}`}`;
    let flow = this.flows.get(key);
    if (flow !== undefined) this.flows.delete(key);
    else {
      flow = { side: undefined };
      if (this.flows.size >= this.maxFlows) {
        const [oldestKey, oldest] = this.flows.entries().next().value!;
        this.flows.delete(oldestKey);
        this.endStream(oldest, at, out);
      }
    }
    this.flows.set(key, flow);
    return flow;
  }

  private sideOf(segment: TransportSegment, sender: string): Side | undefined {
    const { receivers } = this.options;
    const toReceiver = receivers.find((r) => r.port === segment.destinationPort);
    const receiver = `${segment.destination}:${segment.destinationPort}`;
    if (toReceiver !== undefined) return { panel: sender, receiver: toReceiver, confirmed: true };
    const fromReceiver = receivers.find((r) => r.port === segment.sourcePort);
    if (fromReceiver !== undefined) return { panel: receiver, receiver: fromReceiver, confirmed: true };
    // A handshake names the client, which speaks first: its stream in order (its first packet may come late) decides.
    if (segment.tcp?.syn === true) return { panel: segment.tcp.ack ? receiver : sender, receiver: undefined, confirmed: false };
    // Bare acknowledgements tell nothing yet.
    if (segment.payload.length === 0) return undefined;
    if (segment.payload[0] !== LF) return 'ignored';
    // The capture began between a frame and its answer: the answer's sender is the receiver.
    return { panel: isReceiverAnswer(segment.payload) ? receiver : sender, receiver: undefined, confirmed: true };
  }

  /** An unmatched flow goes to the first DC-09 input (replay routes it by protocol), so its limit applies. */
  private frameLimit(receiver: CaptureReceiver | undefined): number {
    const dc09 = receiver ?? this.options.receivers.find((r) => r.framing === 'dc09');
    return dc09?.framing === 'dc09' ? dc09.maxFrameBytes : DEFAULT_DC09_MAX_FRAME_BYTES;
  }

  /** In-order pieces of a panel's TCP stream through its framer. */
  private feed(flow: Flow, pieces: StreamPiece[], at: PacketAt, out: CaptureLine[]): void {
    const side = flow.side as Exclude<Side, 'ignored'>;
    const framer = flow.framer!;
    for (const piece of pieces) {
      if (piece.kind === 'data' && !side.confirmed) {
        if (piece.bytes[0] !== LF) {
          // A client that does not open with LF: not a panel (HTTP, TLS, …). Nothing of it is replayed.
          flow.side = 'ignored';
          flow.stream = undefined;
          flow.framer = undefined;
          return;
        }
        side.confirmed = true;
      }
      if (piece.kind === 'conflict' || piece.kind === 'late') {
        const [code, what] = piece.kind === 'conflict'
          ? (['PCAP_TCP_CONFLICT', 'came again with other content than the copy read before, which is replayed; the other copy is not'] as const)
          : (['PCAP_TCP_LATE', 'came after the stream had gone past them (before the first segment of a connection captured without its handshake, or in a gap given up); not replayed'] as const);
        out.push({ packet: at.number, parsed: fail(code, `${piece.bytes.length} byte(s) from ${side.panel} ${what}`, piece.bytes) });
        continue;
      }
      if (piece.kind === 'data') {
        for (const output of framer.push(piece.bytes)) {
          if (output.kind === 'frame') out.push(frameLine(side, 'tcp', at, output.bytes));
          else out.push(discardLine(at, output, `${output.bytes.length} byte(s) from ${side.panel} discarded by the ${side.receiver?.framing === 'sia-ip' ? 'SIA block' : 'DC-09'} framer`));
        }
        continue;
      }
      // The bytes before the gap cannot be finished: what the framer holds of a frame is discarded with them.
      const cut = framer.flush().reduce((sum, d) => sum + d.bytes.length, 0);
      const message = `${piece.missing} byte(s) from ${side.panel} are missing from the capture${cut > 0 ? `; the ${cut} byte(s) of a frame before them are discarded` : ''}`;
      out.push({ packet: at.number, parsed: fail('PCAP_TCP_GAP', message) });
    }
  }

  /**
   * The panel's stream ended (FIN, RST, a new SYN, eviction, the end of the file): bytes behind gaps, then a partial
   * frame. At the panel's FIN (`finished`) its last frame may lack only its CR: read as the live input reads it then.
   */
  private endStream(flow: Flow, at: PacketAt, out: CaptureLine[], finished = false): void {
    const { stream, framer } = flow;
    if (stream === undefined || framer === undefined) return;
    this.feed(flow, stream.end(), at, out);
    const side = flow.side as Exclude<Side, 'ignored'>;
    for (const left of finished ? framer.end() : framer.flush()) {
      if (left.kind === 'frame') out.push(frameLine(side, 'tcp', at, left.bytes));
      else out.push(discardLine(at, left, `${left.bytes.length} byte(s) of ${side.panel} left unframed when its stream ended`));
    }
    flow.stream = undefined;
    flow.framer = undefined;
  }
}

/** LF, the CRC and length (4+4 ASCII or 2+4 binary), then the quoted ID token (`"ACK"`, `"*ACK"`). */
const HEADER_TOKEN = /^\n[^"]{6,8}"\*?([A-Z-]+)"/;

/** A payload that opens with a receiver's answer (ACK, NAK, DUH, RSP; encrypted or not), by its ID token. */
function isReceiverAnswer(payload: Uint8Array): boolean {
  const token = HEADER_TOKEN.exec(Buffer.from(payload.subarray(0, 24)).toString('latin1'))?.[1];
  return token !== undefined && DC09_ANSWER_TOKENS.has(token as Dc09Token);
}

/** Where in the capture a line comes from: its packet's number and time. */
interface PacketAt {
  number: number;
  time: number | null;
}

function frameLine(side: Exclude<Side, 'ignored'>, transport: 'tcp' | 'udp', at: PacketAt, bytes: Uint8Array): CaptureLine {
  return { packet: at.number, parsed: ok({ t: at.time, input: side.receiver?.input ?? null, transport, peer: side.panel, bytes }) };
}

function discardLine(at: PacketAt, output: Extract<FramerOutput, { kind: 'discarded' }>, message: string): CaptureLine {
  return { packet: at.number, parsed: fail(output.reason, message, output.bytes) };
}
