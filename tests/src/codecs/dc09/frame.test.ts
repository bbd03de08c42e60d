import { createCipheriv } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { crc16 } from '../../../../src/codecs/dc09/crc16.js';
import { decodeDc09Frame, encodeDc09Frame, wrapDc09Body } from '../../../../src/codecs/dc09/frame.js';
import type { Dc09DecodeOptions, Dc09Message } from '../../../../src/codecs/dc09/frame.js';
import type { DecodeResult } from '../../../../src/codecs/result.js';

const latin1 = (text: string): Buffer => Buffer.from(text, 'latin1');
const frameOf = (body: string, crcForm: 'ascii' | 'binary' = 'ascii'): Uint8Array => wrapDc09Body(latin1(body), crcForm);
const codeOf = (result: DecodeResult<unknown>): string => (result.ok ? 'ok' : result.error.code);

function decoded(frame: Uint8Array, options?: Dc09DecodeOptions): Dc09Message {
  const result = decodeDc09Frame(frame, options);
  if (!result.ok) throw new Error(`${result.error.code}: ${result.error.message}`);
  return result.value;
}

const KEY_128 = latin1('0123456789ABCDEF');
const keyFor = (): Uint8Array => KEY_128;

/**
 * An encrypted frame built straight with node:crypto, independent of encodeDc09Frame: `pad` (repeated) fills the
 * plaintext in front of `content` up to whole 16-byte blocks.
 */
function encryptedFrame(content: string, pad = 'p'): Uint8Array {
  const plaintext = pad.repeat(16).slice(0, 16 - (content.length % 16)) + content;
  const cipher = createCipheriv('aes-128-cbc', KEY_128, Buffer.alloc(16)).setAutoPadding(false);
  const hex = Buffer.concat([cipher.update(latin1(plaintext)), cipher.final()]).toString('hex').toUpperCase();
  return frameOf(`"*SIA-DCS"0042L0#1234[${hex}`);
}

/** The first NULL sequence number whose CRC satisfies `pick`, to reach CRC bytes that look like LF or CR. */
function nullBodyWithCrc(pick: (crc: number) => boolean): string {
  for (let seq = 0; seq < 10_000; seq++) {
    const body = `"NULL"${String(seq).padStart(4, '0')}L0#1234[]`;
    if (pick(crc16(latin1(body)))) return body;
  }
  throw new Error('no sequence number gives such a CRC');
}

// home-assistant/core#88474 (Ajax periodic test)
const AJAX_BODY = '"SIA-DCS"0006L0#AAA[#AAA|Nri0/RP0000]_09:12:30,02-20-2023';

describe('decodeDc09Frame: framing and header', () => {
  it('decodes the same message with or without LF and CR', () => {
    const framed = decoded(latin1(`\n14AB0039${AJAX_BODY}\r`));
    expect(decoded(latin1(`14AB0039${AJAX_BODY}`))).toEqual(framed);
    expect(decoded(latin1(`\n14AB0039${AJAX_BODY}`))).toEqual(framed);
    expect(framed).toMatchObject({ token: 'SIA-DCS', seq: '0006', account: 'AAA', data: 'Nri0/RP0000', quirks: [] });
  });

  it('names the sent and computed CRC when they differ, in tolerant mode too', () => {
    const frame = latin1(`\n14AB0039${AJAX_BODY.replace('RP', 'RR')}\r`);
    const result = decodeDc09Frame(frame);
    expect(codeOf(result)).toBe('DC09_CRC_MISMATCH');
    if (!result.ok) expect(result.error.message).toBe(`CRC 14AB sent, ${crc16(frame, 9, frame.length - 1).toString(16).toUpperCase()} computed`);
  });

  it('requires the CRC/length header unless requireHeader is false', () => {
    expect(codeOf(decodeDc09Frame(latin1(AJAX_BODY)))).toBe('DC09_FORMAT_INVALID');
    expect(decoded(latin1(AJAX_BODY), { requireHeader: false }).quirks).toEqual(['no-crc-header']);
  });

  it.each([0x0a, 0x0d])('reads a binary CRC whose high byte is 0x%s, with or without the framing LF', (byte) => {
    const frame = frameOf(nullBodyWithCrc((crc) => crc >>> 8 === byte), 'binary');
    expect(frame[1]).toBe(byte);
    expect(decoded(frame)).toMatchObject({ token: 'NULL', crcForm: 'binary', quirks: ['binary-crc'] });
    expect(decoded(frame.subarray(1))).toMatchObject({ token: 'NULL', crcForm: 'binary' });
  });

  it('reads a binary CRC whose low byte is 0x0D', () => {
    const frame = frameOf(nullBodyWithCrc((crc) => (crc & 0xff) === 0x0d), 'binary');
    expect(decoded(frame).crcForm).toBe('binary');
  });

  it.each([
    ['"NULL"01L0#1234[]', 'sequence'],
    ['"NULL"0001L0#1234', 'no data block'],
    ['"NULL"0001R1234567L0#1234[]', 'R field'],
    ['"NULL"0001L1234567#1234[]', 'L field'],
    ['"NULL"0001L0#12[]', '#acct'],
    ['"NULL"0001L0#1234 X[]', 'ID fields'],
    ['"NULL"0001L0#1234[', 'closing "]"'],
    ['"NULL"0001L0#1234[]junk', 'after the data block'],
    ['"NULL"0001L0#1234[][1x]', 'extended field'],
    ['"NULL"0001L0#1234[][Ix', 'extended field'],
    ['"NULL0001L0#1234[]', 'closing quote'],
  ])('rejects %s as DC09_FORMAT_INVALID (%s)', (body, message) => {
    const result = decodeDc09Frame(frameOf(body));
    expect(codeOf(result)).toBe('DC09_FORMAT_INVALID');
    if (!result.ok) expect(result.error.message).toContain(message);
  });

  it.each(['"SIA-XYZ"0001L0#1234[]', '"*NAK"0000R0L0A0[]', '"ADM-CID "0001L0#1234[]'])('rejects the ID token of %s', (body) => {
    const result = decodeDc09Frame(frameOf(body));
    expect(codeOf(result)).toBe('DC09_ID_UNSUPPORTED');
  });

  it('never throws on an empty or truncated frame', () => {
    const frame = latin1(`\n14AB0039${AJAX_BODY}\r`);
    for (let end = 0; end < frame.length - 1; end++) {
      expect(codeOf(decodeDc09Frame(frame.subarray(0, end)))).not.toBe('ok');
    }
  });
});

describe('decodeDc09Frame: data block, extended fields, timestamp', () => {
  it('keeps Windows-1252 bytes of extended fields as latin1 characters', () => {
    const message = decoded(frameOf('"SIA-DCS"0001L0#1234[#1234|NBA01][Ialarme d\xe9clench\xe9e][Rcuisine]'));
    expect(message.extended).toEqual({ I: 'alarme déclenchée', R: 'cuisine' });
  });

  it('reads bytes 0x80–0x9F of extended fields as Windows-1252 letters (euro, curly quotes, dashes, Š, Ÿ), as DC-09 names', () => {
    // ioBroker.sia#63 (https://github.com/schmupu/ioBroker.sia/issues/63) and pysiaalarm xdata.py: extended text is
    // Windows-1252. A French panel's "“Entrée” – 5 €" is bytes 93 … 94 20 96 20 35 20 80.
    const message = decoded(frameOf('"SIA-DCS"0001L0#1234[#1234|NBA01^\x8aala^][I\x93Entr\xe9e\x94 \x96 5 \x80][L\x9f\x8c\x85]'));
    expect(message.extended).toEqual({ I: '“Entrée” – 5 €', L: 'ŸŒ…' });
    expect(message.data).toBe('NBA01^Šala^');
    // The five bytes Windows-1252 leaves undefined stay the code points of their value (WHATWG's windows-1252).
    expect(decoded(frameOf('"SIA-DCS"0001L0#1234[#1234|NBA01][I\x81\x8d\x8f\x90\x9d]')).extended).toEqual({ I: '\x81\x8d\x8f\x90\x9d' });
  });

  it('reads text written in UTF-8 as UTF-8 (a hub naming its zones in Cyrillic), in the data block too', () => {
    const utf8 = (text: string): string => Buffer.from(text, 'utf8').toString('latin1');
    const message = decoded(frameOf(`"SIA-DCS"0001L0#1234[#1234|NBA01^${utf8('Кухня')}^][S${utf8('Улица Ленина')}][I${utf8('Zürich')}]`));
    expect(message.extended).toEqual({ S: 'Улица Ленина', I: 'Zürich' });
    expect(message.data).toBe('NBA01^Кухня^');
    // Bytes that are not UTF-8 stay Windows-1252/latin1 text (the test above), one byte a character.
    expect(decoded(frameOf('"SIA-DCS"0001L0#1234[#1234|NBA01][IZ\xfcrich \xc3]')).extended).toEqual({ I: 'Zürich Ã' });
  });

  it('keeps every value of an extended field sent more than once, the first under extended (strict mode too)', () => {
    // DC-09 writes the extended data as zero or more `[x…]` fields after the data block and limits no identifier to
    // one: a panic button's successive positions ([X][Y] pairs, Ajax), several photo links ([V], Reconeyez).
    const body =
      '"SIA-DCS"0001L0#1234[#1234|NHA01][X24.0117][Y49.8416][X24.0120][Y49.8420][Vhttp://cam/1.jpg][Vhttp://cam/2.jpg][Skiosk]';
    for (const strict of [false, true]) {
      const message = decoded(frameOf(body), { strict });
      expect(message.extended).toEqual({ X: '24.0117', Y: '49.8416', V: 'http://cam/1.jpg', S: 'kiosk' });
      expect(message.extendedRepeated).toEqual({
        X: ['24.0117', '24.0120'],
        Y: ['49.8416', '49.8420'],
        V: ['http://cam/1.jpg', 'http://cam/2.jpg'],
      });
      expect(message.quirks).toEqual([]);
    }
  });

  it('has no extendedRepeated when no field repeats', () => {
    expect(decoded(frameOf('"SIA-DCS"0001L0#1234[#1234|NBA01][Ialarm][Rkitchen]'))).not.toHaveProperty('extendedRepeated');
  });

  it('keeps repeated fields inside an encrypted frame', () => {
    const message = decoded(encryptedFrame('|#1234|NHA01][Vhttp://cam/1.jpg][Vhttp://cam/2.jpg]_10:00:00,01-01-2024'), { keyFor });
    expect(message.extendedRepeated).toEqual({ V: ['http://cam/1.jpg', 'http://cam/2.jpg'] });
  });

  it('reads "[|data]", "[data]" and "[#acct|data]"', () => {
    expect(decoded(frameOf('"SIA-DCS"0001L0#1234[|Nri1/CL501]'))).toMatchObject({ dataAccount: null, data: 'Nri1/CL501' });
    expect(decoded(frameOf('"SIA-DCS"0001L0#1234[Nri1/WA000]'))).toMatchObject({ dataAccount: null, data: 'Nri1/WA000' });
    expect(decoded(frameOf('"SIA-DCS"0001L0#1234[#1234|NRR|Atest]'))).toMatchObject({ dataAccount: '1234', data: 'NRR|Atest' });
  });

  // An Osborne-Hoffman receiver written against ATS panels reads a message's further "[#acct|…]" blocks as more
  // events (public GitHub Go receiver, parseEvents: "further blocks only if they start with an account").
  it('reads a further data block led by an account, beside the extended fields (quirk more-data-blocks)', () => {
    const message = decoded(frameOf('"SIA-DCS"0001L0#1234[#1234|Nri1/BA01][#1234|Nri1/HA02][Rkitchen]_10:00:00,01-01-2024'));
    expect(message).toMatchObject({ dataAccount: '1234', data: 'Nri1/BA01', moreData: [{ dataAccount: '1234', data: 'Nri1/HA02' }], extended: { R: 'kitchen' } });
    expect(message.quirks).toContain('more-data-blocks');
    expect(decoded(frameOf('"SIA-DCS"0001L0#1234[#1234|NBA01][Rkitchen]'))).not.toHaveProperty('moreData');
  });

  it('refuses a further data block in strict mode by its quirk', () => {
    const result = decodeDc09Frame(frameOf('"ADM-CID"0001L0#1234[#1234|1130 01 001][#1234|1122 01 002]'), { strict: true });
    expect(result.ok ? result.value : result.error.message).toContain('more-data-blocks');
  });

  it('reads the timestamp as UTC', () => {
    expect(decoded(frameOf('"NULL"0001L0#1234[]_23:59:58,02-29-2024')).timestamp).toBe(Date.UTC(2024, 1, 29, 23, 59, 58));
  });
});

describe('decodeDc09Frame: quirks, tolerated and in strict mode', () => {
  const cases: Array<{ quirk: string; frame: () => Uint8Array; expect: Partial<Dc09Message> }> = [
    {
      quirk: 'lowercase-hex',
      // fioletoven/dc09 to_string_test with its CRC F4D2 written in lowercase
      frame: () => latin1('\nf4d20029"SIA-DCS"0001RF3L77#1234[#1234|NRR|Atest]\r'),
      expect: { receiver: 'F3', line: '77' },
    },
    { quirk: 'lowercase-hex', frame: () => frameOf('"NULL"0001Rab#1234[]'), expect: { receiver: 'ab' } },
    { quirk: 'bare-line', frame: () => frameOf('"NULL"0001L#1234[]'), expect: { line: '' } },
    { quirk: 'no-header-account', frame: () => frameOf('"SIA-DCS"4738R0001L0001[#006969|Nri04/OP001NM]'), expect: { account: null, dataAccount: '006969' } },
    { quirk: 'timestamp-malformed', frame: () => frameOf('"NULL"0001L0#1234[]_24:00:00,01-01-2024'), expect: { timestamp: null } },
    { quirk: 'timestamp-malformed', frame: () => frameOf('"NULL"0001L0#1234[]_12:00:00,02-30-2024'), expect: { timestamp: null } },
    { quirk: 'data-account-no-hash', frame: () => frameOf('"SIA-DCS"0001L0#1234[1234|NRP]'), expect: { dataAccount: '1234', data: 'NRP' } },
    // FOCUS FC-7688 (pysiaalarm issue #36): CRC 7A28 and length 002F as captured; the letter case is the account's own.
    {
      quirk: 'non-hex-account',
      frame: () => latin1('\n7A28002F"ADM-CID"6616R0L0#foc7688[#foc7688|1351 01 000]\r'),
      expect: { account: 'foc7688', dataAccount: 'foc7688', data: '1351 01 000' },
    },
    { quirk: 'non-hex-account', frame: () => frameOf('"SIA-DCS"0001L0#PANEL1[#PANEL1|NPA501]'), expect: { account: 'PANEL1', dataAccount: 'PANEL1', data: 'NPA501' } },
    { quirk: 'no-pad-terminator', frame: () => encryptedFrame(']_12:00:00,01-01-2024', '0'), expect: { data: '', dataAccount: null } },
    // Decrypted under the account's key, so decoded: the receiver NAKs it as outside the window, and its duress
    // content is still published.
    { quirk: 'timestamp-missing', frame: () => encryptedFrame('|#1234|Nri1/HA01]'), expect: { data: 'Nri1/HA01', timestamp: null } },
    { quirk: 'timestamp-malformed', frame: () => encryptedFrame('|#1234|Nri1/HA01]_12:00:00,13-01-2024'), expect: { data: 'Nri1/HA01', timestamp: null } },
  ];

  it.each(cases)('tolerates $quirk', ({ quirk, frame, expect: fields }) => {
    const message = decoded(frame(), { keyFor });
    expect(message).toMatchObject(fields);
    expect(message.quirks).toEqual([quirk]);
  });

  it.each(cases)('rejects $quirk in strict mode, naming it', ({ quirk, frame }) => {
    const result = decodeDc09Frame(frame(), { keyFor, strict: true });
    expect(codeOf(result)).toBe('DC09_QUIRK_REJECTED');
    if (!result.ok) expect(result.error.message).toContain(quirk);
  });

  it('reads as an account only 3-16 ASCII letters or digits', () => {
    expect(decoded(frameOf('"NULL"0001L0#Zz0123456789ABCD[]')).account).toBe('Zz0123456789ABCD');
    for (const account of ['Zz0123456789ABCDE', 'ab', 'foc-7688', 'foc\u00e97688']) {
      expect(codeOf(decodeDc09Frame(frameOf(`"NULL"0001L0#${account}[]`))), account).toBe('DC09_FORMAT_INVALID');
    }
    // Without its '#', a data block reads only hex as an account: letters before a '|' may be event data.
    expect(decoded(frameOf('"SIA-DCS"0001L0#1234[NPA501|x]'))).toMatchObject({ dataAccount: null, data: 'NPA501|x' });
  });

  it('accepts a clean frame in strict mode', () => {
    expect(decoded(latin1(`\n14AB0039${AJAX_BODY}\r`), { strict: true }).quirks).toEqual([]);
  });

  it('lists every quirk a frame has, once each', () => {
    const message = decoded(frameOf('"NULL"0001RabLcd[1234|x]', 'binary'));
    expect(message.quirks).toEqual(['binary-crc', 'lowercase-hex', 'no-header-account', 'data-account-no-hash']);
  });
});

describe('decodeDc09Frame: encryption', () => {
  it('asks keyFor for the header account', () => {
    const lookup = vi.fn(keyFor);
    decoded(encryptedFrame('|#1234|Nri1/BA01]_12:00:00,01-01-2024'), { keyFor: lookup });
    expect(lookup).toHaveBeenCalledWith('1234');
  });

  it('drops the pad up to the first "|" and reads data, extended fields and timestamp', () => {
    const message = decoded(encryptedFrame('|#1234|Nri1/BA01][M0026B9E4268B]_12:00:00,01-01-2024', '\x01\xfe\x00'), { keyFor });
    expect(message).toMatchObject({
      token: 'SIA-DCS', encrypted: true, dataAccount: '1234', data: 'Nri1/BA01', extended: { M: '0026B9E4268B' },
      timestamp: Date.UTC(2024, 0, 1, 12), quirks: [],
    });
  });

  it.each([
    ['control bytes in the data', '|#1234|N\x01\x02]_12:00:00,01-01-2024', 'DC09_DECRYPT_FAILED'],
    ['no closing bracket', '|#1234|Nri1/BA01', 'DC09_DECRYPT_FAILED'],
    // Without the "|" after the pad, the timestamp is all that tells decrypted data from noise.
    ['neither a "|" after the pad nor a timestamp', 'Nri1/BA01]', 'DC09_TIMESTAMP_INVALID'],
    ['neither a "|" after the pad nor a valid timestamp', 'Nri1/BA01]_12:00:00,13-01-2024', 'DC09_TIMESTAMP_INVALID'],
  ])('rejects a plaintext with %s', (_case, plaintext, code) => {
    expect(codeOf(decodeDc09Frame(encryptedFrame(plaintext), { keyFor }))).toBe(code);
  });

  it('reads Latin-1 text in decrypted data, as in a plain frame', () => {
    const message = decoded(encryptedFrame('|#1234|Nri1/HA05^Kass\xe9^]_12:00:00,01-01-2024'), { keyFor });
    expect(message).toMatchObject({ data: 'Nri1/HA05^Kass\xe9^', quirks: [] });
  });

  it('fails to decrypt with the wrong key', () => {
    const frame = encryptedFrame('|#1234|Nri1/BA01]_12:00:00,01-01-2024');
    expect(codeOf(decodeDc09Frame(frame, { keyFor: () => latin1('FEDCBA9876543210') }))).toBe('DC09_DECRYPT_FAILED');
  });

  it('needs a key, a valid key size, whole blocks and hex', () => {
    const frame = encryptedFrame('|#1234|Nri1/BA01]_12:00:00,01-01-2024');
    expect(codeOf(decodeDc09Frame(frame))).toBe('DC09_KEY_MISSING');
    expect(codeOf(decodeDc09Frame(frame, { keyFor: () => new Uint8Array(10) }))).toBe('CONFIG_KEY_INVALID');
    expect(codeOf(decodeDc09Frame(frameOf('"*NULL"0001L0#1234[0123456789ABCDEF'), { keyFor }))).toBe('DC09_DECRYPT_FAILED');
    expect(codeOf(decodeDc09Frame(frameOf('"*NULL"0001L0#1234[0123456789ABCDEG0123456789ABCDEF'), { keyFor }))).toBe('DC09_FORMAT_INVALID');
  });

  // The header account is clear text: a receiver can tell whose frames it cannot read.
  it('names the header account in the error of a frame it cannot decrypt, and none when the header has none', () => {
    const frame = encryptedFrame('|#1234|Nri1/HA01]_12:00:00,01-01-2024');
    const missing = decodeDc09Frame(frame);
    const wrong = decodeDc09Frame(frame, { keyFor: () => latin1('FEDCBA9876543210') });
    expect([missing, wrong].map((r) => !r.ok && [r.error.code, r.error.account])).toEqual([
      ['DC09_KEY_MISSING', '1234'],
      ['DC09_DECRYPT_FAILED', '1234'],
    ]);
    const anonymous = decodeDc09Frame(frameOf(`"*SIA-DCS"0042L0[${'00'.repeat(32)}`));
    expect(!anonymous.ok && [anonymous.error.code, 'account' in anonymous.error]).toEqual(['DC09_KEY_MISSING', false]);
  });

  it('does not echo decrypted text in error messages', () => {
    const result = decodeDc09Frame(encryptedFrame('|#1234|secret]garbage'), { keyFor });
    expect(codeOf(result)).toBe('DC09_DECRYPT_FAILED');
    if (!result.ok) expect(result.error.message).not.toContain('garbage');
  });
});

describe('decodeDc09Frame: Osborne-Hoffman heartbeat', () => {
  it('decodes the OH line with LF/CR framing (pysiaalarm case_oh)', () => {
    expect(decoded(latin1('\nSR0001L0001    006969XX    [ID00000000]\r'))).toMatchObject({
      token: 'OH', receiver: '0001', line: '0001', account: '006969', data: 'ID00000000', osborneHoffman: true, quirks: ['osborne-hoffman'],
    });
  });
});

describe('encodeDc09Frame', () => {
  it('writes a frame that matches a captured one byte for byte (fioletoven/dc09 to_string_test)', () => {
    const frame = encodeDc09Frame({ token: 'SIA-DCS', seq: '0001', receiver: 'F3', line: '77', account: '1234', dataAccount: '1234', data: 'NRR|Atest' });
    expect(Buffer.from(frame).toString('latin1')).toBe('\nF4D20029"SIA-DCS"0001RF3L77#1234[#1234|NRR|Atest]\r');
  });

  it('writes data without an account as "[|data]"', () => {
    const frame = encodeDc09Frame({ token: 'SIA-DCS', seq: '0001', line: '0', account: '1234', data: 'NRP' });
    expect(Buffer.from(frame).toString('latin1')).toContain('#1234[|NRP]');
  });

  it('pads encrypted content to whole blocks with 1-16 bytes that are never "|", "[" or "]"', () => {
    for (const data of ['', 'N', 'Nri1/BA01', 'Nri1/BA01 0123456789ABCDEF']) {
      const frame = encodeDc09Frame({
        token: 'SIA-DCS', encrypted: true, seq: '0001', line: '0', account: '1234', data, timestamp: 0, key: KEY_128,
        random: (n) => new Uint8Array(n).fill(0x7c),
      });
      const message = decoded(frame, { keyFor });
      expect(message).toMatchObject({ data, timestamp: 0, quirks: [] });
    }
  });

  it('wraps a body given as latin1 text exactly as the same body given as bytes, in both CRC forms', () => {
    for (const crcForm of ['ascii', 'binary'] as const) {
      const text = Buffer.from(wrapDc09Body(`${AJAX_BODY}\u00e9`, crcForm)).toString('latin1');
      expect(text).toBe(Buffer.from(wrapDc09Body(latin1(`${AJAX_BODY}\u00e9`), crcForm)).toString('latin1'));
    }
    expect(Buffer.from(wrapDc09Body('"NULL"0000L0#1234[]')).toString('latin1')).toBe(`\n${crc16(latin1('"NULL"0000L0#1234[]')).toString(16).toUpperCase().padStart(4, '0')}0013"NULL"0000L0#1234[]\r`);
  });

  it('writes text beyond Latin-1 (a Cyrillic zone name, as a hub sends it) in UTF-8, so it reads back as written', () => {
    // `panelbridge simulate --event raw:"#1234|Nri1/BA03^Кухня^"` sent "\x1aCE=O": each character cut to its low byte.
    const data = 'Nri1/BA03^Кухня^';
    const extended = { L: 'Улица Ленина 5' };
    const plain = encodeDc09Frame({ token: 'SIA-DCS', seq: '0001', line: '0', account: '1234', dataAccount: '1234', data, extended });
    expect(decoded(plain)).toMatchObject({ data, extended, quirks: [] });
    expect(Buffer.from(plain).includes(Buffer.from('Кухня', 'utf8'))).toBe(true);
    const encrypted = encodeDc09Frame({
      token: 'SIA-DCS', encrypted: true, seq: '0001', line: '0', account: '1234', dataAccount: '1234', data, extended, timestamp: 0,
      key: KEY_128, random: (n) => new Uint8Array(n).fill(0x41),
    });
    expect(decoded(encrypted, { keyFor })).toMatchObject({ data, extended, timestamp: 0, quirks: [] });
    // Text within Latin-1 keeps DC-09's one byte a character.
    expect(Buffer.from(wrapDc09Body('[I\u00e9]')).toString('latin1')).toContain('[I\u00e9]');
  });

  it('refuses to encrypt without a key', () => {
    expect(() => encodeDc09Frame({ token: 'NULL', encrypted: true, seq: '0001', data: '' })).toThrow(/DC09_KEY_MISSING/);
  });
});
