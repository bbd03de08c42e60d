import { describe, expect, it } from 'vitest';
import { parseFrameText, parseHex } from '../../../src/codecs/escapes.js';
import { bytesOfText } from '../../../src/codecs/result.js';

const bytesOf = (result: ReturnType<typeof parseFrameText>): number[] => {
  if (!result.ok) throw new Error(result.error.message);
  return [...result.value];
};

describe('parseFrameText', () => {
  it('turns \\n \\r \\t \\\\ and \\xNN into bytes and keeps other text as latin1', () => {
    expect(bytesOf(parseFrameText('\\nA\\r\\t\\\\\\x81\\xfFé'))).toEqual([0x0a, 0x41, 0x0d, 0x09, 0x5c, 0x81, 0xff, 0xe9]);
  });

  it.each([
    ['\\q', 'not an escape'],
    ['abc\\', 'not an escape'],
    ['\\x4', 'not a \\xNN escape'],
    ['\\xZZ', 'not a \\xNN escape'],
  ])('refuses %s', (text, message) => {
    const result = parseFrameText(text);
    expect(result.ok ? 'ok' : result.error.code).toBe('INPUT_ESCAPE_INVALID');
    if (!result.ok) expect(result.error.message).toContain(message);
  });

  it('writes text beyond Latin-1 (a Cyrillic zone name typed or pasted) in UTF-8, as bytesOfText does, escapes still bytes', () => {
    expect(bytesOf(parseFrameText('[SКухня é]\\r\\x81'))).toEqual([...bytesOfText('[SКухня é]'), 0x0d, 0x81]);
    expect(bytesOf(parseFrameText('“A”'))).toEqual([...Buffer.from('“A”', 'utf8')]);
  });

  it('refuses empty text as INPUT_EMPTY', () => {
    const result = parseFrameText('');
    expect(result.ok ? 'ok' : result.error.code).toBe('INPUT_EMPTY');
  });
});

describe('parseHex', () => {
  it('ignores whitespace and accepts both cases', () => {
    expect(bytesOf(parseHex(' 0a d1\n4B 30 '))).toEqual([0x0a, 0xd1, 0x4b, 0x30]);
  });

  it.each([['0a1'], ['0g'], ['0x0a']])('refuses %s', (text) => {
    const result = parseHex(text);
    expect(result.ok ? 'ok' : result.error.code).toBe('INPUT_ESCAPE_INVALID');
  });

  it('refuses whitespace only as INPUT_EMPTY', () => {
    const result = parseHex('  \n');
    expect(result.ok ? 'ok' : result.error.code).toBe('INPUT_EMPTY');
  });
});
