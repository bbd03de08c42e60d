import { decodeSiaBlock, encodeSiaBlock, readUnsupportedSiaBlock } from '../codecs/sia-dc03-block.js';
import { parseSiaData } from '../codecs/sia-dc03.js';
import type { DecodeError } from '../codecs/result.js';
import type { NormalizedEvent } from '../model/event.js';
import type { Counters } from '../observability/counters.js';
import { peerHost, type RateLimitedLog } from '../observability/rate-limited-log.js';
import type { Clock, Logger } from '../ports.js';
import { eventFromSignal, gatewayEvent, unverified, type EventBuilderDeps, type FrameOrigin } from './event-builder.js';
import type { Recorder } from './recorder.js';
import { suspectedDuressSignal } from './decode-frame.js';

export interface SiaBlockReceiverOptions {
  input: string;
  /** Reject the DC-03 codec's tolerated quirks instead of labelling them. */
  strict: boolean;
  /** An event block sent again within this many ms of its first copy, its acknowledge unconfirmed, is stored once. */
  retransmitWindow: number;
  clock: Clock;
  recorder: Recorder;
  builder: EventBuilderDeps;
  counters: Counters;
  logger: Logger;
  warnings: RateLimitedLog;
}

/** What one connection has said so far: the account of its last `#` block, and where it comes from. */
export interface SiaBlockSession {
  account: string | null;
  /** The sender's address without its port: a panel that lost a connection sends again from a new port. */
  host: string;
  /** Its last event block, while nothing it sent since shows the panel took the acknowledge. */
  unconfirmed: SentEvent | undefined;
}

/** An event block as first stored, whose copies within the window are resends of it. */
interface SentEvent {
  /** Address and account it came under. */
  sender: string;
  /** Its function code (N or O) and data. */
  data: string;
  firstAt: number;
  dedupeKey: string;
}

/**
 * Senders whose last event block's acknowledge is unconfirmed, at most: the oldest is forgotten past it (a resend
 * of its block is then stored twice, a duplicate and never a loss). Only allowed addresses reach here, and each
 * holds a few connections.
 */
const MAX_UNCONFIRMED = 1024;

export interface SiaBlockOutcome {
  /** The acknowledge or reject block to write back. */
  reply: Uint8Array;
  events: NormalizedEvent[];
  /** The panel sent its end-of-data block: close once the reply is written. */
  end: boolean;
  error?: DecodeError | { code: string; message: string };
}

// Galaxy receivers set the acknowledge-request bit on their answers as the panel does (protocol-notes.md).
const ACKNOWLEDGE = encodeSiaBlock('8', '', true);
const REJECT = encodeSiaBlock('9', '', true);

/**
 * SIA DC-03 blocks over TCP, the "SIA over IP" of Galaxy and FX panels (protocol-notes.md): an account block `#`,
 * event blocks `N` (new), `O` (old) and `L` (listen-in) and text blocks `A`, each answered with an acknowledge
 * block, then an end-of-data block `0`.
 * An event block is stored before it is acknowledged; a failed store is rejected so the panel sends it again. A
 * block with a bad length or parity is rejected unread, as Galaxy receivers do; one whose function code DC-03 does
 * not define is rejected too, a duress code in its data stored first. The account is not authenticated.
 */
export class SiaBlockReceiver {
  /** Each sender's (address and account) last event block whose acknowledge no later block confirmed. */
  private readonly unconfirmed = new Map<string, SentEvent>();
  /** Event blocks taken as new: with the time, it keeps apart two identical events in the same millisecond. */
  private sentCount = 0;

  constructor(private readonly options: SiaBlockReceiverOptions) {}

  /** A connection's session; `peer` is its `address:port` (undefined: a plain-log line, from nowhere known). */
  newSession(peer?: string): SiaBlockSession {
    return { account: null, host: peerHost(peer), unconfirmed: undefined };
  }

  async handleBlock(session: SiaBlockSession, block: Uint8Array, peer?: string): Promise<SiaBlockOutcome> {
    const { counters, input } = this.options;
    const decoded = decodeSiaBlock(block);
    if (!decoded.ok) {
      this.rejected(decoded.error, peer);
      const unsupported = readUnsupportedSiaBlock(block);
      if (unsupported === null) return { reply: REJECT, events: [], end: false, error: decoded.error };
      this.wentOn(session, unsupported.functionCode + unsupported.data);
      return this.unsupported(session, block, unsupported.functionCode, unsupported.data, decoded.error, peer);
    }
    const { functionCode, data } = decoded.value;
    counters.inc('frames_total', { input, protocol: 'sia-dc03', result: 'decoded' });
    this.wentOn(session, functionCode + data);
    switch (functionCode) {
      case '#':
        session.account = data;
        return { reply: ACKNOWLEDGE, events: [], end: false };
      // A new event, or an old one (already reported, perhaps to another receiver): a hold-up either way. A listen-in
      // often follows a silent hold-up: the codec reads the event it carries, or the listen-in itself (SIA LF).
      case 'N':
      case 'O':
      case 'L':
        return this.event(session, block, functionCode, data, peer);
      case '0':
        return { reply: ACKNOWLEDGE, events: [], end: true };
      default:
        // Text (`A`) and other information blocks (`X`, `E`, `C`) follow their event's acknowledge, so they cannot
        // join the stored event; the rest carry no event.
        this.options.logger.debug({ input, functionCode, data, peer }, 'SIA block without an event');
        return { reply: ACKNOWLEDGE, events: [], end: false };
    }
  }

  private async event(session: SiaBlockSession, block: Uint8Array, functionCode: 'N' | 'O' | 'L', data: string, peer: string | undefined): Promise<SiaBlockOutcome> {
    const { strict, builder } = this.options;
    const origin = this.origin(block, peer);
    const account = session.account === null ? '' : `#${session.account}|`;
    const parsed = parseSiaData(`${account}${functionCode}${data}`, { strict });
    let events: NormalizedEvent[];
    if (parsed.ok && parsed.value.events.length > 0) {
      events = parsed.value.events.map((signal) => eventFromSignal(signal, origin, builder));
    } else {
      const error = parsed.ok ? { code: 'SIA03_FORMAT_INVALID', message: 'the event block carries no event', rawPreview: data } : parsed.error;
      this.rejected(error, peer);
      // The panel would only send the same block again: it is stored as it is, a duress code in it read as one.
      const why = `${error.message} (${error.code})`;
      const suspected = suspectedDuressSignal('sia-dc03', 'sia', `${functionCode}${data}`, why);
      events = [
        suspected !== null
          ? eventFromSignal({ ...suspected, account: session.account }, origin, builder)
          : gatewayEvent({ category: 'unrecognized', account: session.account, protocol: 'sia-dc03', reasons: [`${why}; stored as unrecognized`] }, origin, builder),
      ];
    }
    const recorded = await this.options.recorder.record(events, this.sent(session, functionCode + data, origin.receivedAt).dedupeKey);
    if (!recorded.ok) return { reply: REJECT, events: [], end: false, error: { code: recorded.error.code, message: recorded.error.message } };
    return { reply: ACKNOWLEDGE, events: recorded.events, end: false };
  }

  /**
   * A whole block whose function code DC-03 does not define: rejected, as a block the receiver cannot read is (the
   * panel retries it, then reports a failed call, instead of taking it as delivered). Its data is read for a duress
   * code as refused content is, and a hold-up found is stored before the reject; a resend of it is stored once.
   */
  private async unsupported(session: SiaBlockSession, block: Uint8Array, functionCode: string, data: string, error: DecodeError, peer: string | undefined): Promise<SiaBlockOutcome> {
    const rejected = { reply: REJECT, events: [], end: false, error };
    // Read as an event block's data would be, the unknown letter in the N block letter's place.
    const suspected = suspectedDuressSignal('sia-dc03', 'sia', `N${data}`, `${error.message} (${error.code})`);
    if (suspected === null) return rejected;
    const origin = this.origin(block, peer);
    const event = eventFromSignal({ ...suspected, account: session.account, text: functionCode + data }, origin, this.options.builder);
    const recorded = await this.options.recorder.record([event], this.sent(session, functionCode + data, origin.receivedAt).dedupeKey);
    if (!recorded.ok) return { ...rejected, error: { code: recorded.error.code, message: recorded.error.message } };
    return { ...rejected, events: recorded.events };
  }

  private origin(block: Uint8Array, peer: string | undefined): FrameOrigin {
    return {
      input: this.options.input,
      transport: 'tcp',
      receivedAt: this.options.clock.now(),
      raw: block,
      trust: unverified('unauthenticated-source'),
      ...(peer === undefined ? {} : { peer }),
    };
  }

  /**
   * The event block as first sent: the one stored under its sender within retransmitWindow when its acknowledge is
   * unconfirmed (a resend, on this connection or a new one), else this block, a new event. protocol-notes.md says why.
   */
  private sent(session: SiaBlockSession, data: string, now: number): SentEvent {
    const sender = `${session.host}|${session.account ?? ''}`;
    const earlier = this.unconfirmed.get(sender);
    if (earlier !== undefined && earlier.data === data && now - earlier.firstAt <= this.options.retransmitWindow) {
      session.unconfirmed = earlier;
      return earlier;
    }
    const sent: SentEvent = { sender, data, firstAt: now, dedupeKey: `sia-ip|${this.options.input}|${sender}|${now}|${++this.sentCount}|${data}` };
    this.unconfirmed.delete(sender);
    this.unconfirmed.set(sender, sent);
    if (this.unconfirmed.size > MAX_UNCONFIRMED) this.unconfirmed.delete(this.unconfirmed.keys().next().value!);
    session.unconfirmed = sent;
    return sent;
  }

  /** A whole block came: unless it is a copy of the last event block, the panel took that block's answer. */
  private wentOn(session: SiaBlockSession, block: string): void {
    if (block !== session.unconfirmed?.data) this.confirmed(session);
  }

  /** The session went on after its last event block: the panel took that block's acknowledge, so a copy is a new event. */
  private confirmed(session: SiaBlockSession): void {
    const sent = session.unconfirmed;
    if (sent === undefined) return;
    session.unconfirmed = undefined;
    if (this.unconfirmed.get(sent.sender) === sent) this.unconfirmed.delete(sent.sender);
  }

  private rejected(error: { code: string; message: string; rawPreview?: string }, peer: string | undefined): void {
    this.options.counters.inc('frames_rejected_total', { input: this.options.input, code: error.code });
    this.options.warnings.warn(error.code, peer, { code: error.code, detail: error.message, raw: error.rawPreview }, 'SIA block rejected');
  }
}
