import { GatewayError } from '../errors.js';
import { emptySignal } from '../model/signal.js';
import type { Signal } from '../model/signal.js';
import { QUALIFIER_OF_LETTER, checkContactIdFields, contactIdSignal } from './contact-id.js';
import type { CodecOptions, ContactIdFields, ContactIdQualifier } from './contact-id.js';
import type { PanelAnswer } from './dc09/transmitter.js';
import { fail, ok } from './result.js';
import type { DecodeResult } from './result.js';
import { parseSiaData } from './sia-dc03.js';

/**
 * Sur-Gard "SG Automation Output" packets (MLR2/MLR2-E/System III family, protocols.md §4.1, SGAUTO).
 * Every packet is `<protocol id><RR receiver><line>…` and ends with DC4; the automation answers ACK or NAK.
 * The line number's width is the receiver's setting: 3 digits (LLL) in SGAUTO, 1 in the older MLR2 manuals, 1-3 on
 * the SG-System III (DRL3 option 02 "Line Card Number Length") and 1-7 on the System 5 (option [409] "Output RRLLL
 * Digits", RRL to RRLLLLLLL). Every width is accepted where the packet tells it: by the fixed length of the body
 * after the line, or by the `[` that opens the SIA data.
 */

export const SURGARD_ACK = 0x06;
export const SURGARD_NAK = 0x15;
export const SURGARD_TERMINATOR = 0x14;

export type SurgardPacket =
  | { kind: 'heartbeat'; receiver: string; line: string }
  | {
      kind: 'event';
      protocolId: string;
      receiver: string;
      line: string;
      /** null: a protocol S packet without an account block (quirk `no-account`). */
      account: string | null;
      signals: Signal[];
      quirks: string[];
    };

export type SurgardEventPacket = Extract<SurgardPacket, { kind: 'event' }>;

const TERMINATOR = String.fromCharCode(SURGARD_TERMINATOR);
const HEX = /^[0-9A-F]+$/;
/**
 * The line number, 1 to 7 hex digits (see above), or the one letter a Bosch D6600/D6100 in D6500 mode writes for
 * lines 16 to 32 and groups (G = line 16 … W = line 32, X = group 33, Y = groups 34 and up; Conettix D6600
 * Computer Interface Manual §3.0, Table 2).
 */
const LINE = /^(?:[0-9A-F]{1,7}|[G-Y])$/;
/**
 * The optional header character a receiver in D6500 mode may send before the protocol id (D6500 Computer Interface
 * Manual §4.1.1 "programmed in 6500 Header Char."; D6600 §3.1; a space on the Silent Knight VisorAlarm). No protocol
 * id is a space or a control byte, so one such byte there is the header, never part of the packet.
 */
const HEADER_CHARACTER = /^[\x00-\x20]/;
/** 11 spaces, `@`, 4 spaces: the heartbeat body after `1RR000` (or `1RRL` on the older MLR2). */
const HEARTBEAT_BODY = ' '.repeat(11) + '@' + ' '.repeat(4);

/** The letter Sur-Gard writes for each Contact ID qualifier (SGAUTO p.19): QUALIFIER_OF_LETTER the other way. */
const LETTER_OF_QUALIFIER: Readonly<Record<ContactIdQualifier, string>> = { '1': 'E', '3': 'R', '6': 'P' };

/**
 * SG 4/3 event letters (SGAUTO p.15 "recommended event code table") as SIA codes. Letters the table
 * gives no SIA meaning for (6 service, 8 message, Z/space common event) stay as sent, so they classify
 * as unrecognized.
 */
const SG43_EVENT_TO_SIA: Readonly<Record<string, string>> = {
  '0': 'RP', // automatic test
  '1': 'FA', // fire alarm
  '2': 'PA', // panic alarm
  '3': 'BA', // burglary alarm
  '4': 'CL', // arming by user
  '5': 'OP', // disarming by user
  '7': 'MA', // medical emergency
  '9': 'UR', // restore
  A: 'UA', // alarm
  B: 'UB', // bypass
  C: 'CL', // arming by user
  F: 'OC', // cancel
  H: 'UU', // unbypass
  O: 'OP', // disarming by user
  R: 'UR', // restore
  T: 'UT', // trouble
};

interface Header {
  receiver: string;
  line: string;
  body: string;
}

/** A signal of a fixed-layout packet that names a SIA code. */
function siaCodeSignal(
  origin: { account: string; receiver: string; line: string },
  code: string,
  numbers: Pick<Signal, 'address'> & Partial<Pick<Signal, 'partition'>>,
): Signal {
  return { ...emptySignal('surgard'), ...origin, code: { scheme: 'sia', value: code }, ...numbers };
}

/**
 * The receiver's own report that two-way audio begins: the character programmed in its Option [4D] ("P" in its
 * manual's example) under its own account 0000 (MLR2-E installation manual p.14: "0000 P 01", line card 01). Only
 * under 0000: a centre's 4/2 conversion table may give a panel's "P" another meaning (a panic), which must never
 * read as a listen-in.
 */
const LISTEN_IN = { account: '0000', sia: 'LF' } as const;
const DEFAULT_LISTEN_IN_CHARACTER = 'P';

export interface SurgardCodecOptions extends CodecOptions {
  /** The receiver's Option [4D] character, one printable ASCII character; `P` when not given. */
  listenInCharacter?: string;
}

/** Splits `<id>RR<line>` off a fixed-length packet: what the body leaves after `<id>RR` is the line. */
function splitHeader(text: string, bodyLength: number): Header | null {
  const lineEnd = text.length - bodyLength;
  if (lineEnd < 3) return null;
  const receiver = text.slice(1, 3);
  const line = text.slice(3, lineEnd);
  if (!HEX.test(receiver) || !LINE.test(line)) return null;
  return { receiver, line, body: text.slice(lineEnd) };
}

function formatError(protocolId: string, layout: string, raw: string): DecodeResult<never> {
  return fail('SURGARD_FORMAT_INVALID', `Sur-Gard protocol ${protocolId} packet is not ${layout}`, raw);
}

/**
 * Protocol 1: the heartbeat, or a basic SG 4/3 event `1RRLLLssssAAAAAAsXGYYY`. A Bosch/Radionics D6500 type 1
 * message, `1RRLssssssAAAAEEZZZZ` (D6500 Computer Interface Manual §4.1.1: a 1-character line, a 2-character event
 * code, a right-justified hex zone), has the same layout as one with a 1-digit line; an event code of a space and a
 * letter then reads as an SG 4/3 letter, the D6500's BFSK test report ` R`, zone `E`, as a restore. SG 4/3 zones are
 * decimal, so a 1-digit line with a letter in the zone is refused as SURGARD_AMBIGUOUS rather than read either way.
 */
function decodeBasic(text: string, raw: string, listenInCharacter: string): DecodeResult<SurgardPacket> {
  const layout = '"1RRLLLssssAAAAAAsXGYYY" or the heartbeat "1RR000sssssssssss@ssss"';
  const header = splitHeader(text, HEARTBEAT_BODY.length);
  if (!header) return formatError('1', layout, raw);
  const { receiver, line, body } = header;
  if (body === HEARTBEAT_BODY) return ok({ kind: 'heartbeat', receiver, line });
  const account = body.slice(4, 10).trim();
  const eventLetter = body.slice(11, 12);
  const area = body.slice(12, 13);
  const alarmCode = body.slice(13, 16).trim();
  const wellFormed = body.startsWith('    ') && body[10] === ' ' && HEX.test(account);
  // The programmed character may be any printable one, not only a letter of the SG 4/3 table.
  const listenIn = account === LISTEN_IN.account && eventLetter === listenInCharacter;
  if (!wellFormed || !(listenIn || /^[0-9A-Z ]$/.test(eventLetter)) || !/^[0-9A-F ]$/.test(area)) {
    return formatError('1', layout, raw);
  }
  if (line.length === 1 && /[^\d ]/.test(body.slice(13, 16))) {
    return fail('SURGARD_AMBIGUOUS', 'a protocol 1 packet with a 1-digit line and a letter in its zone may be a Bosch D6500 type 1 message ("1RRLssssssAAAAEEZZZZ"), which means something else', raw);
  }
  const signal = siaCodeSignal({ account, receiver, line }, listenIn ? LISTEN_IN.sia : (SG43_EVENT_TO_SIA[eventLetter] ?? eventLetter), {
    partition: area === ' ' || area === '0' ? null : Number.parseInt(area, 16),
    address: /^\d+$/.test(alarmCode) && Number(alarmCode) > 0 ? Number(alarmCode) : null,
  });
  return ok({ kind: 'event', protocolId: '1', receiver, line, account, signals: [signal], quirks: [] });
}

/** Protocols 5 (`5RRLLLs18AAAAQXYZGGCCC`) and Q (`QRRLLLs58AAAAAAAAAAQXYZGGCCC`): Contact ID without check digit. */
function decodeCidPacket(text: string, raw: string, protocolId: '5' | 'Q'): DecodeResult<SurgardPacket> {
  const accountLength = protocolId === '5' ? 4 : 10;
  const layout = protocolId === '5' ? '"5RRLLLs18AAAAQXYZGGCCC"' : '"QRRLLLs58AAAAAAAAAAQXYZGGCCC"';
  const header = splitHeader(text, 3 + accountLength + 9);
  if (!header || header.body[0] !== ' ') return formatError(protocolId, layout, raw);
  const { receiver, line, body } = header;
  const messageType = body.slice(1, 3);
  const allowedTypes = protocolId === '5' ? ['18', '98'] : ['58'];
  if (!allowedTypes.includes(messageType)) {
    return fail('CID_MESSAGE_TYPE_UNSUPPORTED', `Sur-Gard protocol ${protocolId} carries message type ${messageType}, not ${allowedTypes.join('/')}`, raw);
  }
  const account = body.slice(3, 3 + accountLength);
  if (!HEX.test(account)) return formatError(protocolId, layout, raw);
  const event = body.slice(3 + accountLength);
  const letter = event.slice(0, 1);
  const qualifier = QUALIFIER_OF_LETTER[letter];
  if (qualifier === undefined) {
    return fail('CID_QUALIFIER_INVALID', `Sur-Gard Contact ID qualifier "${letter}" is not E, R or P`, raw);
  }
  const fields = checkContactIdFields(
    { qualifier, event: event.slice(1, 4), group: event.slice(4, 6), ccc: event.slice(6, 9) },
    raw,
  );
  if (!fields.ok) return fields;
  const signal = contactIdSignal(fields.value, { protocol: 'surgard', account, receiver, line });
  return ok({ kind: 'event', protocolId, receiver, line, account, signals: [signal], quirks: [] });
}

/**
 * Bosch D6600/D6100 in D6500 mode, message type `a` (Conettix D6600 Computer Interface Manual §3.1.4):
 * `aRRL AAAA18QXYZGGCCC`, Contact ID with the account before the format number and a numeric qualifier; receivers
 * that emulate this mode write the qualifier as Sur-Gard does, E/R/P (Silent Knight VisorAlarm manual, appendix IV).
 */
function decodeD6500ContactId(text: string, raw: string): DecodeResult<SurgardPacket> {
  const layout = '"aRRL AAAA18QXYZGGCCC"';
  const header = splitHeader(text, 16);
  if (!header || header.body[0] !== ' ') return formatError('a', layout, raw);
  const { receiver, line, body } = header;
  const account = body.slice(1, 5);
  const messageType = body.slice(5, 7);
  if (!HEX.test(account)) return formatError('a', layout, raw);
  if (messageType !== '18') {
    return fail('CID_MESSAGE_TYPE_UNSUPPORTED', `D6600 message type a carries Contact ID format ${messageType}, not 18`, raw);
  }
  const qualifier = body.slice(7, 8);
  const fields = checkContactIdFields(
    { qualifier: QUALIFIER_OF_LETTER[qualifier] ?? qualifier, event: body.slice(8, 11), group: body.slice(11, 13), ccc: body.slice(13, 16) },
    raw,
  );
  if (!fields.ok) return fields;
  const signal = contactIdSignal(fields.value, { protocol: 'surgard', account, receiver, line });
  return ok({ kind: 'event', protocolId: 'a', receiver, line, account, signals: [signal], quirks: [] });
}

/**
 * The receiver's own text in a protocol 0 line, `*…*` after the event (`NYC*…*`): read as DC-03 `^…^` text. A
 * quote after the `*` opens an XSIA text tail instead, which the SIA parser reads.
 */
const RECEIVER_TEXT = /\*(?!['"])([^*|\]]*)\*/g;

/**
 * Protocol S: `SRRLLL[#AAAA|<DC-03 data>]`, the panel's SIA data passed through (SGAUTO p.18); protocol 0: the
 * receiver's own status as SIA data, `0RRLLL[#<receiver account>|N<code>*<text>*]` (SG-System III/5 "SIA internal
 * status output", System 5 manual §5.4.7; LLL 000 = the CPM itself). A protocol S packet may lack the account
 * block (Bosch D6600 Computer Interface Manual §3.1.22, `h S r r L [ data ] t`): read with account null and the
 * quirk `no-account`, so the input's configured account stands in. Protocol 0 always names the receiver's account.
 */
function decodeSiaPacket(text: string, raw: string, options: CodecOptions | undefined, protocolId: 'S' | '0'): DecodeResult<SurgardPacket> {
  const layout = `"${protocolId}RRLLL[#AAAA|<SIA data>]"`;
  const open = text.indexOf('[');
  const receiver = text.slice(1, 3);
  const line = text.slice(3, open);
  const bracketed = open >= 0 && text.endsWith(']');
  if (!bracketed || !HEX.test(receiver) || !LINE.test(line)) {
    return formatError(protocolId, layout, raw);
  }
  let data = text.slice(open + 1, -1);
  const packetQuirks: string[] = [];
  const withText = protocolId === '0' ? data.replace(RECEIVER_TEXT, '^$1^') : data;
  if (withText !== data) {
    data = withText;
    packetQuirks.push('receiver-text');
  }
  const strict = options?.strict ?? false;
  const parsed = parseSiaData(data, { strict, protocol: 'surgard' });
  if (!parsed.ok) return parsed;
  const { account, events } = parsed.value;
  if (account === null) {
    if (protocolId === '0') return formatError(protocolId, `${layout} (no #account)`, raw);
    if (strict) return formatError(protocolId, `${layout} (no #account: quirk no-account refused in strict mode)`, raw);
    packetQuirks.push('no-account');
  }
  const quirks = [...packetQuirks, ...parsed.value.quirks];
  const signals = events.map((signal) => ({ ...signal, account: signal.account ?? account, receiver, line, quirks }));
  return ok({ kind: 'event', protocolId, receiver, line, account, signals, quirks });
}

/**
 * Protocol 3, SIA protocol 1: `3RRLssssAAAAAAXXYYYY` (MLR2-DG manual p.39; LLL on the SGAUTO receivers): a
 * 6-character account with leading spaces, the SIA event code XX and the zone or user YYYY.
 */
function decodeSiaProtocol1(text: string, raw: string): DecodeResult<SurgardPacket> {
  const layout = '"3RRLLLssssAAAAAAXXYYYY"';
  const header = splitHeader(text, 16);
  if (!header) return formatError('3', layout, raw);
  const { receiver, line, body } = header;
  const account = body.slice(4, 10).trim();
  const code = body.slice(10, 12);
  const address = body.slice(12, 16).trim();
  if (!body.startsWith('    ') || !HEX.test(account) || !/^[A-Z]{2}$/.test(code) || !/^\d*$/.test(address)) {
    return formatError('3', layout, raw);
  }
  const signal = siaCodeSignal({ account, receiver, line }, code, { address: address === '' ? null : Number(address) });
  return ok({ kind: 'event', protocolId: '3', receiver, line, account, signals: [signal], quirks: [] });
}

/**
 * Decodes one automation packet, with or without its header character and DC4 terminator. Protocol ids other than 0, 1, 3, 5, Q, S
 * and the D6600's `a` are SURGARD_PROTOCOL_UNSUPPORTED. `options.strict` reaches the SIA data of protocols 0 and S; the fixed
 * layouts of 1, 3, 5 and Q tolerate nothing. `options.listenInCharacter` is the receiver's two-way audio character.
 */
export function decodeSurgard(packet: Uint8Array | string, options?: SurgardCodecOptions): DecodeResult<SurgardPacket> {
  const raw = typeof packet === 'string' ? packet : Buffer.from(packet.buffer, packet.byteOffset, packet.byteLength).toString('latin1');
  const text = (raw.endsWith(TERMINATOR) ? raw.slice(0, -1) : raw).replace(HEADER_CHARACTER, '');
  const protocolId = text.slice(0, 1);
  switch (protocolId) {
    case '1':
      return decodeBasic(text, raw, options?.listenInCharacter ?? DEFAULT_LISTEN_IN_CHARACTER);
    case '5':
    case 'Q':
      return decodeCidPacket(text, raw, protocolId);
    case 'S':
    case '0':
      return decodeSiaPacket(text, raw, options, protocolId);
    case '3':
      return decodeSiaProtocol1(text, raw);
    case 'a':
      return decodeD6500ContactId(text, raw);
    case '':
      return fail('SURGARD_FORMAT_INVALID', 'empty Sur-Gard packet', raw);
    default:
      return fail('SURGARD_PROTOCOL_UNSUPPORTED', `Sur-Gard protocol id "${protocolId}" is not decoded (0, 1, 3, 5, Q, S, D6600 a)`, raw);
  }
}

export interface SurgardContactIdInput {
  receiver: string;
  line: string;
  /** 4 digits → protocol 5; 10 digits → protocol Q. */
  account: string;
  fields: ContactIdFields;
}

/** Encodes a Contact ID event as a protocol 5 or Q packet, DC4 included. Throws GatewayError on bad fields. */
export function encodeSurgardContactId(input: SurgardContactIdInput): string {
  const { receiver, line, account, fields } = input;
  const checked = checkContactIdFields(fields, '');
  if (!checked.ok) throw new GatewayError(checked.error.code, checked.error.message);
  if (!/^[0-9A-F]{2}$/.test(receiver) || !/^[0-9A-F]{3}$/.test(line)) {
    throw new GatewayError('SURGARD_FORMAT_INVALID', `receiver "${receiver}" must be 2 and line "${line}" 3 digits`);
  }
  if (!HEX.test(account) || (account.length !== 4 && account.length !== 10)) {
    throw new GatewayError('SURGARD_FORMAT_INVALID', `account "${account}" must be 4 (protocol 5) or 10 (protocol Q) digits`);
  }
  const [protocolId, messageType] = account.length === 4 ? ['5', '18'] : ['Q', '58'];
  const event = `${LETTER_OF_QUALIFIER[fields.qualifier]}${fields.event}${fields.group}${fields.ccc}`;
  return `${protocolId}${receiver}${line} ${messageType}${account}${event}${TERMINATOR}`;
}

/** The idle heartbeat `1RR000` + 11 spaces + `@` + 4 spaces + DC4 (SGAUTO p.15). */
export function encodeSurgardHeartbeat(receiver: string): string {
  if (!/^[0-9A-F]{2}$/.test(receiver)) throw new GatewayError('SURGARD_FORMAT_INVALID', `receiver "${receiver}" must be 2 digits`);
  return `1${receiver}000${HEARTBEAT_BODY}${TERMINATOR}`;
}

/** The automation answers a packet with one byte: ACK 0x06 or NAK 0x15. */
export function interpretSurgardAnswer(bytes: Uint8Array): PanelAnswer {
  if (bytes.length === 1 && bytes[0] === SURGARD_ACK) return { kind: 'ack' };
  if (bytes.length === 1 && bytes[0] === SURGARD_NAK) return { kind: 'nak' };
  return { kind: 'invalid', detail: `expected 0x06 or 0x15, got ${Buffer.from(bytes).toString('hex')}` };
}
