import { createCipheriv } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { interpretAnswer } from '../../../../src/codecs/dc09/transmitter.js';
import { stamp, wrap } from '../../../helpers/panel.js';

const KEY = Buffer.from('0123456789ABCDEF', 'latin1');
const OTHER_KEY = Buffer.from('FEDCBA9876543210', 'latin1');
const sent = { seq: '0001', encrypted: true, key: KEY };

/** An `*ACK` whose plaintext is given, encrypted with node:crypto (PKCS#7 padding on when asked). */
function encryptedAck(plaintext: string, key: Buffer, seq = '0001', pkcs7 = false): Buffer {
  const cipher = createCipheriv('aes-128-cbc', key, Buffer.alloc(16)).setAutoPadding(pkcs7);
  const hex = Buffer.concat([cipher.update(Buffer.from(plaintext, 'latin1')), cipher.final()]).toString('hex');
  return wrap(`"*ACK"${seq}L0#9876[${hex}`);
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

  it('attack: the same answers under another key are not ACKs', () => {
    expect(interpretAnswer(encryptedAck(iobPlaintext(stamp(time)), OTHER_KEY, '0001', true), sent).kind).toBe('invalid');
    expect(interpretAnswer(encryptedAck(pysiaPlaintext(stamp(time)), OTHER_KEY), sent).kind).toBe('invalid');
  });

  it('an off-template *ACK for another sequence number is stale', () => {
    expect(interpretAnswer(encryptedAck(iobPlaintext(stamp(time)), KEY, '0002', true), sent).kind).toBe('stale');
  });
});
