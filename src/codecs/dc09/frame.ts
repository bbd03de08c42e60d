import { bucketSize } from '../../model/padding.js';
import { GatewayError } from '../../errors.js';
import { DC09_ACCOUNT, DC09_ACCOUNT_PATTERN, DC09_ACCOUNT_RULE } from '../../settings/dc09-account.js';
import type { ErrorCode } from '../../errors.js';
import { bytesOfText, fail, latin1Reader, ok, previewOf, textOfBytes } from '../result.js';
import type { DecodeResult } from '../result.js';
import { aesCbcName, decryptDc09, encryptDc09 } from './cipher.js';
import { crc16, hex4 } from './crc16.js';
import { formatDc09Timestamp, parseDc09Timestamp } from './timestamp.js';

/** DC-09 ID tokens (protocols.md §3.4), plus 'OH' for the Osborne-Hoffman heartbeat line seen on the same ports. */
export type Dc09Token = 'SIA-DCS' | 'ADM-CID' | 'NULL' | 'ACK' | 'NAK' | 'DUH' | 'RSP' | 'OH';
export type Dc09CrcForm = 'ascii' | 'binary';

export interface Dc09Message {
  token: Dc09Token;
  /** "*SIA-DCS" → token SIA-DCS, encrypted true. */
  encrypted: boolean;
  /** 4 digits as sent ('0000' for an Osborne-Hoffman line, which has none). */
  seq: string;
  /** Hex digits after R, null when there is no R field. */
  receiver: string | null;
  /** Hex digits after L ('' for a bare L), null when absent. */
  line: string | null;
  /** Header account without '#', null when absent. */
  account: string | null;
  /** Account at the start of the data block ('#acct|'), without '#', null when absent. */
  dataAccount: string | null;
  /** Data block content after decryption and pad removal, without the leading account/'|' and the brackets. */
  data: string;
  /** [X…] extended fields by letter; a letter sent more than once holds its first value here. */
  extended: Record<string, string>;
  /**
   * Only when a letter was sent more than once (DC-09 limits no identifier to one field: [X][Y] pairs of successive
   * positions, several [V] links): every value of each such letter, in the order sent.
   */
  extendedRepeated?: Record<string, string[]>;
  /**
   * Only when the message has them: further data blocks led by an account (`[#acct|data]` after the first), in the
   * order sent, each read as the first block is (quirk more-data-blocks).
   */
  moreData?: DataBlock[];
  /** `_HH:MM:SS,MM-DD-YYYY` as epoch ms UTC; null when absent (or malformed on an unencrypted frame). */
  timestamp: number | null;
  /** The sender's CRC form; answers echo it. */
  crcForm: Dc09CrcForm;
  /** ELDES quirk: CRC and length computed over body + CR. */
  crcOverCr: boolean;
  /**
   * Osborne-Hoffman receiver framing (Aritech/ATS, Honeywell OH+SIA): the fixed `0101` where the CRC should be, or
   * the OH heartbeat. Nothing authenticates such a line; the receiver decides whether the input allows it.
   */
  osborneHoffman: boolean;
  /** Kebab-case names of tolerated deviations. */
  quirks: string[];
}

/** A data block's account (`#acct|`, without '#', null when absent) and the data after it. */
export interface DataBlock {
  dataAccount: string | null;
  data: string;
}

export interface Dc09DecodeOptions {
  /** AES key bytes (16/24/32) for encrypted frames. */
  keyFor?(account: string | null): Uint8Array | undefined;
  /** Reject every quirk (DC09_QUIRK_REJECTED naming it; DC09_LENGTH_MISMATCH for a wrong length field). */
  strict?: boolean;
  /**
   * Reject a length field that is not the hex count of the bytes (quirks length-mismatch and decimal-length) with
   * DC09_LENGTH_MISMATCH, other quirks still tolerated: how a panel reads a receiver's answer.
   */
  exactLength?: boolean;
  /**
   * R, L and account fields off the format are read as absent (quirk 'malformed-id-fields') instead of failing the
   * frame: how the forwarding output reads an answer, which it matches by token and sequence number only
   * (pysiaalarm writes a missing R field as `None`).
   */
  looseIdFields?: boolean;
  /**
   * A plain ACK, NAK, DUH or RSP without account and data block (artis101/sia-dc09-dev-receiver's `"ACK"0042L0`) is
   * read, quirk 'no-data-block', instead of failing as DC09_FORMAT_INVALID: the forwarding output and `decode`.
   */
  blocklessAnswers?: boolean;
  /** Default true; false lets the CLI decode a bare body ('"SIA-DCS"0002R1L232#…') with quirk 'no-crc-header'. */
  requireHeader?: boolean;
  /**
   * The bytes came off a socket as one frame: a missing LF or CR is then a sender quirk and named
   * ('no-lf', 'no-cr', 'no-lf-cr'); printed vectors and CLI arguments are routinely written without them.
   */
  network?: boolean;
}

export interface Dc09EncodeInput {
  token: Exclude<Dc09Token, 'OH'>;
  encrypted?: boolean;
  seq: string;
  receiver?: string | null;
  line?: string | null;
  account?: string | null;
  /** Written as '#acct|' at the start of the data block; without it a non-empty block is written '[|data]'. */
  dataAccount?: string | null;
  data: string;
  extended?: Record<string, string>;
  timestamp?: number | null;
  /** Required when encrypted. */
  key?: Uint8Array;
  /** Source of pad bytes, required when encrypted. */
  random?: (n: number) => Uint8Array;
  /**
   * Encrypted only: more pad bytes, so the encrypted part is a multiple of this many bytes (a multiple of 16). The
   * receiver drops everything up to the first '|' whatever its length (§5.4.4), and an observer of the link no longer
   * learns the content's length from the frame's.
   */
  padTo?: number;
  crcForm?: Dc09CrcForm;
}

const NUL = 0x00;
const LF = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
const HASH = 0x23;
const ASTERISK = 0x2a;
const OPEN_BRACKET = 0x5b;
const UNDERSCORE = 0x5f;
const BAR = 0x7c;
const CR_ONLY = Uint8Array.of(CR);
const MAX_BODY_LENGTH = 0xfff;

const DC09_TOKENS: ReadonlySet<string> = new Set(['SIA-DCS', 'ADM-CID', 'NULL', 'ACK', 'NAK', 'DUH', 'RSP']);
/** The ID tokens of a receiver's answers: a panel never sends them. */
export const DC09_ANSWER_TOKENS: ReadonlySet<Dc09Token> = new Set<Dc09Token>(['ACK', 'NAK', 'DUH', 'RSP']);
/** The receiver's NAK writes its fixed ID fields as `R0L0A0`, an 'A' account that a hex L field would swallow. */
const NAK_ID_FIELDS = /^R([0-9A-Fa-f]{1,6})L([0-9A-Fa-f]{1,6}?)(A[0-9A-Fa-f]{1,16})$/;
/**
 * The OH heartbeat: PYSIA OH_MATCHER shape `SR0001L0001    006969XX    [ID00000000]`, and the ATS form without the
 * `[ID…]` block, `SR0001L0001 072538XX ` (pysiaalarm issue #49).
 */
const OSBORNE_HOFFMAN_LINE = /^SR(\d{4})L(\d{4})\s+(\w+)\s*(?:\[(\w*)\])?\s*$/;
/**
 * The heartbeat pads the account with 'XX': ATS panels send `072538XX` beside `[#072538|…]` (pysiaalarm issue #49) and
 * `001465XX` beside `[#001465|…]` (tdeckers/utcar README). The account is what the panel's SIA lines carry.
 */
function osborneHoffmanAccount(field: string): string {
  return field.length > 2 && field.endsWith('XX') ? field.slice(0, -2) : field;
}
/** OH receivers put a fixed `0101` where the CRC goes (pysiaalarm PR #44, "CRC is not calculated"). */
const OSBORNE_HOFFMAN_CRC = '0101';
/**
 * What an OH sender appends after the data block: 16 hex digits, `|#<account>`, and on some lines `T<8 hex>`
 * (pysiaalarm PR #44 `…NM]7C9677F21948CC12|#001465`; issue #49 `…NM]2A52238E74F405CA|#001991T65FB0F5F`).
 */
const OSBORNE_HOFFMAN_TAIL = new RegExp(`[0-9A-Fa-f]{16}\\|#${DC09_ACCOUNT}(?:T[0-9A-Fa-f]{8})?(?=_|$)`, 'y');

function isHexCode(code: number): boolean {
  return (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x46) || (code >= 0x61 && code <= 0x66);
}

function isHexBytes(bytes: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (!isHexCode(bytes[i]!)) return false;
  return true;
}

function hexRunEnd(text: string, from: number, to: number): number {
  let i = from;
  while (i < to && isHexCode(text.charCodeAt(i))) i++;
  return i;
}

function isAlphanumericCode(code: number): boolean {
  return (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a);
}

/** Where the account starting at `from` ends: its run of letters and digits (an account may hold more than hex). */
function accountRunEnd(text: string, from: number, to: number): number {
  let i = from;
  while (i < to && isAlphanumericCode(text.charCodeAt(i))) i++;
  return i;
}

function isHexText(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (!isHexCode(text.charCodeAt(i))) return false;
  return true;
}

/** Names an account with letters beyond F: the standard's accounts are hex, some panels' are not (FOCUS FC-7688). */
function noteNonHexAccount(account: string, where: string, quirks: QuirkLog): void {
  if (!isHexText(account)) quirks.add('non-hex-account', `${where} account ${account} is not hex`);
}

function hasLowercaseHex(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0x61 && code <= 0x66) return true;
  }
  return false;
}

/**
 * Decrypted data and extended fields may carry Latin-1 or Windows-1252 text (a plain frame's may), so only control
 * characters are implausible there.
 */
function isPrintableText(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return false;
  }
  return true;
}

/** A short, escaped excerpt of frame text for an error message. */
function clip(text: string): string {
  return text.length > 24 ? previewOf(text.slice(0, 24)) + '…' : previewOf(text);
}

/**
 * Which header precedes the body at `start`: 4 ASCII CRC chars + 0LLL, 2 binary CRC bytes + 0LLL, or none (a bare
 * body). The positions cannot collide: in the ASCII form byte 6 is a length digit, in the binary form byte 8 is
 * inside the ID token.
 */
function headerForm(bytes: Uint8Array, start: number, end: number): Dc09CrcForm | 'none' | undefined {
  if (end - start > 8 && bytes[start + 8] === QUOTE && isHexBytes(bytes, start + 4, start + 8)) return 'ascii';
  if (end - start > 6 && bytes[start + 6] === QUOTE && isHexBytes(bytes, start + 2, start + 6)) return 'binary';
  if (end > start && bytes[start] === QUOTE) return 'none';
  return undefined;
}

/** Deviations found while decoding; strict mode turns the first one into the error. */
class QuirkLog {
  readonly names: string[] = [];
  private firstDetail = '';

  add(name: string, detail: string): void {
    if (this.names.length === 0) this.firstDetail = detail;
    if (!this.names.includes(name)) this.names.push(name);
  }

  strictRejection(frame: Uint8Array): DecodeResult<never> | undefined {
    const first = this.names[0];
    if (first === undefined) return undefined;
    const code: ErrorCode = first === 'length-mismatch' ? 'DC09_LENGTH_MISMATCH' : 'DC09_QUIRK_REJECTED';
    return fail(code, `${this.firstDetail} (quirk ${first}, rejected in strict mode)`, frame);
  }
}

interface DecodeContext {
  frame: Uint8Array;
  options: Dc09DecodeOptions;
  quirks: QuirkLog;
  crcForm: Dc09CrcForm;
  crcOverCr: boolean;
  osborneHoffman: boolean;
}

export interface Dc09IdFields {
  receiver: string | null;
  line: string | null;
  account: string | null;
}

interface Content extends DataBlock {
  extended: Record<string, string>;
  extendedRepeated: Record<string, string[]> | null;
  moreData: DataBlock[] | null;
  timestamp: number | null;
}

/** A CRC-valid frame whose ID token the decoder does not handle (DC09_ID_UNSUPPORTED), read as far as its envelope goes. */
export interface UnsupportedDc09Frame extends Dc09IdFields {
  /** The ID token as sent, without the leading '*' of an encrypted one. */
  token: string;
  encrypted: boolean;
  seq: string;
  /** Everything after the opening '[' (ciphertext when encrypted), without the CR and trailing NULs. */
  content: string;
}

/**
 * `"<token>"<seq><ID fields>[<content>`: what every DC-09 message has, whatever its token. The ID fields are at most
 * R, 6 hex digits, L, 6 more and #, 16 letters or digits.
 */
const UNSUPPORTED_FRAME = /"(\*?)([^"]*)"(\d{4})([^[]{0,31})\[([^\r]*)/;

/**
 * The envelope of a frame whose ID token the decoder does not handle (for its DUH, and to tell central); its ID
 * fields read as absent when malformed; null when it has no token, sequence number and '['.
 */
export function readUnsupportedDc09Frame(frame: Uint8Array): UnsupportedDc09Frame | null {
  const m = UNSUPPORTED_FRAME.exec(Buffer.from(frame).toString('latin1'));
  if (m === null) return null;
  const token = m[2]!;
  const fields = m[4]!;
  const ids = parseDc09IdFields(fields, 0, fields.length, token);
  return {
    token, encrypted: m[1] === '*', seq: m[3]!, ...(typeof ids === 'string' ? NO_ID_FIELDS : ids),
    content: textOfBytes(m[5]!.replace(/\0+$/, '')),
  };
}

/** The CRC form of a frame's header (ASCII when it has none or cannot be read), so an answer can echo it. */
export function dc09CrcFormOf(frame: Uint8Array): Dc09CrcForm {
  const start = frame[0] === LF ? 1 : 0;
  return headerForm(frame, start, frame.length) === 'binary' || (start === 1 && headerForm(frame, 0, frame.length) === 'binary') ? 'binary' : 'ascii';
}

export function decodeDc09Frame(frame: Uint8Array, options: Dc09DecodeOptions = {}): DecodeResult<Dc09Message> {
  // Some UDP senders put a NUL after the CR; it is padding, not part of the frame.
  let last = frame.length;
  while (last > 0 && frame[last - 1] === NUL) last--;
  const end = last > 0 && frame[last - 1] === CR ? last - 1 : last;
  let start = frame[0] === LF ? 1 : 0;
  let form = headerForm(frame, start, end);
  // A binary CRC whose first byte is 0x0A, sent without the framing LF.
  if (form === undefined && start === 1 && headerForm(frame, 0, end) === 'binary') {
    start = 0;
    form = 'binary';
  }
  // Read only until decodeBody gets its text: the reader is reused by the next decode.
  const text = latin1Reader(frame);
  if (form === undefined) {
    const line = text.toString('latin1', start, end);
    // ATS panels pad the heartbeat's fields with NULs as well as spaces (tdeckers/utcar parser.go).
    const nulPadded = line.includes('\0');
    const heartbeat = OSBORNE_HOFFMAN_LINE.exec(nulPadded ? line.replaceAll('\0', ' ') : line);
    if (heartbeat === null) {
      return fail(
        'FORMAT_UNKNOWN',
        'matches no format of a DC-09 input: tried DC-09 (<crc><0LLL>"ID" header, ASCII or binary CRC, with or without LF/CR) and the Osborne-Hoffman heartbeat (SR<receiver>L<line> <account>)',
        frame,
      );
    }
    const quirks = new QuirkLog();
    quirks.add('osborne-hoffman', 'Osborne-Hoffman heartbeat line: no CRC, nothing authenticates it');
    if (nulPadded) quirks.add('nul-padding', 'NUL bytes among the spaces that pad the heartbeat');
    const rejection = options.strict === true ? quirks.strictRejection(frame) : undefined;
    if (rejection !== undefined) return rejection;
    return ok({
      token: 'OH', encrypted: false, seq: '0000', receiver: heartbeat[1]!, line: heartbeat[2]!, account: osborneHoffmanAccount(heartbeat[3]!),
      dataAccount: null, data: heartbeat[4] ?? '', extended: {}, timestamp: null, crcForm: 'ascii', crcOverCr: false,
      osborneHoffman: true, quirks: quirks.names,
    });
  }

  const quirks = new QuirkLog();
  if (last < frame.length) quirks.add('trailing-nul', `${frame.length - last} NUL byte(s) after the frame`);
  if (options.network === true) {
    const framing = (start === 1 ? '' : 'lf') + (end < last ? '' : 'cr');
    if (framing !== '') quirks.add(framing === 'lfcr' ? 'no-lf-cr' : `no-${framing}`, `frame sent without ${framing === 'lfcr' ? 'LF and CR' : framing.toUpperCase()}`);
  }
  const context: DecodeContext = {
    frame, options, quirks, crcForm: form === 'binary' ? 'binary' : 'ascii', crcOverCr: false, osborneHoffman: false,
  };
  let bodyStart = start;
  if (form === 'none') {
    if (options.requireHeader !== false) return fail('DC09_FORMAT_INVALID', 'frame has no CRC and length header', frame);
    quirks.add('no-crc-header', 'frame has no CRC and length header');
  } else {
    const crcText = form === 'ascii' ? text.toString('latin1', start, start + 4) : '';
    if (form === 'ascii' && !isHexBytes(frame, start, start + 4)) {
      return fail('DC09_FORMAT_INVALID', `CRC field "${clip(crcText)}" is not 4 hex digits`, frame);
    }
    const crcSent = form === 'ascii' ? parseInt(crcText, 16) : (frame[start]! << 8) | frame[start + 1]!;
    if (form === 'binary') quirks.add('binary-crc', `CRC ${hex4(crcSent)} sent as 2 binary bytes`);
    bodyStart = start + (form === 'ascii' ? 8 : 6);
    const lengthText = text.toString('latin1', bodyStart - 4, bodyStart);
    if (hasLowercaseHex(crcText + lengthText)) quirks.add('lowercase-hex', `lowercase hex in header "${crcText}${lengthText}"`);

    const computed = crc16(frame, bodyStart, end);
    if (computed !== crcSent && crcText === OSBORNE_HOFFMAN_CRC) {
      context.osborneHoffman = true;
      quirks.add('osborne-hoffman', 'fixed CRC 0101 of Osborne-Hoffman receiver framing; CRC and length not checked');
    } else if (computed !== crcSent) {
      if (crc16(CR_ONLY, 0, 1, computed) !== crcSent) {
        return fail('DC09_CRC_MISMATCH', `CRC ${hex4(crcSent)} sent, ${hex4(computed)} computed`, frame);
      }
      context.crcOverCr = true;
      quirks.add('crc-over-cr', `CRC ${hex4(crcSent)} covers the body plus CR`);
    }
    const counted = end - bodyStart + (context.crcOverCr ? 1 : 0);
    if (!context.osborneHoffman && parseInt(lengthText, 16) !== counted) {
      if (options.exactLength === true) return fail('DC09_LENGTH_MISMATCH', `length ${lengthText} sent, ${hex4(counted)} counted`, frame);
      if (/^\d{4}$/.test(lengthText) && parseInt(lengthText, 10) === counted) {
        quirks.add('decimal-length', `length ${lengthText} is written in decimal`);
      } else {
        quirks.add('length-mismatch', `length ${lengthText} sent, ${hex4(counted)} counted`);
      }
    }
  }
  const decoded = decodeBody(text.toString('latin1', bodyStart, end), context);
  if (!decoded.ok) return decoded;
  const rejection = options.strict === true ? quirks.strictRejection(frame) : undefined;
  return rejection ?? decoded;
}

function decodeBody(body: string, context: DecodeContext): DecodeResult<Dc09Message> {
  const { frame, quirks } = context;
  const idEnd = body.indexOf('"', 1);
  if (idEnd < 0) return fail('DC09_FORMAT_INVALID', 'ID token has no closing quote', frame);
  const id = body.slice(1, idEnd);
  const encrypted = id.charCodeAt(0) === ASTERISK;
  const token = encrypted ? id.slice(1) : id;
  if (!isHeaderToken(token) || (encrypted && token === 'NAK')) {
    return fail('DC09_ID_UNSUPPORTED', `ID token "${clip(id)}" is not supported`, frame);
  }
  const seq = body.slice(idEnd + 1, idEnd + 5);
  if (!/^\d{4}$/.test(seq)) return fail('DC09_FORMAT_INVALID', `sequence "${clip(seq)}" is not 4 digits`, frame);
  const open = body.indexOf('[', idEnd + 5);
  // artis101/sia-dc09-dev-receiver answers `"ACK"0042L0`, without account and data block. The forwarding output
  // reads answers by token and sequence number, and a plain answer is keyless with or without them.
  const blockless = open < 0 && context.options.blocklessAnswers === true && !encrypted && DC09_ANSWER_TOKENS.has(token);
  if (open < 0 && !blockless) return fail('DC09_FORMAT_INVALID', 'no data block "["', frame);
  const parsed = parseDc09IdFields(body, idEnd + 5, blockless ? body.length : open, token);
  if (typeof parsed === 'string' && context.options.looseIdFields !== true) return fail('DC09_FORMAT_INVALID', parsed, frame);
  const ids = typeof parsed === 'string' ? NO_ID_FIELDS : parsed;
  if (typeof parsed === 'string') quirks.add('malformed-id-fields', `${parsed}; read as absent`);
  else noteIdFieldQuirks(parsed, quirks);
  if (blockless) quirks.add('no-data-block', 'answer has no data block');

  const content = blockless
    ? ok<Content>({ dataAccount: null, data: '', extended: {}, extendedRepeated: null, moreData: null, timestamp: null })
    : encrypted
      ? decryptContent(body.slice(open + 1), ids.account, context)
      : parseContent(body, open + 1, false, context);
  if (!content.ok) return ids.account === null ? content : { ok: false, error: { ...content.error, account: ids.account } };
  const { dataAccount } = content.value;
  if (dataAccount !== null && ids.account !== null && dataAccount.toUpperCase() !== ids.account.toUpperCase()) {
    quirks.add('data-account-differs', `data block account ${dataAccount} differs from header account ${ids.account}`);
  }
  // Spelled out rather than spread: spreads in the middle of a literal copy property by property at run time.
  const { data, extended, extendedRepeated, moreData, timestamp } = content.value;
  const message: Dc09Message = {
    token, encrypted, seq, receiver: ids.receiver, line: ids.line, account: ids.account, dataAccount, data, extended, timestamp,
    crcForm: context.crcForm, crcOverCr: context.crcOverCr, osborneHoffman: context.osborneHoffman, quirks: quirks.names,
  };
  if (extendedRepeated !== null) message.extendedRepeated = extendedRepeated;
  if (moreData !== null) message.moreData = moreData;
  return ok(message);
}

const NO_ID_FIELDS: Dc09IdFields = { receiver: null, line: null, account: null };

function noteIdFieldQuirks(ids: Dc09IdFields, quirks: QuirkLog): void {
  // A non-hex account's letter case is its own spelling, not lowercase hex.
  const hexAccount = ids.account !== null && isHexText(ids.account) ? ids.account : '';
  if (hasLowercaseHex((ids.receiver ?? '') + (ids.line ?? '') + hexAccount)) {
    quirks.add('lowercase-hex', 'lowercase hex in the R/L/#acct fields');
  }
  if (ids.account !== null) noteNonHexAccount(ids.account, 'header', quirks);
  if (ids.line === '') quirks.add('bare-line', 'L field has no digits');
  if (ids.account === null) quirks.add('no-header-account', 'header has no #acct');
}

function isHeaderToken(token: string): token is Exclude<Dc09Token, 'OH'> {
  return DC09_TOKENS.has(token);
}

/**
 * `[R<1-6 hex>][L<0-6 hex>][#<account>]` between the sequence number and '['. Returns an error text when malformed.
 */
export function parseDc09IdFields(body: string, from: number, to: number, token: string): Dc09IdFields | string {
  if (token === 'NAK') {
    const nak = NAK_ID_FIELDS.exec(body.slice(from, to));
    if (nak !== null) return { receiver: nak[1]!, line: nak[2]!, account: nak[3]! };
  }
  const fields: Dc09IdFields = { receiver: null, line: null, account: null };
  let i = from;
  if (body[i] === 'R' && i < to) {
    const runEnd = hexRunEnd(body, i + 1, to);
    if (runEnd === i + 1 || runEnd - i - 1 > 6) return 'R field needs 1-6 hex digits';
    fields.receiver = body.slice(i + 1, runEnd);
    i = runEnd;
  }
  if (body[i] === 'L' && i < to) {
    const runEnd = hexRunEnd(body, i + 1, to);
    if (runEnd - i - 1 > 6) return 'L field has more than 6 hex digits';
    fields.line = body.slice(i + 1, runEnd);
    i = runEnd;
  }
  if (body.charCodeAt(i) === HASH && i < to) {
    const runEnd = accountRunEnd(body, i + 1, to);
    const account = body.slice(i + 1, runEnd);
    if (!DC09_ACCOUNT_PATTERN.test(account)) return `#acct "${clip(account)}": ${DC09_ACCOUNT_RULE}`;
    fields.account = account;
    i = runEnd;
  }
  if (i !== to) return `unexpected "${clip(body.slice(i, to))}" in the ID fields`;
  return fields;
}

function decryptContent(hex: string, account: string | null, context: DecodeContext): DecodeResult<Content> {
  const { frame } = context;
  // Hex decoding stops at the first pair that is not hex, so a whole decode is a check of every character.
  const ciphertext = Buffer.from(hex, 'hex');
  if (hex.length === 0 || ciphertext.length * 2 !== hex.length) {
    return fail('DC09_FORMAT_INVALID', 'encrypted data is not hex', frame);
  }
  if (hex.length % 32 !== 0) {
    return fail('DC09_DECRYPT_FAILED', `ciphertext is ${hex.length / 2} bytes, not whole 16-byte blocks`, frame);
  }
  const key = context.options.keyFor?.(account);
  if (key === undefined) return fail('DC09_KEY_MISSING', `no AES key for account ${account ?? '(none)'}`, frame);
  const algorithm = aesCbcName(key);
  if (algorithm === undefined) {
    return fail('CONFIG_KEY_INVALID', `AES key is ${key.length} bytes; DC-09 needs 16, 24 or 32`, frame);
  }
  const plaintext = decryptDc09(key, ciphertext, algorithm).toString('latin1');
  let contentStart = plaintext.indexOf('|') + 1;
  if (contentStart === 0) {
    contentStart = dataStartWithoutPadTerminator(plaintext);
    if (contentStart < 0) return fail('DC09_DECRYPT_FAILED', 'plaintext has no "|" after the pad and no recognisable data', frame);
    context.quirks.add('no-pad-terminator', 'plaintext has no "|" after the pad');
    // This fallback finds a start in almost any noise: without the "|", only a valid timestamp tells the right key.
    return parseContent(plaintext, contentStart, true, context, true);
  }
  return parseContent(plaintext, contentStart, true, context);
}

/**
 * protocols.md §3.6 fallback for senders that omit the '|' after the pad (Hikvision pads with 'p', PYSIA with '0'):
 * skip the run of repeated pad bytes, then start at the first '#', 'N', 'O', digit or ']'.
 */
function dataStartWithoutPadTerminator(plaintext: string): number {
  const padByte = plaintext.charCodeAt(0);
  let i = 1;
  while (i < plaintext.length && plaintext.charCodeAt(i) === padByte) i++;
  for (; i < plaintext.length; i++) {
    const code = plaintext.charCodeAt(i);
    if (code === HASH || code === 0x4e || code === 0x4f || code === 0x5d || (code >= 0x30 && code <= 0x39)) return i;
  }
  return -1;
}

/**
 * `data]` `[Xvalue]`* `_timestamp`? from `from` to the end of text. In decrypted text a structural failure means a
 * wrong key (DC09_DECRYPT_FAILED). A decrypted text without a valid timestamp is decoded (quirk: the receiver NAKs
 * it as outside the window, so its duress content is still published), unless `timestampRequired`: then it is
 * the only evidence left that the key was right.
 */
function parseContent(text: string, from: number, encrypted: boolean, context: DecodeContext, timestampRequired = false): DecodeResult<Content> {
  const { frame, quirks } = context;
  const malformed: ErrorCode = encrypted ? 'DC09_DECRYPT_FAILED' : 'DC09_FORMAT_INVALID';
  const where = encrypted ? 'decrypted data' : 'data block';
  // Decrypted text is not echoed: with a wrong key it is noise, with the right one it is the protected content.
  const excerpt = (at: number): string => (encrypted ? '' : ` "${clip(text.slice(at))}"`);
  const close = text.indexOf(']', from);
  if (close < 0) return fail(malformed, `${where} has no closing "]"`, frame);
  const block = text.slice(from, close);
  if (encrypted && !isPrintableText(block)) return fail(malformed, `${where} is not printable text`, frame);
  const { dataAccount, data } = splitDataAccount(textOfBytes(block), quirks);

  const extended: Record<string, string> = {};
  let extendedRepeated: Record<string, string[]> | null = null;
  let moreData: DataBlock[] | null = null;
  let i = close + 1;
  while (text.charCodeAt(i) === OPEN_BRACKET) {
    const fieldEnd = text.indexOf(']', i + 1);
    const letter = text[i + 1] ?? '';
    const further = fieldEnd < 0 ? null : furtherDataBlock(text.slice(i + 1, fieldEnd));
    if (further !== null) {
      if (encrypted && !isPrintableText(further.data)) return fail(malformed, `${where} is not printable text`, frame);
      if (moreData === null) quirks.add('more-data-blocks', 'further data blocks led by an account, read as more events');
      (moreData ??= []).push(further);
      i = fieldEnd + 1;
      continue;
    }
    if (fieldEnd < 0 || !/^[A-Za-z]$/.test(letter)) return fail(malformed, `malformed extended field${excerpt(i)}`, frame);
    const value = text.slice(i + 2, fieldEnd);
    if (encrypted && !isPrintableText(value)) return fail(malformed, `${where} is not printable text`, frame);
    // DC-09 limits no letter to one field: a repeat is kept beside the first value, never over it.
    const first = extended[letter];
    if (first === undefined) extended[letter] = textOfBytes(value);
    else ((extendedRepeated ??= {})[letter] ??= [first]).push(textOfBytes(value));
    i = fieldEnd + 1;
  }

  if (context.osborneHoffman && !encrypted) {
    OSBORNE_HOFFMAN_TAIL.lastIndex = i;
    if (OSBORNE_HOFFMAN_TAIL.exec(text) !== null) {
      extended['ohTail'] = text.slice(i, OSBORNE_HOFFMAN_TAIL.lastIndex);
      i = OSBORNE_HOFFMAN_TAIL.lastIndex;
    }
  }

  let timestamp: number | null = null;
  if (i < text.length) {
    if (text.charCodeAt(i) !== UNDERSCORE) return fail(malformed, `unexpected text${excerpt(i)} after the ${where}`, frame);
    timestamp = parseDc09Timestamp(text, i + 1);
    if (timestamp === null) {
      const detail = `timestamp${excerpt(i)} is not _HH:MM:SS,MM-DD-YYYY`;
      if (encrypted && timestampRequired) return fail('DC09_TIMESTAMP_INVALID', detail, frame);
      quirks.add('timestamp-malformed', detail);
    }
  } else if (encrypted) {
    if (timestampRequired) return fail('DC09_TIMESTAMP_INVALID', 'encrypted frame has no timestamp', frame);
    quirks.add('timestamp-missing', 'encrypted frame has no timestamp');
  }
  return ok({ dataAccount, data, extended, extendedRepeated, moreData, timestamp });
}

/**
 * A bracket after the data block that is another data block: `#acct|data`, the account as the first block's
 * (extended fields start with their letter, never '#'). Null for anything else.
 */
function furtherDataBlock(field: string): DataBlock | null {
  if (field.charCodeAt(0) !== HASH) return null;
  const accountEnd = accountRunEnd(field, 1, field.length);
  const dataAccount = field.slice(1, accountEnd);
  if (!DC09_ACCOUNT_PATTERN.test(dataAccount) || field.charCodeAt(accountEnd) !== BAR) return null;
  return { dataAccount, data: textOfBytes(field.slice(accountEnd + 1)) };
}

/**
 * `#acct|data`, `|data`, plain `data`, or (quirk) `acct|data` without the '#'. Without the '#' only hex digits are
 * read as an account: letters before a '|' may be event data.
 */
function splitDataAccount(block: string, quirks: QuirkLog): { dataAccount: string | null; data: string } {
  const first = block.charCodeAt(0);
  if (first === BAR) return { dataAccount: null, data: block.slice(1) };
  const hashed = first === HASH;
  const accountStart = hashed ? 1 : 0;
  const accountEnd = hashed ? accountRunEnd(block, accountStart, block.length) : hexRunEnd(block, accountStart, block.length);
  const dataAccount = block.slice(accountStart, accountEnd);
  if (!DC09_ACCOUNT_PATTERN.test(dataAccount) || block.charCodeAt(accountEnd) !== BAR) return { dataAccount: null, data: block };
  if (hashed) noteNonHexAccount(dataAccount, 'data block', quirks);
  else quirks.add('data-account-no-hash', `data block account ${dataAccount} has no '#'`);
  return { dataAccount, data: block.slice(accountEnd + 1) };
}

/**
 * Pad bytes are random but never '|', '[' or ']' (protocols.md §3.6); flipping the low bit avoids all three. They are
 * 7-bit, which the standard allows: fioletoven/dc09 (receiver and dialler) reads a plaintext only when it is UTF-8
 * (common/src/dc09/cryptography.rs), so a pad byte above 0x7F lost it the frame or the *ACK, and every other
 * implementation pads with ASCII too. 125 values a byte still make two encryptions of one content differ.
 */
function padFrom(random: Uint8Array): Buffer {
  const pad = Buffer.from(random);
  for (let i = 0; i < pad.length; i++) {
    const byte = pad[i]! & 0x7f;
    pad[i] = byte === BAR || byte === OPEN_BRACKET || byte === 0x5d ? byte ^ 1 : byte;
  }
  return pad;
}

/**
 * LF + CRC + 0LLL + body + CR, with the CRC as 4 hex chars or 2 binary bytes. A body given as text is written as
 * bytesOfText writes it: every answer the receiver sends is built here.
 */
export function wrapDc09Body(body: Uint8Array | string, crcForm: Dc09CrcForm = 'ascii'): Uint8Array {
  const bytes = typeof body === 'string' ? bytesOfText(body) : body;
  if (bytes.length > MAX_BODY_LENGTH) {
    throw new GatewayError('DC09_FORMAT_INVALID', `DC-09 body is ${bytes.length} bytes; the length field allows ${MAX_BODY_LENGTH}`);
  }
  const headerLength = crcForm === 'binary' ? 6 : 8;
  const bodyStart = headerLength + 1;
  const out = Buffer.allocUnsafe(bodyStart + bytes.length + 1);
  out.set(bytes, bodyStart);
  const crc = crc16(out, bodyStart, bodyStart + bytes.length);
  out[0] = LF;
  if (crcForm === 'binary') {
    out[1] = crc >>> 8;
    out[2] = crc & 0xff;
    out.write(hex4(bytes.length), 3, 'latin1');
  } else {
    out.write(hex4(crc) + hex4(bytes.length), 1, 'latin1');
  }
  out[out.length - 1] = CR;
  return out;
}

/** Builds a whole frame (LF…CR) for the simulator, round-trip tests and receiver answers. */
export function encodeDc09Frame(input: Dc09EncodeInput): Uint8Array {
  const encrypted = input.encrypted === true;
  const header =
    `"${encrypted ? '*' : ''}${input.token}"${input.seq}` +
    (input.receiver == null ? '' : `R${input.receiver}`) +
    (input.line == null ? '' : `L${input.line}`) +
    (input.account == null ? '' : `#${input.account}`) +
    '[';
  let tail = ']';
  for (const [letter, value] of Object.entries(input.extended ?? {})) tail += `[${letter}${value}]`;
  if (input.timestamp != null) tail += '_' + formatDc09Timestamp(input.timestamp);

  if (!encrypted) {
    const block = input.dataAccount != null ? `#${input.dataAccount}|${input.data}` : input.data === '' ? '' : `|${input.data}`;
    return wrapDc09Body(header + block + tail, input.crcForm);
  }
  const { key, random } = input;
  if (key === undefined || random === undefined) {
    throw new GatewayError('DC09_KEY_MISSING', 'an encrypted DC-09 frame needs a key and a random source');
  }
  const algorithm = aesCbcName(key);
  if (algorithm === undefined) throw new GatewayError('CONFIG_KEY_INVALID', `AES key is ${key.length} bytes; DC-09 needs 16, 24 or 32`);
  const block = input.dataAccount != null ? `#${input.dataAccount}|${input.data}` : input.data;
  const content = bytesOfText('|' + block + tail);
  // A content length that is already a multiple of 16 still gets 16 pad bytes.
  const minimal = content.length + 16 - (content.length % 16);
  // As padded as the length field allows (its hex doubles each byte); never less than the standard's pad.
  const largest = Math.floor((MAX_BODY_LENGTH - header.length) / 32) * 16;
  const pad = padFrom(random(Math.max(minimal, Math.min(bucketSize(minimal, input.padTo ?? 0), largest)) - content.length));
  const ciphertext = encryptDc09(key, Buffer.concat([pad, content]), algorithm);
  return wrapDc09Body(header + ciphertext.toString('hex').toUpperCase(), input.crcForm);
}
