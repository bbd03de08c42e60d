import { catalogedDuressCodes } from '../catalog/index.js';
import { decodeDc09Frame, type DataBlock, type Dc09Message, type UnsupportedDc09Frame } from '../codecs/dc09/frame.js';
import { dc09AnswerOf, type Dc09AnswerFrame } from '../codecs/dc09/responses.js';
import { parseDc09Timestamp } from '../codecs/dc09/timestamp.js';
import { ademco685Heartbeat, decodeAdemco685, looksLikeAdemco685 } from '../codecs/ademco-685.js';
import { contactIdSignal, decodeContactId, parseAdmCidData, type ContactIdFields } from '../codecs/contact-id.js';
import { decodeSurgard } from '../codecs/surgard.js';
import { decodeSiaLine, parseSiaData } from '../codecs/sia-dc03.js';
import { fail, ok, type DecodeResult } from '../codecs/result.js';
import type { Protocol } from '../model/event.js';
import { emptySignal, type Signal } from '../model/signal.js';

export type FrameProtocol = 'dc09' | 'contact-id' | 'surgard' | 'sia-dc03';

export interface DecodeFrameOptions {
  strict?: boolean;
  keyFor?(account: string | null): Uint8Array | undefined;
  /** Network receivers require the DC-09 CRC/length header; the CLI also takes a bare body. */
  requireHeader?: boolean;
  /** Skip detection when the input's protocol is known. */
  protocol?: FrameProtocol;
  /** Sur-Gard: the receiver's two-way audio (listen-in) character (decodeSurgard's default when not given). */
  listenInCharacter?: string;
  /** DC-09: read a plain answer without account and data block (decodeDc09Frame's blocklessAnswers). */
  blocklessAnswers?: boolean;
}

export interface DecodedFrame {
  protocol: FrameProtocol;
  signals: Signal[];
  /** The DC-09 envelope, when the frame was DC-09 (for answers and dedupe). */
  dc09?: Dc09Message;
  /** A receiver's answer (ACK, NAK, DUH, RSP): no signals, it carries no event and is never classified. */
  answer?: Dc09AnswerFrame;
}

const DC4 = 0x14;

/** What detection looks for, named in FORMAT_UNKNOWN. */
const FORMATS_TRIED =
  'DC-09 (LF or <crc><0LLL>"ID" header; Osborne-Hoffman SR<receiver>L<line> line), Contact ID (15-16 hex digits, or the Ademco 685 line "RG AAAA 18 QXYZ GG FCCC" or its heartbeat "RG OKAY @"), ' +
  'Sur-Gard automation (protocol id and 2-digit receiver, or a DC4 terminator), SIA DC-03 (#account, N/O block or [...])';

/** Which codec a frame is for, from its shape; null when it looks like none. */
function detected(bytes: Uint8Array): FrameProtocol | null {
  const text = Buffer.from(bytes).toString('latin1').trim();
  if (bytes[0] === 0x0a || /^[^\s]{0,10}"/.test(text) || /^SR\d{4}L\d{4}/.test(text)) return 'dc09';
  if (/^[0-9A-Fa-f]{15,16}$/.test(text) || looksLikeAdemco685(text)) return 'contact-id';
  // Sur-Gard packets end in DC4 and start with a protocol id and a two-digit receiver number.
  if (bytes.includes(DC4) || /^[0135QS6]\d{2}/.test(text)) return 'surgard';
  if (/^[#NO]/.test(text) || /^\[/.test(text)) return 'sia-dc03';
  return null;
}

/**
 * Which codec a frame is for, from its shape (plain-log replays route by it). A frame that looks like nothing
 * goes to DC-09, the network protocol, whose decoder then reports FORMAT_UNKNOWN.
 */
export function detectProtocol(bytes: Uint8Array): FrameProtocol {
  return detected(bytes) ?? 'dc09';
}

/** One frame of any supported protocol → its signals (a NULL or heartbeat gives one signal without a code). */
export function decodeFrame(bytes: Uint8Array, options: DecodeFrameOptions = {}): DecodeResult<DecodedFrame> {
  const strict = options.strict ?? false;
  const protocol = options.protocol ?? detected(bytes);
  if (protocol === null) return fail('FORMAT_UNKNOWN', `matches no supported protocol: tried ${FORMATS_TRIED}`, bytes);
  const text = Buffer.from(bytes).toString('latin1');
  switch (protocol) {
    case 'dc09': {
      const decoded = decodeDc09Frame(bytes, {
        strict,
        requireHeader: options.requireHeader ?? true,
        blocklessAnswers: options.blocklessAnswers ?? false,
        ...(options.keyFor === undefined ? {} : { keyFor: options.keyFor }),
      });
      if (!decoded.ok) return decoded;
      const answer = dc09AnswerOf(decoded.value);
      if (answer !== null) return ok({ protocol, signals: [], dc09: decoded.value, answer });
      return ok({ protocol, signals: dc09Signals(decoded.value, strict), dc09: decoded.value });
    }
    case 'contact-id': {
      const line = text.trim();
      const heartbeat = ademco685Heartbeat(line);
      if (heartbeat !== null) return ok({ protocol, signals: [{ ...emptySignal('contact-id'), ...heartbeat }] });
      if (looksLikeAdemco685(line)) {
        const decoded = decodeAdemco685(line);
        if (!decoded.ok) return decoded;
        const { account, receiver, line: group } = decoded.value;
        return ok({ protocol, signals: [contactIdSignal(decoded.value, { protocol: 'contact-id', account, receiver, line: group })] });
      }
      const decoded = decodeContactId(line, { strict });
      if (!decoded.ok) return decoded;
      const m = decoded.value;
      return ok({
        protocol,
        signals: [contactIdSignal(m, { protocol: 'contact-id', account: m.account, receiver: null, line: null, quirks: m.quirks })],
      });
    }
    case 'surgard': {
      const { listenInCharacter } = options;
      const decoded = decodeSurgard(bytes, { strict, ...(listenInCharacter === undefined ? {} : { listenInCharacter }) });
      if (!decoded.ok) return decoded;
      const p = decoded.value;
      if (p.kind === 'heartbeat') {
        const signal = emptySignal('surgard');
        signal.receiver = p.receiver;
        signal.line = p.line;
        return ok({ protocol, signals: [signal] });
      }
      return ok({ protocol, signals: p.signals });
    }
    case 'sia-dc03': {
      const decoded = decodeSiaLine(text.trim(), { strict });
      if (!decoded.ok) return decoded;
      if (decoded.value.events.length === 0) return fail('SIA03_FORMAT_INVALID', 'the SIA line carries no event', bytes);
      return ok({ protocol, signals: decoded.value.events.map((s) => ({ ...s, account: s.account ?? decoded.value.account })) });
    }
  }
}

/** DC-09 envelope → signals; content that does not parse still yields one signal, classified `unrecognized`. */
export function dc09Signals(msg: Dc09Message, strict: boolean): Signal[] {
  const account = msg.account ?? msg.dataAccount;
  const frameTime = msg.timestamp === null ? null : new Date(msg.timestamp).toISOString();
  // [H], the time of occurrence, is written like the frame timestamp (UTC) and wins over the block's da/ti (the
  // panel's wall clock, read in the site's zone) and over the timestamp (when it was sent) (protocols.md §3.9).
  const occurrence = msg.extended['H'] === undefined ? null : parseDc09Timestamp(msg.extended['H'].trim(), 0);
  const occurredAt = occurrence === null ? null : new Date(occurrence).toISOString();
  // Each signal was just built by its parser for this frame alone, so the frame's fields are written into it: a
  // copy of every signal (and of its extended data and quirks when the frame adds none) cost allocations a frame.
  const withFrame = (signal: Signal, blockAccount: string | null): Signal => {
    if (occurredAt !== null) signal.occurredAtLocal = undefined;
    signal.account = blockAccount;
    signal.receiver = msg.receiver;
    signal.line = msg.line;
    signal.occurredAt = occurredAt ?? signal.occurredAt ?? frameTime;
    // DC-03 modifiers without a field of their own (pi, ai, …) stay beside the frame's extended data.
    if (hasKeys(msg.extended)) signal.extended = { ...signal.extended, ...msg.extended };
    if (msg.extendedRepeated !== undefined) signal.extendedRepeated = msg.extendedRepeated;
    if (msg.quirks.length > 0) signal.quirks = [...msg.quirks, ...signal.quirks];
    return signal;
  };
  if (msg.token === 'OH') return [withFrame(emptySignal('null'), account)];
  // The header account names the sender; a further block without one falls back to its own, then the first block's.
  const blocks: DataBlock[] = [msg, ...(msg.moreData ?? [])];
  return blocks.flatMap((block) => {
    const blockAccount = msg.account ?? block.dataAccount ?? msg.dataAccount;
    return blockSignals(msg, block.data, blockAccount, strict).map((signal) => withFrame(signal, blockAccount));
  });
}

/** One data block of a DC-09 message → its signals, read by the message's token. */
function blockSignals(msg: Dc09Message, data: string, account: string | null, strict: boolean): Signal[] {
  if (msg.token === 'NULL') return nullSignals(msg, data, account, strict);
  if (msg.token === 'ADM-CID') {
    const fields = parseAdmCidData(data, { strict });
    return [fields.ok ? admCidSignal(msg, fields.value, account) : unparsedSignal('adm-cid', data, fields.error.message)];
  }
  const sia = parseSiaData(data, { strict, protocol: 'sia-dcs' });
  if (sia.ok && sia.value.events.length > 0) return sia.value.events;
  return [unparsedSignal('sia-dcs', data, sia.ok ? 'empty data block' : sia.error.message)];
}

function admCidSignal(msg: Dc09Message, fields: ContactIdFields & { quirks: string[] }, account: string | null): Signal {
  return contactIdSignal(fields, { protocol: 'adm-cid', account, receiver: msg.receiver, line: msg.line, quirks: fields.quirks });
}

/**
 * A NULL is a link test: one signal without a code. Some panels put a data block in it (the Hikvision hub:
 * `#0000|0000 00 000`, a Contact ID without an event); one that carries an event, as ADM-CID or SIA data, or a duress
 * or hold-up code where a code would stand, gives that event (quirk `null-with-event`), so the receiver stores it
 * before its ACK rather than answering it away as a heartbeat.
 */
function nullSignals(msg: Dc09Message, data: string, account: string | null, strict: boolean): Signal[] {
  const cid = parseAdmCidData(data, { strict });
  const sia = cid.ok ? null : parseSiaData(data, { strict, protocol: 'sia-dcs' });
  const why = 'a NULL data block that reads as neither ADM-CID nor SIA data';
  const events = cid.ok
    ? [admCidSignal(msg, cid.value, account)]
    : sia?.ok === true && sia.value.events.length > 0
      ? sia.value.events
      : [suspectedDuressSignal('adm-cid', 'contact-id', data, why) ?? suspectedDuressSignal('sia-dcs', 'sia', data, why)].filter((signal) => signal !== null);
  if (events.length === 0) return [emptySignal('null')];
  return events.map((signal) => ({ ...signal, quirks: ['null-with-event', ...signal.quirks] }));
}

/**
 * A frame in an ID token the gateway does not read (answered DUH) → a signal for each duress or hold-up code that
 * stands in its data blocks where a code would (protocol null: no protocol the gateway reads), else none. Its
 * extended fields are not read, nor is an encrypted frame's ciphertext: hex digits would read as Contact ID codes.
 */
export function unsupportedTokenSignals(frame: UnsupportedDc09Frame): Signal[] {
  if (frame.encrypted) return [];
  const why = `DC-09 ID token "${frame.token}" is not one the gateway reads`;
  return frame.content.split('][').flatMap((block, index) => {
    const field = block.slice(0, block.includes(']') ? block.indexOf(']') : block.length);
    const led = DATA_BLOCK_ACCOUNT.exec(field);
    if (led === null && index > 0) return []; // an extended field ([X…], [H…]), not a data block
    const data = led === null ? field : field.slice(led[0].length);
    const signal = suspectedDuressSignal(null, 'contact-id', data, why) ?? suspectedDuressSignal(null, 'sia', data, why);
    if (signal === null) return [];
    signal.account = frame.account ?? (led?.[1] || null);
    signal.receiver = frame.receiver;
    signal.line = frame.line;
    return [signal];
  });
}

/** The `#acct|` (or bare `|`) that leads a data block. */
const DATA_BLOCK_ACCOUNT = /^(?:#([0-9A-Za-z]*))?\|/;

function hasKeys(record: Record<string, string>): boolean {
  for (const key in record) if (Object.hasOwn(record, key)) return true;
  return false;
}

/**
 * Content that decoded at the frame level but not inside: kept, with the text, for an `unrecognized` event; or, when
 * a duress or hold-up code stands in it where a code would, published as that code (quirk `duress-suspected`):
 * every signal that may be duress arrives labelled as one.
 */
function unparsedSignal(protocol: 'sia-dcs' | 'adm-cid', data: string, why: string): Signal {
  const scheme = protocol === 'adm-cid' ? 'contact-id' : 'sia';
  const suspected = suspectedDuressSignal(protocol, scheme, data, why);
  if (suspected !== null) return suspected;
  const signal = emptySignal(protocol);
  signal.code = { scheme, value: data.slice(0, 32) };
  signal.text = data;
  signal.quirks = [`content-unparsed: ${why}`];
  return signal;
}

/**
 * Refused content (`data`: SIA data, or Contact ID's `QXYZ…`) in which a duress or hold-up code stands where a code
 * would: a signal of that code with the text kept (quirks `content-unparsed`, `duress-suspected`), else null.
 */
export function suspectedDuressSignal(protocol: Protocol | null, scheme: 'contact-id' | 'sia', data: string, why: string): Signal | null {
  const suspected = suspectedDuressCode(scheme, data);
  if (suspected === null) return null;
  const signal = emptySignal(protocol);
  signal.code = { scheme, value: suspected.value };
  signal.qualifier = suspected.qualifier;
  // Where the code's number and the area stand readably, the responder gets them (the code table says what the
  // number names, as for a decoded code).
  signal.address = suspected.address;
  signal.partition = suspected.partition;
  signal.text = data;
  const spelling = suspected.written === null ? '' : ` (written ${suspected.written})`;
  signal.quirks = [`content-unparsed: ${why}`, `duress-suspected: ${scheme === 'sia' ? 'SIA' : 'Contact ID'} ${suspected.value} in the content${spelling}`];
  return signal;
}

const DURESS_CODES: Readonly<Record<'contact-id' | 'sia', ReadonlySet<string>>> = {
  'contact-id': new Set(catalogedDuressCodes().filter((c) => c.scheme === 'contact-id').map((c) => c.value)),
  sia: new Set(catalogedDuressCodes().filter((c) => c.scheme === 'sia').map((c) => c.value)),
};

/** Free text, the account and ASCII blocks of SIA data: no code stands in them (`^HAND^`, `|AHall`, `#12HA`). */
const SIA_NOT_CODES = /\^[^^]*(\^|$)|\*'[^']*('|$)|\*"[^"]*("|$)|(^|\|)#[0-9A-Za-z]*|(^|\|)A[^|]*/g;
/**
 * Two letters where a SIA packet's code stands: after a block's N/O letter, a '/', '|', space, a modifier's last
 * digit or a modifier without digits (`NriHA`), and not followed by a third letter (a word such as HAL, or the block
 * letter N read with a door code's D as ND). In any case: content refused with a panel's `ha` or `hA` (strict mode
 * refuses the quirk `miscased-code`, or another fault stands beside it) must not pass a hold-up unlabelled.
 */
const SIA_CODE_PLACE = /(?<=(?:^|[|/\s])[NO]|[|/\s\d:-]|(?:^|[|/\s])[NO](?:[a-z]{2}\d*)*[a-z]{2})(?=([A-Za-z]{2})(?![A-Za-z])(\d{1,4})?)/g;
/**
 * ADM-CID's qualifier and event code, `QXYZ`, at the start of the data, then its group and CCC when they read (a
 * receiver's line may mark CCC C for a contact or U for a user).
 */
const CID_EVENT_PLACE = /^\s*([136])([0-9A-Fa-f]{3})(?: ?(\d{2}) ?[CU]?(\d{3})(?!\d))?/;

interface SuspectedCode {
  value: string;
  /** The code as the content spells it, where that is not its catalogued spelling (`ha` for HA). */
  written: string | null;
  qualifier: Signal['qualifier'];
  address: number | null;
  partition: number | null;
}

const numberOrNull = (digits: string | undefined): number | null => (digits === undefined ? null : Number(digits));

/** The duress or hold-up code (its qualifier, number and area where they read) that refused content carries, else null. */
function suspectedDuressCode(scheme: 'contact-id' | 'sia', data: string): SuspectedCode | null {
  if (scheme === 'contact-id') {
    const match = CID_EVENT_PLACE.exec(data);
    const value = match?.[2]?.toUpperCase();
    if (value === undefined || !DURESS_CODES['contact-id'].has(value)) return null;
    const qualifier = match?.[1] === '3' ? 'restore' : match?.[1] === '6' ? 'status' : 'new';
    return { value, written: null, qualifier, address: numberOrNull(match?.[4]), partition: numberOrNull(match?.[3]) };
  }
  const codes = data.replace(SIA_NOT_CODES, '|');
  for (const match of codes.matchAll(SIA_CODE_PLACE)) {
    const written = match[1] ?? '';
    const value = written.toUpperCase();
    if (!DURESS_CODES.sia.has(value)) continue;
    // An O block reports an old event or a status, not a new one (DC-03).
    const before = codes.slice(0, match.index);
    const block = before.search(/(?:^|\|)[NO][^|]*$/);
    const letter = block < 0 ? '' : codes[codes[block] === '|' ? block + 1 : block];
    const area = block < 0 ? undefined : /ri(\d{1,3})(?!.*ri\d)/.exec(before.slice(block))?.[1];
    return { value, written: written === value ? null : written, qualifier: letter === 'O' ? 'status' : null, address: numberOrNull(match[2]), partition: numberOrNull(area) };
  }
  return null;
}
