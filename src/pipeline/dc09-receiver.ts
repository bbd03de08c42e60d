import { dc09CrcFormOf, decodeDc09Frame, readUnsupportedDc09Frame, type Dc09DecodeOptions, type Dc09Message } from '../codecs/dc09/frame.js';
import { dc09AnswerOf, encodeAck, encodeDuhForFrame, encodeNak, osborneHoffmanAnswer, unexpectedAnswer } from '../codecs/dc09/responses.js';
import { previewOf, type DecodeError } from '../codecs/result.js';
import type { ErrorCode } from '../errors.js';
import { isoTime, type NormalizedEvent, type Transport, type UnverifiedReason } from '../model/event.js';
import type { RandomBytes } from '../model/ids.js';
import type { Clock, Logger } from '../ports.js';
import type { Counters } from '../observability/counters.js';
import { eventFromSignal, gatewayEvent, unverified, VERIFIED, type EventBuilderDeps, type FrameOrigin, type Trust } from './event-builder.js';
import { UnverifiedFrames } from './unverified-frames.js';
import { peerHost, RateLimitedLog } from '../observability/rate-limited-log.js';
import { formatDuration } from '../settings/duration.js';
import type { Recorder, RecordOptions } from './recorder.js';
import { dc09Signals, unsupportedTokenSignals } from './decode-frame.js';
import { raiseCapacityAlarm } from './capacity-alarm.js';
import { UnlistedUnreadable, type UnlistedSummary } from './unlisted-unreadable.js';

export interface Dc09Account {
  account: string;
  key?: Uint8Array;
}

export interface Dc09ReceiverOptions {
  input: string;
  /** Allowlist; null accepts any account that sends unencrypted frames. */
  accounts: readonly Dc09Account[] | null;
  window: { past: number; future: number };
  strict: boolean;
  /** Accept Osborne-Hoffman framing (fixed CRC 0101, OH heartbeat) from the allowed accounts; off by default. */
  osborneHoffman?: boolean;
  clock: Clock;
  random: RandomBytes;
  recorder: Recorder;
  builder: EventBuilderDeps;
  counters: Counters;
  logger: Logger;
  /** Called for every frame that decoded, heartbeats included (link supervision, last-seen). */
  onTraffic?(account: string, at: number): void;
  /**
   * Called with every raw frame before it is decoded, with the same arrival time its events get as receivedAt
   * (capture files: a replay then reproduces receivedAt exactly).
   */
  onFrame?(frame: Uint8Array, transport: Transport, peer: string | undefined, at: number): void;
  /** Called once per frame with its answer and the time from arrival to the answer being decided (metrics). */
  onAnswered?(answer: Dc09Answer, latencyMs: number): void;
  /**
   * False when nothing sends this receiver's answers (`replay`): an ACK is decided but its bytes are not built
   * (reply null). Unset: true.
   */
  answersSent?: boolean;
  /**
   * True when the outcome of a retransmit must carry the events stored for it the first time (the simulator's
   * receiver prints them). Unset: false, and a retransmit's ACK is decided without reading them back.
   */
  retransmitEvents?: boolean;
}

export type Dc09Answer = 'ack' | 'nak' | 'duh' | 'none';

/**
 * How often an allowlisted account whose encrypted frames still cannot be read is reported again, and how often
 * such frames from accounts off the allowlist are summarised.
 */
export const UNREADABLE_REPORT_INTERVAL_MS = 60 * 60_000;

/** An allowlisted account whose encrypted frames cannot be read: since when, how many, when last reported. */
interface Unreadable {
  since: number;
  frames: number;
  reportedAt: number;
}

export interface Dc09Outcome {
  answer: Dc09Answer;
  reply: Uint8Array | null;
  events: NormalizedEvent[];
  duplicate: boolean;
  error?: DecodeError | { code: string; message: string };
}

/**
 * Decides what a DC-09 frame gets back, per protocols.md §3.7: ACK only after the event is stored; NAK with the
 * receiver's time for a stale encrypted timestamp, a frame nothing in the configuration vouches for (its content
 * still published, unverified: README "Duress integrity"), a failed store; nothing for a bad CRC; DUH only for
 * message types we do not handle. Content that decodes but cannot be classified is ACKed and
 * published as `unrecognized` (README: "Why unclassifiable frames get ACK, not DUH").
 */
export class Dc09Receiver {
  private readonly accounts: Map<string, Dc09Account> | null;
  private readonly decodeOptions: Dc09DecodeOptions;
  private readonly unverifiedFrames = new UnverifiedFrames();
  /** Rejections a flood repeats (bad CRC, bad format): counted each time, logged once per kind and peer per 10 s. */
  private readonly warnings: RateLimitedLog;
  /**
   * Keyed accounts NAKed for their timestamp, until one of their frames is in the window again, with whether
   * their clock was reported off.
   */
  private readonly clockOff = new Map<string, { reported: boolean }>();
  /**
   * Per kind of frame the receiver cannot read: allowlisted accounts (so at most as many as it lists) that send
   * them, until one of theirs is read (encrypted frames) or for good (tokens); such frames from accounts off the
   * allowlist (any, without one), summarised once an hour.
   */
  private readonly unreadable: Record<UnreadableKind, { accounts: Map<string, Unreadable>; unlisted: UnlistedUnreadable }> = {
    'undecryptable-frame': { accounts: new Map(), unlisted: new UnlistedUnreadable(UNREADABLE_REPORT_INTERVAL_MS) },
    'unsupported-token': { accounts: new Map(), unlisted: new UnlistedUnreadable(UNREADABLE_REPORT_INTERVAL_MS) },
  };
  private readonly recordOptions: RecordOptions;

  constructor(private readonly options: Dc09ReceiverOptions) {
    this.warnings = new RateLimitedLog({ logger: options.logger, clock: options.clock });
    this.recordOptions = { earlierEvents: options.retransmitEvents === true };
    this.accounts =
      options.accounts === null ? null : new Map(options.accounts.map((a) => [a.account.toUpperCase(), a]));
    this.decodeOptions = {
      strict: options.strict,
      network: true,
      keyFor: (account) => (account === null ? undefined : this.accounts?.get(account.toUpperCase())?.key),
    };
  }

  handleFrame(frame: Uint8Array, transport: Transport, peer?: string): Promise<Dc09Outcome> {
    const now = this.options.clock.now();
    try {
      const decided = this.decide(frame, transport, peer, now);
      // Only frames that store something wait for the outbox (and are told answered when stored); the rest are
      // answered without a promise per step.
      return decided instanceof Promise ? decided : Promise.resolve(this.answered(decided, now));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Reports the answer and how long since the frame arrived (`now` when it was handed over). */
  private answered(outcome: Dc09Outcome, arrivedAt: number): Dc09Outcome {
    this.options.onAnswered?.(outcome.answer, this.options.clock.now() - arrivedAt);
    return outcome;
  }

  /** The outcome, or a promise of it that reports itself answered. */
  private decide(frame: Uint8Array, transport: Transport, peer: string | undefined, now: number): Dc09Outcome | Promise<Dc09Outcome> {
    const { counters, input } = this.options;
    this.options.onFrame?.(frame, transport, peer, now);
    const decoded = decodeDc09Frame(frame, this.decodeOptions);
    if (!decoded.ok) return this.rejected(frame, decoded.error, now, transport, peer);
    const msg = decoded.value;
    counters.inc('frames_total', { input, protocol: msg.token, result: 'decoded' });

    const answer = dc09AnswerOf(msg);
    if (answer !== null) return this.refuse('none', null, unexpectedAnswer(answer.token));
    const account = msg.account ?? msg.dataAccount;
    const trust = this.trustOf(msg, account);
    const origin: FrameOrigin =
      peer === undefined ? { input, transport, receivedAt: now, raw: frame, trust } : { input, transport, receivedAt: now, raw: frame, trust, peer };
    if (!trust.verified && isRefused(trust.reason)) return this.refused(msg, account, origin, trust.reason).then((outcome) => this.answered(outcome, now));
    // Read under the account's key (or it has none), in the window or not: a frame that cannot be read again is news.
    const undecryptable = this.unreadable['undecryptable-frame'].accounts;
    if (account !== null && undecryptable.size > 0) undecryptable.delete(account.toUpperCase());
    if (msg.encrypted && !this.timestampInWindow(msg.timestamp, now)) return this.outOfWindow(msg, account, origin).then((outcome) => this.answered(outcome, now));
    if (account !== null) {
      if (this.clockOff.size > 0) this.clockOff.delete(account.toUpperCase());
      this.options.onTraffic?.(account, now);
    }
    const signals = dc09Signals(msg, this.options.strict);
    if (msg.token === 'NULL' || msg.token === 'OH') {
      counters.inc('heartbeats_total', { input });
      // A NULL whose data block carries an event (quirk null-with-event) is stored like any event before its ACK.
      if (signals.every((signal) => signal.code === null)) return { answer: 'ack', reply: this.ack(msg, now), events: [], duplicate: false };
    }

    const events = this.eventsOf(msg, origin, signals);
    return this.options.recorder.record(events, this.retransmitKey(msg, account), this.recordOptions).then((recorded): Dc09Outcome => {
      if (!recorded.ok) {
        return this.answered(this.refuse('nak', this.nak(msg, now), { code: recorded.error.code, message: recorded.error.message }), now);
      }
      return this.answered({ answer: 'ack', reply: this.ack(msg, now), events: recorded.events, duplicate: recorded.duplicate }, now);
    });
  }

  /**
   * Trust is earned per frame: an account on the allowlist, encrypted under its key when it has one. Without an
   * allowlist the input trusts every sender as configured, but its events say that nothing authenticated them.
   */
  private trustOf(msg: Dc09Message, account: string | null): Trust {
    // Nothing authenticates Osborne-Hoffman framing (a fixed CRC, no key): the input must allow it, and with an
    // allowlist the account must be on it.
    if (msg.osborneHoffman && this.options.osborneHoffman !== true) return unverified('osborne-hoffman-not-allowed');
    if (this.accounts === null) return unverified('unauthenticated-source');
    const known = account === null ? undefined : this.accounts.get(account.toUpperCase());
    if (known === undefined) return unverified(msg.osborneHoffman ? 'osborne-hoffman-not-allowed' : 'unknown-account');
    if (known.key !== undefined && !msg.encrypted) return unverified('plaintext-for-keyed-account');
    return VERIFIED;
  }

  private nak(msg: Dc09Message, now: number): Uint8Array {
    return msg.osborneHoffman ? osborneHoffmanAnswer('NAK') : encodeNak(now, msg.crcForm);
  }

  private eventsOf(msg: Dc09Message, origin: FrameOrigin, signals = dc09Signals(msg, this.options.strict)): NormalizedEvent[] {
    return signals.map((signal) => eventFromSignal(signal, origin, this.options.builder));
  }

  /**
   * A frame nothing in the configuration vouches for: NAK (so a real panel retries or fails over), no supervision
   * credit, no test credit. Its content is still decoded and classified: duress and hold-up are always stored and
   * published (`verified: false`); anything else at most once a minute per account (or peer), with a count.
   */
  private async refused(msg: Dc09Message, account: string | null, origin: FrameOrigin, reason: RefusedReason): Promise<Dc09Outcome> {
    const { counters, input } = this.options;
    const { code, why, remedy: remedyText } = REFUSALS[reason];
    counters.inc('frames_rejected_total', { input, code });
    const host = peerHost(origin.peer);
    const originKey = `${input}|${account?.toUpperCase() ?? `peer:${host}`}`;
    this.warnings.warn(`${code}|${originKey}`, origin.peer, { account, seq: msg.seq, peer: origin.peer, code }, `${why}: NAK`);
    const reply = this.nak(msg, origin.receivedAt);
    const error = { code, message: `account ${account ?? '(none)'}: ${why}` };
    const events = this.eventsOf(msg, origin);
    const remedy = remedyText.replaceAll('{input}', input);
    for (const event of events) event.reasons.push(`frame from account ${account ?? '(none)'} NAKed (${code}): ${why}; ${remedy}`);
    // Duress and hold-up content is always stored; the rest is folded per origin and per peer.
    const folds = !events.some((event) => event.duress);
    if (folds) {
      const admit = this.unverifiedFrames.admit(originKey, host, origin.receivedAt);
      if (!admit.store) {
        counters.inc('unverified_frames_folded_total', { input });
        return { answer: 'nak', reply, events: [], duplicate: false, error };
      }
      for (const event of events) event.unverifiedCount = admit.count;
    }
    const recorded = await this.options.recorder.record(events, `unverified|${this.retransmitKey(msg, account)}`);
    if (folds) this.unverifiedFrames.settled(originKey, host, origin.receivedAt, recorded.ok && !recorded.duplicate);
    return { answer: 'nak', reply, events: recorded.ok ? recorded.events : [], duplicate: recorded.ok && recorded.duplicate, error };
  }

  /**
   * An encrypted frame outside the timestamp window (or without a valid timestamp) gets NAK with the receiver's
   * time (DC-09), so the panel can set its clock and resend. The window is a defence against replays, so its
   * duress and hold-up content is published unverified at once, never held back for the resend. A panel that
   * sends out-of-window frames again after that NAK does not adopt it: one supervisory event per account says how
   * far off its clock is.
   */
  private async outOfWindow(msg: Dc09Message, account: string | null, received: FrameOrigin): Promise<Dc09Outcome> {
    const { counters, input } = this.options;
    const origin: FrameOrigin = { ...received, trust: unverified('timestamp-out-of-window') };
    const now = origin.receivedAt;
    const code = msg.timestamp === null ? 'DC09_TIMESTAMP_INVALID' : 'DC09_TIMESTAMP_OUT_OF_WINDOW';
    counters.inc('frames_rejected_total', { input, code });
    const reply = encodeNak(now, msg.crcForm);
    const panelTime = msg.timestamp === null ? 'missing' : new Date(msg.timestamp).toISOString();
    const error = { code, message: msg.timestamp === null ? 'encrypted frame has no valid timestamp' : `panel time ${panelTime} is outside the window` };
    const key = (account ?? '').toUpperCase();
    const state = this.clockOff.get(key);
    this.warnings.warn(`window|${input}|${key}`, origin.peer, { account, seq: msg.seq, panelTime: msg.timestamp, peer: origin.peer, code }, 'timestamp outside the window or missing: NAK with the receiver time');
    if (state === undefined) this.clockOff.set(key, { reported: false });
    else if (!state.reported && msg.timestamp !== null) {
      state.reported = true;
      const offset = msg.timestamp - now;
      const event = gatewayEvent(
        {
          category: 'supervisory',
          account,
          protocol: msg.token === 'ADM-CID' ? 'adm-cid' : msg.token === 'SIA-DCS' ? 'sia-dcs' : 'null',
          receiver: msg.receiver,
          line: msg.line,
          reasons: [
            `the clock of account ${account ?? '(none)'} is off by ${formatDuration(Math.abs(offset))} (${offset < 0 ? 'behind' : 'ahead'}: panel time ${panelTime}); it sent again after a NAK carrying the receiver time, so it does not adopt it. Set the panel's clock to UTC; until then its duress and hold-up frames are published unverified and everything else is NAKed`,
          ],
        },
        origin,
        this.options.builder,
      );
      event.covert = true; // raised by whichever frame came second, a duress among them: not for local outputs
      void this.options.recorder.recordRaised([event]);
    }
    const duress = this.eventsOf(msg, origin).filter((event) => event.duress);
    if (duress.length === 0) return { answer: 'nak', reply, events: [], duplicate: false, error };
    for (const event of duress) event.reasons.push(`frame NAKed (${code}): panel time ${panelTime}; published unverified so a duress is not refused for a clock fault`);
    const recorded = await this.options.recorder.record(duress, `unverified|${this.retransmitKey(msg, account)}`);
    return { answer: 'nak', reply, events: recorded.ok ? recorded.events : [], duplicate: recorded.ok && recorded.duplicate, error };
  }

  /**
   * The listener turned connections away (maxConnections or an address's maxConnectionsPerPeer still held past a
   * burst), could not accept one, or discarded datagrams (as many as it holds were waiting): a supervisory event, so the operator learns that a panel may not get through, not only the log.
   */
  capacityAlarm(reason: string, transport: Transport): Promise<void> {
    return raiseCapacityAlarm(this.options, reason, transport);
  }

  private rejected(frame: Uint8Array, error: DecodeError, now: number, transport: Transport, peer: string | undefined): Dc09Outcome | Promise<Dc09Outcome> {
    const { counters, input } = this.options;
    counters.inc('frames_rejected_total', { input, code: error.code });
    this.warnings.warn(error.code, peer, { code: error.code, detail: error.message, raw: error.rawPreview, account: error.account, peer }, 'frame rejected');
    switch (error.code) {
      // The panel must not believe a corrupted frame arrived; it retries (DC09-2007 C.2.3.5).
      case 'DC09_CRC_MISMATCH':
      case 'DC09_FORMAT_INVALID':
      case 'FORMAT_UNKNOWN':
      case 'DC09_LENGTH_MISMATCH':
        return { answer: 'none', reply: null, events: [], duplicate: false, error };
      // A CRC-valid message of a type we do not handle (DC-07 tokens, a vendor's format): DUH, so the panel does not
      // repeat it here (it may on a backup path), once what it may carry was stored.
      case 'DC09_ID_UNSUPPORTED':
        return this.unsupportedToken(frame, error, now, transport, peer);
      default: {
        const outcome: Dc09Outcome = { answer: 'nak', reply: encodeNak(now, dc09CrcFormOf(frame)), events: [], duplicate: false, error };
        const reported = this.reportUnreadable(frame, error, error.account, now, transport, peer);
        return reported === undefined ? outcome : reported.then(() => this.answered(outcome, now));
      }
    }
  }

  /**
   * A CRC-valid frame in an ID token the receiver does not read. It may carry a duress: a duress or hold-up code that
   * stands in its text where a code would (the scan content the parser refuses gets) is stored as that code, labelled
   * and unverified, whoever sent it (security rule 1); and central is told that such frames arrive as for frames
   * that cannot be decrypted (reportUnreadable). Only then is it answered DUH; NAK when the store failed, so the
   * panel sends it again.
   */
  private unsupportedToken(frame: Uint8Array, error: DecodeError, now: number, transport: Transport, peer: string | undefined): Promise<Dc09Outcome> {
    const { input, builder, recorder } = this.options;
    const read = readUnsupportedDc09Frame(frame);
    const trust = unverified('unsupported-token');
    const origin: FrameOrigin =
      peer === undefined ? { input, transport, receivedAt: now, raw: frame, trust } : { input, transport, receivedAt: now, raw: frame, trust, peer };
    const detail = read === null ? [] : [`the frame: ID token "${read.token}"${read.encrypted ? ' (encrypted)' : ''}, data ${previewOf(read.content)}`];
    const reported = this.reportUnreadable(frame, error, read?.account ?? undefined, now, transport, peer, detail) ?? Promise.resolve();
    const events = read === null ? [] : unsupportedTokenSignals(read).map((signal) => eventFromSignal(signal, origin, builder));
    const why = `frame answered DUH (${error.code}): the gateway does not read ID token "${read?.token}", so this code was found in its text and is published unverified`;
    for (const event of events) event.reasons.push(why);
    const stored = events.length === 0 ? Promise.resolve(undefined) : recorder.record(events, `dc09-unsupported|${input}|${Buffer.from(frame).toString('latin1')}`);
    return Promise.all([stored, reported]).then(([recorded]) => {
      if (recorded !== undefined && !recorded.ok) {
        return this.answered(this.refuse('nak', encodeNak(now, dc09CrcFormOf(frame)), { code: recorded.error.code, message: recorded.error.message }), now);
      }
      const outcome: Dc09Outcome = { answer: 'duh', reply: encodeDuhForFrame(frame), events: recorded?.events ?? [], duplicate: recorded?.duplicate ?? false, error };
      return this.answered(outcome, now);
    });
  }

  /**
   * A frame from an allowlisted account that cannot be read (encrypted under no key or another key, or in an ID token
   * the receiver does not read) is NAKed or answered DUH like any, but the panel will be so forever and what it
   * sends, a duress perhaps, is unknown: one covert supervisory event per account and kind tells central at once,
   * again every UNREADABLE_REPORT_INTERVAL_MS while it lasts, and (encrypted frames) anew once a frame of the account
   * was read in between. It is not labelled duress: anybody can send junk naming the account. Accounts off the
   * allowlist (any, without one) are summarised for the whole input instead (reportUnlisted), for anybody can name any
   * number of them. `detail`: lines about the frame, for the event it raises. Stored before the frame is answered;
   * undefined when nothing is raised.
   */
  private reportUnreadable(
    frame: Uint8Array, error: DecodeError, account: string | undefined, now: number, transport: Transport, peer: string | undefined, detail: string[] = [],
  ): Promise<void> | undefined {
    const fault = UNREADABLE[error.code];
    if (fault === undefined) return undefined;
    const { accounts, unlisted } = this.unreadable[fault.kind];
    if (account === undefined || this.accounts?.has(account.toUpperCase()) !== true) {
      const summary = unlisted.note(account, now);
      return summary === undefined ? undefined : this.reportUnlisted(fault, summary, frame, error, now, transport, peer, detail);
    }
    const state = accounts.get(account.toUpperCase()) ?? { since: now, frames: 0, reportedAt: Number.NEGATIVE_INFINITY };
    state.frames += 1;
    accounts.set(account.toUpperCase(), state);
    if (now - state.reportedAt < UNREADABLE_REPORT_INTERVAL_MS) return undefined;
    state.reportedAt = now;
    const { input, recorder, logger } = this.options;
    const frames = `${state.frames} frame${state.frames === 1 ? '' : 's'}`;
    const reasons = [
      `${fault.frames} from account ${account} cannot be read: ${fault.why} (${error.code}); ${frames} ${fault.answered} since ${isoTime(state.since)}`,
      ...detail,
      fault.content,
      fault.remedy.replaceAll('{input}', input),
    ];
    const event = this.unreadableEvent(fault.kind, account, reasons, frame, now, transport, peer);
    return recorder.recordRaised([event]).then((recorded) => {
      if (recorded.ok) return;
      state.reportedAt = Number.NEGATIVE_INFINITY; // the account's next frame tries again
      logger.error({ err: recorded.error, account }, 'supervisory event not stored');
    });
  }

  /**
   * The summary of frames that cannot be read from accounts off the allowlist: a panel that encrypts but was never
   * added (or was added to another input), or that reports in a format the receiver does not read, gets through
   * never. The account names are what frames claim, so the event names no account of its own and says the most
   * frequent, where a retrying panel stands out.
   */
  private reportUnlisted(
    fault: UnreadableFault, summary: UnlistedSummary, frame: Uint8Array, error: DecodeError, now: number, transport: Transport, peer: string | undefined, detail: string[],
  ): Promise<void> {
    const { input, recorder, logger } = this.options;
    const frames = `${summary.frames} frame${summary.frames === 1 ? '' : 's'}`;
    const accounts = `${summary.accountsCapped ? 'more than ' : ''}${summary.accounts} account${summary.accounts === 1 && !summary.accountsCapped ? '' : 's'}`;
    const names = summary.names.map(([name, count]) => `${name} (${count})`).join(', ');
    const why = fault.unlistedWhy[this.accounts === null ? 'open' : 'listed'];
    const reasons = [
      `${fault.frames} cannot be read: ${frames} from ${accounts} not in the allowlist ${fault.answered} since ${isoTime(summary.since)} (${error.code}: ${why}); accounts: ${names}`,
      ...detail,
      fault.content,
      `${fault.unlistedRemedy.replaceAll('{input}', input)}; made-up accounts (a flood) are summarised here at most once an hour`,
    ];
    const event = this.unreadableEvent(fault.kind, null, reasons, frame, now, transport, peer);
    return recorder.recordRaised([event]).then((recorded) => {
      if (recorded.ok) return;
      this.unreadable[fault.kind].unlisted.failed();
      logger.error({ err: recorded.error, frames: summary.frames, accounts: summary.accounts, names }, 'supervisory event not stored');
    });
  }

  /** A covert supervisory event about frames that cannot be read, carrying the frame that raised it. */
  private unreadableEvent(
    kind: UnreadableKind, account: string | null, reasons: string[], frame: Uint8Array, now: number, transport: Transport, peer: string | undefined,
  ): NormalizedEvent {
    const { input, builder } = this.options;
    const trust = unverified(kind);
    const origin: FrameOrigin =
      peer === undefined ? { input, transport, receivedAt: now, raw: frame, trust } : { input, transport, receivedAt: now, raw: frame, trust, peer };
    const event = gatewayEvent({ category: 'supervisory', account, reasons }, origin, builder);
    event.covert = true; // raised by whichever frame came first, a duress perhaps: not for local outputs
    return event;
  }

  private refuse(answer: Dc09Answer, reply: Uint8Array | null, error: { code: string; message: string }): Dc09Outcome {
    return { answer, reply, events: [], duplicate: false, error };
  }

  /**
   * An encrypted ACK is built even when no one sends it: its pad draws from the random source the event ids come
   * from, so leaving it out would change a replay's ids.
   */
  private ack(msg: Dc09Message, now: number): Uint8Array | null {
    if (this.options.answersSent === false && !msg.encrypted) return null;
    const key = msg.encrypted ? this.accounts?.get((msg.account ?? msg.dataAccount ?? '').toUpperCase())?.key : undefined;
    return encodeAck(msg, key === undefined ? { now, random: this.options.random } : { now, random: this.options.random, key });
  }

  private timestampInWindow(timestamp: number | null, now: number): boolean {
    if (timestamp === null) return false;
    return timestamp >= now - this.options.window.past && timestamp <= now + this.options.window.future;
  }

  /**
   * A retransmit has the same account, sequence, content and timestamp: ACKed again, stored once. For an
   * encrypted frame with a timestamp the decrypted content and its timestamp decide and the clear header
   * (sequence, R, L, the account's letter case) does not, so a replay with a rewritten header is recognised too;
   * without a timestamp nothing but the sequence tells a second press from a retransmit, so it counts. The content
   * is kept whole (the data block length-prefixed, so no field can run into the next): the outbox confirms a hit
   * against this exact key.
   */
  private retransmitKey(msg: Dc09Message, account: string | null): string {
    const content = `${msg.token}|${msg.data.length}:${msg.data}|${extendedText(msg)}|${msg.timestamp ?? ''}${moreDataText(msg)}`;
    const header = msg.encrypted && msg.timestamp !== null ? '*' : `${msg.seq}|${msg.receiver}|${msg.line}`;
    return `dc09|${this.options.input}|${account?.toUpperCase() ?? null}|${header}|${content}`;
  }
}

/**
 * The extended fields as JSON, a repeated letter's later values too (frames that differ only there are two frames).
 * Most frames have none, and each JSON.stringify call has a fixed cost of its own.
 */
function extendedText({ extended, extendedRepeated }: Dc09Message): string {
  if (extendedRepeated !== undefined) return JSON.stringify([extended, extendedRepeated]);
  for (const letter in extended) if (Object.hasOwn(extended, letter)) return JSON.stringify(extended);
  return '{}';
}

/** Further data blocks, whole (frames that differ only there are two frames); nothing when there are none. */
function moreDataText({ moreData }: Dc09Message): string {
  return moreData === undefined ? '' : `|${JSON.stringify(moreData)}`;
}

/** Causes for which a frame is answered NAK and earns no trust (an unauthenticated input's frames are ACKed). */
export type RefusedReason = Exclude<UnverifiedReason, 'unauthenticated-source' | 'timestamp-out-of-window' | 'undecryptable-frame' | 'unsupported-token'>;

/** The counter code, the log text and the fix of each cause for which a frame is refused. */
const REFUSALS: Record<RefusedReason, { code: ErrorCode; why: string; remedy: string }> = {
  'unknown-account': {
    code: 'DC09_ACCOUNT_UNKNOWN',
    why: 'the account is not in the allowlist',
    remedy: "check the panel's account or add it to inputs.{input}.accounts",
  },
  'plaintext-for-keyed-account': {
    code: 'DC09_PLAINTEXT_FOR_KEYED_ACCOUNT',
    why: 'the account has a key but the frame is not encrypted',
    remedy: "a forged frame, or a panel whose encryption is off: check the panel's key settings",
  },
  'osborne-hoffman-not-allowed': {
    code: 'DC09_OH_NOT_ALLOWED',
    why: 'an Osborne-Hoffman line (no CRC, no key) is not allowed on this input or from this account',
    remedy: 'configure the panel for DC-09, or set inputs.{input}.osborneHoffman: true and list the account in inputs.{input}.accounts',
  },
};

/** The kinds of frame the receiver cannot read, named by the unverifiedReason of the events about them. */
type UnreadableKind = Extract<UnverifiedReason, 'undecryptable-frame' | 'unsupported-token'>;

/** What the events about one kind of frame that cannot be read say: what they are and what they get, why, the fix. */
interface UnreadableFault {
  kind: UnreadableKind;
  frames: string;
  answered: string;
  why: string;
  remedy: string;
  /** Why, for accounts off the allowlist (`listed`) or on an input without one (`open`). */
  unlistedWhy: { listed: string; open: string };
  unlistedRemedy: string;
  /** What central is to do meanwhile. */
  content: string;
}

const UNDECRYPTABLE = {
  kind: 'undecryptable-frame',
  frames: 'encrypted frames',
  answered: 'NAKed',
  unlistedWhy: { listed: 'no key is configured for them', open: 'this input has no allowlist, so no key' },
  unlistedRemedy: 'a panel that encrypts but was never added cannot get through: list its account with its key in inputs.{input}.accounts',
  content:
    'what they carry is unknown: any of them may have been a duress or hold-up, so check on the site; the panel is NAKed, so it retries or fails over',
} as const;

const UNSUPPORTED_WHY = 'their DC-09 ID token is none the gateway reads (SIA-DCS, ADM-CID, NULL and their encrypted forms)';

/** Why a frame (from an allowlisted account) cannot be read, and the fix, per decode error that says so. */
const UNREADABLE: Partial<Record<ErrorCode, UnreadableFault>> = {
  DC09_KEY_MISSING: {
    ...UNDECRYPTABLE,
    why: 'the account has no key configured, but the panel encrypts',
    remedy: "configure the panel's key for the account in inputs.{input}.accounts (key, keyFile or keyEnv, and keyEncoding)",
  },
  DC09_DECRYPT_FAILED: {
    ...UNDECRYPTABLE,
    why: "the account's key does not decrypt them (the panel's key was changed, or the configured one is mistyped)",
    remedy: "correct the account's key in inputs.{input}.accounts (a 32-character key is AES-128 as hex or AES-256 as ASCII: check keyEncoding)",
  },
  DC09_ID_UNSUPPORTED: {
    kind: 'unsupported-token',
    frames: 'frames in an ID token the gateway does not read',
    answered: 'answered DUH',
    why: UNSUPPORTED_WHY,
    remedy: 'set the panel to report SIA-DCS or ADM-CID over DC-09 to this receiver (inputs.{input})',
    unlistedWhy: { listed: UNSUPPORTED_WHY, open: UNSUPPORTED_WHY },
    unlistedRemedy: 'a panel reporting in a format the gateway does not read cannot get through: set it to SIA-DCS or ADM-CID and list its account in inputs.{input}.accounts',
    content:
      'what they carry is not read: any of them may have been a duress or hold-up (a duress or hold-up code found in their text is published at once, labelled, unverified), so check on the site; the panel is answered DUH, so it does not send the message here again but may on a backup path',
  },
};

function isRefused(reason: UnverifiedReason): reason is RefusedReason {
  return reason in REFUSALS;
}
