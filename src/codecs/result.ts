import type { ErrorCode } from '../errors.js';

/** Expected bad input is a value, never an exception. */
export interface DecodeError {
  readonly code: ErrorCode;
  readonly message: string;
  /** Bounded, escaped preview of the offending input, safe for a log line. */
  readonly rawPreview?: string;
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
  // One latin1 decode and a replace of the few bytes that need it: every event carries its raw frame this way.
  return latin1Reader(bytes).toString('latin1', 0, bytes.length).replace(NOT_PRINTABLE, escapeChar);
}

let scratch = Buffer.allocUnsafeSlow(1024);

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

const NOT_PRINTABLE = /[^\x20-\x5b\x5d-\x7e]/g;

function escapeChar(char: string): string {
  if (char === '\n') return '\\n';
  if (char === '\r') return '\\r';
  return '\\x' + char.charCodeAt(0).toString(16).padStart(2, '0');
}

export function previewOf(raw: string | Uint8Array): string {
  const text = typeof raw === 'string' ? escapeBytes(Buffer.from(raw, 'latin1')) : escapeBytes(raw);
  return text.length > PREVIEW_LIMIT ? text.slice(0, PREVIEW_LIMIT) + '…' : text;
}
