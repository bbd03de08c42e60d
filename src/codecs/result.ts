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
  let out = '';
  for (const b of bytes) {
    if (b === 0x0a) out += '\\n';
    else if (b === 0x0d) out += '\\r';
    else if (b >= 0x20 && b < 0x7f && b !== 0x5c) out += String.fromCharCode(b);
    else out += '\\x' + b.toString(16).padStart(2, '0');
  }
  return out;
}

export function previewOf(raw: string | Uint8Array): string {
  const text = typeof raw === 'string' ? escapeBytes(Buffer.from(raw, 'latin1')) : escapeBytes(raw);
  return text.length > PREVIEW_LIMIT ? text.slice(0, PREVIEW_LIMIT) + '…' : text;
}
