import { describe, expect, it } from 'vitest';
import { decodeDc09Frame, wrapDc09Body } from '../../../src/codecs/dc09/frame.js';
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

describe("a DC-09 frame's fields on each of its signals", () => {
  // Each signal is written into in place (dc09Signals): two events of one frame must not share what one may change.
  it('every signal has the frame’s account, receiver, line, time and extended data, in objects of its own', () => {
    const decoded = decodeFrame(wrapDc09Body('"SIA-DCS"0001R12L3#1234[#1234|Nri1/BA01/BR02][X24.0117]_12:38:10,07-01-2024'));
    if (!decoded.ok) throw new Error(decoded.error.message);
    const [first, second, ...rest] = decoded.value.signals;
    expect(rest).toEqual([]);
    for (const [signal, code] of [[first, 'BA'], [second, 'BR']] as const) {
      expect(signal).toMatchObject({ code: { scheme: 'sia', value: code }, account: '1234', receiver: '12', line: '3', occurredAt: '2024-07-01T12:38:10.000Z', extended: { X: '24.0117' } });
    }
    expect(first?.extended).not.toBe(second?.extended);
    expect(first?.quirks).not.toBe(second?.quirks);
  });

  it("[H] is the time of occurrence, and the block's da/ti no longer asks for the site's time zone", () => {
    const decoded = decodeFrame(wrapDc09Body('"SIA-DCS"0001R0L0#1234[#1234|Nda07-01-24ti14:37:53/BA1][H12:37:50,07-01-2024]'));
    if (!decoded.ok) throw new Error(decoded.error.message);
    expect(decoded.value.signals[0]?.occurredAt).toBe('2024-07-01T12:37:50.000Z');
    expect(decoded.value.signals[0]?.occurredAtLocal).toBeUndefined();
  });
});
