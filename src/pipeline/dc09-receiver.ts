import { decodeDc09Frame, encodeDc09Frame, type Dc09DecodeOptions, type Dc09Message } from '../codecs/dc09/frame.js';
import { encodeAck, encodeNak } from '../codecs/dc09/responses.js';
import type { DecodeError } from '../codecs/result.js';
import type { NormalizedEvent, Transport } from '../model/event.js';
import type { RandomBytes } from '../model/ids.js';
import type { Clock, Logger } from '../ports.js';
import type { Counters } from '../observability/counters.js';
import { RateLimitedLog } from '../observability/rate-limited-log.js';
import { eventFromSignal, gatewayEvent, type EventBuilderDeps, type FrameOrigin } from './event-builder.js';
import type { Recorder } from './recorder.js';
import { dc09Signals } from './decode-frame.js';

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
}

export type Dc09Answer = 'ack' | 'nak' | 'duh' | 'none';

export interface Dc09Outcome {
  answer: Dc09Answer;
  reply: Uint8Array | null;
  events: NormalizedEvent[];
  duplicate: boolean;
  error?: DecodeError | { code: string; message: string };
}

/**
 * Decides what a DC-09 frame gets back, per protocols.md §3.7: ACK only after the event is stored; NAK with the
 * receiver's time for a stale encrypted timestamp, an unknown account, a failed store; nothing for a bad CRC;
 * DUH only for message types we do not handle. Content that decodes but cannot be classified is ACKed and
 * published as `unrecognized` (README: "Why unclassifiable frames get ACK, not DUH").
 */
export class Dc09Receiver {
  private readonly accounts: Map<string, Dc09Account> | null;
  private readonly decodeOptions: Dc09DecodeOptions;
  /** Warnings a flood repeats (bad CRC, unknown account, stale timestamp): counted each time, logged sparingly. */
  private readonly warnings: RateLimitedLog;

  constructor(private readonly options: Dc09ReceiverOptions) {
    this.warnings = new RateLimitedLog({ logger: options.logger, clock: options.clock });
    this.accounts =
      options.accounts === null ? null : new Map(options.accounts.map((a) => [a.account.toUpperCase(), a]));
    this.decodeOptions = {
      strict: options.strict,
      keyFor: (account) => (account === null ? undefined : this.accounts?.get(account.toUpperCase())?.key),
    };
  }

  /**
   * Stores the events of the frames handled so far now, so they are answered without waiting for the end of
   * this turn of the event loop (a listener that gets frames in batches calls it after each batch).
   */
  commitQueued(): void {
    this.options.recorder.commitQueued();
  }

  handleFrame(frame: Uint8Array, transport: Transport, peer?: string): Promise<Dc09Outcome> {
    const started = this.options.clock.now();
    const answered = (outcome: Dc09Outcome): Dc09Outcome => {
      this.options.onAnswered?.(outcome.answer, this.options.clock.now() - started);
      return outcome;
    };
    try {
      const decided = this.decide(frame, transport, peer);
      // Only frames that store something wait for the outbox; the rest are answered without a promise per step.
      return decided instanceof Promise ? decided.then(answered) : Promise.resolve(answered(decided));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private decide(frame: Uint8Array, transport: Transport, peer?: string): Dc09Outcome | Promise<Dc09Outcome> {
    const { clock, counters, input } = this.options;
    const now = clock.now();
    this.options.onFrame?.(frame, transport, peer, now);
    const origin: FrameOrigin = { input, transport, receivedAt: now, raw: frame, ...(peer === undefined ? {} : { peer }) };
    const decoded = decodeDc09Frame(frame, this.decodeOptions);
    if (!decoded.ok) return this.rejected(frame, decoded.error, now, peer);
    const msg = decoded.value;
    counters.inc('frames_total', { input, protocol: msg.token, result: 'decoded' });

    if (msg.token === 'ACK' || msg.token === 'NAK' || msg.token === 'DUH' || msg.token === 'RSP') {
      // A panel never sends these to a receiver: nothing to store, nothing to answer.
      return this.refuse('none', null, { code: 'DC09_ID_UNSUPPORTED', message: `unexpected ${msg.token} from a panel` });
    }
    const account = msg.account ?? msg.dataAccount;
    if (this.accounts !== null && (account === null || !this.accounts.has(account.toUpperCase()))) {
      return this.unknownAccount(msg, account, origin);
    }
    if (msg.encrypted && !this.timestampInWindow(msg.timestamp, now)) {
      counters.inc('frames_rejected_total', { input, code: 'DC09_TIMESTAMP_OUT_OF_WINDOW' });
      this.warnings.warn('DC09_TIMESTAMP_OUT_OF_WINDOW', peer, { account, seq: msg.seq, panelTime: msg.timestamp, peer }, 'timestamp outside the window: NAK');
      return this.refuse('nak', encodeNak(now, msg.crcForm), {
        code: 'DC09_TIMESTAMP_OUT_OF_WINDOW',
        message: `panel time ${msg.timestamp === null ? 'missing' : new Date(msg.timestamp).toISOString()} is outside the window`,
      });
    }
    if (account !== null) this.options.onTraffic?.(account, now);
    if (msg.token === 'NULL' || msg.token === 'OH') {
      counters.inc('heartbeats_total', { input });
      return { answer: 'ack', reply: this.ack(msg, now), events: [], duplicate: false };
    }

    const events = dc09Signals(msg, this.options.strict).map((signal) => eventFromSignal(signal, origin, this.options.builder));
    return this.options.recorder.record(events, this.dedupeKey(msg)).then((recorded): Dc09Outcome => {
      if (!recorded.ok) {
        return this.refuse('nak', encodeNak(now, msg.crcForm), { code: recorded.error.code, message: recorded.error.message });
      }
      return { answer: 'ack', reply: this.ack(msg, now), events: recorded.events, duplicate: recorded.duplicate };
    });
  }

  private async unknownAccount(msg: Dc09Message, account: string | null, origin: FrameOrigin): Promise<Dc09Outcome> {
    const { counters, input } = this.options;
    counters.inc('frames_rejected_total', { input, code: 'DC09_ACCOUNT_UNKNOWN' });
    this.warnings.warn('DC09_ACCOUNT_UNKNOWN', origin.peer, { account, seq: msg.seq, peer: origin.peer }, 'unknown account: NAK');
    const event = gatewayEvent(
      {
        category: 'supervisory',
        account,
        protocol: msg.token === 'ADM-CID' ? 'adm-cid' : msg.token === 'NULL' ? 'null' : 'sia-dcs',
        receiver: msg.receiver,
        line: msg.line,
        reasons: [
          `account ${account ?? '(none)'} is not in the allowlist of input ${input}: frame NAKed (DC09_ACCOUNT_UNKNOWN); check the panel's account or add it to inputs.${input}.accounts`,
        ],
      },
      origin,
      this.options.builder,
    );
    // Stored once per retransmit window so a retrying, misconfigured panel is noticed without flooding.
    const recorded = await this.options.recorder.record([event], `unknown|${input}|${account}|${msg.seq}`);
    return {
      answer: 'nak',
      reply: encodeNak(origin.receivedAt, msg.crcForm),
      events: recorded.ok ? recorded.events : [],
      duplicate: recorded.ok && recorded.duplicate,
      error: { code: 'DC09_ACCOUNT_UNKNOWN', message: `account ${account ?? '(none)'} is not allowed` },
    };
  }

  /**
   * The listener turned connections away (maxConnections reached): a supervisory event, so the operator learns
   * that a panel may not get through, not only the log.
   */
  async connectionsRefused(reason: string, transport: Transport): Promise<void> {
    const origin: FrameOrigin = { input: this.options.input, transport, receivedAt: this.options.clock.now(), raw: new Uint8Array() };
    const event = gatewayEvent({ category: 'supervisory', account: null, reasons: [reason] }, origin, this.options.builder);
    const recorded = await this.options.recorder.record([event]);
    if (!recorded.ok) this.options.logger.error({ err: recorded.error, reason }, 'supervisory event not stored');
  }

  private rejected(frame: Uint8Array, error: DecodeError, now: number, peer: string | undefined): Dc09Outcome {
    const { counters, input } = this.options;
    counters.inc('frames_rejected_total', { input, code: error.code });
    this.warnings.warn(error.code, peer, { code: error.code, detail: error.message, raw: error.rawPreview, peer }, 'frame rejected');
    switch (error.code) {
      // The panel must not believe a corrupted frame arrived; it retries (DC09-2007 C.2.3.5).
      case 'DC09_CRC_MISMATCH':
      case 'DC09_FORMAT_INVALID':
      case 'DC09_LENGTH_MISMATCH':
        return { answer: 'none', reply: null, events: [], duplicate: false, error };
      // A CRC-valid message of a type we do not handle (DC-07 tokens, RSP): DUH, so the panel does not repeat it.
      case 'DC09_ID_UNSUPPORTED':
        return { answer: 'duh', reply: duhFor(frame), events: [], duplicate: false, error };
      default:
        return { answer: 'nak', reply: encodeNak(now), events: [], duplicate: false, error };
    }
  }

  private refuse(answer: Dc09Answer, reply: Uint8Array | null, error: { code: string; message: string }): Dc09Outcome {
    return { answer, reply, events: [], duplicate: false, error };
  }

  private ack(msg: Dc09Message, now: number): Uint8Array {
    const key = msg.encrypted ? this.accounts?.get((msg.account ?? msg.dataAccount ?? '').toUpperCase())?.key : undefined;
    return encodeAck(msg, { now, random: this.options.random, ...(key === undefined ? {} : { key }) });
  }

  private timestampInWindow(timestamp: number | null, now: number): boolean {
    if (timestamp === null) return false;
    return timestamp >= now - this.options.window.past && timestamp <= now + this.options.window.future;
  }

  /**
   * Same account, sequence and content = a retransmit: ACKed again, stored once. The content is kept whole (the
   * data block length-prefixed, so no field can run into the next): the outbox confirms a hit against this exact
   * key, and a digest would cost more per frame than the few bytes it saves.
   */
  private dedupeKey(msg: Dc09Message): string {
    const content = `${msg.token}|${msg.receiver}|${msg.line}|${msg.data.length}:${msg.data}|${JSON.stringify(msg.extended)}`;
    return `dc09|${this.options.input}|${msg.account ?? msg.dataAccount}|${msg.seq}|${content}`;
  }
}

/** DUH echoes seq, R, L and account of a message whose ID token we do not handle (read from its text). */
function duhFor(frame: Uint8Array): Uint8Array {
  const text = Buffer.from(frame).toString('latin1');
  const m = /"[^"]*"(\d{4})(?:R([0-9A-Fa-f]{1,6}))?(?:L([0-9A-Fa-f]{0,6}))?(?:#([0-9A-Fa-f]{3,16}))?\[/.exec(text);
  return encodeDc09Frame({
    token: 'DUH',
    seq: m?.[1] ?? '0000',
    receiver: m?.[2] ?? null,
    line: m?.[3] ?? null,
    account: m?.[4] ?? null,
    data: '',
  });
}
