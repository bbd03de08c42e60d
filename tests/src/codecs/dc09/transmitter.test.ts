import { createCipheriv } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { interpretAnswer, TakenAcks } from '../../../../src/codecs/dc09/transmitter.js';
import { stamp, wrap } from '../../../helpers/panel.js';

const KEY = Buffer.from('0123456789ABCDEF', 'latin1');
const OTHER_KEY = Buffer.from('FEDCBA9876543210', 'latin1');
const sent = { seq: '0001', encrypted: true, key: KEY, echo: { account: '9876', receiver: null, line: '0' } };

/** An `*ACK` whose plaintext is given, encrypted with node:crypto (PKCS#7 padding on when asked). */
function encryptedAck(plaintext: string, key: Buffer, seq = '0001', pkcs7 = false, ids = 'L0#9876'): Buffer {
  const cipher = createCipheriv('aes-128-cbc', key, Buffer.alloc(16)).setAutoPadding(pkcs7);
  const hex = Buffer.concat([cipher.update(Buffer.from(plaintext, 'latin1')), cipher.final()]).toString('hex');
  return wrap(`"*ACK"${seq}${ids}[${hex}`);
}

/** `wrap` with the length field rewritten, the CRC still right. */
function withLength(frame: Buffer, length: string): Buffer {
  const copy = Buffer.from(frame);
  copy.write(length, 5, 'latin1'); // LF, 4 CRC characters, then the length
  return copy;
}

describe('encrypted ACKs from receivers that stray from the template', () => {
  const time = Date.UTC(2026, 11, 6, 4, 0, 0);
  // ioBroker.sia: 0x00 pad sized for "|]_ts", then "|] _ts" (a space), encrypted with PKCS#7 padding on.
  const iobPlaintext = (ts: string) => `${'\0'.repeat(16 - (`|]${ts}`.length % 16))}|] ${ts}`;
  // pysiaalarm: ASCII '0' pad and no '|'.
  const pysiaPlaintext = (ts: string) => `${'0'.repeat(16 - (`]${ts}`.length % 16))}]${ts}`;

  it('accepts ioBroker.sia\'s *ACK (0x00 pad, a space before the timestamp, PKCS#7 tail)', () => {
    expect(interpretAnswer(encryptedAck(iobPlaintext(stamp(time)), KEY, '0001', true), sent)).toMatchObject({ kind: 'ack', encrypted: true, receiverTime: time });
  });

  it('accepts pysiaalarm\'s *ACK (no | after the pad)', () => {
    expect(interpretAnswer(encryptedAck(pysiaPlaintext(stamp(time)), KEY), sent)).toMatchObject({ kind: 'ack', encrypted: true, receiverTime: time });
  });

  it('tells a fixed pad (ioBroker.sia 0x00, pysiaalarm \'0\': a receiver whose ACKs of one second are alike) from a random one', () => {
    expect(interpretAnswer(encryptedAck(iobPlaintext(stamp(time)), KEY, '0001', true), { ...sent, echo: undefined })).toMatchObject({ kind: 'ack', fixedPad: true });
    expect(interpretAnswer(encryptedAck(pysiaPlaintext(stamp(time)), KEY), { ...sent, echo: undefined })).toMatchObject({ kind: 'ack', fixedPad: true });
    expect(interpretAnswer(encryptedAck(`0000000000|]${stamp(time)}`, KEY), sent)).toMatchObject({ kind: 'ack', fixedPad: true });
    expect(interpretAnswer(encryptedAck(`k3(Qz!a9Pw|]${stamp(time)}`, KEY), sent)).toMatchObject({ kind: 'ack', fixedPad: false });
  });

  it('attack: the same answers under another key are not ACKs', () => {
    expect(interpretAnswer(encryptedAck(iobPlaintext(stamp(time)), OTHER_KEY, '0001', true), sent).kind).toBe('invalid');
    expect(interpretAnswer(encryptedAck(pysiaPlaintext(stamp(time)), OTHER_KEY), sent).kind).toBe('invalid');
  });

  it('an off-template *ACK for another sequence number is stale', () => {
    expect(interpretAnswer(encryptedAck(iobPlaintext(stamp(time)), KEY, '0002', true), sent).kind).toBe('stale');
  });

  it('an off-template *ACK that echoes another account, R or L is no ACK', () => {
    for (const ids of ['L0#9999', 'R1L0#9876', 'L1#9876', 'L#9876']) {
      expect(interpretAnswer(encryptedAck(iobPlaintext(stamp(time)), KEY, '0001', true, ids), sent), ids).toMatchObject({ kind: 'invalid' });
    }
    expect(interpretAnswer(encryptedAck(iobPlaintext(stamp(time)), KEY, '0001', true, 'L0#9876'), sent).kind).toBe('ack');
  });

  it('attack: an *ACK timestamped before the frame went out (recorded, renumbered) is no ACK, on or off the template', () => {
    const since = { ...sent, ackNotBefore: time + 1_000 };
    const standard = (ts: string) => `${'p'.repeat(16 - (`|]${ts}`.length % 16))}|]${ts}`;
    for (const plaintext of [standard, iobPlaintext, pysiaPlaintext]) {
      const recorded = encryptedAck(plaintext(stamp(time)), KEY, '0001', plaintext === iobPlaintext);
      expect(interpretAnswer(recorded, since)).toMatchObject({ kind: 'invalid', detail: expect.stringContaining('replayed') });
      expect(interpretAnswer(recorded, { ...sent, ackNotBefore: time })).toMatchObject({ kind: 'ack', receiverTime: time });
    }
  });

  it('an off-template *ACK whose length field is wrong is no ACK', () => {
    expect(interpretAnswer(withLength(encryptedAck(iobPlaintext(stamp(time)), KEY, '0001', true), '0FFF'), sent)).toMatchObject({ kind: 'invalid' });
  });
});

describe('answers a panel refuses (protocols.md §3.3, §3.7)', () => {
  const plain = { seq: '0001', encrypted: false, echo: { account: '12AB', receiver: '5', line: '3' } };

  it('an answer whose length field does not count its bytes, in hex or in decimal, is invalid', () => {
    const ack = wrap('"ACK"0001R5L3#12AB[]'); // 0x14 = 20 bytes
    expect(interpretAnswer(ack, plain).kind).toBe('ack');
    expect(interpretAnswer(withLength(ack, '0019'), plain)).toMatchObject({ kind: 'invalid', detail: expect.stringContaining('DC09_LENGTH_MISMATCH') });
    expect(interpretAnswer(withLength(ack, '0020'), plain)).toMatchObject({ kind: 'invalid', detail: expect.stringContaining('DC09_LENGTH_MISMATCH') });
  });

  it('an ACK or DUH must echo R, L and the account (its hex in either case); a NAK carries R0L0A0 whatever it answers', () => {
    expect(interpretAnswer(wrap('"ACK"0001R5L3#12ab[]'), plain).kind).toBe('ack');
    expect(interpretAnswer(wrap('"DUH"0001R5L3#12AB[]'), plain).kind).toBe('duh');
    for (const body of ['"ACK"0001R5L3#9999[]', '"ACK"0001L3#12AB[]', '"ACK"0001R6L3#12AB[]', '"ACK"0001R5L0#12AB[]', '"ACK"0001R5L3[]', '"DUH"0001R5L3#9999[]']) {
      expect(interpretAnswer(wrap(body), plain), body).toMatchObject({ kind: 'invalid' });
    }
    expect(interpretAnswer(wrap('"ACK"0001R5L3#9999[]'), plain).detail).toBe("ACK does not echo the frame's #12AB (answered #9999)");
    expect(interpretAnswer(wrap(`"NAK"0000R0L0A0[]${stamp(Date.UTC(2024, 0, 2, 12))}`), plain)).toEqual({ kind: 'nak', receiverTime: Date.UTC(2024, 0, 2, 12) });
  });

  // The forwarding output: a centre's ACK for the right sequence number is a delivery, however it writes the rest.
  it('without `echo`, an ACK for the sequence number counts whatever its length field and R, L and account say', () => {
    const forwarded = { seq: '0001', encrypted: false };
    expect(interpretAnswer(withLength(wrap('"ACK"0001R5L3#12AB[]'), '0020'), forwarded).kind).toBe('ack');
    expect(interpretAnswer(wrap('"ACK"0001L0#9999[]'), forwarded).kind).toBe('ack');
    expect(interpretAnswer(wrap('"ACK"0002R5L3#12AB[]'), forwarded).kind).toBe('stale');
  });
});

describe('an *ACK taken once, replayed with a cipher block of the attacker\'s in front', () => {
  it('is refused as replayed: under CBC the blocks after the added one decrypt as they did, pad|]_timestamp and all', () => {
    const time = Date.now();
    // A receiver whose pad runs over more than one block (any length fills the block, §3.6): its pad|]_time is 3 blocks.
    const randomPad = Buffer.from(Array.from({ length: 16 + 16 - (`|]${stamp(time)}`.length % 16) }, (_, i) => 0x41 + ((i * 7) % 26))).toString('latin1');
    const taken = encryptedAck(`${randomPad}|]${stamp(time)}`, KEY, '0001');
    const plain = { seq: '0001', encrypted: true, key: KEY };
    const ack = interpretAnswer(taken, plain);
    expect(ack).toMatchObject({ kind: 'ack', fixedPad: false });
    const acks = new TakenAcks(60_000);
    expect(acks.take(taken, ack, { seq: '0001', sentAt: time }, time)).toBeUndefined();

    const hex = /\[([0-9a-f]+)\r$/i.exec(taken.toString('latin1'))![1]!;
    const replay = wrap(`"*ACK"0002L0#9876[${'5A'.repeat(16)}${hex}`);
    const replayed = interpretAnswer(replay, { ...plain, seq: '0002' });
    // Read as an ACK to 0002 (the pad it has now is garbage, the tail is the taken one's), only TakenAcks stands.
    expect(replayed).toMatchObject({ kind: 'ack', receiverTime: Math.floor(time / 1000) * 1000 });
    expect(acks.take(replay, replayed, { seq: '0002', sentAt: time + 3_000 }, time + 3_100)).toMatchObject({ kind: 'invalid', refusal: 'replayed' });
  });
});

describe('an off-template *ACK replayed with a cipher block of the attacker\'s after it', () => {
  const time = Date.now();
  // pysiaalarm (Home Assistant's receiver): ASCII '0' pad, no '|', so its *ACK is read by the off-template path.
  const pysiaPlaintext = (ts: string) => `${'0'.repeat(16 - (`]${ts}`.length % 16))}]${ts}`;
  const plain = { seq: '0002', encrypted: true, key: KEY, ackNotBefore: time - 20_000 };

  it('is no ACK: the ]_timestamp must end the plaintext (but for PKCS#7 padding), not sit before 16 bytes of noise', () => {
    const taken = encryptedAck(pysiaPlaintext(stamp(time)), KEY, '0001', false, 'L0#9876');
    expect(interpretAnswer(taken, { ...plain, seq: '0001' })).toMatchObject({ kind: 'ack', fixedPad: true });
    const hex = /\[([0-9a-f]+)\r$/i.exec(taken.toString('latin1'))![1]!;
    const replay = wrap(`"*ACK"0002L0#9876[${hex}${'5A'.repeat(16)}`);
    expect(interpretAnswer(replay, plain)).toMatchObject({ kind: 'invalid' });
  });

  it('ioBroker.sia\'s *ACK, PKCS#7 padding after the timestamp, is still an ACK', () => {
    const iobPlaintext = `${'\0'.repeat(16 - (`|]${stamp(time)}`.length % 16))}|] ${stamp(time)}`;
    expect(interpretAnswer(encryptedAck(iobPlaintext, KEY, '0002', true), plain)).toMatchObject({ kind: 'ack', receiverTime: Math.floor(time / 1000) * 1000 });
  });
});
