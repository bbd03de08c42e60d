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

/** The escape of each byte value, undefined for the printable ones (a backslash is escaped: it starts escapes). */
const ESCAPES: ReadonlyArray<string | undefined> = Array.from({ length: 256 }, (_, byte) => {
  if (byte >= 0x20 && byte <= 0x7e && byte !== 0x5c) return undefined;
  if (byte === 0x0a) return '\\n';
  if (byte === 0x0d) return '\\r';
  return `\\x${byte.toString(16).padStart(2, '0')}`;
});

/** Printable ASCII stays as is; everything else becomes \xNN, so previews are log-safe. */
export function escapeBytes(bytes: Uint8Array): string {
  // One latin1 decode, and the runs between the few bytes that need escaping joined with their escapes: every
  // event carries its raw frame this way, and a DC-09 frame has two (its LF and CR).
  const text = (bytes instanceof Buffer ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)).toString('latin1');
  let escaped = '';
  let from = 0;
  for (let i = 0; i < bytes.length; i++) {
    const escape = ESCAPES[bytes[i]!];
    if (escape === undefined) continue;
    escaped += text.slice(from, i) + escape;
    from = i + 1;
  }
  return from === 0 ? text : escaped + text.slice(from);
}

export function previewOf(raw: string | Uint8Array): string {
  const text = typeof raw === 'string' ? escapeBytes(Buffer.from(raw, 'latin1')) : escapeBytes(raw);
  return text.length > PREVIEW_LIMIT ? text.slice(0, PREVIEW_LIMIT) + '…' : text;
}
