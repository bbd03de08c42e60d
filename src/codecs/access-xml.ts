import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { emptySignal, type Signal } from '../model/signal.js';
import { fail, ok, type DecodeResult } from './result.js';

/**
 * Access-control events posted as XML (protocols.md §5). First-class: ONVIF event notifications (SOAP
 * `Envelope/Body/Notify`, a PullMessagesResponse, or a bare `NotificationMessage`) with the
 * `tns1:AccessControl/…` topics. Other feeds are read through configured mappings: dotted paths into the parsed
 * document (namespace prefixes removed, attributes written `@Name`, e.g. `Event.Door.@id`).
 *
 * Code convention (Contact ID, DC-05 Appendix C, so the catalogue and classifier label them):
 * duress → 124 "Duress - access granted", granted → 422 "Access report by user", denied → 421 "Access denied".
 * Any other event type keeps its own name as the code value `access:<type>`, which no table knows, so it comes
 * out `unrecognized` (never dropped). `signal.access` carries door, credential and holder; a numeric
 * credential is also the user number.
 */

export const ACCESS_DURESS_CODE = '124';
export const ACCESS_GRANTED_CODE = '422';
export const ACCESS_DENIED_CODE = '421';

/** One configured vendor feed: where to find each field, and which event-type values mean what. */
export interface AccessMapping {
  name: string;
  /** Path whose presence selects this mapping. */
  match: string;
  /** Path of the event type value. */
  eventType: string;
  account?: string | undefined;
  site?: string | undefined;
  door?: string | undefined;
  doorName?: string | undefined;
  /** Path of the credential / user id; numeric values become the user number. */
  user?: string | undefined;
  holder?: string | undefined;
  time?: string | undefined;
  duressValues: readonly string[];
  grantedValues: readonly string[];
  deniedValues: readonly string[];
}

export interface AccessXmlOptions {
  maxBytes: number;
  mappings: readonly AccessMapping[];
  defaults: { account?: string | undefined; site?: string | undefined };
}

/** A decoded access event: a Signal plus the site id the document or the input names (null: by account). */
export interface AccessSignal extends Signal {
  site: string | null;
}

type AccessKind = 'duress' | 'granted' | 'denied' | 'other';

interface AccessFields {
  kind: AccessKind;
  eventType: string;
  account: string | null;
  site: string | null;
  door: string | null;
  doorName: string | null;
  credential: string | null;
  holder: string | null;
  time: string | null;
}

const ENTITY_DECLARATION = /<!(DOCTYPE|ENTITY)/i;
const ONVIF_TOPIC = /^(?:[\w.-]+:)?AccessControl\/(Duress|AccessGranted|AccessDenied)(?:\/|$)/;
const ONVIF_KINDS: Readonly<Record<string, AccessKind>> = { Duress: 'duress', AccessGranted: 'granted', AccessDenied: 'denied' };
const ONVIF_CONTAINERS = ['Envelope.Body.Notify', 'Envelope.Body.PullMessagesResponse', 'Notify', 'PullMessagesResponse', ''];
const CODE_OF_KIND: Readonly<Record<Exclude<AccessKind, 'other'>, string>> = {
  duress: ACCESS_DURESS_CODE,
  granted: ACCESS_GRANTED_CODE,
  denied: ACCESS_DENIED_CODE,
};
/** Bounds the code value and text built from document content. */
const MAX_FIELD_CHARS = 128;

const parser = new XMLParser({
  // Entities are never expanded; DTDs are refused before parsing (XML_ENTITY_REJECTED).
  processEntities: false,
  ignoreAttributes: false,
  removeNSPrefix: true,
  attributeNamePrefix: '@',
  // Values stay text: credential "00417" keeps its zeros.
  parseTagValue: false,
  parseAttributeValue: false,
});
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes one XML document into one signal per access event. Never throws. */
export function decodeAccessXml(body: string | Uint8Array, options: AccessXmlOptions): DecodeResult<AccessSignal[]> {
  const size = typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.byteLength;
  if (size > options.maxBytes) {
    return fail('XML_TOO_LARGE', `the body has ${size} bytes, more than the limit of ${options.maxBytes}`);
  }
  let text: string;
  try {
    text = typeof body === 'string' ? body : utf8.decode(body);
  } catch {
    return fail('XML_MALFORMED', 'the body is not UTF-8 text', body);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (ENTITY_DECLARATION.test(text)) {
    return fail('XML_ENTITY_REJECTED', 'DOCTYPE and ENTITY declarations are refused (entity expansion)', text);
  }
  let document: unknown;
  try {
    const valid = XMLValidator.validate(text);
    if (valid !== true) {
      const { msg, line, col } = valid.err;
      return fail('XML_MALFORMED', `not well-formed XML: ${msg} (line ${line}, column ${col ?? '?'})`, text);
    }
    document = parser.parse(text);
  } catch (error) {
    // The parser refuses what the validator lets through (nesting depth, reserved names such as __proto__).
    return fail('XML_MALFORMED', `the XML could not be parsed: ${(error as Error).message}`, text);
  }
  const events = eventsOf(document, options);
  if (events === null) {
    const names = options.mappings.map((m) => m.name);
    const tried = names.length === 0 ? 'ONVIF' : `ONVIF or ${names.join(', ')}`;
    return fail('XML_MAPPING_FAILED', `the document matches no mapping (tried ${tried})`, text);
  }
  return ok(events.map(signalOf));
}

/** Configured mappings first (the installer knows the feed), then the built-in ONVIF reading. */
function eventsOf(document: unknown, options: AccessXmlOptions): AccessFields[] | null {
  for (const mapping of options.mappings) {
    if (nodeAt(document, mapping.match) !== undefined) return [vendorEvent(document, mapping, options.defaults)];
  }
  for (const container of ONVIF_CONTAINERS) {
    const messages = nodeAt(document, container === '' ? 'NotificationMessage' : `${container}.NotificationMessage`);
    if (messages !== undefined) return asArray(messages).map((message) => onvifEvent(message, options.defaults));
  }
  return null;
}

function onvifEvent(notification: unknown, defaults: AccessXmlOptions['defaults']): AccessFields {
  const topic = textOf(nodeAt(notification, 'Topic')) ?? '';
  const outer = nodeAt(notification, 'Message');
  // wsnt:Message wraps tt:Message; both are `Message` once the prefixes are gone.
  const message = nodeAt(outer, 'Message') ?? outer;
  const items = new Map<string, string>();
  for (const section of ['Source', 'Key', 'Data']) {
    for (const item of asArray(nodeAt(message, `${section}.SimpleItem`))) {
      const name = textOf(nodeAt(item, '@Name'));
      const value = textOf(nodeAt(item, '@Value'));
      if (name !== null && value !== null && !items.has(name)) items.set(name, value);
    }
  }
  const matched = ONVIF_TOPIC.exec(topic);
  return {
    kind: matched === null ? 'other' : (ONVIF_KINDS[matched[1] ?? ''] ?? 'other'),
    eventType: topic,
    account: defaults.account ?? null,
    site: defaults.site ?? null,
    door: items.get('AccessPointToken') ?? null,
    doorName: null,
    credential: items.get('CredentialToken') ?? null,
    holder: items.get('CredentialHolderName') ?? null,
    time: textOf(nodeAt(message, '@UtcTime')),
  };
}

function vendorEvent(document: unknown, mapping: AccessMapping, defaults: AccessXmlOptions['defaults']): AccessFields {
  const field = (path: string | undefined): string | null => (path === undefined ? null : textOf(nodeAt(document, path)));
  const eventType = field(mapping.eventType) ?? '';
  const is = (values: readonly string[]) => values.some((v) => v.toLowerCase() === eventType.toLowerCase());
  const kind: AccessKind = is(mapping.duressValues)
    ? 'duress'
    : is(mapping.grantedValues)
      ? 'granted'
      : is(mapping.deniedValues)
        ? 'denied'
        : 'other';
  return {
    kind,
    eventType,
    account: field(mapping.account) ?? defaults.account ?? null,
    site: field(mapping.site) ?? defaults.site ?? null,
    door: field(mapping.door),
    doorName: field(mapping.doorName),
    credential: field(mapping.user),
    holder: field(mapping.holder),
    time: field(mapping.time),
  };
}

function signalOf(fields: AccessFields): AccessSignal {
  const signal: AccessSignal = { ...emptySignal('access-xml'), site: fields.site };
  const eventType = fields.eventType.slice(0, MAX_FIELD_CHARS);
  signal.account = fields.account;
  signal.code = { scheme: 'contact-id', value: fields.kind === 'other' ? `access:${eventType}` : CODE_OF_KIND[fields.kind] };
  signal.qualifier = 'new';
  if (fields.credential !== null && /^\d{1,9}$/.test(fields.credential)) signal.user = Number(fields.credential);
  if (fields.time !== null) {
    const ms = Date.parse(fields.time);
    if (Number.isNaN(ms)) signal.quirks.push(`time-unparsed: "${fields.time.slice(0, MAX_FIELD_CHARS)}"`);
    else signal.occurredAt = new Date(ms).toISOString();
  }
  signal.access = {
    eventType,
    ...(fields.door === null ? {} : { door: fields.door }),
    ...(fields.doorName === null ? {} : { doorName: fields.doorName }),
    ...(fields.credential === null ? {} : { credential: fields.credential }),
    ...(fields.holder === null ? {} : { holder: fields.holder }),
  };
  signal.text = describe(fields);
  return signal;
}

/** One readable line; the event schema has no holder field, so the holder reaches responders here. */
function describe(fields: AccessFields): string {
  const parts = [eventTypeLabel(fields)];
  if (fields.door !== null) parts.push(`door ${fields.doorName === null ? fields.door : `${fields.door} "${fields.doorName}"`}`);
  if (fields.credential !== null) parts.push(`credential ${fields.credential}`);
  if (fields.holder !== null) parts.push(`holder "${fields.holder}"`);
  return parts.join(', ').slice(0, 4 * MAX_FIELD_CHARS);
}

function eventTypeLabel(fields: AccessFields): string {
  const label = { duress: 'duress', granted: 'access granted', denied: 'access denied', other: 'access event' }[fields.kind];
  return `${label} (${fields.eventType.slice(0, MAX_FIELD_CHARS) || 'no event type'})`;
}

/**
 * The node at a dotted path (`''` is the node itself). A numeric segment indexes a repeated element; any
 * other segment on a repeated element reads its first occurrence. Only own properties are followed.
 */
function nodeAt(node: unknown, path: string): unknown {
  let current = node;
  for (const segment of path === '' ? [] : path.split('.')) {
    if (Array.isArray(current) && /^\d+$/.test(segment)) {
      current = current[Number(segment)];
      continue;
    }
    if (Array.isArray(current)) current = current[0];
    if (typeof current !== 'object' || current === null || !Object.hasOwn(current, segment)) return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}

/** Text of a leaf, an element's text beside attributes, or the first of repeated leaves; entities decoded. */
function textOf(node: unknown): string | null {
  const value = Array.isArray(node) ? node[0] : node;
  if (typeof value === 'string') return decodeEntities(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'object' && value !== null && Object.hasOwn(value, '#text')) return textOf((value as Record<string, unknown>)['#text']);
  return null;
}

function asArray(node: unknown): unknown[] {
  if (node === undefined) return [];
  return Array.isArray(node) ? node : [node];
}

const PREDEFINED_ENTITIES: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/**
 * The five predefined XML entities and character references, which `processEntities: false` leaves as written.
 * Nothing here can expand: declared entities never get this far.
 */
function decodeEntities(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(/&(#x[0-9a-fA-F]{1,6}|#\d{1,7}|lt|gt|amp|quot|apos);/g, (whole, name: string) => {
    if (name[0] !== '#') return PREDEFINED_ENTITIES[name] ?? whole;
    const code = name[1] === 'x' ? Number.parseInt(name.slice(2), 16) : Number(name.slice(1));
    return code <= 0x10ffff ? String.fromCodePoint(code) : whole;
  });
}
