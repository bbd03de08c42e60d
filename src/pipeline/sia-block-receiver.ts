import { decodeSiaBlock, encodeSiaBlock } from '../codecs/sia-dc03-block.js';
import { parseSiaData } from '../codecs/sia-dc03.js';
import type { DecodeError } from '../codecs/result.js';
import type { NormalizedEvent } from '../model/event.js';
import type { Counters } from '../observability/counters.js';
import type { RateLimitedLog } from '../observability/rate-limited-log.js';
import type { Clock, Logger } from '../ports.js';
import { eventFromSignal, gatewayEvent, unverified, type EventBuilderDeps, type FrameOrigin } from './event-builder.js';
import type { Recorder } from './recorder.js';
import { suspectedDuressSignal } from './decode-frame.js';

export interface SiaBlockReceiverOptions {
  input: string;
  /** Reject the DC-03 codec's tolerated quirks instead of labelling them. */
  strict: boolean;
  clock: Clock;
  recorder: Recorder;
  builder: EventBuilderDeps;
  counters: Counters;
  logger: Logger;
  warnings: RateLimitedLog;
}

/** What one connection has said so far: the account of its last `#` block. */
export interface SiaBlockSession {
  account: string | null;
}

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

/** The DC-03 header byte announces the data length in bits 0-5: the size of the whole block it starts. */
export function siaBlockSize(header: number): number {
  return (header & 0x3f) + 3;
}

/**
 * The fixed bytes a Galaxy Ethernet module opens an encrypted connection with (ioBroker.sia #12, SIA-Server
 * `Encrypted_Protocol.md`): its own RSA/AES exchange, which this input does not speak.
 */
export const GALAXY_ENCRYPTED_OPENING = Uint8Array.of(0x05, 0x01, 0x81, 0x59, 0x68);

/**
 * SIA DC-03 blocks over TCP, the "SIA over IP" of Galaxy and FX panels (protocol-notes.md): an account block `#`,
 * event blocks `N` and text blocks `A`, each answered with an acknowledge block, then an end-of-data block `0`.
 * An event block is stored before it is acknowledged; a failed store is rejected so the panel sends it again. A
 * block with a bad length or parity is rejected unread, as Galaxy receivers do. The account is not authenticated.
 */
export class SiaBlockReceiver {
  constructor(private readonly options: SiaBlockReceiverOptions) {}

  newSession(): SiaBlockSession {
    return { account: null };
  }

  async handleBlock(session: SiaBlockSession, block: Uint8Array, peer?: string): Promise<SiaBlockOutcome> {
    const { counters, input } = this.options;
    const decoded = decodeSiaBlock(block);
    if (!decoded.ok) {
      this.rejected(decoded.error, peer);
      return { reply: REJECT, events: [], end: false, error: decoded.error };
    }
    const { functionCode, data } = decoded.value;
    counters.inc('frames_total', { input, protocol: 'sia-dc03', result: 'decoded' });
    switch (functionCode) {
      case '#':
        session.account = data;
        return { reply: ACKNOWLEDGE, events: [], end: false };
      case 'N':
        return this.event(session, block, data, peer);
      case '0':
        return { reply: ACKNOWLEDGE, events: [], end: true };
      default:
        // Text (`A`) follows its event's acknowledge, so it cannot join the stored event; other blocks carry no event.
        this.options.logger.debug({ input, functionCode, data, peer }, 'SIA block without an event');
        return { reply: ACKNOWLEDGE, events: [], end: false };
    }
  }

  private async event(session: SiaBlockSession, block: Uint8Array, data: string, peer: string | undefined): Promise<SiaBlockOutcome> {
    const { input, strict, clock, builder } = this.options;
    const origin: FrameOrigin = {
      input,
      transport: 'tcp',
      receivedAt: clock.now(),
      raw: block,
      trust: unverified('unauthenticated-source'),
      ...(peer === undefined ? {} : { peer }),
    };
    const account = session.account === null ? '' : `#${session.account}|`;
    const parsed = parseSiaData(`${account}N${data}`, { strict });
    let events: NormalizedEvent[];
    if (parsed.ok && parsed.value.events.length > 0) {
      events = parsed.value.events.map((signal) => eventFromSignal(signal, origin, builder));
    } else {
      const error = parsed.ok ? { code: 'SIA03_FORMAT_INVALID', message: 'the event block carries no event', rawPreview: data } : parsed.error;
      this.rejected(error, peer);
      // The panel would only send the same block again: it is stored as it is, a duress code in it read as one.
      const why = `${error.message} (${error.code})`;
      const suspected = suspectedDuressSignal('sia-dc03', 'sia', data, why);
      events = [
        suspected !== null
          ? eventFromSignal({ ...suspected, account: session.account }, origin, builder)
          : gatewayEvent({ category: 'unrecognized', account: session.account, protocol: 'sia-dc03', reasons: [`${why}; stored as unrecognized`] }, origin, builder),
      ];
    }
    const recorded = await this.options.recorder.record(events);
    if (!recorded.ok) return { reply: REJECT, events: [], end: false, error: { code: recorded.error.code, message: recorded.error.message } };
    return { reply: ACKNOWLEDGE, events: recorded.events, end: false };
  }

  private rejected(error: { code: string; message: string; rawPreview?: string }, peer: string | undefined): void {
    this.options.counters.inc('frames_rejected_total', { input: this.options.input, code: error.code });
    this.options.warnings.warn(error.code, peer, { code: error.code, detail: error.message, raw: error.rawPreview }, 'SIA block rejected');
  }
}
