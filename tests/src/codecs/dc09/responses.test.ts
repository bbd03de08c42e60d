import { createDecipheriv } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeDc09Frame, wrapDc09Body } from '../../../../src/codecs/dc09/frame.js';
import type { Dc09Message } from '../../../../src/codecs/dc09/frame.js';
import { encodeAck, encodeDuh, encodeDuhForFrame, encodeNak, formatDc09Timestamp } from '../../../../src/codecs/dc09/responses.js';

const latin1 = (text: string): Buffer => Buffer.from(text, 'latin1');
const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('latin1');
const zeros = (n: number): Uint8Array => new Uint8Array(n);

function decoded(frame: Uint8Array, key?: Uint8Array): Dc09Message {
  const result = decodeDc09Frame(frame, { keyFor: () => key });
  if (!result.ok) throw new Error(`${result.error.code}: ${result.error.message}`);
  return result.value;
}

// schmupu/ioBroker.sia test/siaCommandENC, key from test/siatest.txt (ASCII '0123456789ABCDEF')
const IOB_KEY = latin1('0123456789ABCDEF');
const IOB_ENCRYPTED =
  '\nAEAE0137"*SIA-DCS"0018L0#12345[4cea0b8eb4752a51724c2c55f3801a6e35cb21d25e014290c29995e7cdbbb4659747c1e185c3627db922513d6d5cbb33440d09eefa204e96d62c9c9fc6ffaa5abeccfce859dd540f74cba79c04a048a9b597c12b027f6366a3817d1dd6e26e2019d33075a67ab4a74221f57450070a7f0de890d087c64e76db6893c192ef5e16762ef9934bbfc516d041ad71c47d4dd0';
const NOW = Date.UTC(2018, 9, 26, 7, 50, 30);

describe('formatDc09Timestamp', () => {
  it('writes HH:MM:SS,MM-DD-YYYY in UTC', () => {
    expect(formatDc09Timestamp(Date.UTC(2025, 8, 24, 16, 20, 1))).toBe('16:20:01,09-24-2025');
    expect(formatDc09Timestamp(Date.UTC(2006, 1, 5, 3, 4, 5))).toBe('03:04:05,02-05-2006');
  });
});

describe('encodeNak', () => {
  it('matches the fioletoven/dc09 parse_nak_test NAK byte for byte for the same time', () => {
    expect(text(encodeNak(Date.UTC(2025, 8, 24, 16, 20, 1)))).toBe('\nE4410025"NAK"0000R0L0A0[]_16:20:01,09-24-2025\r');
  });

  it('can answer with a binary CRC', () => {
    const nak = encodeNak(Date.UTC(2025, 8, 24, 16, 20, 1), 'binary');
    expect([...nak.subarray(1, 3)]).toEqual([0xe4, 0x41]);
    expect(decoded(nak)).toMatchObject({ token: 'NAK', crcForm: 'binary', timestamp: Date.UTC(2025, 8, 24, 16, 20, 1) });
  });
});

describe('encodeAck', () => {
  it('answers the Pyronix NULL with the ACK Pyronix accepted (home-assistant/core#180511)', () => {
    const request = decoded(latin1('\nEA740027"NULL"0000L0#1409[]_20:38:07,08-27-2026\r'));
    expect(text(encodeAck(request, { now: NOW, random: zeros }))).toBe('\n59890012"ACK"0000L0#1409[]\r');
  });

  it('echoes sequence, receiver, line and account, with a valid CRC', () => {
    const request = decoded(latin1('\nF4D20029"SIA-DCS"0001RF3L77#1234[#1234|NRR|Atest]\r'));
    const ack = decoded(encodeAck(request, { now: NOW, random: zeros }));
    expect(ack).toMatchObject({ token: 'ACK', encrypted: false, seq: '0001', receiver: 'F3', line: '77', account: '1234', data: '', quirks: [] });
  });

  it('answers a binary-CRC request with a binary CRC (Trikdis E16, pysiaalarm#52)', () => {
    const request = decoded(Buffer.concat([Buffer.of(0xd1, 0x4b), latin1('0029"NULL"0000R1L1#9413[]_23:05:28,08-30-2023')]));
    const ack = encodeAck(request, { now: NOW, random: zeros });
    expect(text(ack.subarray(3, 7))).toBe('0014'); // "ACK"0000R1L1#9413[] is 20 bytes
    expect(decoded(ack)).toMatchObject({ token: 'ACK', crcForm: 'binary', receiver: '1', line: '1', account: '9413' });
  });

  it('answers an encrypted request with *ACK that decrypts to pad|]_timestamp under its key', () => {
    const request = decoded(latin1(IOB_ENCRYPTED), IOB_KEY);
    // All '|' and ']' bytes from the random source must not survive as pad bytes.
    const ack = encodeAck(request, { now: NOW, key: IOB_KEY, random: (n) => new Uint8Array(n).fill(0x7c).fill(0x5d, n >> 1) });
    expect(decoded(ack, IOB_KEY)).toMatchObject({
      token: 'ACK', encrypted: true, seq: '0018', line: '0', account: '12345', data: '', timestamp: NOW, quirks: [],
    });

    const ciphertext = Buffer.from(text(ack).slice(text(ack).indexOf('[') + 1, -1), 'hex');
    const decipher = createDecipheriv('aes-128-cbc', IOB_KEY, Buffer.alloc(16)).setAutoPadding(false);
    const plaintext = Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('latin1');
    const tail = `|]_${formatDc09Timestamp(NOW)}`;
    expect(plaintext.endsWith(tail)).toBe(true);
    const pad = plaintext.slice(0, -tail.length);
    expect(pad.length).toBe(16 - (tail.length % 16));
    expect(pad).not.toMatch(/[|[\]]/);
  });

  it('refuses to answer an encrypted request without its key', () => {
    const request = decoded(latin1(IOB_ENCRYPTED), IOB_KEY);
    expect(() => encodeAck(request, { now: NOW, random: zeros })).toThrow(/DC09_KEY_MISSING/);
  });

  it('answers Osborne-Hoffman lines as OH receivers do: the bare token and a CR (pysiaalarm PR #44)', () => {
    const heartbeat = decoded(latin1('SR0001L0001    006969XX    [ID00000000]'));
    expect(text(encodeAck(heartbeat, { now: NOW, random: zeros }))).toBe('ACK\r');
    const event = decoded(latin1(`\n01010053"SIA-DCS"0007R0075L0001[#001465|NRP000*'DECKERS'NM]7C9677F21948CC12|#001465\r`));
    expect(text(encodeAck(event, { now: NOW, random: zeros }))).toBe('ACK\r');
    expect(text(encodeDuh(event))).toBe('DUH\r');
  });
});

describe('encodeDuh', () => {
  it('echoes the request unencrypted, even for an encrypted request', () => {
    const request = decoded(latin1(IOB_ENCRYPTED), IOB_KEY);
    const duh = decoded(encodeDuh(request));
    expect(duh).toMatchObject({ token: 'DUH', encrypted: false, seq: '0018', line: '0', account: '12345', data: '', timestamp: null, quirks: [] });
  });

  it('answers in the request\'s CRC form', () => {
    const request = decoded(Buffer.concat([Buffer.of(0xd1, 0x4b), latin1('0029"NULL"0000R1L1#9413[]_23:05:28,08-30-2023')]));
    expect(decoded(encodeDuh(request)).crcForm).toBe('binary');
  });
});

describe('encodeDuhForFrame', () => {
  it('echoes seq, R, L and account of a frame with a token the decoder does not handle, in its CRC form', () => {
    const body = latin1('"NEW-TOKEN"0400R1L2#1234[]');
    for (const crcForm of ['ascii', 'binary'] as const) {
      const duh = decoded(encodeDuhForFrame(wrapDc09Body(body, crcForm)));
      expect(duh).toMatchObject({ token: 'DUH', seq: '0400', receiver: '1', line: '2', account: '1234', crcForm });
    }
  });

  it('echoes an account that is not hex (FOCUS FC-7688)', () => {
    const duh = decoded(encodeDuhForFrame(wrapDc09Body(latin1('"NEW-TOKEN"0400R0L0#foc7688[]'))));
    expect(duh).toMatchObject({ token: 'DUH', seq: '0400', account: 'foc7688' });
  });

  it('echoes the sequence number of a frame whose ID fields are malformed, and no ID fields', () => {
    const duh = decoded(encodeDuhForFrame(wrapDc09Body(latin1('"NEW-TOKEN"0400L0#12[#12|Nri1/BA01]'))));
    expect(duh).toMatchObject({ token: 'DUH', seq: '0400', receiver: null, line: null, account: null });
  });
});
