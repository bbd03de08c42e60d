import { GatewayError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import type { Protocol } from '../model/event.js';
import { emptySignal } from '../model/signal.js';
import type { Signal } from '../model/signal.js';
import { fail, ok } from './result.js';
import type { DecodeResult } from './result.js';

/**
 * Ademco Contact ID (SIA DC-05): `ACCT MT Q XYZ GG CCC S`, 16 digits (protocols.md §1).
 * The same event fields also travel inside DC-09 ADM-CID data and Sur-Gard automation packets.
 */

export type ContactIdQualifier = '1' | '3' | '6';

export interface ContactIdFields {
  qualifier: ContactIdQualifier;
  event: string;
  group: string;
  ccc: string;
}

export interface ContactIdMessage extends ContactIdFields {
  account: string;
  messageType: string;
  checkDigit: string;
  quirks: string[];
}

export interface CodecOptions {
  /** Reject the tolerated quirks instead of accepting them with a quirk label. */
  strict?: boolean;
}

export const CONTACT_ID_MESSAGE_TYPES: readonly string[] = ['18', '98'];

/** Ademco formats that share the handshake but not the layout: rejected by name, never parsed as Contact ID. */
const OTHER_ADEMCO_FORMATS: Readonly<Record<string, string>> = {
  '17': 'Express 4/1',
  '27': 'Express 4/2',
  '55': 'High-speed',
  '56': 'Super-fast',
};

/**
 * Receivers print the qualifier as a letter: E new event or opening, R restore or closing, P previous event still
 * present (Sur-Gard SGAUTO p.19; Silent Knight VisorAlarm manual, appendix IV, for its 685 and 6500 outputs too).
 */
export const QUALIFIER_OF_LETTER: Readonly<Record<string, ContactIdQualifier>> = { E: '1', R: '3', P: '6' };

const QUALIFIER_MEANING: Readonly<Record<ContactIdQualifier, NonNullable<Signal['qualifier']>>> = {
  '1': 'new',
  '3': 'restore',
  '6': 'status',
};

/** The Contact ID digit set; hex A is not part of it (spandsp refuses it). */
const CID_DIGITS = /^[0-9B-F]+$/;
const HEX_TEXT = /^[0-9A-Fa-f]+$/;
const MESSAGE_LENGTH = 16;

function isQualifier(value: string): value is ContactIdQualifier {
  return value === '1' || value === '3' || value === '6';
}

/** Value of a digit in the check sum: 0 counts as 10, B-F as 11-15 (a tolerated A is 10, like 0). */
function digitValue(digit: string): number {
  return Number.parseInt(digit, 16) || 10;
}

function digitSum(digits: string): number {
  let sum = 0;
  for (const digit of digits) sum += digitValue(digit);
  return sum;
}

/** Check digit for the first 15 digits: S = 15 - (sum mod 15), written 1-9, `0` for 10, B-F for 11-15 (§1.2). */
export function contactIdCheckDigit(first15: string): string {
  const digits = first15.toUpperCase();
  if (digits.length !== MESSAGE_LENGTH - 1 || !CID_DIGITS.test(digits)) {
    throw new GatewayError('CID_FORMAT_INVALID', `a Contact ID body is 15 digits 0-9/B-F, got "${first15}"`);
  }
  const value = 15 - (digitSum(digits) % 15);
  return value === 10 ? '0' : value.toString(16).toUpperCase();
}

/** A tolerated quirk: recorded in tolerant mode, an error in strict mode. */
function tolerate(
  quirk: string,
  quirks: string[],
  options: CodecOptions | undefined,
  code: ErrorCode,
  raw: string,
): DecodeResult<never> | null {
  if (options?.strict) return fail(code, `tolerated quirk '${quirk}' rejected in strict mode`, raw);
  quirks.push(quirk);
  return null;
}

/**
 * Upper-cases hex text, labelling lowercase input `lowercase-hex` (the LifeSOS client prints it).
 * Returns the error in strict mode.
 */
function upperCaseHex(
  text: string,
  quirks: string[],
  options: CodecOptions | undefined,
): { ok: true; text: string } | { ok: false; result: DecodeResult<never> } {
  const upper = text.toUpperCase();
  if (upper !== text) {
    const rejected = tolerate('lowercase-hex', quirks, options, 'CID_FORMAT_INVALID', text);
    if (rejected) return { ok: false, result: rejected };
  }
  return { ok: true, text: upper };
}

/** Each `Q XYZ GG CCC` field: its name in an error, its key, its length in digits. */
const CID_FIELD_SHAPES = [
  ['qualifier', 'qualifier', 1],
  ['event code', 'event', 3],
  ['group', 'group', 2],
  ['zone/user', 'ccc', 3],
] as const;

/**
 * Checks the `Q XYZ GG CCC` part common to every Contact ID carrier (upper-case input).
 * Digits B-F are legal Contact ID digits; hex A is not.
 */
export function checkContactIdFields(
  fields: { qualifier: string; event: string; group: string; ccc: string },
  raw: string,
): DecodeResult<ContactIdFields> {
  const { qualifier, event, group, ccc } = fields;
  for (const [name, key, length] of CID_FIELD_SHAPES) {
    const value = fields[key];
    if (value.length !== length || !CID_DIGITS.test(value)) {
      const why = value.includes('A') ? ' (hex A is not a Contact ID digit)' : '';
      return fail('CID_FORMAT_INVALID', `Contact ID ${name} "${value}" is not ${length} digit(s)${why}`, raw);
    }
  }
  if (!isQualifier(qualifier)) {
    return fail('CID_QUALIFIER_INVALID', `Contact ID qualifier "${qualifier}" is not 1, 3 or 6`, raw);
  }
  return ok({ qualifier, event, group, ccc });
}

function messageTypeError(messageType: string, raw: string): DecodeResult<never> {
  const known = OTHER_ADEMCO_FORMATS[messageType];
  const what = known === undefined ? 'not a Contact ID message type' : `Ademco ${known}, not Contact ID`;
  return fail('CID_MESSAGE_TYPE_UNSUPPORTED', `message type ${messageType} is ${what} (18 or 98)`, raw);
}

/**
 * Decodes a 16-digit Contact ID message; surrounding whitespace is ignored.
 * A 15-digit message (check digit missing) is rejected: without S nothing protects the digits, and the
 * carriers that drop S have their own parsers (parseAdmCidData, decodeSurgard).
 * Tolerated (labelled in `quirks`, rejected when strict): `lowercase-hex`, `account-hex-a` (hex A in the
 * account, counted as 10) and `check-digit-a` (check value 10 written as hex A, as spandsp's encoder does).
 */
export function decodeContactId(text: string, options?: CodecOptions): DecodeResult<ContactIdMessage> {
  const trimmed = text.trim();
  if (!HEX_TEXT.test(trimmed)) {
    return fail('CID_FORMAT_INVALID', 'a Contact ID message is made of hex digits only', text);
  }
  const quirks: string[] = [];
  const cased = upperCaseHex(trimmed, quirks, options);
  if (!cased.ok) return cased.result;
  const digits = cased.text;
  const misplacedA = digits.indexOf('A', 4);
  if (misplacedA >= 0 && misplacedA !== MESSAGE_LENGTH - 1) {
    const why = 'is not a Contact ID digit (tolerated only in the account and check digit)';
    return fail('CID_FORMAT_INVALID', `hex A at position ${misplacedA + 1} ${why}`, text);
  }
  const messageType = digits.slice(4, 6);
  if (messageType.length === 2 && !CONTACT_ID_MESSAGE_TYPES.includes(messageType)) {
    return messageTypeError(messageType, text);
  }
  if (digits.length !== MESSAGE_LENGTH) {
    const missing = digits.length === MESSAGE_LENGTH - 1 ? ' (check digit missing)' : '';
    return fail('CID_FORMAT_INVALID', `a Contact ID message has 16 digits, got ${digits.length}${missing}`, text);
  }
  const account = digits.slice(0, 4);
  const checkDigit = digits.slice(15);
  if (account.includes('A')) {
    const rejected = tolerate('account-hex-a', quirks, options, 'CID_FORMAT_INVALID', text);
    if (rejected) return rejected;
  }
  if (checkDigit === 'A') {
    const rejected = tolerate('check-digit-a', quirks, options, 'CID_CHECKSUM_INVALID', text);
    if (rejected) return rejected;
  }
  // The checksum is judged before the qualifier: a corrupted digit must read as corruption.
  const sum = digitSum(digits);
  if (sum % 15 !== 0) {
    return fail('CID_CHECKSUM_INVALID', `digit sum ${sum} is not a multiple of 15`, text);
  }
  const fields = checkContactIdFields(
    { qualifier: digits.slice(6, 7), event: digits.slice(7, 10), group: digits.slice(10, 12), ccc: digits.slice(12, 15) },
    text,
  );
  if (!fields.ok) return fields;
  return ok({ account, messageType, ...fields.value, checkDigit, quirks });
}

/** Encodes a Contact ID message with its check digit (S = 10 is written `0`). Throws GatewayError on bad fields. */
export function encodeContactId(msg: Omit<ContactIdMessage, 'checkDigit' | 'quirks'>): string {
  const account = msg.account.toUpperCase();
  if (account.length !== 4 || !CID_DIGITS.test(account)) {
    throw new GatewayError('CID_FORMAT_INVALID', `Contact ID account "${msg.account}" is not 4 digits 0-9/B-F`);
  }
  if (!CONTACT_ID_MESSAGE_TYPES.includes(msg.messageType)) {
    throw new GatewayError('CID_MESSAGE_TYPE_UNSUPPORTED', `message type "${msg.messageType}" is not 18 or 98`);
  }
  const fields = checkContactIdFields(msg, '');
  if (!fields.ok) throw new GatewayError(fields.error.code, fields.error.message);
  const body = `${account}${msg.messageType}${msg.qualifier}${msg.event}${msg.group}${msg.ccc}`;
  return body + contactIdCheckDigit(body);
}

/** `QXYZ GG CCC` in hex digits, with both spaces or neither (\3 repeats the first separator). */
const ADM_CID_DATA = /^([0-9A-Fa-f])([0-9A-Fa-f]{3})( ?)([0-9A-Fa-f]{2})\3([0-9A-Fa-f]{3})$/;

/**
 * Parses DC-09 ADM-CID data, `QXYZ GG CCC` (e.g. `3401 01 057`). Surrounding whitespace is ignored;
 * the digits without their spaces are tolerated as `adm-cid-no-spaces`.
 */

export function parseAdmCidData(
  data: string,
  options?: CodecOptions,
): DecodeResult<ContactIdFields & { quirks: string[] }> {
  const trimmed = data.trim();
  const match = ADM_CID_DATA.exec(trimmed);
  if (!match) {
    return fail('CID_FORMAT_INVALID', 'ADM-CID data is not "QXYZ GG CCC"', data);
  }
  const quirks: string[] = [];
  if (match[3] === '') {
    const rejected = tolerate('adm-cid-no-spaces', quirks, options, 'CID_FORMAT_INVALID', data);
    if (rejected) return rejected;
  }
  const cased = upperCaseHex(trimmed, quirks, options);
  if (!cased.ok) return cased.result;
  const fields = checkContactIdFields({ qualifier: upper(match[1]), event: upper(match[2]), group: upper(match[4]), ccc: upper(match[5]) }, data);
  if (!fields.ok) return fields;
  const { qualifier, event, group, ccc } = fields.value;
  return ok({ qualifier, event, group, ccc, quirks });
}

function upper(part: string | undefined): string {
  return (part ?? '').toUpperCase();
}

export interface ContactIdSignalBase {
  protocol: Protocol;
  account: string | null;
  receiver: string | null;
  line: string | null;
  occurredAt?: string | null;
  quirks?: string[];
}

/** GG/CCC as a number; all-zero means "none". Non-decimal digits (B-F) cannot be a number and are labelled. */
function numberOrNull(digits: string, name: string, quirks: string[]): number | null {
  if (!/^\d+$/.test(digits)) {
    quirks.push(`non-decimal-${name}`);
    return null;
  }
  const value = Number(digits);
  return value === 0 ? null : value;
}

/** The protocol-neutral signal for a Contact ID event: partition = GG, address = CCC (zone or user per the catalogue). */
export function contactIdSignal(fields: ContactIdFields, base: ContactIdSignalBase): Signal {
  const quirks = [...(base.quirks ?? [])];
  return {
    ...emptySignal(base.protocol),
    account: base.account,
    receiver: base.receiver,
    line: base.line,
    code: { scheme: 'contact-id', value: fields.event },
    qualifier: QUALIFIER_MEANING[fields.qualifier],
    partition: numberOrNull(fields.group, 'group', quirks),
    address: numberOrNull(fields.ccc, 'address', quirks),
    occurredAt: base.occurredAt ?? null,
    quirks,
  };
}
