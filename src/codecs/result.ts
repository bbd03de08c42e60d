import type { ErrorCode } from '../errors.js';

/** Expected bad input is a value, never an exception. */
export interface DecodeError {
  readonly code: ErrorCode;
  readonly message: string;
  /** Bounded, escaped preview of the offending input, safe for a log line. */
  readonly rawPreview?: string;
  /**
   * The account the input names in clear (a DC-09 header's `#acct`), when it was read before the failure: whose
   * frames cannot be read is then known, though what they carry is not.
   */
  readonly account?: string;
}

export type DecodeResult<T> = { ok: true; value: T } | { ok: false; error: DecodeError };

export function ok<T>(value: T): DecodeResult<T> {
  return { ok: true, value };
}

export function fail<T = never>(code: ErrorCode, message: string, raw?: string | Uint8Array): DecodeResult<T> {
  return raw === undefined
    ? { ok: false, error: { code, message } }
    : { ok: false, error: { code, message, rawPreview: previewOf(raw) } };
}

const PREVIEW_LIMIT = 256;

/** Printable ASCII stays as is; everything else becomes \xNN, so previews are log-safe. */
export function escapeBytes(bytes: Uint8Array): string {
  // Every event carries its raw frame this way: written escaped into one reused Buffer and read out as one string,
  // cheaper than a regular expression calling back for each byte it escapes.
  if (4 * bytes.length > escaped.length) escaped = Buffer.allocUnsafeSlow(8 * bytes.length);
  const out = escaped;
  let n = 0;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!;
    if (byte >= 0x20 && byte <= 0x7e && byte !== BACKSLASH) out[n++] = byte;
    else {
      out[n++] = BACKSLASH;
      if (byte === 0x0a) out[n++] = 0x6e; // n
      else if (byte === 0x0d) out[n++] = 0x72; // r
      else {
        out[n++] = 0x78; // x
        out[n++] = HEX_DIGITS[byte >> 4]!;
        out[n++] = HEX_DIGITS[byte & 0x0f]!;
      }
    }
  }
  return out.toString('latin1', 0, n);
}

const BACKSLASH = 0x5c;
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');
let escaped = Buffer.allocUnsafeSlow(4096);

let scratch = Buffer.allocUnsafeSlow(1024);

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });
const NOT_ASCII = /[\x80-\xff]/;

/**
 * What Windows-1252 puts at bytes 0x80–0x9F, where Latin-1 has C1 controls (WHATWG encoding standard's index; the five
 * bytes it leaves undefined, 0x81 0x8D 0x8F 0x90 0x9D, stay the code point of their value). Every other byte is the
 * same character in both.
 */
const WINDOWS_1252_AT_0X80 =
  '\u20ac\u0081\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u008d\u017d\u008f' +
  '\u0090\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u009d\u017e\u0178';
const C1_BYTE = /[\x80-\x9f]/g;

/**
 * Frame text read byte for byte, read again as UTF-8 when its bytes are UTF-8: DC-09 names Windows-1252 for text
 * (ioBroker.sia#63; pysiaalarm's xdata.py), but hubs write location and alarm text in UTF-8 too (Cyrillic, Greek),
 * and Windows-1252 text that happens to be valid multi-byte UTF-8 ("Ã¼") does not occur in names. Other bytes are
 * Windows-1252: 0x80–0x9F are its letters (€, “”, –, Š…), not Latin-1's C1 controls.
 */
export function textOfBytes(latin1: string): string {
  if (!NOT_ASCII.test(latin1)) return latin1;
  try {
    return STRICT_UTF8.decode(Buffer.from(latin1, 'latin1'));
  } catch {
    return latin1.replace(C1_BYTE, (c) => WINDOWS_1252_AT_0X80[c.charCodeAt(0) - 0x80]!);
  }
}

const BEYOND_LATIN1 = /[^\u0000-\u00ff]/;

/**
 * The bytes a frame carries for `text`, the reverse of textOfBytes: one byte a character when every character fits
 * one, else UTF-8 as hubs write Cyrillic or Greek names (and Windows-1252's own letters, “” or €, which UTF-8 carries
 * as well); cutting each character to its low byte would send other text than was given.
 */
export function bytesOfText(text: string): Buffer {
  return Buffer.from(text, BEYOND_LATIN1.test(text) ? 'utf8' : 'latin1');
}

/**
 * A Buffer holding `bytes` from offset 0, for latin1 reads, valid until the next call: `bytes` itself when it is
 * a Buffer, else a copy in one reused Buffer. Frames arrive as plain Uint8Arrays, and making a Buffer view of
 * each one costs more than copying it.
 */
export function latin1Reader(bytes: Uint8Array): Buffer {
  if (bytes instanceof Buffer) return bytes;
  if (bytes.length > scratch.length) scratch = Buffer.allocUnsafeSlow(2 * bytes.length);
  scratch.set(bytes);
  return scratch;
}

export function previewOf(raw: string | Uint8Array): string {
  const text = typeof raw === 'string' ? escapeBytes(Buffer.from(raw, 'latin1')) : escapeBytes(raw);
  return text.length > PREVIEW_LIMIT ? text.slice(0, PREVIEW_LIMIT) + '…' : text;
}
