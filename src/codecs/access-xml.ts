import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { emptySignal, type Signal } from '../model/signal.js';
import { alarmNamedIn, namesDuress, NAMED_ALARMS, type NamedAlarm } from '../model/duress-word.js';
import { parseXmlDateTime } from './date-time.js';
import { fail, ok, type DecodeError, type DecodeResult } from './result.js';

/**
 * Access-control events posted as XML (protocols.md §5). First-class: ONVIF event notifications (SOAP
 * `Envelope/Body/Notify` as pushed, a PullMessagesResponse as pulled, or a bare `NotificationMessage`) with the
 * `tns1:AccessControl/…`, `tns1:Door/State/…` and `tns1:Credential/State/ApbViolation` topics (the topic tree
 * of the ONVIF Access Control and Door Control services, as Axis door controllers list it in VAPIX "Notification
 * topics"). Other feeds are read through configured mappings: dotted paths into the parsed document (namespace
 * prefixes removed, attributes written `@Name`, e.g. `Event.Door.@id`). A mapping yields one event per element at
 * its `match` path (a batch `<Events><Event/><Event/></Events>` with `match: Events.Event` yields two); paths under
 * `match` are read inside each element, other paths once from the document.
 *
 * Code convention, so the catalogue and classifier label them: duress → CID 124 "Duress - access granted",
 * granted/taken → CID 422 "Access report by user", denied (every sub-topic) → CID 421 "Access denied",
 * request → CID 420 "Access control", anti-passback → SIA DI; door alarms → SIA DF (forced open), DL (open too
 * long), DR (back to normal), door tamper → SIA TA/TR, door fault → SIA DT; door, lock and access-point state
 * changes carry no code (category access). Any other topic keeps its own name as the code value
 * `access:<type>`, which no table knows, so it comes out `unrecognized` (never dropped), unless its words name a
 * duress, hold-up or panic (model/duress-word.ts), which the classifier labels. `signal.access` carries
 * door, credential and holder; a numeric credential is also the user number.
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
  /**
   * Path of a field that makes the event a duress whatever its type: `true`, `1`, `yes` or `on`, or a value that
   * names a duress (Lenel OnGuard's boolean `Duress` beside SubType "Granted"; C•CURE 9000's state code "Duress" of a
   * "Card admitted").
   */
  duressFlag?: string | undefined;
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

/** What an event means: its code (null: an access event without a code of its own), qualifier and label. */
interface Meaning {
  code: Signal['code'];
  qualifier: 'new' | 'restore' | 'status';
  label: string;
}

interface AccessFields {
  /** null: no known meaning, the event type becomes the code `access:<type>`. */
  meaning: Meaning | null;
  eventType: string;
  account: string | null;
  site: string | null;
  door: string | null;
  doorName: string | null;
  credential: string | null;
  holder: string | null;
  time: string | null;
  /** Further ONVIF data items kept beside the event (Reason, Card). */
  details: Record<string, string>;
  /** Tolerated deviations, named in the event's `quirks`. */
  quirks: string[];
}

const ENTITY_DECLARATION = /<!(DOCTYPE|ENTITY)/i;
const ONVIF_CONTAINERS = ['Envelope.Body.Notify', 'Envelope.Body.PullMessagesResponse', 'Notify', 'PullMessagesResponse', ''];

const cid = (value: string, label: string): Meaning => ({ code: { scheme: 'contact-id', value }, qualifier: 'new', label });
const sia = (value: string, label: string, qualifier: Meaning['qualifier'] = 'new'): Meaning => ({
  code: { scheme: 'sia', value },
  qualifier,
  label,
});
const uncoded = (label: string): Meaning => ({ code: null, qualifier: 'new', label });

/**
 * An event no reading gave a meaning, in content that names a call for help (quirk `duress-suspected`), as a panel
 * reports it (protocols.md §6): CID 121 "Duress", 122 "Silent (24-hour silent)" for a hold-up, 120 "Panic".
 */
const SUSPECTED: Readonly<Record<NamedAlarm, Meaning>> = {
  duress: cid('121', 'duress suspected'),
  holdup: cid('122', 'hold-up suspected'),
  panic: cid('120', 'panic suspected'),
};

/** A text of a document that names a call for help, and which. */
interface NamedText {
  text: string;
  alarm: NamedAlarm;
}

/** The more urgent of two named texts (the first on a tie). */
function moreUrgent(found: NamedText | null, candidate: NamedText | null): NamedText | null {
  if (found === null) return candidate;
  return candidate !== null && NAMED_ALARMS.indexOf(candidate.alarm) < NAMED_ALARMS.indexOf(found.alarm) ? candidate : found;
}

/** A text with the call for help it names, or null. */
function namedText(text: string): NamedText | null {
  const alarm = alarmNamedIn(text);
  return alarm === null ? null : { text, alarm };
}

const KIND_MEANING: Readonly<Record<Exclude<AccessKind, 'other'>, Meaning>> = {
  duress: cid(ACCESS_DURESS_CODE, 'duress'),
  granted: cid(ACCESS_GRANTED_CODE, 'access granted'),
  denied: cid(ACCESS_DENIED_CODE, 'access denied'),
};

/**
 * ONVIF access-control topics (prefixes removed), each with every sub-topic: Denied/Credential, Denied/Anonymous,
 * Denied/CredentialNotFound/Card, Denied/Authentication/InvalidPIN… are all denials. `AccessDenied` is not an
 * ONVIF topic but was accepted before, so it stays a denial.
 */
const ONVIF_ACCESS_TOPICS: ReadonlyArray<readonly [RegExp, Meaning]> = [
  [/^AccessControl\/Duress(\/|$)/, KIND_MEANING.duress],
  [/^AccessControl\/AccessGranted(\/|$)/, KIND_MEANING.granted],
  [/^AccessControl\/AccessTaken(\/|$)/, cid(ACCESS_GRANTED_CODE, 'access taken')],
  [/^AccessControl\/AccessNotTaken(\/|$)/, cid(ACCESS_GRANTED_CODE, 'access not taken')],
  [/^AccessControl\/(Denied|AccessDenied)(\/|$)/, KIND_MEANING.denied],
  [/^AccessControl\/Request(\/|$)/, cid('420', 'access request')],
  [/^Credential\/State\/ApbViolation$/, sia('DI', 'access denied (anti-passback)')],
  [/^AccessPoint\/State\/Enabled$/, uncoded('access point enabled state')],
];

/**
 * `tns1:Door/State/<property>` by its `State` data item (ONVIF Door Control: DoorAlarm Normal/DoorForcedOpen/
 * DoorOpenTooLong, DoorTamper NotInTamper/TamperDetected, DoorFault NotInFault/FaultDetected). A topic that names
 * the alarm itself (`Door/State/DoorForcedOpen`) is read the same way.
 */
function doorStateMeaning(property: string, state: string | undefined): Meaning {
  const alarm = property === 'DoorAlarm' ? state : property;
  if (alarm === 'DoorForcedOpen') return sia('DF', 'door forced open');
  if (alarm === 'DoorOpenTooLong') return sia('DL', 'door open too long');
  if (property === 'DoorAlarm') return sia('DR', 'door alarm back to normal', 'restore');
  if (property === 'DoorTamper') return state === 'NotInTamper' ? sia('TR', 'door tamper cleared') : sia('TA', 'door tamper');
  if (property === 'DoorFault') return sia('DT', state === 'NotInFault' ? 'door fault cleared' : 'door fault', state === 'NotInFault' ? 'restore' : 'new');
  return uncoded(`door state ${property}${state === undefined ? '' : ` ${state}`}`);
}

/** Door Control `State` values that are alarms (doorStateMeaning). */
const ALARM_STATES: ReadonlySet<string> = new Set(['DoorForcedOpen', 'DoorOpenTooLong', 'TamperDetected', 'FaultDetected']);

/** The meaning of an ONVIF topic, namespace prefixes removed (`tns1:`, `tnsaxis:`); null when it has none here. */
function onvifMeaning(topic: string, items: ReadonlyMap<string, string>, initialized: boolean): Meaning | null {
  const path = topic.trim().replace(/(^|\/)[\w.-]+:/g, '$1');
  for (const [pattern, meaning] of ONVIF_ACCESS_TOPICS) if (pattern.test(path)) return meaning;
  const door = /^Door\/State\/(\w+)$/.exec(path);
  if (door === null) return null;
  const meaning = doorStateMeaning(door[1] ?? '', items.get('State'));
  // A property's Initialized message reports the state it already had when the subscription began.
  return initialized ? { ...meaning, qualifier: 'status' } : meaning;
}
/** Bounds the code value and text built from document content. */
const MAX_FIELD_CHARS = 128;
/** Bounds what an error message quotes of the parser's. */
const MAX_MESSAGE_QUOTE = 200;

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
/** The `encoding` of an XML declaration read as ASCII (XML 1.0 §4.3.3: its name is Latin letters, digits, ._-). */
const DECLARED_ENCODING = /^<\?xml\s[^>]*?\bencoding\s*=\s*["']([A-Za-z][A-Za-z0-9._-]*)["']/;

/**
 * The document's text in the encoding its bytes say (XML 1.0 §4.3.3 and Appendix F): a byte order mark, else the
 * UTF-16 shape of `<` without one, else the declaration's `encoding`, else UTF-8. Every processor must read UTF-8
 * and UTF-16; older door controllers declare ISO-8859-1 or windows-1252, which are read as well. Bytes that lie
 * about their encoding are read all the same, named in a quirk: refusing them would drop the duress they carry
 * (a holder's name in Latin-1 in a document that says UTF-8).
 */
function documentText(body: Uint8Array): { text: string; quirks: string[] } {
  const [b0, b1, b2, b3] = body;
  let encoding = 'utf-8';
  if (b0 === 0xff && b1 === 0xfe) encoding = 'utf-16le';
  else if (b0 === 0xfe && b1 === 0xff) encoding = 'utf-16be';
  // "<" and a character after it: no UTF-8 document holds a NUL there.
  else if (b0 === 0x3c && b1 === 0x00 && b2 !== undefined && b2 !== 0x00 && b3 === 0x00) encoding = 'utf-16le';
  else if (b0 === 0x00 && b1 === 0x3c && b2 === 0x00 && b3 !== undefined && b3 !== 0x00) encoding = 'utf-16be';
  else if (!(b0 === 0xef && b1 === 0xbb && b2 === 0xbf)) {
    const declared = DECLARED_ENCODING.exec(Buffer.from(body.subarray(0, 256)).toString('latin1'));
    if (declared !== null) encoding = declared[1]!.toLowerCase();
  }
  const quirks: string[] = [];
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(encoding, { fatal: true });
  } catch {
    quirks.push(`encoding-unsupported: "${encoding}" read as UTF-8`);
    decoder = new TextDecoder('utf-8', { fatal: true });
  }
  // Bytes that spell "<?xml" in ASCII are not UTF-16 whatever the label says (Appendix F.1): .NET's XmlWriter over
  // a string declares utf-16 and the text is then sent as UTF-8.
  if (decoder.encoding.startsWith('utf-16') && b0 === 0x3c && b1 === 0x3f) decoder = new TextDecoder('utf-8', { fatal: true });
  try {
    return { text: decoder.decode(body), quirks };
  } catch {
    quirks.push(`encoding-invalid: bytes that are not ${decoder.encoding} read as U+FFFD`);
    return { text: new TextDecoder(decoder.encoding).decode(body), quirks };
  }
}

/** Decodes one XML document into one signal per access event. Never throws. */
export function decodeAccessXml(body: string | Uint8Array, options: AccessXmlOptions): DecodeResult<AccessSignal[]> {
  const size = typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.byteLength;
  if (size > options.maxBytes) {
    return fail('XML_TOO_LARGE', `the body has ${size} bytes, more than the limit of ${options.maxBytes}`);
  }
  const { text: decodedText, quirks } = typeof body === 'string' ? { text: body, quirks: [] } : documentText(body);
  let text = decodedText;
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (ENTITY_DECLARATION.test(text)) {
    return fail('XML_ENTITY_REJECTED', 'DOCTYPE and ENTITY declarations are refused (entity expansion)', text);
  }
  let document: unknown;
  try {
    const valid = XMLValidator.validate(text);
    if (valid !== true) {
      const { msg, line, col } = valid.err;
      // The validator quotes what it refused, up to every open tag: a 64 KiB body made a 170 KB message for the
      // answer and the log.
      return fail('XML_MALFORMED', `not well-formed XML: ${msg.slice(0, MAX_MESSAGE_QUOTE)} (line ${line}, column ${col ?? '?'})`, text);
    }
    document = parser.parse(text);
  } catch (error) {
    // The parser refuses what the validator lets through (nesting depth, reserved names such as __proto__).
    return fail('XML_MALFORMED', `the XML could not be parsed: ${(error as Error).message.slice(0, MAX_MESSAGE_QUOTE)}`, text);
  }
  const events = eventsOf(document, options, text);
  if (!events.ok) return events;
  return ok(events.value.map((fields) => signalOf({ ...fields, quirks: [...quirks, ...fields.quirks] })));
}

/**
 * A document the input refuses (not well-formed, a DTD, over the size limit) is still searched for a duress, hold-up
 * or panic, within its first maxBytes: the signal of a suspected one (Contact ID 121, 122 or 120, quirks
 * `content-unparsed` and `duress-suspected`), else null. Its text is searched as written, entities never expanded.
 */
export function suspectedDuressIn(body: Uint8Array, refused: DecodeError, options: AccessXmlOptions): AccessSignal | null {
  const { text } = documentText(body.subarray(0, options.maxBytes));
  const fields = unreadEvent(options.defaults, `content-unparsed: ${refused.code}`);
  const named = () => text.split(/[<>]/).reduce<NamedText | null>((found, piece) => moreUrgent(found, namedText(piece)), null);
  return suspectCallForHelp(fields, named) ? signalOf(fields) : null;
}

/** Configured mappings first (the installer knows the feed), then the built-in ONVIF reading. */
function eventsOf(document: unknown, options: AccessXmlOptions, text: string): DecodeResult<AccessFields[]> {
  for (const mapping of options.mappings) {
    const elements = nodesAt(document, mapping.match);
    if (elements.length > 0) return ok(vendorEvents(document, elements, mapping, options.defaults));
  }
  for (const container of ONVIF_CONTAINERS) {
    const messages = nodesAt(document, container === '' ? 'NotificationMessage' : `${container}.NotificationMessage`);
    if (messages.length > 0) return ok(messages.flatMap((message) => onvifEvents(message, options.defaults)));
  }
  const names = options.mappings.map((m) => m.name);
  const tried = names.length === 0 ? 'ONVIF' : `ONVIF or ${names.join(', ')}`;
  const unmapped = `the document matches no mapping (tried ${tried})`;
  const suspected = unreadEvent(options.defaults, `no-mapping: ${unmapped}`);
  if (suspectCallForHelp(suspected, () => callForHelpNamedIn(document))) return ok([suspected]);
  return fail('XML_MAPPING_FAILED', unmapped, text);
}

/** An event of a document no reading understood: no event type, no meaning (yet), the why as its quirk. */
function unreadEvent(defaults: AccessXmlOptions['defaults'], why: string): AccessFields {
  const { account = null, site = null } = defaults;
  return { meaning: null, eventType: '', account, site, door: null, doorName: null, credential: null, holder: null, time: null, details: {}, quirks: [why] };
}

/**
 * An event no reading gave a meaning is a suspected duress, hold-up or panic when its element (or document) names
 * one elsewhere: in an element or attribute name, an attribute value or text, however spelled (alarmNamedIn). A
 * sender that moved the event type to an attribute, or wrote it in look-alike letters, must not pass a call for help
 * as `unrecognized`. True when the event became one.
 */
function suspectCallForHelp(fields: AccessFields, namedIn: () => NamedText | null): boolean {
  // An event type that names one itself is labelled by the classifier, its code kept as sent.
  if (fields.meaning !== null || alarmNamedIn(fields.eventType) !== null) return false;
  const named = namedIn();
  if (named === null) return false;
  fields.meaning = SUSPECTED[named.alarm];
  fields.quirks.push(`duress-suspected: "${named.text.slice(0, MAX_FIELD_CHARS)}" in content no reading matched`);
  return true;
}

/** Whether a duress flag's value says duress: a true boolean, or a value that names one (a state code "Duress"). */
function marksDuress(value: string | null): boolean {
  return value !== null && (/^\s*(true|1|yes|on)\s*$/i.test(value) || namesDuress(value));
}

/** A field whose value says no: `<Duress>false</Duress>` names a duress in its name only. */
function saysNo(node: unknown): boolean {
  return /^\s*(false|0|no|off)\s*$/i.test(textOf(node) ?? '');
}

/**
 * The name, attribute value or text in a parsed node that names the most urgent call for help (the first of those),
 * or null; a flag that says no (`<Panic>false</Panic>`) names none.
 */
function callForHelpNamedIn(node: unknown): NamedText | null {
  let found: NamedText | null = null;
  const pending: unknown[] = [node];
  while (pending.length > 0 && found?.alarm !== 'duress') {
    const current = pending.pop();
    if (typeof current === 'string') {
      found = moreUrgent(found, namedText(decodeEntities(current)));
    } else if (typeof current === 'object' && current !== null) {
      for (const [name, value] of Object.entries(current)) {
        const named = namedText(name.replace(/^@/, ''));
        if (named !== null && !saysNo(value)) found = moreUrgent(found, named);
        pending.push(value);
      }
    }
  }
  return found;
}

/**
 * The events of one notification: one per `Topic`. A notification has one (WS-BaseNotification), but a sender that
 * writes two must not have the second, a duress behind a benign first, go unread (quirk `repeated-topic`).
 */
function onvifEvents(notification: unknown, defaults: AccessXmlOptions['defaults']): AccessFields[] {
  const topics = nodesAt(notification, 'Topic').map((node) => textOf(node) ?? '');
  return (topics.length === 0 ? [''] : topics).map((topic) => {
    const fields = onvifEvent(notification, topic, defaults);
    if (topics.length > 1) fields.quirks.push(`repeated-topic: ${topics.length} topics in one notification`);
    suspectCallForHelp(fields, () => callForHelpNamedIn(notification));
    return fields;
  });
}

function onvifEvent(notification: unknown, topic: string, defaults: AccessXmlOptions['defaults']): AccessFields {
  const outer = nodeAt(notification, 'Message');
  // wsnt:Message wraps tt:Message; both are `Message` once the prefixes are gone.
  const message = nodeAt(outer, 'Message') ?? outer;
  const items = new Map<string, string>();
  const repeated = new Map<string, string[]>();
  for (const section of ['Source', 'Key', 'Data']) {
    for (const item of nodesAt(message, `${section}.SimpleItem`)) {
      const name = textOf(nodeAt(item, '@Name'));
      const value = textOf(nodeAt(item, '@Value'));
      if (name === null || value === null) continue;
      const kept = items.get(name);
      if (kept !== undefined) repeated.set(name, [...(repeated.get(name) ?? [kept]), value]);
      // The first value counts, unless a later one is an alarm: a benign State before a DoorForcedOpen must not hide it.
      if (kept === undefined || (ALARM_STATES.has(value) && !ALARM_STATES.has(kept))) items.set(name, value);
    }
  }
  const quirks = [...repeated].map(([name, values]) => {
    const listed = values.slice(0, 4).map((v) => `"${v.slice(0, 32)}"`).join(', ');
    return `repeated-item: ${name.slice(0, 32)} has ${values.length} values (${listed}); ${ALARM_STATES.has(items.get(name) ?? '') ? 'the alarm' : 'the first'} is read`;
  });
  const initialized = textOf(nodeAt(message, '@PropertyOperation')) === 'Initialized';
  const details: Record<string, string> = {};
  for (const name of ['Reason', 'Card']) {
    const value = items.get(name);
    if (value !== undefined) details[name.toLowerCase()] = value.slice(0, MAX_FIELD_CHARS);
  }
  return {
    meaning: onvifMeaning(topic, items, initialized),
    eventType: topic,
    account: defaults.account ?? null,
    site: defaults.site ?? null,
    door: items.get('AccessPointToken') ?? items.get('DoorToken') ?? null,
    doorName: null,
    credential: items.get('CredentialToken') ?? null,
    holder: items.get('CredentialHolderName') ?? null,
    time: textOf(nodeAt(message, '@UtcTime')),
    details,
    quirks,
  };
}

/**
 * One event per element at the mapping's `match`. When `match` names the container of several events (its element
 * holds several values at the event type's path), each value is an event of its own, never only the first. A field
 * beside the event type (under the same repeated element) is read by position when there are as many of it as
 * events, and left out otherwise: it cannot be told which event it belongs to. A field of the container itself is
 * shared. Such events name the quirk `match-is-container`, so the mapping can be corrected.
 */
function vendorEvents(document: unknown, elements: readonly unknown[], mapping: AccessMapping, defaults: AccessXmlOptions['defaults']): AccessFields[] {
  const eventTypeInside = pathInside(mapping.match, mapping.eventType);
  const eventElement = eventTypeInside?.split('.').slice(0, -1).join('.') ?? '';
  const ofEachEvent = (inside: string): boolean => eventElement === '' || inside === eventElement || inside.startsWith(`${eventElement}.`);
  return elements.flatMap((element) => {
    const events = eventTypeInside === null ? 1 : Math.max(1, nodesAt(element, eventTypeInside).length);
    // Each path is walked once per element, not once per event: a container of thousands of events would cost
    // seconds of the event loop every input shares.
    const walked = new Map<string, unknown[]>();
    const nodesInside = (inside: string): unknown[] => {
      let nodes = walked.get(inside);
      if (nodes === undefined) walked.set(inside, (nodes = nodesAt(element, inside)));
      return nodes;
    };
    // A suspected duress is searched for in the event's own element, else once in the element at match.
    const eventNodes = events > 1 ? nodesInside(eventElement === '' ? (eventTypeInside ?? '') : eventElement) : undefined;
    let elementNames: NamedText | null | undefined;
    const namedInElement = () => (elementNames === undefined ? (elementNames = callForHelpNamedIn(element)) : elementNames);
    return Array.from({ length: events }, (_, index) => {
      const fields = vendorEvent(mapping, defaults, (path) => {
        const inside = pathInside(mapping.match, path);
        if (inside === null) return textOf(nodeAt(document, path));
        const nodes = nodesInside(inside);
        if (events === 1 || !ofEachEvent(inside)) return textOf(nodes[0]);
        return nodes.length === events ? textOf(nodes[index]) : null;
      });
      if (events > 1) fields.quirks.push(`match-is-container: "${mapping.match}" holds ${events} events; set match to the repeated event element`);
      suspectCallForHelp(fields, () => (eventNodes?.length === events ? callForHelpNamedIn(eventNodes[index]) : namedInElement()));
      return fields;
    });
  });
}

/** `path` relative to the element at `match` (`''`: the element itself), or null when it lies outside it. */
function pathInside(match: string, path: string): string | null {
  if (path === match) return '';
  return path.startsWith(`${match}.`) ? path.slice(match.length + 1) : null;
}

/** The fields of one event; `read` finds the text at a mapping path for this event. */
function vendorEvent(mapping: AccessMapping, defaults: AccessXmlOptions['defaults'], read: (path: string) => string | null): AccessFields {
  const field = (path: string | undefined): string | null => (path === undefined ? null : read(path));
  const eventType = field(mapping.eventType) ?? '';
  const is = (values: readonly string[]) => values.some((v) => v.toLowerCase() === eventType.toLowerCase());
  const kind: AccessKind = is(mapping.duressValues) || marksDuress(field(mapping.duressFlag))
    ? 'duress'
    : is(mapping.grantedValues)
      ? 'granted'
      : is(mapping.deniedValues)
        ? 'denied'
        : 'other';
  return {
    meaning: kind === 'other' ? null : KIND_MEANING[kind],
    eventType,
    account: field(mapping.account) ?? defaults.account ?? null,
    site: field(mapping.site) ?? defaults.site ?? null,
    door: field(mapping.door),
    doorName: field(mapping.doorName),
    credential: field(mapping.user),
    holder: field(mapping.holder),
    time: field(mapping.time),
    details: {},
    quirks: [],
  };
}

function signalOf(fields: AccessFields): AccessSignal {
  const signal: AccessSignal = { ...emptySignal('access-xml'), site: fields.site };
  const eventType = fields.eventType.slice(0, MAX_FIELD_CHARS);
  signal.account = fields.account;
  signal.code = fields.meaning === null ? { scheme: 'contact-id', value: `access:${eventType}` } : fields.meaning.code;
  signal.qualifier = fields.meaning?.qualifier ?? 'new';
  signal.extended = { ...fields.details };
  signal.quirks.push(...fields.quirks);
  if (fields.credential !== null && /^\d{1,9}$/.test(fields.credential)) signal.user = Number(fields.credential);
  if (fields.time !== null) {
    const ms = parseXmlDateTime(fields.time);
    if (ms === null) signal.quirks.push(`time-unparsed: "${fields.time.slice(0, MAX_FIELD_CHARS)}"`);
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
  if (fields.details['reason'] !== undefined) parts.push(`reason ${fields.details['reason']}`);
  return parts.join(', ').slice(0, 4 * MAX_FIELD_CHARS);
}

function eventTypeLabel(fields: AccessFields): string {
  const label = fields.meaning?.label ?? 'access event';
  return `${label} (${fields.eventType.slice(0, MAX_FIELD_CHARS) || 'no event type'})`;
}

/**
 * Every node at a dotted path (`''` is the node itself), in document order: a repeated element stands for each
 * of its occurrences, and a numeric segment picks one occurrence of it. Only own properties are followed.
 */
function nodesAt(node: unknown, path: string): unknown[] {
  let current: unknown[] = [node];
  for (const segment of path === '' ? [] : path.split('.')) {
    const next: unknown[] = [];
    for (const value of current) {
      if (Array.isArray(value) && /^\d+$/.test(segment)) {
        if (Number(segment) < value.length) next.push(value[Number(segment)]);
        continue;
      }
      for (const occurrence of asArray(value)) {
        if (typeof occurrence === 'object' && occurrence !== null && Object.hasOwn(occurrence, segment)) {
          next.push((occurrence as Record<string, unknown>)[segment]);
        }
      }
    }
    current = next;
  }
  return current.flatMap(asArray);
}

/** The first node at a dotted path, or undefined. */
function nodeAt(node: unknown, path: string): unknown {
  return nodesAt(node, path)[0];
}

/** Text of a leaf, or an element's text beside attributes; entities decoded. (nodeAt gives one occurrence.) */
function textOf(node: unknown): string | null {
  if (typeof node === 'string') return decodeEntities(node);
  if (typeof node === 'number' || typeof node === 'boolean') return String(node);
  if (typeof node === 'object' && node !== null && Object.hasOwn(node, '#text')) return textOf((node as Record<string, unknown>)['#text']);
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
