import { bytesOfText, fail, ok } from './result.js';
import type { DecodeResult } from './result.js';

const SIMPLE_ESCAPES: Readonly<Record<string, number>> = { n: 0x0a, r: 0x0d, t: 0x09, '\\': 0x5c };

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x41 && code <= 0x46) return code - 0x37;
  if (code >= 0x61 && code <= 0x66) return code - 0x57;
  return -1;
}

/**
 * A frame typed as text (`panelbridge decode`) → bytes. Escapes: \n \r \t \\ \xNN. The other text is written as
 * bytesOfText writes it: latin1, or UTF-8 when a character is beyond Latin-1 (a Cyrillic zone name typed or pasted),
 * the bytes standard input gives for it. Positions in messages count those bytes.
 */
export function parseFrameText(typed: string): DecodeResult<Uint8Array> {
  if (typed.length === 0) return fail('INPUT_EMPTY', 'no frame was given');
  // One character a byte; the escapes are ASCII, which UTF-8 leaves as they are.
  const text = bytesOfText(typed).toString('latin1');
  const bytes = new Uint8Array(text.length);
  let length = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code !== 0x5c) {
      bytes[length++] = code;
      continue;
    }
    const escape = text[i + 1] ?? '';
    const simple = SIMPLE_ESCAPES[escape];
    if (simple !== undefined) {
      bytes[length++] = simple;
      i += 1;
    } else if (escape === 'x') {
      const high = hexValue(text.charCodeAt(i + 2));
      const low = hexValue(text.charCodeAt(i + 3));
      if (high < 0 || low < 0) return fail('INPUT_ESCAPE_INVALID', `"${text.slice(i, i + 4)}" at ${i} is not a \\xNN escape`);
      bytes[length++] = high * 16 + low;
      i += 3;
    } else {
      return fail('INPUT_ESCAPE_INVALID', `"\\${escape}" at ${i} is not an escape (use \\n \\r \\t \\\\ or \\xNN)`);
    }
  }
  return ok(bytes.slice(0, length));
}

/** Hex digits → bytes; whitespace between them is ignored. */
export function parseHex(text: string): DecodeResult<Uint8Array> {
  const digits = text.replace(/\s+/g, '');
  if (digits.length === 0) return fail('INPUT_EMPTY', 'no hex digits were given');
  if (!/^[0-9A-Fa-f]+$/.test(digits)) return fail('INPUT_ESCAPE_INVALID', 'hex input contains a character that is not a hex digit');
  if (digits.length % 2 !== 0) return fail('INPUT_ESCAPE_INVALID', `hex input has an odd number of digits (${digits.length})`);
  return ok(Uint8Array.from(Buffer.from(digits, 'hex')));
}
