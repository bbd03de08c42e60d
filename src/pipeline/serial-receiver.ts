import { QUALIFIER_OF_LETTER } from '../codecs/contact-id.js';
import { SURGARD_ACK, SURGARD_NAK, decodeSurgard, type SurgardCodecOptions, type SurgardPacket } from '../codecs/surgard.js';
import { ok, type DecodeError, type DecodeResult } from '../codecs/result.js';
import type { NormalizedEvent, Protocol, Transport } from '../model/event.js';
import type { Signal } from '../model/signal.js';
import type { Counters } from '../observability/counters.js';
import type { Clock, Logger } from '../ports.js';
import { decodeFrame, suspectedDuressSignal, type FrameProtocol } from './decode-frame.js';
import { eventFromSignal, gatewayEvent, signalIsDuress, VERIFIED, type EventBuilderDeps, type FrameOrigin } from './event-builder.js';
import type { RecordOutcome, Recorder } from './recorder.js';

export type SerialProtocol = 'surgard' | 'contact-id-lines' | 'sia-dc03-lines';

export interface SerialReceiverOptions {
  input: string;
  protocol: SerialProtocol;
  /** Account for messages that carry none and for the port's own supervisory events. */
  account: string | null;
  /** Sur-Gard: how often the same undecodable packet is NAKed before it is stored as unrecognized and ACKed. */
  maxNaks: number;
  /** Sur-Gard: the same packet within this many ms of its previous copy is a retransmit. */
  retransmitWindow: number;
  /** Sur-Gard: the receiver's two-way audio (listen-in) character, its Option [4D]; `P` when not given. */
  listenInCharacter?: string;
  clock: Clock;
  recorder: Recorder;
  builder: EventBuilderDeps;
  counters: Counters;
  logger: Logger;
}

export interface SerialOutcome {
  /** Bytes to write back (ACK/NAK); null for noise and on protocols nothing answers (answersEachFrame). */
  reply: Uint8Array | null;
  events: NormalizedEvent[];
  duplicate: boolean;
  error?: DecodeError | { code: string; message: string };
}

/** One run of identical packets: the receiver repeats a packet until it is ACKed. */
interface Streak {
  text: string;
  firstAt: number;
  lastAt: number;
  naks: number;
}

const ACK = Uint8Array.of(SURGARD_ACK);
const NAK = Uint8Array.of(SURGARD_NAK);

const LINE_CODEC = { 'contact-id-lines': 'contact-id', 'sia-dc03-lines': 'sia-dc03' } as const;

/**
 * Whether the sender waits for an ACK (0x06) to each frame and sends it again without one: a Sur-Gard receiver
 * (protocols.md §4.1), and a receiver in Ademco 685 mode (Ademco 685 manual, Computer Interface: ACK/NACK handshake,
 * a message unanswered twice raises "computer fail"; Honeywell MX8000 guide §8.4.6; the Silent Knight VisorAlarm's
 * 685 emulation with `p=1`). A 685 without the handshake, and a panel writing 16-digit Contact ID lines, ignore the
 * byte. No public source has anything answering a SIA DC-03 text line.
 */
export function answersEachFrame(protocol: SerialProtocol): boolean {
  return protocol !== 'sia-dc03-lines';
}

/**
 * Where a Contact ID event stands in a line no codec read: a 4-digit account, the format 18 or 98 when written, then
 * the event from its qualifier on, a digit or the letter receivers print (E/R/P): `1234181121010010` with a bad check
 * digit, a garbled 685 line `11 1234 18 E121 01 X001`, or a 685 printout `11:28 03/25 11 7777 E110 00 C001`
 * (Fire-Lite MS-5UD manual, Appendix A.2).
 */
const CID_LINE_EVENT = /(?:^|\s)([0-9A-Fa-f]{4}) ?(?:[19]8 ?)?([136ERPerp])(.*)$/s;
/**
 * The same at any position, for a line where no account stands at its start or after a space: line noise within a
 * second of the line (or bytes an attacker on the cable sends) is glued before it, as nothing marks where a line starts.
 */
const CID_LINE_EVENT_ANYWHERE = /(?=([0-9A-Fa-f]{4}) ?(?:[19]8 ?)?([136ERPerp])(.*)$)/gs;
/**
 * Where a Contact ID event stands in a Sur-Gard packet of a fixed layout, at any position: `18AAAAQ…` (protocol 5),
 * `58AAAAAAAAAAQ…` (Q), `AAAA18Q…` (the D6600's a), noise bytes dropped or standing before it.
 */
const SURGARD_CID_EVENT = /(?=(?:[15]8 ?)?([0-9A-Fa-f]{10}|[0-9A-Fa-f]{4}) ?(?:18 ?)?([136ERPerp])(.*)$)/gs;

/**
 * A one-way line's text without control bytes: a BREAK (a cable plugged in, a panel powering up) reads as 0x00, and
 * printer outputs pad with NULs. Such bytes would make a duress line unreadable, and the line cannot be asked again;
 * the event's raw field keeps them. Contact ID lines and Sur-Gard packets are ASCII, so a byte with its top bit set
 * is noise there too; a SIA line's text may be Latin-1.
 */
function printableOf(line: Uint8Array, protocol: SerialProtocol): Uint8Array {
  const top = protocol === 'sia-dc03-lines' ? 0xff : 0x7e;
  return line.filter((byte) => byte >= 0x20 && byte <= top && byte !== 0x7f);
}

/**
 * Decides what each serial frame gets (protocols.md §4.1, design.md §3.4). Sur-Gard: ACK only after the event is
 * stored; heartbeats ACKed without an event; NAK for an undecodable packet (the receiver retransmits) or a failed
 * store. A packet NAKed `maxNaks` times and sent again unchanged is not line noise: it is stored as
 * `unrecognized` and ACKed, because a receiver that keeps getting NAKs gives up or drops to manual mode.
 * A line that does not decode is stored as `unrecognized` with its text at once: a line may come from a one-way
 * output, which would never send a NAKed line again. Contact ID lines are ACKed once stored and NAKed when the store
 * fails, as Sur-Gard packets are (answersEachFrame).
 */
/**
 * The packet decoded; or, when it does not decode, the first packet that does after bytes glued before it (line noise,
 * or the stale start of a packet the receiver broke off), those bytes dropped (quirk `leading-noise-dropped`). Else
 * noise that keeps coming would glue itself to every resend of a NAKed packet. A packet read two ways stays refused.
 * `read`: the bytes the result was read from, so that a clean resend counts as a copy of the packet.
 */
function decodeSurgardPastNoise(packet: Uint8Array, options: SurgardCodecOptions): { decoded: DecodeResult<SurgardPacket>; read: Uint8Array } {
  const decoded = decodeSurgard(packet, options);
  if (decoded.ok || decoded.error.code === 'SURGARD_AMBIGUOUS') return { decoded, read: packet };
  for (let start = 1; start < packet.length - 1; start++) {
    const read = packet.subarray(start);
    const later = decodeSurgard(read, options);
    if (!later.ok) continue;
    if (later.value.kind === 'heartbeat') return { decoded: later, read };
    const signals = later.value.signals.map((signal) => ({ ...signal, quirks: [...signal.quirks, 'leading-noise-dropped'] }));
    return { decoded: ok({ ...later.value, signals }), read };
  }
  return { decoded, read: packet };
}

/**
 * The first Contact ID duress or hold-up among `matches` (account, qualifier as written, the rest of the line), with
 * its account; null when none names one.
 */
function suspectedContactId(matches: Iterable<RegExpMatchArray>, protocol: Protocol, why: string): Signal | null {
  for (const [, account, qualifier, rest] of matches) {
    const event = (QUALIFIER_OF_LETTER[qualifier!.toUpperCase()] ?? qualifier) + rest!;
    const signal = suspectedDuressSignal(protocol, 'contact-id', event, why);
    if (signal !== null) return { ...signal, account: account!.toUpperCase() };
  }
  return null;
}

export class SerialReceiver {
  private streak: Streak | null = null;
  /**
   * The streak of the last packet stored: its resend after a lost ACK may come after a garbled copy of it that was
   * NAKed (a streak of its own), and is still that packet's copy.
   */
  private stored: Streak | null = null;

  constructor(private readonly options: SerialReceiverOptions) {}

  private get surgardOptions(): SurgardCodecOptions {
    const { listenInCharacter } = this.options;
    return listenInCharacter === undefined ? {} : { listenInCharacter };
  }

  /** The protocol of its frames as decodeFrame names it. */
  get frameProtocol(): FrameProtocol {
    return this.options.protocol === 'surgard' ? 'surgard' : LINE_CODEC[this.options.protocol];
  }

  /** `peer` (the port's path) and `transport`: as received, but a replayed plain-log line has no peer and `replay`. */
  async handlePacket(packet: Uint8Array, peer?: string, transport: Transport = 'serial'): Promise<SerialOutcome> {
    const origin: FrameOrigin = { input: this.options.input, transport, receivedAt: this.options.clock.now(), raw: packet, trust: VERIFIED, ...(peer === undefined ? {} : { peer }) };
    return this.options.protocol === 'surgard' ? this.surgard(packet, origin) : this.line(packet, origin, this.options.protocol);
  }

  /**
   * Whether the frame's content is a duress or hold-up, decoded and classified as handlePacket would, with nothing
   * built, stored, counted or answered: the input asks it of the frames it has no room to queue.
   */
  carriesDuress(packet: Uint8Array): boolean {
    const bytes = this.options.protocol === 'surgard' ? packet : printableOf(packet, this.options.protocol);
    const decoded = decodeFrame(bytes, { protocol: this.frameProtocol, ...this.surgardOptions });
    const signals = decoded.ok ? decoded.value.signals : [this.suspectedDuress(bytes, decoded.error)].filter((s) => s !== null);
    return signals.some((signal) => signalIsDuress(this.withFallbackAccount(signal), this.options.builder));
  }

  /**
   * The port has been down (lost) since `since` for longer than the alarm delay, or open and `silent` (not a byte,
   * not a heartbeat) since then: one supervisory event.
   */
  portDown(peer: string, since: number, state: 'down' | 'silent' = 'down'): Promise<RecordOutcome> {
    return this.supervisory(peer, 'new', `serial port ${peer} ${state} since ${new Date(since).toISOString()}`);
  }

  /** The port is open again, or sends again, after a down event was raised. */
  portRestored(peer: string, downSince: number, state: 'down' | 'silent' = 'down'): Promise<RecordOutcome> {
    return this.supervisory(peer, 'restore', `serial port ${peer} is back (${state} since ${new Date(downSince).toISOString()})`);
  }

  private async surgard(packet: Uint8Array, origin: FrameOrigin): Promise<SerialOutcome> {
    const { counters, logger, input } = this.options;
    const { decoded, read } = decodeSurgardPastNoise(packet, this.surgardOptions);
    if (decoded.ok && decoded.value.kind === 'heartbeat') {
      // Not part of any streak: after a lost port the receiver sends heartbeats until one is ACKed, then the packet
      // it never got an ACK for, which must still count as that packet's retransmit.
      counters.inc('heartbeats_total', { input });
      logger.debug({ receiver: decoded.value.receiver }, 'Sur-Gard heartbeat');
      return { reply: ACK, events: [], duplicate: false };
    }
    const streak = this.streakOf(Buffer.from(read).toString('latin1'), origin.receivedAt);
    if (!decoded.ok) {
      this.rejected(decoded.error, origin.peer);
      const suspected = this.suspectedDuress(packet, decoded.error);
      if (suspected !== null) return this.store([this.eventOf(suspected, origin)], streak, decoded.error);
      // An ambiguous packet is no line noise: a copy would read the same, and NAKs would only hold the receiver up.
      const ambiguous = decoded.error.code === 'SURGARD_AMBIGUOUS';
      if (!ambiguous && streak.naks < this.options.maxNaks) {
        streak.naks += 1;
        return { reply: NAK, events: [], duplicate: false, error: decoded.error };
      }
      const why = ambiguous ? 'it is read two ways' : `NAKed ${streak.naks} times and sent again unchanged`;
      const unreadable = this.unrecognized(decoded.error, 'surgard', origin, why);
      return this.store([unreadable], streak, decoded.error);
    }
    counters.inc('frames_total', { input, protocol: 'surgard', result: 'decoded' });
    const signals = decoded.value.kind === 'heartbeat' ? [] : decoded.value.signals;
    const events =
      signals.length === 0
        ? [this.unrecognized({ code: 'SURGARD_FORMAT_INVALID', message: 'the packet carries no event' }, 'surgard', origin)]
        : signals.map((signal) => this.eventOf(signal, origin));
    return this.store(events, streak);
  }

  private async store(events: NormalizedEvent[], streak: Streak, error?: DecodeError): Promise<SerialOutcome> {
    // Every copy in one streak shares the key: a retransmit after a lost ACK is ACKed again, stored once.
    const recorded = await this.options.recorder.record(events, `${this.options.protocol}|${this.options.input}|${streak.firstAt}|${streak.text}`);
    if (!recorded.ok) return { reply: NAK, events: [], duplicate: false, error: { code: recorded.error.code, message: recorded.error.message } };
    this.stored = streak;
    return { reply: ACK, events: recorded.events, duplicate: recorded.duplicate, ...(error === undefined ? {} : { error }) };
  }

  private async line(received: Uint8Array, origin: FrameOrigin, protocol: keyof typeof LINE_CODEC): Promise<SerialOutcome> {
    const { counters, logger, input } = this.options;
    const answered = answersEachFrame(protocol);
    const bytes = printableOf(received, protocol);
    if (Buffer.from(bytes).toString('latin1').trim() === '') {
      counters.inc('frames_discarded_total', { input, reason: 'FRAME_NOISE' });
      return { reply: null, events: [], duplicate: false };
    }
    const codec = LINE_CODEC[protocol];
    const decoded = decodeFrame(bytes, { protocol: codec });
    if (decoded.ok && decoded.value.signals.every((signal) => signal.code === null)) {
      // A receiver's link heartbeat (decodeFrame gives it a signal without a code): no event.
      counters.inc('heartbeats_total', { input });
      logger.debug({ receiver: decoded.value.signals[0]?.receiver }, 'serial line heartbeat');
      return { reply: answered ? ACK : null, events: [], duplicate: false };
    }
    let events: NormalizedEvent[];
    if (decoded.ok) {
      counters.inc('frames_total', { input, protocol: codec, result: 'decoded' });
      const dropped = bytes.length < received.length;
      events = decoded.value.signals.map((signal) =>
        this.eventOf(dropped ? { ...signal, quirks: [...signal.quirks, 'control-bytes-dropped'] } : signal, origin),
      );
    } else {
      this.rejected(decoded.error, origin.peer);
      const suspected = this.suspectedDuress(bytes, decoded.error);
      events = [suspected !== null ? this.eventOf(suspected, origin) : this.unrecognized(decoded.error, codec, origin, 'a line may come from a one-way output')];
    }
    if (answered) return this.store(events, this.streakOf(Buffer.from(received).toString('latin1'), origin.receivedAt), decoded.ok ? undefined : decoded.error);
    const recorded = await this.options.recorder.record(events);
    if (!recorded.ok) {
      // Nothing can ask the panel to send it again; the Recorder has logged and counted the failure.
      logger.error({ raw: origin.raw.length, code: recorded.error.code }, 'serial line lost: the store failed');
      return { reply: null, events: [], duplicate: false, error: { code: recorded.error.code, message: recorded.error.message } };
    }
    return { reply: null, events: recorded.events, duplicate: false, ...(decoded.ok ? {} : { error: decoded.error }) };
  }

  /**
   * A frame that does not decode but in which a duress or hold-up code stands where a code would: its signal (quirk
   * `duress-suspected`). It is stored at once, neither NAKed (which delays it) nor left `unrecognized` (which local
   * outputs receive).
   */
  private suspectedDuress(frame: Uint8Array, error: DecodeError): Signal | null {
    const text = Buffer.from(frame).toString('latin1');
    const why = `${error.message} (${error.code})`;
    const { protocol } = this.options;
    if (protocol === 'contact-id-lines') {
      const atStart = CID_LINE_EVENT.exec(text);
      return suspectedContactId(atStart === null ? text.matchAll(CID_LINE_EVENT_ANYWHERE) : [atStart], 'contact-id', why);
    }
    if (protocol === 'surgard' && !text.includes('[')) {
      // A fixed layout (Contact ID 5, Q, a; SIA protocol 1 `3`), its bytes out of place when a noise byte stands in it.
      const printable = Buffer.from(printableOf(frame, protocol)).toString('latin1');
      return suspectedContactId(printable.matchAll(SURGARD_CID_EVENT), 'surgard', why) ?? suspectedDuressSignal('surgard', 'sia', printable, why);
    }
    const data = protocol === 'surgard' ? text.slice(text.indexOf('[') + 1) : text;
    const signal = suspectedDuressSignal(protocol === 'surgard' ? 'surgard' : 'sia-dc03', 'sia', data, why);
    if (signal !== null) signal.account = /#([0-9A-Za-z]{3,16})\|/.exec(text)?.[1] ?? null;
    return signal;
  }

  private eventOf(signal: Signal, origin: FrameOrigin): NormalizedEvent {
    return eventFromSignal(this.withFallbackAccount(signal), origin, this.options.builder);
  }

  /** The port's configured account for a message that carries none. */
  private withFallbackAccount(signal: Signal): Signal {
    return signal.account === null ? { ...signal, account: this.options.account } : signal;
  }

  private unrecognized(error: DecodeError, protocol: Protocol, origin: FrameOrigin, why?: string): NormalizedEvent {
    const stored = why === undefined ? '' : `; stored as unrecognized: ${why}`;
    return gatewayEvent(
      { category: 'unrecognized', account: this.options.account, protocol, reasons: [`${error.message} (${error.code})${stored}`] },
      origin,
      this.options.builder,
    );
  }

  private async supervisory(peer: string, qualifier: 'new' | 'restore', reason: string): Promise<RecordOutcome> {
    const origin: FrameOrigin = { input: this.options.input, transport: 'serial', peer, receivedAt: this.options.clock.now(), raw: new Uint8Array(0), trust: VERIFIED };
    const event = gatewayEvent({ category: 'supervisory', account: this.options.account, qualifier, reasons: [reason] }, origin, this.options.builder);
    return this.options.recorder.recordRaised([event]);
  }

  private streakOf(text: string, now: number): Streak {
    for (const last of [this.streak, this.stored]) {
      if (last !== null && last.text === text && now - last.lastAt <= this.options.retransmitWindow) {
        last.lastAt = now;
        this.streak = last;
        return last;
      }
    }
    this.streak = { text, firstAt: now, lastAt: now, naks: 0 };
    return this.streak;
  }

  private rejected(error: DecodeError, peer: string | undefined): void {
    this.options.counters.inc('frames_rejected_total', { input: this.options.input, code: error.code });
    this.options.logger.warn({ code: error.code, detail: error.message, raw: error.rawPreview, peer }, 'serial frame rejected');
  }
}
