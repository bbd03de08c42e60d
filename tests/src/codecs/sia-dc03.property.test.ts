import { fc, it } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { decodeSiaBlock, encodeSiaBlock } from '../../../src/codecs/sia-dc03-block.js';
import { decodeSiaLine, parseSiaData } from '../../../src/codecs/sia-dc03.js';
import type { DecodeResult } from '../../../src/codecs/result.js';

const SIA_ERRORS = ['SIA03_FORMAT_INVALID', 'SIA03_PARITY'];

/** Pieces of SIA data, valid and broken, so generated text reaches every branch of the parser. */
const siaPiece = fc.constantFrom(
  '#1234|', '#|', '|', 'N', 'O', 'A', 'X', 'ri1', 'RI01', 'id22', 'da04-22-94', 'da13-45-21', 'ti16:02:15', 'ti9',
  'pi6', 'xy', 'BA', 'CL', 'HA', 'PT', 'QQ', '12', '0000', '123456', '/', ' ', '^text^', '^', '*3ab', '*', 'F', '\x00',
);
const siaLike = fc
  .tuple(fc.constantFrom('', 'N', '#1234|N', '|N'), fc.array(siaPiece, { maxLength: 16 }))
  .map(([start, pieces]) => start + pieces.join(''));
const latin1Char = fc.integer({ min: 0, max: 0xff }).map((code) => String.fromCharCode(code));

const FUNCTION_CODES = [...'0123456789CENOP@?#&AXLVvI'];
const twoLetterCode = fc.stringMatching(/^[A-Z]{2}$/);
const address = fc.option(fc.integer({ min: 0, max: 9999 }), { nil: undefined });

/** A result is either a value or a coded SIA error: the decoders are total. */
function expectTotal<T>(result: DecodeResult<T>): void {
  if (!result.ok) {
    expect(SIA_ERRORS).toContain(result.error.code);
    expect(result.error.message).not.toBe('');
  }
}

describe('SIA DC-03 properties', () => {
  it.prop([fc.string({ maxLength: 200 })])('parseSiaData is total on arbitrary text', (text) => {
    expectTotal(parseSiaData(text));
    expectTotal(parseSiaData(text, { strict: true }));
  });

  it.prop([siaLike])('parseSiaData and decodeSiaLine are total on SIA-shaped text', (text) => {
    expectTotal(parseSiaData(text));
    expectTotal(decodeSiaLine(text));
    expectTotal(decodeSiaLine(text, { strict: true }));
  });

  it.prop([siaLike])('strict mode accepts exactly the data that tolerant mode parses without quirks', (text) => {
    const tolerant = parseSiaData(text);
    const strict = parseSiaData(text, { strict: true });
    expect(strict.ok).toBe(tolerant.ok && tolerant.value.quirks.length === 0);
  });

  it.prop([fc.uint8Array({ maxLength: 80 })])('decodeSiaBlock is total on arbitrary bytes', (bytes) => {
    expectTotal(decodeSiaBlock(bytes));
  });

  it.prop([fc.constantFrom(...FUNCTION_CODES), fc.string({ unit: latin1Char, maxLength: 63 }), fc.boolean()])(
    'encodeSiaBlock then decodeSiaBlock gives back function code, data and acknowledge request',
    (functionCode, data, ackRequested) => {
      const decoded = decodeSiaBlock(encodeSiaBlock(functionCode, data, ackRequested));
      expect(decoded).toEqual({ ok: true, value: { functionCode, data, ackRequested, reverseChannel: false } });
    },
  );

  it.prop([
    fc.constantFrom(...FUNCTION_CODES),
    fc.string({ unit: latin1Char, maxLength: 63 }),
    fc.nat(),
    fc.integer({ min: 0, max: 7 }),
  ])('any single flipped bit in a block is detected', (functionCode, data, byteSeed, bit) => {
    const block = encodeSiaBlock(functionCode, data);
    block[byteSeed % block.length]! ^= 1 << bit;
    expect(decodeSiaBlock(block).ok).toBe(false);
  });

  it.prop([
    fc.array(fc.record({ code: twoLetterCode, address, slash: fc.boolean() }), { minLength: 1, maxLength: 12 }),
    fc.option(fc.integer({ min: 0, max: 99 }), { nil: undefined }),
  ])('a block of N packets yields N signals in order, sharing the modifiers', (packets, partition) => {
    const body = packets
      .map((packet, index) => (index > 0 && packet.slash ? '/' : '') + packet.code + (packet.address ?? ''))
      .join('');
    const modifiers = partition === undefined ? '' : `ri${partition}/`;
    const result = parseSiaData(`#1234|N${modifiers}${body}`);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.value.events.map((event) => event.code?.value)).toEqual(packets.map((packet) => packet.code));
    expect(result.value.events.map((event) => event.address)).toEqual(packets.map((packet) => packet.address ?? null));
    for (const event of result.value.events) {
      expect(event.partition).toBe(partition ?? null);
      expect(event.account).toBe('1234');
    }
    const unseparated = packets.some((packet, index) => index > 0 && !packet.slash);
    expect(result.value.quirks.includes('no-slash-before-code')).toBe(unseparated);
  });
});
