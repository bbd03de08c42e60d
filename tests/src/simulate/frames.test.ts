import { describe, expect, it } from 'vitest';
import { frameContent, parseSimEvent, type SimEvent } from '../../../src/simulate/events.js';
import { buildPanelFrame, buildSurgardPacket, interpretAnswer, interpretSurgardAnswer, SequenceCounter } from '../../../src/simulate/frames.js';
import { panelFrame, parseAnswer, stamp, wrap, type PanelFrame } from '../../helpers/panel.js';

const KEY = Buffer.from('00112233445566778899AABBCCDDEEFF', 'hex');

function named(text: string): SimEvent {
  const parsed = parseSimEvent(text);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.event;
}

describe('simulator building blocks', () => {
  it('numbers frames 0001..9999 and wraps to 0001', () => {
    const sequence = new SequenceCounter(9998);
    expect([sequence.next(), sequence.next(), sequence.next()]).toEqual(['9998', '9999', '0001']);
    expect(new SequenceCounter().next()).toBe('0001');
  });

  it('builds frames the independent test panel accepts (CRC, length) and, encrypted, decrypts', () => {
    const content = frameContent(named('holdup'), '4567', { zone: 5 }, 'adm-cid');
    const plain = parseAnswer(Buffer.from(buildPanelFrame({ content, seq: '0042', account: '4567', now: Date.UTC(2024, 0, 2, 3, 4, 5), random: (n) => Buffer.alloc(n, 0x41) })));
    expect(plain).toMatchObject({ crcValid: true, token: 'ADM-CID', seq: '0042' });
    expect(plain.body).toBe('"ADM-CID"0042L0#4567[#4567|1122 01 005]_03:04:05,01-02-2024');
    const sealed = parseAnswer(Buffer.from(buildPanelFrame({ content, seq: '0043', account: '4567', key: KEY, now: Date.UTC(2024, 0, 2, 3, 4, 5), random: (n) => Buffer.alloc(n, 0x41) })), KEY);
    expect(sealed).toMatchObject({ crcValid: true, token: '*ADM-CID', seq: '0043' });
    expect(sealed.plaintext).toMatch(/\|#4567\|1122 01 005\]_03:04:05,01-02-2024$/);
  });

  it('reads answers as a panel: ACK by sequence, stale ACKs skipped, NAK with receiver time, bad CRC invalid', () => {
    const sent = { seq: '0007', encrypted: false, account: '1234', receiver: null, line: '0' };
    expect(interpretAnswer(wrap('"ACK"0007L0#1234[]'), sent)).toMatchObject({ kind: 'ack' });
    expect(interpretAnswer(wrap('"ACK"0006L0#1234[]'), sent)).toMatchObject({ kind: 'stale' });
    expect(interpretAnswer(wrap('"DUH"0007L0#1234[]'), sent)).toMatchObject({ kind: 'duh' });
    expect(interpretAnswer(wrap(`"NAK"0000R0L0A0[]${stamp(Date.UTC(2024, 0, 2, 12))}`), sent)).toEqual({ kind: 'nak', receiverTime: Date.UTC(2024, 0, 2, 12) });
    const corrupted = Buffer.from(wrap('"ACK"0007L0#1234[]'));
    corrupted[1] = corrupted[1] === 0x30 ? 0x31 : 0x30;
    expect(interpretAnswer(corrupted, sent)).toMatchObject({ kind: 'invalid' });
  });

  it('decrypts an encrypted ACK with the key and refuses a plain ACK to an encrypted frame', () => {
    const sent = { seq: '0009', encrypted: true, key: KEY, account: '4567', receiver: null, line: '0' };
    const time = Date.UTC(2024, 5, 6, 7, 8, 9);
    const encryptedAck = panelFrame({ token: 'ACK' as PanelFrame['token'], seq: '0009', account: '4567', data: '', key: KEY, time });
    expect(interpretAnswer(encryptedAck, sent)).toEqual({ kind: 'ack', encrypted: true, receiverTime: time, fixedPad: true });
    expect(interpretAnswer(wrap('"ACK"0009L0#4567[]'), sent)).toMatchObject({ kind: 'invalid', detail: 'plain ACK to an encrypted frame' });
  });

  it('plays Sur-Gard packets as in SGAUTO p.19 and reads 0x06/0x15', () => {
    // protocols.md §4.1: `501100 181234E12101001` + DC4 is duress, group 01, user 001, receiver 01, line 100.
    expect(buildSurgardPacket({ event: named('duress'), account: '1234', address: { user: 1 }, receiver: '01', line: '100' })).toBe('501100 181234E12101001\x14');
    expect(buildSurgardPacket({ event: named('null'), account: '', address: {}, receiver: '01', line: '001' })).toBe('101000' + ' '.repeat(11) + '@    \x14');
    expect(buildSurgardPacket({ event: named('raw:S011[#1234|NPA501]'), account: '', address: {}, receiver: '01', line: '001' })).toBe('S011[#1234|NPA501]\x14');
    expect([0x06, 0x15, 0x41].map((b) => interpretSurgardAnswer(Uint8Array.of(b)).kind)).toEqual(['ack', 'nak', 'invalid']);
  });
});
