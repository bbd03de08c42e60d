import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { decodeDc09Frame, encodeDc09Frame, wrapDc09Body } from '../../../../src/codecs/dc09/frame.js';
import type { Dc09EncodeInput } from '../../../../src/codecs/dc09/frame.js';
import { Dc09Framer } from '../../../../src/codecs/dc09/framer.js';
import { textOfBytes } from '../../../../src/codecs/result.js';

const HEX_UPPER = [...'0123456789ABCDEF'];
const hex = (minLength: number, maxLength: number): fc.Arbitrary<string> =>
  fc.string({ unit: fc.constantFrom(...HEX_UPPER), minLength, maxLength });
const charsIn = (from: number, to: number, except: string): fc.Arbitrary<string> =>
  fc.integer({ min: from, max: to }).map((code) => String.fromCharCode(code)).filter((char) => !except.includes(char));

/** SIA/CID data is printable ASCII without brackets; leading 'N' keeps it from reading as an account. */
const data = fc.oneof(fc.constant(''), fc.string({ unit: charsIn(0x20, 0x7e, '[]'), maxLength: 60 }).map((rest) => 'N' + rest));
/** Extended values may carry Windows-1252 text. */
const extended = fc.dictionary(
  fc.constantFrom(...'ACHIKLMNRSVXYZ'),
  fc.string({ unit: charsIn(0x20, 0xff, ']\x7f'), maxLength: 40 }),
  { maxKeys: 3 },
);
/** Whole seconds in 2000-2099, the range the 4-digit-year timestamp carries. */
const timestamp = fc.integer({ min: Date.UTC(2000, 0, 1) / 1000, max: Date.UTC(2099, 11, 31, 23, 59, 59) / 1000 }).map((s) => s * 1000);

interface Case {
  message: Dc09EncodeInput;
  key: Uint8Array | undefined;
}

const plainOrEncrypted: fc.Arbitrary<Case> = fc
  .record({
    token: fc.constantFrom('SIA-DCS', 'ADM-CID', 'NULL', 'ACK', 'DUH', 'RSP') as fc.Arbitrary<Dc09EncodeInput['token']>,
    seq: fc.integer({ min: 0, max: 9999 }).map((n) => String(n).padStart(4, '0')),
    receiver: fc.option(hex(1, 6), { nil: null }),
    line: fc.option(hex(1, 6), { nil: null }),
    account: fc.option(hex(3, 16), { nil: null }),
    otherAccount: hex(3, 16),
    dataAccountChoice: fc.constantFrom('none', 'same', 'other'),
    data,
    extended,
    timestamp: fc.option(timestamp, { nil: null }),
    crcForm: fc.constantFrom('ascii', 'binary') as fc.Arbitrary<'ascii' | 'binary'>,
    keySize: fc.constantFrom(0, 16, 24, 32),
    keyBytes: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    padSource: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    // A central DC-09 output's `pad`: more pad bytes, up to what the length field holds.
    padTo: fc.constantFrom(undefined, 16, 64, 256, 1024),
  })
  .map((drawn) => {
    const encrypted = drawn.keySize > 0;
    const key = encrypted ? drawn.keyBytes.subarray(0, drawn.keySize) : undefined;
    const dataAccount = drawn.dataAccountChoice === 'none' ? null : drawn.dataAccountChoice === 'same' ? (drawn.account ?? drawn.otherAccount) : drawn.otherAccount;
    const message: Dc09EncodeInput = {
      token: drawn.token, encrypted, seq: drawn.seq, receiver: drawn.receiver, line: drawn.line, account: drawn.account,
      dataAccount, data: drawn.data, extended: drawn.extended,
      // An encrypted frame must carry a timestamp.
      timestamp: encrypted ? (drawn.timestamp ?? Date.UTC(2024, 0, 1)) : drawn.timestamp,
      crcForm: drawn.crcForm,
      ...(key === undefined ? {} : { key, random: (n: number) => Uint8Array.from({ length: n }, (_, i) => drawn.padSource[i % 16]!) }),
      ...(drawn.padTo === undefined ? {} : { padTo: drawn.padTo }),
    };
    return { message, key };
  });

/** The quirks the spec names for the fields drawn, in the order the decoder meets them. */
function expectedQuirks({ crcForm, account, dataAccount }: Dc09EncodeInput): string[] {
  const quirks: string[] = [];
  if (crcForm === 'binary') quirks.push('binary-crc');
  if (account == null) quirks.push('no-header-account');
  if (account != null && dataAccount != null && account !== dataAccount) quirks.push('data-account-differs');
  return quirks;
}

const KEY_16 = Buffer.from('0123456789ABCDEF', 'latin1');

describe('decodeDc09Frame is total', () => {
  test.prop([fc.uint8Array({ maxLength: 300 }), fc.boolean()])('returns a result for arbitrary bytes', (bytes, strict) => {
    const result = decodeDc09Frame(bytes, { strict, keyFor: () => KEY_16, requireHeader: false });
    expect(typeof result.ok).toBe('boolean');
  });

  const tokens = fc.constantFrom('"SIA-DCS"', '"*SIA-DCS"', '"ADM-CID"', '"*NULL"', '"NAK"', '"ACK"', '"*ACK"', '"DUH"', '"RSP"', '"X"', '"');
  const bodyText = fc.string({ unit: fc.constantFrom(...'0123456789ABCDEFabRL#[]|_:,-*"NXx \x00\xff'), maxLength: 120 });
  /** A sequence number most of the time, so that bodies get past it. */
  const seq = fc.oneof(fc.stringMatching(/^\d{4}$/), fc.constant(''));
  test.prop([tokens, seq, bodyText, fc.constantFrom('ascii', 'binary') as fc.Arbitrary<'ascii' | 'binary'>, fc.boolean()])(
    'returns a result for CRC-valid frames with arbitrary bodies; only a plain answer read with blocklessAnswers may lack its data block',
    (token, number, rest, crcForm, loose) => {
      const options = { keyFor: () => KEY_16, looseIdFields: loose, blocklessAnswers: loose };
      const result = decodeDc09Frame(wrapDc09Body(Buffer.from(token + number + rest, 'latin1'), crcForm), options);
      expect(typeof result.ok).toBe('boolean');
      if (result.ok && result.value.quirks.includes('no-data-block')) {
        expect([loose, result.value.encrypted, ['ACK', 'NAK', 'DUH', 'RSP'].includes(result.value.token)]).toEqual([true, false, true]);
      }
    },
  );
});

describe('encodeDc09Frame → decodeDc09Frame', () => {
  test.prop([plainOrEncrypted])('gives back every field, plain and AES-128/192/256', ({ message, key }) => {
    const frame = encodeDc09Frame(message);
    if (message.encrypted && message.padTo !== undefined) {
      // Padded to a multiple of padTo, unless the length field (0xFFF, the hex doubling each byte) held no more.
      const text = Buffer.from(frame).toString('latin1');
      // The ciphertext (hex) runs from the header's '[' to the CR; a binary CRC byte may itself be '[', so from the last.
      const ciphertextBytes = (text.length - 1 - (text.lastIndexOf('[') + 1)) / 2;
      const bodyLength = frame.length - (message.crcForm === 'binary' ? 8 : 10);
      expect(ciphertextBytes % message.padTo === 0 || bodyLength > 0xfff - 32).toBe(true);
    }
    const result = decodeDc09Frame(frame, { keyFor: () => key });
    if (!result.ok) throw new Error(`${result.error.code}: ${result.error.message}`);
    expect(result.value).toEqual({
      token: message.token,
      encrypted: message.encrypted,
      seq: message.seq,
      receiver: message.receiver,
      line: message.line,
      account: message.account,
      dataAccount: message.dataAccount,
      data: message.data,
      // The encoder writes text byte for byte (latin1); a value whose bytes happen to be UTF-8 reads as UTF-8.
      extended: Object.fromEntries(Object.entries(message.extended ?? {}).map(([letter, value]) => [letter, textOfBytes(value)])),
      timestamp: message.timestamp,
      crcForm: message.crcForm,
      crcOverCr: false,
      osborneHoffman: false,
      quirks: expectedQuirks(message),
    });
  });
});

describe('Dc09Framer', () => {
  const stream = fc.array(plainOrEncrypted.map(({ message }) => Buffer.from(encodeDc09Frame(message))), { minLength: 1, maxLength: 6 });
  test.prop([stream, fc.array(fc.nat(), { maxLength: 12 })])('yields the same frames however the stream is split', (frames, cuts) => {
    const bytes = Buffer.concat(frames);
    const offsets = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
    const framer = new Dc09Framer({ maxFrameBytes: 4096 });
    const outputs = [0, ...offsets].flatMap((start, index) => framer.push(bytes.subarray(start, offsets[index] ?? bytes.length)));
    expect(outputs.map((output) => (output.kind === 'frame' ? Buffer.from(output.bytes).toString('hex') : output.reason))).toEqual(
      frames.map((frame) => frame.toString('hex')),
    );
    expect(framer.flush()).toEqual([]);
  });
});
