import { describe, expect, it } from 'vitest';
import { decodeDc09Frame } from '../../../src/codecs/dc09/frame.js';
import { decodeFrame } from '../../../src/pipeline/decode-frame.js';

const latin1 = (text: string) => Buffer.from(text, 'latin1');

describe('FORMAT_UNKNOWN: input that is no protocol says what was tried', () => {
  it.each(['hello world', 'GET / HTTP/1.1', '\u00ff\u00fe\u0000binary', '12 34'])('%j through detection', (text) => {
    const result = decodeFrame(latin1(text));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error.code).toBe('FORMAT_UNKNOWN');
    for (const tried of ['DC-09', 'Osborne-Hoffman', 'Contact ID', 'Sur-Gard', 'SIA DC-03']) expect(result.error.message).toContain(tried);
  });

  it('on a DC-09 input, a line that is neither DC-09 nor an OH heartbeat', () => {
    const result = decodeDc09Frame(latin1('\nhello world\r'));
    expect(result.ok ? 'decoded' : result.error.code).toBe('FORMAT_UNKNOWN');
    if (!result.ok) expect(result.error.message).toMatch(/tried DC-09 .* Osborne-Hoffman heartbeat/);
  });

  it('a DC-09-shaped frame with a broken part stays a DC-09 format error', () => {
    const result = decodeDc09Frame(latin1('\n"NULL"0001L0#1234[]\r'));
    expect(result.ok ? 'decoded' : result.error.code).toBe('DC09_FORMAT_INVALID');
  });
});
