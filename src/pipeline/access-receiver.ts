import { createHash, timingSafeEqual } from 'node:crypto';
import { decodeAccessXml, type AccessMapping, type AccessSignal } from '../codecs/access-xml.js';
import type { DecodeError } from '../codecs/result.js';
import type { ErrorCode } from '../errors.js';
import type { NormalizedEvent, Transport } from '../model/event.js';
import type { Counters } from '../observability/counters.js';
import { RateLimitedLog } from '../observability/rate-limited-log.js';
import type { Clock, Logger } from '../ports.js';
import { eventFromSignal, gatewayEvent, unverified, VERIFIED, type EventBuilderDeps, type FrameOrigin } from './event-builder.js';
import type { Recorder } from './recorder.js';

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
 * 400 (413 when too large) for XML that is malformed or declares entities; 401 without the secret; 503 when the
 * store fails, so the controller retries. Well-formed XML that no mapping reads is stored as `unrecognized` with
 * its raw text rather than refused: it may be a duress report in a format nobody mapped yet.
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
    const decoded = decodeAccessXml(body, { maxBytes: this.options.maxBytes, mappings: this.options.mappings, defaults: this.options.defaults });
    let events: NormalizedEvent[];
    if (decoded.ok) {
      counters.inc('frames_total', { input, protocol: 'access-xml', result: 'decoded' });
      events = decoded.value.map((signal) => this.eventOf(signal, origin));
    } else if (decoded.error.code === 'XML_MAPPING_FAILED') {
      this.rejected(decoded.error, peer);
      events = [this.unmappedEvent(decoded.error, origin)];
    } else {
      this.rejected(decoded.error, peer);
      return refusal(decoded.error.code === 'XML_TOO_LARGE' ? 413 : 400, decoded.error.code, decoded.error.message);
    }
    // A controller that timed out and posts the same document again gets the same ids, stored once.
    const recorded = await this.options.recorder.record(events, `access|${input}|${digest(body).toString('base64')}`);
    if (!recorded.ok) return refusal(503, recorded.error.code, recorded.error.message);
    if (recorded.duplicate) logger.debug({ peer }, 'access document already stored: same ids again');
    return { status: 200, body: { events: recorded.events.map((e) => e.id) }, events: recorded.events, duplicate: recorded.duplicate };
  }

  /** The document's site (or the input's) when it is configured, else the account's. */
  private eventOf(signal: AccessSignal, origin: FrameOrigin): NormalizedEvent {
    const { builder } = this.options;
    const { site: siteId, ...plain } = signal;
    const named = siteId === null ? undefined : builder.sites().find((s) => s.id === siteId);
    const event = named === undefined ? eventFromSignal(plain, origin, builder) : eventFromSignal(plain, origin, builder, named);
    if (siteId !== null && named === undefined) event.reasons.push(`site "${siteId}" named for this event is not configured`);
    return event;
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
