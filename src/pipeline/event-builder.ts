import type { OutputStateChange } from '../bus.js';
import { EVENT_SCHEMA_ID, isoTime, UNVERIFIED_REASONS, type NormalizedEvent, type Transport, type UnverifiedReason } from '../model/event.js';
import type { Signal } from '../model/signal.js';
import type { IdSource } from '../model/ids.js';
import type { Site } from '../settings/sites.js';
import { zonedInstant } from '../settings/time-zone.js';
import { classify, siteContext, siteForAccount, type Classification } from '../classify/classify.js';
import { escapeBytes } from '../codecs/result.js';

/** Whether the configuration authenticates where a frame came from (the event's `verified`). */
export type Trust = { verified: true } | { verified: false; reason: UnverifiedReason };

export const VERIFIED: Trust = { verified: true };

/** One Trust per reason, shared: an input without an allowlist asks for one with every frame. */
const UNVERIFIED = Object.fromEntries(UNVERIFIED_REASONS.map((reason) => [reason, Object.freeze({ verified: false, reason })])) as Record<UnverifiedReason, Trust>;

export function unverified(reason: UnverifiedReason): Trust {
  return UNVERIFIED[reason];
}

/** Where and when a frame came in; shared by every event the frame yields. */
export interface FrameOrigin {
  input: string;
  transport: Transport;
  peer?: string;
  receivedAt: number;
  raw: Uint8Array;
  trust: Trust;
}

function trustFields(trust: Trust): Pick<NormalizedEvent, 'verified' | 'unverifiedReason'> {
  return trust.verified ? { verified: true } : { verified: false, unverifiedReason: trust.reason };
}

/** Escaped text when the frame is text, hex when it carries binary bytes (binary CRC, DC-03 blocks). */
export function formatRaw(bytes: Uint8Array): string {
  return isBinary(bytes) ? Buffer.from(bytes).toString('hex') : escapeBytes(bytes);
}

/** A plain loop: every event's raw frame is checked, and a callback per byte cost a tenth of building the event. */
function isBinary(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if ((b < 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x14) || b > 0x7e) return true;
  }
  return false;
}

export interface EventBuilderDeps {
  ids: IdSource;
  sites: () => readonly Site[];
}

function sourceOf(origin: FrameOrigin): NormalizedEvent['source'] {
  return origin.peer === undefined
    ? { input: origin.input, transport: origin.transport }
    : { input: origin.input, transport: origin.transport, peer: origin.peer };
}

/**
 * A panel's wall-clock time, written as if UTC, as the instant it is in `timeZone`: one the clocks skip is the
 * instant they jump, one they repeat is its first.
 */
function inTimeZone(wallClock: string | null, timeZone: string): string | null {
  if (wallClock === null) return null;
  const wall = new Date(wallClock);
  const minutes = wall.getUTCHours() * 60 + wall.getUTCMinutes();
  const at = zonedInstant(wall.getUTCFullYear(), wall.getUTCMonth() + 1, wall.getUTCDate(), minutes, timeZone);
  return isoTime(at + wall.getUTCSeconds() * 1000 + wall.getUTCMilliseconds());
}

/** Decoded signal → classified, enriched, schema-v1 event. `site` overrides the account's site (access feeds name one). */
export function eventFromSignal(
  signal: Signal,
  origin: FrameOrigin,
  deps: EventBuilderDeps,
  site: Site | undefined = siteForAccount(deps.sites(), signal.account),
): NormalizedEvent {
  const c = classifyAt(signal, site);
  return {
    schema: EVENT_SCHEMA_ID,
    id: deps.ids.next(),
    receivedAt: isoTime(origin.receivedAt),
    occurredAt: signal.occurredAtLocal === true && site !== undefined && site.timeZone !== 'UTC' ? inTimeZone(signal.occurredAt, site.timeZone) : signal.occurredAt,
    source: sourceOf(origin),
    ...trustFields(origin.trust),
    ...(c.covert ? { covert: true as const } : {}),
    protocol: signal.protocol,
    account: signal.account,
    receiver: signal.receiver,
    line: signal.line,
    code: c.code,
    qualifier: c.qualifier,
    category: c.category,
    duress: c.duress,
    silent: c.silent,
    partition: c.partition,
    zone: c.zone,
    user: c.user,
    site: c.site ?? null,
    ...(c.door === undefined ? {} : { door: c.door }),
    ...(c.number === undefined ? {} : { number: c.number }),
    test: c.test,
    reasons: c.reasons,
    quirks: signal.quirks,
    extended: signal.extended,
    ...(signal.extendedRepeated === undefined ? {} : { extendedRepeated: signal.extendedRepeated }),
    text: signal.text,
    raw: formatRaw(origin.raw),
  };
}

/** Whether eventFromSignal would label the signal duress or hold-up, without building the event. */
export function signalIsDuress(
  signal: Signal,
  deps: EventBuilderDeps,
  site: Site | undefined = siteForAccount(deps.sites(), signal.account),
): boolean {
  return classifyAt(signal, site).duress;
}

function classifyAt(signal: Signal, site: Site | undefined): Classification {
  return classify(signal, site === undefined ? {} : { site });
}

/**
 * An event the gateway itself raises (unknown account, lost link, test window closed, overdue device):
 * always published, never silently dropped.
 */
export function gatewayEvent(
  fields: {
    category: NormalizedEvent['category'];
    account: string | null;
    reasons: string[];
    qualifier?: NormalizedEvent['qualifier'];
    protocol?: NormalizedEvent['protocol'];
    devices?: unknown[];
    receiver?: string | null;
    line?: string | null;
  },
  origin: FrameOrigin,
  deps: EventBuilderDeps,
): NormalizedEvent {
  const site = siteForAccount(deps.sites(), fields.account);
  return {
    schema: EVENT_SCHEMA_ID,
    id: deps.ids.next(),
    receivedAt: isoTime(origin.receivedAt),
    occurredAt: null,
    source: sourceOf(origin),
    ...trustFields(origin.trust),
    protocol: fields.protocol ?? null,
    account: fields.account,
    receiver: fields.receiver ?? null,
    line: fields.line ?? null,
    code: null,
    qualifier: fields.qualifier ?? 'new',
    category: fields.category,
    duress: fields.category === 'duress' || fields.category === 'holdup',
    silent: false,
    partition: null,
    zone: null,
    user: null,
    site: site === undefined ? null : siteContext(site),
    ...(fields.devices === undefined ? {} : { devices: fields.devices }),
    test: false,
    reasons: fields.reasons,
    quirks: [],
    extended: {},
    raw: formatRaw(origin.raw),
  };
}

/**
 * An output's own link to a monitoring centre went down or came back: a `supervisory` event from that output,
 * `covert` like the assurance's. A quiet site sends the centre nothing, so the link is often found down only when a
 * duress is forwarded, and a local output must not learn when that was.
 */
export function outputLinkEvent(change: OutputStateChange, receivedAt: number, deps: EventBuilderDeps): NormalizedEvent {
  const { output, account, qualifier, reasons } = change;
  const event = gatewayEvent(
    { category: 'supervisory', account, qualifier, reasons },
    { input: output, transport: 'tcp', receivedAt, raw: new Uint8Array(), trust: VERIFIED },
    deps,
  );
  event.covert = true;
  return event;
}

/** The `input` of the events reporting that the outbox could not store. */
export const OUTBOX_INPUT = 'outbox';

/**
 * The outbox could not store from `fault.since` until `now`: a `supervisory` trouble and its restore, `covert` (the
 * frames refused meanwhile may have held a duress, and a local output must not learn when that was).
 */
export function storeFaultEvents(
  fault: { since: number; cause: string; refusedFrames: number },
  now: number,
  deps: EventBuilderDeps,
): NormalizedEvent[] {
  const raised = (qualifier: 'new' | 'restore', receivedAt: number, reason: string): NormalizedEvent => {
    const origin: FrameOrigin = { input: OUTBOX_INPUT, transport: 'cli', receivedAt, raw: new Uint8Array(), trust: VERIFIED };
    const event = gatewayEvent({ category: 'supervisory', account: null, qualifier, reasons: [reason] }, origin, deps);
    event.covert = true;
    return event;
  };
  return [
    raised('new', fault.since, `the outbox could not store events (${fault.cause}): frames were NAKed`),
    raised('restore', now, `the outbox stores again; ${fault.refusedFrames} frames were NAKed while it could not`),
  ];
}

/** Where the events about what the audit log records say they come from. */
export const AUDIT_INPUT = 'audit';

/**
 * What central must hear of besides the control actions the assurance publishes (an API token created or found, a
 * start that found the audit log damaged): a `supervisory` event, `covert` (central only: the copy nobody with
 * write access to dataDir can edit).
 */
export function auditReportEvent(reasons: string[], receivedAt: number, deps: EventBuilderDeps): NormalizedEvent {
  const origin: FrameOrigin = { input: AUDIT_INPUT, transport: 'cli', receivedAt, raw: new Uint8Array(), trust: VERIFIED };
  const event = gatewayEvent({ category: 'supervisory', account: null, reasons }, origin, deps);
  event.covert = true;
  return event;
}
