import { createCipheriv } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { interpretAnswer } from '../../../../src/codecs/dc09/transmitter.js';
import { stamp, wrap } from '../../../helpers/panel.js';

/**
 * Home Assistant's SIA integration (pysiaalarm, the most common DC-09 receiver outside monitoring centres) echoes a
 * missing R field as the text "None". Captured with tcpdump against HA core 2026.8 in
 * https://github.com/home-assistant/core/issues/180511 (Pyronix Enforcer sending `"NULL"0000L0#1409[]…`):
 *   24CC0016"ACK"0000None…   — CRC 24CC and length 0x16 are exactly those of `"ACK"0000NoneL0#1409[]`.
 * The DC-09 output sends no R field unless `receiver` is configured, so every ACK such a receiver gives it reads like
 * this. Read as `invalid`, the delivered event was resent until retries ran out and the path was reported down.
 */
describe('DC-09 output reading a pysiaalarm / Home Assistant ACK', () => {
  const ack = (): Buffer => Buffer.from('\n24CC0016"ACK"0000NoneL0#1409[]\r', 'latin1');
  const forwarded = { seq: '0000', encrypted: false };

  it('counts the ACK with the right sequence number although its R field reads "None"', () => {
    expect(interpretAnswer(ack(), forwarded)).toMatchObject({ kind: 'ack' });
  });

  it('still proves it is an answer: a wrong CRC is invalid, another sequence number stale', () => {
    const corrupted = ack();
    corrupted[1] = 0x33; // CRC 34CC
    expect(interpretAnswer(corrupted, forwarded)).toMatchObject({ kind: 'invalid', detail: expect.stringContaining('DC09_CRC_MISMATCH') });
    expect(interpretAnswer(wrap('"ACK"0001NoneL0#1409[]'), forwarded).kind).toBe('stale');
    expect(interpretAnswer(wrap('"NAK"0000NoneL0#1409[]'), forwarded).kind).toBe('nak');
  });

  it('the simulator, checking as a panel does, still refuses it', () => {
    const asPanel = { ...forwarded, echo: { account: '1409', receiver: null, line: '0' } };
    expect(interpretAnswer(ack(), asPanel)).toMatchObject({ kind: 'invalid', detail: expect.stringContaining('ID fields') });
  });

  describe('its encrypted ACK (ASCII "0" pad, no "|", R field "None")', () => {
    const key = Buffer.from('0123456789ABCDEF', 'latin1');
    const time = Date.UTC(2026, 11, 6, 4, 0, 0);
    const encryptedAck = (under: Buffer): Buffer => {
      const content = `]${stamp(time)}`;
      const cipher = createCipheriv('aes-128-cbc', under, Buffer.alloc(16)).setAutoPadding(false);
      const hex = Buffer.concat([cipher.update('0'.repeat(16 - (content.length % 16)) + content, 'latin1'), cipher.final()]).toString('hex');
      return wrap(`"*ACK"0000NoneL0#1409[${hex}`);
    };

    it('counts for the output when it decrypts under the key, and not under another', () => {
      expect(interpretAnswer(encryptedAck(key), { seq: '0000', encrypted: true, key })).toMatchObject({ kind: 'ack', encrypted: true, receiverTime: time });
      const other = Buffer.from('FEDCBA9876543210', 'latin1');
      expect(interpretAnswer(encryptedAck(other), { seq: '0000', encrypted: true, key }).kind).toBe('invalid');
    });

    it('is refused by the simulator', () => {
      const asPanel = { seq: '0000', encrypted: true, key, echo: { account: '1409', receiver: null, line: '0' } };
      expect(interpretAnswer(encryptedAck(key), asPanel).kind).toBe('invalid');
    });
  });
});

/**
 * artis101/sia-dc09-dev-receiver (src/main.rs `build_reply`), a receiver made for testing DC-09 senders, answers
 * `"ACK"<seq>[R…]L0` with neither account nor data block (its own test: `"ACK"0042L0`). Its CRC and length are right.
 * For a plain frame that ACK proves as much as any plain ACK (all are keyless); an encrypted frame still needs an *ACK.
 */
describe('DC-09 output reading the ACK of artis101/sia-dc09-dev-receiver', () => {
  it('counts its ACK without a data block for the right sequence number, and only that', () => {
    expect(interpretAnswer(wrap('"ACK"0042L0'), { seq: '0042', encrypted: false })).toMatchObject({ kind: 'ack' });
    expect(interpretAnswer(wrap('"ACK"0042R12L0'), { seq: '0042', encrypted: false })).toMatchObject({ kind: 'ack' });
    expect(interpretAnswer(wrap('"ACK"0041L0'), { seq: '0042', encrypted: false }).kind).toBe('stale');
    expect(interpretAnswer(wrap('"DUH"0042L0'), { seq: '0042', encrypted: false }).kind).toBe('duh');
  });

  it('refuses it for an encrypted frame, and the simulator refuses it as a panel would', () => {
    const key = Buffer.from('0123456789ABCDEF', 'latin1');
    expect(interpretAnswer(wrap('"ACK"0042L0'), { seq: '0042', encrypted: true, key }).kind).toBe('invalid');
    const asPanel = { seq: '0042', encrypted: false, echo: { account: '1409', receiver: null, line: '0' } };
    expect(interpretAnswer(wrap('"ACK"0042L0'), asPanel).kind).toBe('invalid');
  });
});
