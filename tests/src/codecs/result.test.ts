import { describe, expect, it } from 'vitest';
import { escapeBytes } from '../../../src/codecs/result.js';

describe('escapeBytes', () => {
  it('keeps printable ASCII but the backslash, names LF and CR, and writes every other byte as \\xNN', () => {
    expect(escapeBytes(Buffer.from('"SIA-DCS"0001L0#1234[#1234|Nri1/BA01]'))).toBe('"SIA-DCS"0001L0#1234[#1234|Nri1/BA01]');
    expect(escapeBytes(Uint8Array.from([0x0a, 0x0d, 0x5c, 0x00, 0x14, 0x1f, 0x7f, 0x80, 0xff, 0x20, 0x7e]))).toBe(
      '\\n\\r\\x5c\\x00\\x14\\x1f\\x7f\\x80\\xff ~',
    );
  });

  it('escapes exactly the 161 bytes outside printable ASCII, plus the backslash', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const escaped = escapeBytes(all);
    const kept = escaped.replace(/\\(x[0-9a-f]{2}|n|r)/g, '');
    expect(kept).toBe(Array.from({ length: 95 }, (_, i) => String.fromCharCode(0x20 + i)).join('').replace('\\', ''));
    expect(escaped.match(/\\(x[0-9a-f]{2}|n|r)/g)).toHaveLength(256 - 94);
  });

  it('reads only the bytes of a view into a larger buffer', () => {
    const frame = Buffer.from('xx\nABC\ryy');
    expect(escapeBytes(frame.subarray(2, 7))).toBe('\\nABC\\r');
  });

  it('reads plain Uint8Arrays of any size and offset, a shorter one after a longer one included', () => {
    const long = Uint8Array.from({ length: 3000 }, (_, i) => 0x41 + (i % 26));
    expect(escapeBytes(long)).toBe(Buffer.from(long).toString('latin1'));
    const view = Uint8Array.from(Buffer.from('xxAB\rCyy')).subarray(2, 6);
    expect(escapeBytes(view)).toBe('AB\\rC');
    expect(escapeBytes(new Uint8Array([0x5a]))).toBe('Z');
  });
});
