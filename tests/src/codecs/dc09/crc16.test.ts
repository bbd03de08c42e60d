import { describe, expect, it } from 'vitest';
import { crc16, hex4 } from '../../../../src/codecs/dc09/crc16.js';

const ascii = (text: string): Uint8Array => Buffer.from(text, 'latin1');

describe('crc16 (CRC-16/ARC)', () => {
  it('has the catalogue check value 0xBB3D for "123456789"', () => {
    expect(crc16(ascii('123456789'))).toBe(0xbb3d);
  });

  it('has 0xEB01 as table entry 101, where the DC-07 printed table has the typo 0xBE01 (NLQA)', () => {
    expect(crc16(Uint8Array.of(100))).toBe(0xeb01);
  });

  it.each([
    ['F4D2', '"SIA-DCS"0001RF3L77#1234[#1234|NRR|Atest]'], // fioletoven/dc09 message.tests.rs to_string_test
    ['7788', '"ADM-CID"0068R0L0#AAA[#AAA|3401 01 070]'], // home-assistant/core#131728
    ['FE2E', '"NULL"0000L0#8312[]'], // pysiaalarm#72 (Sigma)
  ])('gives the captured CRC %s for %s', (crc, body) => {
    expect(hex4(crc16(ascii(body)))).toBe(crc);
  });

  it('covers only bytes[start, end)', () => {
    const framed = ascii('\nF4D20029"SIA-DCS"0001RF3L77#1234[#1234|NRR|Atest]\r');
    expect(hex4(crc16(framed, 9, framed.length - 1))).toBe('F4D2');
  });

  it('continues a CRC from an initial value (ELDES body + CR, sia-ha#3)', () => {
    const body = ascii('"ADM-CID"0061L9999#9999[#9999|1602 00 001]');
    expect(hex4(crc16(Uint8Array.of(0x0d), 0, 1, crc16(body)))).toBe('58DE');
    expect(crc16(Uint8Array.of(0x0d), 0, 1, crc16(body))).toBe(crc16(ascii('"ADM-CID"0061L9999#9999[#9999|1602 00 001]\r')));
  });

  it.each([
    [0, '0000'],
    [0x0abc, '0ABC'],
    [0x00ff, '00FF'],
    [0xff00, 'FF00'],
    [0xffff, 'FFFF'],
  ])('spells %i as the four uppercase hex digits %s', (value, text) => {
    expect(hex4(value)).toBe(text);
  });
});
