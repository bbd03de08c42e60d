import { z } from 'zod';

/** The published event, schema v1: the product's public contract. Field names never change within v1. */
export const EVENT_SCHEMA_ID = 'panelbridge.event/1';

export const CATEGORIES = [
  'duress', 'holdup', 'panic', 'medical', 'fire', 'burglary', 'tamper', 'trouble', 'supervisory', 'test',
  'heartbeat', 'opening', 'closing', 'bypass', 'access', 'status', 'unrecognized',
] as const;
export type Category = (typeof CATEGORIES)[number];

/** Categories that mean a person is under threat: these events are duress-labelled and stay silent. */
export const DURESS_CATEGORIES: ReadonlySet<Category> = new Set(['duress', 'holdup']);

/** What a person (or the gateway's clock) did to the duress assurance or to delivery; each is published and audited. */
export const CONTROL_ACTIONS = ['test-window-opened', 'test-window-stopped', 'test-window-expired', 'incident-acknowledged', 'dead-letters-retried'] as const;
export type ControlAction = (typeof CONTROL_ACTIONS)[number];

export const PROTOCOLS = ['sia-dcs', 'adm-cid', 'contact-id', 'sia-dc03', 'surgard', 'null', 'access-xml'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/**
 * Why an event's origin is not authenticated by the configuration. Extend the list, never rename an entry: the
 * values are part of the published contract.
 */
export const UNVERIFIED_REASONS = [
  'unknown-account',
  'plaintext-for-keyed-account',
  'timestamp-out-of-window',
  'osborne-hoffman-not-allowed',
  'unauthenticated-source',
  'undecryptable-frame',
  'unsupported-token',
] as const;
export type UnverifiedReason = (typeof UNVERIFIED_REASONS)[number];

export const TRANSPORTS = ['tcp', 'udp', 'serial', 'http', 'replay', 'cli'] as const;
export type Transport = (typeof TRANSPORTS)[number];

const numbered = z
  .object({ number: z.number().int().nonnegative(), name: z.string().optional() })
  .catchall(z.unknown());

export const eventSchema = z
  .object({
    schema: z.literal(EVENT_SCHEMA_ID),
    id: z.string().describe('Unique and time-sortable (UUIDv7).'),
    receivedAt: z.string().describe('ISO-8601 UTC time the gateway received the frame.'),
    occurredAt: z.string().nullable().describe('Panel time when known (DC-09 [H], DC-03 da/ti read in the site time zone, else the DC-09 timestamp), else null.'),
    source: z.object({
      input: z.string().describe('Name of the input in the configuration.'),
      transport: z.enum(TRANSPORTS),
      peer: z.string().optional().describe('Remote address:port or device path.'),
    }),
    verified: z
      .boolean()
      .describe(
        'True when the origin is authenticated by the configuration: a DC-09 account on the allowlist (with its key when it has one), a serial input, access XML with its secret or client certificate, or the gateway itself.',
      ),
    unverifiedReason: z
      .enum(UNVERIFIED_REASONS)
      .optional()
      .describe(
        'Present exactly when verified is false: unknown-account (not on the allowlist), plaintext-for-keyed-account, timestamp-out-of-window (encrypted, panel clock off), osborne-hoffman-not-allowed, unauthenticated-source (an input with no allowlist, secret or client certificate), undecryptable-frame (the supervisory event saying an allowlisted DC-09 account sends encrypted frames its key, or lack of one, cannot read), unsupported-token (a DC-09 frame in an ID token the gateway does not read, answered DUH: a duress or hold-up code found in its text, or the supervisory event saying that such frames arrive).',
      ),
    unverifiedCount: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('Refused non-duress frames from this origin this event stands for (they are stored at most once a minute); itself included.'),
    covert: z
      .literal(true)
      .optional()
      .describe('Withheld from `local` outputs like a duress: set on the supervisory events the gateway raises (device tests, delivery deadlines, links, panel clocks, frames a panel key cannot read), since when they happen can depend on a duress, and on listen-in reports (SIA LF/LE, Contact ID 606, a Sur-Gard two-way audio packet), which often follow a silent hold-up.'),
    protocol: z.enum(PROTOCOLS).nullable(),
    account: z.string().nullable().describe('Account as sent; for DC-09 the header #acct when present.'),
    receiver: z.string().nullable(),
    line: z.string().nullable(),
    code: z
      .object({
        scheme: z.enum(['contact-id', 'sia']),
        value: z.string(),
        description: z.string(),
      })
      .nullable(),
    qualifier: z.enum(['new', 'restore', 'status']),
    category: z.enum(CATEGORIES),
    duress: z.boolean().describe('True exactly when category is duress or holdup.'),
    silent: z.boolean(),
    partition: numbered.nullable(),
    zone: numbered.nullable(),
    user: numbered.nullable(),
    site: z
      .object({
        id: z.string(),
        name: z.string().optional(),
        address: z.string().optional(),
        response: z.string().optional(),
      })
      .nullable()
      .optional()
      .describe('Responder context from the configured site, when the account belongs to one.'),
    door: z
      .object({
        id: z.string(),
        name: z.string().optional(),
        location: z.string().optional(),
        credential: z.string().optional().describe('Credential token presented at the door.'),
        holder: z.string().optional().describe('Name of the credential holder.'),
      })
      .nullable()
      .optional()
      .describe('Access point, with the credential and its holder, for access-control events.'),
    number: z
      .object({
        kind: z.string().describe('What the number names per the code table: condition, relay, output, line, device, network, printer, receiver, line-card, message, custom-function, dealer, manufacturer, downloader (the downloader ID of a download session), partition (a second area beside ri), or unspecified (a number after a code the table gives none).'),
        value: z.number().int().nonnegative(),
      })
      .optional()
      .describe('The number sent after the code when it names neither a zone, a user, a partition nor a door.'),
    incident: z.string().nullable().optional().describe('Open duress incident this event belongs to.'),
    devices: z.array(z.unknown()).optional().describe('Devices a supervisory event is about.'),
    control: z
      .object({
        action: z.enum(CONTROL_ACTIONS),
        by: z.string().describe('The API token\'s name, the MQTT output an acknowledgement came through, or "gateway".'),
        role: z.string().describe('The token\'s role (viewer, operator, installer, admin), or "system" for the gateway.'),
        channel: z.enum(['api', 'mqtt', 'gateway']),
        note: z.string().nullable(),
        window: z.string().optional().describe('The test window acted on.'),
        incident: z.string().optional().describe('The incident acknowledged.'),
        output: z.string().optional().describe('The output whose dead letters were retried.'),
      })
      .nullable()
      .optional()
      .describe('A control action (test window opened, stopped or expired; incident acknowledged; dead letters retried): who did it, published to central outputs only.'),
    test: z.boolean(),
    reasons: z.array(z.string()).describe('Why this category.'),
    quirks: z.array(z.string()).describe('Tolerated deviations from the protocol.'),
    extended: z.record(z.string(), z.string()).describe('DC-09 extended data by letter.'),
    extendedRepeated: z
      .record(z.string(), z.array(z.string()))
      .optional()
      .describe('Only when a DC-09 extended letter was sent more than once (successive [X][Y] positions, several [V] links): every value of each such letter in the order sent; `extended` holds the first.'),
    text: z.string().nullable().optional().describe('Free text carried by the message (SIA ^…^ or A block).'),
    raw: z.string().describe('The frame as received: escaped text, or hex for binary.'),
    rawOmitted: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('Set by an MQTT output that left `raw` out (empty) because the event would not fit the broker\'s Maximum Packet Size: the UTF-8 bytes of the frame left out. The stored event keeps it.'),
  })
  .describe('panelbridge normalized event, schema v1');

export type NormalizedEvent = z.infer<typeof eventSchema>;

/** The JSON Schema published as config/event.schema.json; a test regenerates and compares it. */
export function eventJsonSchema(): unknown {
  return z.toJSONSchema(eventSchema, { target: 'draft-2020-12' });
}

/**
 * Whether an event may update what the gateway believes (supervision, device tests, incidents). A frame refused
 * for a missing credential never does; an input configured without authentication trusts its senders as its
 * configuration says. Events stored before `verified` existed count as verified.
 */
export function earnsTrust(event: Pick<NormalizedEvent, 'verified' | 'unverifiedReason'>): boolean {
  return event.verified !== false || event.unverifiedReason === 'unauthenticated-source';
}

/** An event's `receivedAt` in ms since the epoch, or `fallback` when it does not parse. */
export function receivedAtMs(event: Pick<NormalizedEvent, 'receivedAt'>, fallback: number): number {
  const ms = isoTimeMs(event.receivedAt);
  return Number.isNaN(ms) ? fallback : ms;
}

/** The second last read by isoTimeMs in the form isoTime writes, up to and including its '.', and its first ms. */
let parsedSecondPrefix = '';
let parsedSecondMs = Number.NaN;
const ISO_MS_START = 20;
const ISO_LENGTH = 24;
/** The form isoTime writes for the years 0000–9999. */
const CANONICAL_ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/**
 * An ISO-8601 time as ms since the epoch, exactly as Date.parse reads it (NaN when it does not parse). Times in
 * the form isoTime writes that fall in the second last read are read from their milliseconds alone: events and
 * capture lines come in runs within one second, and Date.parse was several of a replayed frame's steps.
 */
export function isoTimeMs(text: string): number {
  if (text.length === ISO_LENGTH && text.charCodeAt(ISO_LENGTH - 1) === 0x5a && text.startsWith(parsedSecondPrefix) && parsedSecondPrefix !== '') {
    const ms = threeDigits(text, ISO_MS_START);
    if (ms >= 0) return parsedSecondMs + ms;
  }
  const ms = Date.parse(text);
  if (!Number.isNaN(ms) && CANONICAL_ISO.test(text)) {
    parsedSecondPrefix = text.slice(0, ISO_MS_START);
    parsedSecondMs = ms - threeDigits(text, ISO_MS_START);
  }
  return ms;
}

/** The number the three decimal digits at `at` write, or -1 when they are not three digits. */
function threeDigits(text: string, at: number): number {
  let value = 0;
  for (let i = at; i < at + 3; i++) {
    const digit = text.charCodeAt(i) - 0x30;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

let lastIsoMs = Number.NaN;
let lastIsoText = '';
/** The ISO text of the second last formatted, up to and including its '.', and that second's first ms. */
let secondPrefix = '';
let secondStartMs = Number.NaN;
const MS_SUFFIXES = Array.from({ length: 1000 }, (_, ms) => `${String(ms).padStart(3, '0')}Z`);

/**
 * ms since the epoch as an event's ISO-8601 time. The frames of a burst share a millisecond and a replay's share
 * a second, so the last text and the last second's prefix are kept: Date formatting was a tenth of event building.
 */
export function isoTime(ms: number): string {
  if (ms === lastIsoMs) return lastIsoText;
  const inSecond = ms - secondStartMs;
  if (inSecond >= 0 && inSecond < 1000 && Number.isInteger(inSecond)) {
    lastIsoText = secondPrefix + MS_SUFFIXES[inSecond]!;
  } else {
    lastIsoText = new Date(ms).toISOString();
    // Years outside 0000–9999 are written with six digits and a sign: never cached by prefix.
    if (lastIsoText.length === ISO_LENGTH) {
      secondStartMs = ms - (((ms % 1000) + 1000) % 1000);
      secondPrefix = lastIsoText.slice(0, ISO_MS_START);
    }
  }
  lastIsoMs = ms;
  return lastIsoText;
}
