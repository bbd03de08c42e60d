import { CATEGORIES, CONTROL_ACTIONS, EVENT_SCHEMA_ID, PROTOCOLS, TRANSPORTS, UNVERIFIED_REASONS } from './event.js';

/**
 * The text JSON.stringify gives for `value`, byte for byte, in fewer pieces: a string built in JavaScript costs per
 * piece joined where JSON.stringify costs per character written, so what repeats across events is kept whole. An
 * event whose keys come in the order the event builder writes them is written field by field, with the runs that
 * repeat (its trust; its classification from code to silent) as one kept piece; any other object is written key by
 * key. Either way a key with a value from a fixed list (the schema's enums, a boolean, null) is one piece from a
 * table, and the text of a frozen object (a code table entry's code, a site's context, a zone number) is kept, since
 * frozen parts are shared by many events and cannot change. Anything that is not plain data (a toJSON, a class
 * instance, a bigint, more nesting than an event has) goes to JSON.stringify.
 */
export function jsonText(value: unknown): string {
  // Only an event is asked whether it is in the builder's order: reading `schema` off every nested object would
  // meet objects of every shape, each a slow lookup.
  const event = isPlainObject(value) ? builtEventText(value, 0) : undefined;
  // Only an undefined, a function or a symbol has no text, and an event is none of them.
  return event ?? (valueText(value, 0) as string);
}

/** Deeper than any event nests: a deeper value (or a cyclic one, which then throws as JSON.stringify does) is left to it. */
const MAX_DEPTH = 8;

/** The values each key of the schema takes from a fixed list. */
const LISTED_VALUES: Record<string, readonly string[]> = {
  schema: [EVENT_SCHEMA_ID],
  transport: TRANSPORTS,
  unverifiedReason: UNVERIFIED_REASONS,
  protocol: PROTOCOLS,
  scheme: ['contact-id', 'sia'],
  qualifier: ['new', 'restore', 'status'],
  category: CATEGORIES,
  action: CONTROL_ACTIONS,
  channel: ['api', 'mqtt', 'gateway'],
};

/** Every key of the schema, nested ones included. */
const KEYS = [
  'schema', 'id', 'receivedAt', 'occurredAt', 'source', 'input', 'transport', 'peer', 'verified', 'unverifiedReason',
  'unverifiedCount', 'covert', 'protocol', 'account', 'receiver', 'line', 'code', 'scheme', 'value', 'description',
  'qualifier', 'category', 'duress', 'silent', 'partition', 'zone', 'user', 'number', 'name', 'type', 'location',
  'holder', 'site', 'address', 'response', 'door', 'credential', 'kind', 'incident', 'devices', 'control', 'action',
  'by', 'role', 'channel', 'note', 'window', 'test', 'reasons', 'quirks', 'extended', 'text', 'raw',
] as const;

/** A key's texts, each with its leading comma: `,"key":` and `,"key":value` for the values it may take from a list. */
class KeyTexts {
  readonly key: string;
  readonly null: string;
  readonly true: string;
  readonly false: string;
  /** By value; only for a key with listed values, since looking a string up hashes it. */
  readonly listed: ReadonlyMap<string, string> | undefined;

  constructor(name: string) {
    this.key = `,${JSON.stringify(name)}:`;
    this.null = `${this.key}null`;
    this.true = `${this.key}true`;
    this.false = `${this.key}false`;
    const listed = LISTED_VALUES[name];
    this.listed = listed === undefined ? undefined : new Map(listed.map((value) => [value, this.key + JSON.stringify(value)]));
  }
}

const KEY_TEXTS = new Map<string, KeyTexts>(KEYS.map((name) => [name, new KeyTexts(name)]));
const k = Object.fromEntries(KEY_TEXTS) as Record<(typeof KEYS)[number], KeyTexts>;

/** `,"key":value`, or nothing for a value JSON leaves out. */
function member(known: KeyTexts, value: unknown, depth: number): string {
  switch (typeof value) {
    case 'string':
      return known.listed?.get(value) ?? known.key + stringText(value);
    case 'boolean':
      return value ? known.true : known.false;
    case 'undefined':
      return '';
    default: {
      if (value === null) return known.null;
      const item = valueText(value, depth);
      return item === undefined ? '' : known.key + item;
    }
  }
}

/** The keys of an event in the order the event builder writes them; any may be absent. */
const BUILT_KEYS = [
  'schema', 'id', 'receivedAt', 'occurredAt', 'source', 'verified', 'unverifiedReason', 'protocol', 'account', 'receiver',
  'line', 'code', 'qualifier', 'category', 'duress', 'silent', 'partition', 'zone', 'user', 'site', 'door', 'number',
  'devices', 'test', 'reasons', 'quirks', 'extended', 'text', 'raw',
] as const;

const SCHEMA_TEXT = `{${k.schema.listed!.get(EVENT_SCHEMA_ID)!.slice(1)}`;

/** `,"verified":false,"unverifiedReason":…` by reason. */
const UNVERIFIED_TEXTS = new Map(UNVERIFIED_REASONS.map((reason) => [reason as string, k.verified.false + k.unverifiedReason.listed!.get(reason)!]));

function trustText(verified: unknown, reason: unknown, depth: number): string {
  if (verified === true && reason === undefined) return k.verified.true;
  const unverified = verified === false && typeof reason === 'string' ? UNVERIFIED_TEXTS.get(reason) : undefined;
  return unverified ?? member(k.verified, verified, depth) + member(k.unverifiedReason, reason, depth);
}

const BUILT_KEY_SET: ReadonlySet<string> = new Set(BUILT_KEYS);

/**
 * An event in the builder's key order, or undefined for any other object. The keys after `raw` (what the recorder's
 * annotator and the receivers add: incident, unverifiedCount, covert, control…) are written in their own order.
 */
function builtEventText(event: Record<string, unknown>, depth: number): string | undefined {
  if (event.schema !== EVENT_SCHEMA_ID) return undefined;
  const d = depth + 1;
  let next = 0;
  let added = '';
  for (const name in event) {
    if (next === BUILT_KEYS.length) {
      // A builder's key set again after the event was built comes after `raw`: not the builder's order.
      if (BUILT_KEY_SET.has(name) || name === 'toJSON') return undefined;
      added += memberText(name, event[name], d);
      continue;
    }
    while (next < BUILT_KEYS.length && BUILT_KEYS[next] !== name) next++;
    if (next === BUILT_KEYS.length) return undefined;
    next++;
  }
  return (
    SCHEMA_TEXT +
    member(k.id, event.id, d) +
    member(k.receivedAt, event.receivedAt, d) +
    member(k.occurredAt, event.occurredAt, d) +
    member(k.source, event.source, d) +
    trustText(event.verified, event.unverifiedReason, d) +
    member(k.protocol, event.protocol, d) +
    member(k.account, event.account, d) +
    member(k.receiver, event.receiver, d) +
    member(k.line, event.line, d) +
    classifiedText(event, d) +
    member(k.partition, event.partition, d) +
    member(k.zone, event.zone, d) +
    member(k.user, event.user, d) +
    member(k.site, event.site, d) +
    member(k.door, event.door, d) +
    member(k.number, event.number, d) +
    member(k.devices, event.devices, d) +
    member(k.test, event.test, d) +
    reasonsText(event.reasons, d) +
    member(k.quirks, event.quirks, d) +
    member(k.extended, event.extended, d) +
    member(k.text, event.text, d) +
    member(k.raw, event.raw, d) +
    added +
    '}'
  );
}

/** `,"code":…,"qualifier":…,"category":…,"duress":…,"silent":…` as last written with a kept code's text (or none). */
interface Classified {
  qualifier: unknown;
  category: unknown;
  duress: unknown;
  silent: unknown;
  text: string;
}
const classifiedTexts = new WeakMap<object, Classified>();
const NO_CODE = {};

function classifiedText(event: Record<string, unknown>, depth: number): string {
  const { code, qualifier, category, duress, silent } = event;
  const key = code === null ? NO_CODE : typeof code === 'object' && Object.isFrozen(code) ? code : undefined;
  const kept = key === undefined ? undefined : classifiedTexts.get(key);
  if (kept !== undefined && kept.qualifier === qualifier && kept.category === category && kept.duress === duress && kept.silent === silent)
    return kept.text;
  const text =
    member(k.code, code, depth) +
    member(k.qualifier, qualifier, depth) +
    member(k.category, category, depth) +
    member(k.duress, duress, depth) +
    member(k.silent, silent, depth);
  // Only a code whose own text was kept cannot change.
  if (key !== undefined && (key === NO_CODE || frozenTexts.has(key))) classifiedTexts.set(key, { qualifier, category, duress, silent, text });
  return text;
}

/**
 * Reasons as JSON, by reason: most come from the code table, the same string for every event of a code, and
 * carry quotes that only JSON.stringify escapes. Emptied when full: a reason may name a zone or a window.
 */
const reasonTexts = new Map<string, string>();
const REASONS_KEPT = 4096;
const REASONS_OPEN = `${k.reasons.key}[`;

function reasonsText(reasons: unknown, depth: number): string {
  if (!isPlainArray(reasons) || reasons.length === 0) return member(k.reasons, reasons, depth);
  let text = REASONS_OPEN;
  for (let i = 0; i < reasons.length; i++) {
    const reason: unknown = reasons[i];
    if (typeof reason !== 'string') return member(k.reasons, reasons, depth);
    let reasonText = reasonTexts.get(reason);
    if (reasonText === undefined) {
      if (reasonTexts.size >= REASONS_KEPT) reasonTexts.clear();
      reasonTexts.set(reason, (reasonText = stringText(reason)));
    }
    text += i === 0 ? reasonText : `,${reasonText}`;
  }
  return `${text}]`;
}

/** `,"name":value` for any key, or nothing for a value JSON leaves out. */
function memberText(name: string, value: unknown, depth: number): string {
  const known = KEY_TEXTS.get(name);
  if (known !== undefined) return member(known, value, depth);
  const item = valueText(value, depth);
  return item === undefined ? '' : `,${JSON.stringify(name)}:${item}`;
}

function valueText(value: unknown, depth: number): string | undefined {
  switch (typeof value) {
    case 'string':
      return stringText(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      if (value === null) return 'null';
      if (depth >= MAX_DEPTH) return JSON.stringify(value);
      return Object.isFrozen(value) ? frozenText(value, depth) : objectText(value, depth);
    default:
      return JSON.stringify(value);
  }
}

/** What JSON escapes: a quote, a backslash, a control character, a surrogate (JSON.stringify escapes lone ones). */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/**
 * A string in quotes. One JSON.stringify call costs more than a regular expression's scan of a short string, and
 * most of an event's strings need no escape; those that do go to it. (A scan in JavaScript would read strings of
 * every representation, sliced, joined, internalised, and its reads go slow.)
 */
function stringText(value: string): string {
  return NEEDS_ESCAPE.test(value) ? JSON.stringify(value) : `"${value}"`;
}

const frozenTexts = new WeakMap<object, string>();

/**
 * A frozen object's text, kept when all its values are primitives held as data: freezing does not reach nested
 * objects, nor what a getter returns.
 */
function frozenText(value: object, depth: number): string {
  let text = frozenTexts.get(value);
  if (text === undefined) {
    text = objectText(value, depth);
    const fixed = Object.values(Object.getOwnPropertyDescriptors(value)).every(
      (property) => 'value' in property && (typeof property.value !== 'object' || property.value === null),
    );
    if (fixed) frozenTexts.set(value, text);
  }
  return text;
}

/*
 * What JSON.stringify would hand to a toJSON is left to it. A plain object has one only as an own key (Object.prototype
 * has none), so it is found among the keys, not looked up: looking up a missing key on objects of every shape is
 * a slow lookup each time.
 */
function objectText(value: object, depth: number): string {
  if (Array.isArray(value)) return isPlainArray(value) ? arrayText(value, depth) : JSON.stringify(value);
  if (!isPlainObject(value)) return JSON.stringify(value);
  let text = '';
  // A plain object's own enumerable keys, in JSON.stringify's order: Object.prototype has no enumerable key.
  for (const name in value) {
    if (name === 'toJSON') return JSON.stringify(value);
    text += memberText(name, (value as Record<string, unknown>)[name], depth + 1);
  }
  // Every member comes with its leading comma: the first one's becomes the brace.
  return text === '' ? '{}' : `{${text.slice(1)}}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null;
}

function isPlainArray(value: unknown): value is readonly unknown[] {
  return Array.isArray(value) && Object.getPrototypeOf(value) === Array.prototype && !Object.hasOwn(value, 'toJSON');
}

function arrayText(items: readonly unknown[], depth: number): string {
  if (items.length === 0) return '[]';
  let text = '[';
  for (let i = 0; i < items.length; i++) text += `${i === 0 ? '' : ','}${valueText(items[i], depth + 1) ?? 'null'}`;
  return `${text}]`;
}
