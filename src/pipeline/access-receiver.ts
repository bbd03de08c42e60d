import { createHash, timingSafeEqual } from 'node:crypto';
import { decodeAccessXml, suspectedDuressIn, type AccessMapping, type AccessSignal } from '../codecs/access-xml.js';
import type { DecodeError } from '../codecs/result.js';
import type { ErrorCode } from '../errors.js';
import type { NormalizedEvent, Transport } from '../model/event.js';
import type { Counters } from '../observability/counters.js';
import { RateLimitedLog } from '../observability/rate-limited-log.js';
import type { Clock, Logger } from '../ports.js';
import type { Site } from '../settings/sites.js';
import { eventFromSignal, gatewayEvent, signalIsDuress, unverified, VERIFIED, type EventBuilderDeps, type FrameOrigin } from './event-builder.js';
import type { Recorder } from './recorder.js';
import { raiseCapacityAlarm } from './capacity-alarm.js';

/**
 * Events one document may carry. Every event keeps the whole document as its `raw`, so a document costs its events
 * times its size, in memory and in the outbox: at most 256 × 64 KiB (the default maxBodyBytes) = 16 MiB, where a
 * 64 KiB post of thousands of tiny elements would cost gigabytes. A real access event is rarely under 256 bytes of
 * XML, so at the default body limit only such a document reaches the bound. (A DC-09 connection may hold 256 frames.)
 */
export const MAX_EVENTS_PER_DOCUMENT = 256;

export interface AccessReceiverOptions {
  input: string;
  maxBytes: number;
  mappings: readonly AccessMapping[];
  defaults: { account?: string | undefined; site?: string | undefined };
  /** Shared secret the sender must present; null accepts any sender (rely on mutual TLS or the bind address). */
  secret: string | null;
  clock: Clock;
  recorder: Recorder;
  builder: EventBuilderDeps;
  counters: Counters;
  logger: Logger;
}

export type AccessResponseBody = { events: string[] } | { error: { code: string; message: string } };

/** The HTTP answer the core decided, and what it stored. */
export interface AccessOutcome {
  status: 200 | 400 | 401 | 413 | 503;
  body: AccessResponseBody;
  events: NormalizedEvent[];
  duplicate: boolean;
}

/** The credentials a request presents: `authorization: Bearer <secret>` or `x-panelbridge-secret: <secret>`. */
export interface PresentedSecret {
  authorization?: string | undefined;
  secretHeader?: string | undefined;
}

/** Where a body came from. `certified`: with a client certificate the TLS layer verified against the configured CA. */
export interface AccessSender {
  peer?: string | undefined;
  certified?: boolean;
  /** `http` but in a replay of a plain log, which records none (`replay`). */
  transport?: Transport;
}

/**
 * Decides every answer of the access-control XML input: 200 with the event ids only after they are stored;
 * 400 (413 when too large) for XML that is malformed or declares entities, storing it all the same as a suspected
 * duress, hold-up or panic when its text names one; 401 without the secret; 503 when the
 * store fails, so the controller retries. Well-formed XML that no mapping reads is stored as `unrecognized` with
 * its raw text rather than refused: it may be a duress report in a format nobody mapped yet. A document of more
 * than MAX_EVENTS_PER_DOCUMENT events gets 413 XML_TOO_MANY_EVENTS; its duress and hold-up events are stored all
 * the same (security.md rule 1), at most that many of them.
 */
export class AccessReceiver {
  private readonly secretDigest: Buffer | null;
  /** Refusals are counted one by one; their log lines, one per code and peer host every 10 s. */
  private readonly warnings: RateLimitedLog;

  constructor(private readonly options: AccessReceiverOptions) {
    this.secretDigest = options.secret === null ? null : digest(options.secret);
    this.warnings = new RateLimitedLog({ logger: options.logger, clock: options.clock });
  }

  /** Largest body the input accepts; a listener reads at most one byte more. */
  get maxBytes(): number {
    return this.options.maxBytes;
  }

  /**
   * The listener turned controllers away (its connection caps, no file descriptor): a supervisory event, so the
   * operator learns that a duress post may not get through, not only the log.
   */
  capacityAlarm(reason: string, transport: Transport): Promise<void> {
    return raiseCapacityAlarm(this.options, reason, transport);
  }

  /** null when the request may go on; otherwise the 401 to send (before the body is read). */
  authorize(presented: PresentedSecret): AccessOutcome | null {
    if (this.secretDigest === null) return null;
    const bearer = /^Bearer\s+(.+)$/i.exec(presented.authorization ?? '')?.[1];
    const candidates = [bearer, presented.secretHeader].filter((c): c is string => c !== undefined);
    if (candidates.some((c) => timingSafeEqual(digest(c.trim()), this.secretDigest!))) return null;
    this.count('XML_UNAUTHORIZED');
    this.warnings.warn('XML_UNAUTHORIZED', undefined, { code: 'XML_UNAUTHORIZED' }, 'access request without the shared secret');
    return refusal(401, 'XML_UNAUTHORIZED', 'send the shared secret as "authorization: Bearer <secret>" or "x-panelbridge-secret"');
  }

  async handleBody(body: Uint8Array, sender: AccessSender = {}): Promise<AccessOutcome> {
    const { input, clock, counters, logger } = this.options;
    const { peer, certified = false, transport = 'http' } = sender;
    const trust = this.secretDigest !== null || certified ? VERIFIED : unverified('unauthenticated-source');
    const origin: FrameOrigin = { input, transport, receivedAt: clock.now(), raw: body, trust, ...(peer === undefined ? {} : { peer }) };
    const decodeOptions = { maxBytes: this.options.maxBytes, mappings: this.options.mappings, defaults: this.options.defaults };
    const decoded = decodeAccessXml(body, decodeOptions);
    if (decoded.ok && decoded.value.length > MAX_EVENTS_PER_DOCUMENT) return this.tooManyEvents(decoded.value, origin, body);
    let events: NormalizedEvent[];
    if (decoded.ok) {
      counters.inc('frames_total', { input, protocol: 'access-xml', result: 'decoded' });
      events = decoded.value.map((signal) => this.eventOf(signal, origin));
    } else if (decoded.error.code === 'XML_MAPPING_FAILED') {
      this.rejected(decoded.error, peer);
      events = [this.unmappedEvent(decoded.error, origin)];
    } else {
      this.rejected(decoded.error, peer);
      const refused = refusal(decoded.error.code === 'XML_TOO_LARGE' ? 413 : 400, decoded.error.code, decoded.error.message);
      const suspected = suspectedDuressIn(body, decoded.error, decodeOptions);
      return suspected === null ? refused : this.storeDespiteRefusal(refused, decoded.error.code, [suspected], origin, body);
    }
    const recorded = await this.options.recorder.record(events, this.documentKey(body));
    if (!recorded.ok) return refusal(503, recorded.error.code, recorded.error.message);
    if (recorded.duplicate) logger.debug({ peer }, 'access document already stored: same ids again');
    return { status: 200, body: { events: recorded.events.map((e) => e.id) }, events: recorded.events, duplicate: recorded.duplicate };
  }

  /**
   * Refuses a document over the bound, keeping what rule 1 protects: its duress and hold-up events are classified
   * (no event is built for the others) and stored under the document's key, so the controller's retries of the
   * same document store them once.
   */
  private async tooManyEvents(signals: readonly AccessSignal[], origin: FrameOrigin, body: Uint8Array): Promise<AccessOutcome> {
    const duress = signals.filter((signal) => this.isDuress(signal)).slice(0, MAX_EVENTS_PER_DOCUMENT);
    const message =
      `the document carries ${signals.length} events, more than the ${MAX_EVENTS_PER_DOCUMENT} one document may; ` +
      `its ${duress.length} duress and hold-up events are stored, the others are not: post fewer events at a time`;
    this.rejected({ code: 'XML_TOO_MANY_EVENTS', message }, origin.peer);
    const refused = refusal(413, 'XML_TOO_MANY_EVENTS', message);
    return duress.length === 0 ? refused : this.storeDespiteRefusal(refused, 'XML_TOO_MANY_EVENTS', duress, origin, body);
  }

  /**
   * The refusal stays the answer, but the duress signals of the refused document are stored under its key, so the
   * controller's retries of the same document store them once (security.md rule 1).
   */
  private async storeDespiteRefusal(refused: AccessOutcome, code: ErrorCode, signals: readonly AccessSignal[], origin: FrameOrigin, body: Uint8Array): Promise<AccessOutcome> {
    const events = signals.map((signal) => {
      const event = this.eventOf(signal, origin);
      event.reasons.push(`its document was refused (${code}); stored because a duress is never dropped`);
      return event;
    });
    const recorded = await this.options.recorder.record(events, this.documentKey(body));
    if (!recorded.ok) return refusal(503, recorded.error.code, recorded.error.message);
    return { ...refused, events: recorded.events, duplicate: recorded.duplicate };
  }

  /** A controller that timed out and posts the same document again gets the same ids, stored once. */
  private documentKey(body: Uint8Array): string {
    return `access|${this.options.input}|${digest(body).toString('base64')}`;
  }

  /** The document's site (or the input's) when it is configured, else the account's. */
  private eventOf(signal: AccessSignal, origin: FrameOrigin): NormalizedEvent {
    const { site: siteId, ...plain } = signal;
    const named = this.namedSite(siteId);
    const event = eventFromSignal(plain, origin, this.options.builder, named);
    if (siteId !== null && named === undefined) event.reasons.push(`site "${siteId}" named for this event is not configured`);
    return event;
  }

  private isDuress(signal: AccessSignal): boolean {
    const { site: siteId, ...plain } = signal;
    return signalIsDuress(plain, this.options.builder, this.namedSite(siteId));
  }

  /** The configured site a document names for its event; undefined: none, so the account's. */
  private namedSite(siteId: string | null): Site | undefined {
    return siteId === null ? undefined : this.options.builder.sites().find((s) => s.id === siteId);
  }

  private unmappedEvent(error: DecodeError, origin: FrameOrigin): NormalizedEvent {
    return gatewayEvent(
      {
        category: 'unrecognized',
        account: this.options.defaults.account ?? null,
        protocol: 'access-xml',
        reasons: [`${error.message} (${error.code}); stored with its raw XML: add a mapping for this feed to inputs.${this.options.input}.mappings`],
      },
      origin,
      this.options.builder,
    );
  }

  private rejected(error: DecodeError, peer: string | undefined): void {
    this.count(error.code);
    this.warnings.warn(error.code, peer, { code: error.code, detail: error.message, raw: error.rawPreview, peer }, 'access document rejected');
  }

  private count(code: ErrorCode): void {
    this.options.counters.inc('frames_rejected_total', { input: this.options.input, code });
  }
}

function refusal(status: AccessOutcome['status'], code: string, message: string): AccessOutcome {
  return { status, body: { error: { code, message } }, events: [], duplicate: false };
}

function digest(value: string | Uint8Array): Buffer {
  return createHash('sha256').update(value).digest();
}
