import { describe, expect, it } from 'vitest';
import { decodeDc09Frame } from '../../../src/codecs/dc09/frame.js';
import { testDc09Receiver } from '../../helpers/dc09-receiver.js';
import { panelFrame, wrap } from '../../helpers/panel.js';

/**
 * A FOCUS FC-7688 panel ("SIA2013 and CID") reports with an account that is not hex, as captured in
 * https://github.com/eavanvalkenburg/pysiaalarm/issues/36:
 *   7A28002F"ADM-CID"6616R0L0#foc7688[#foc7688|1351 01 000]
 * The CRC (7A28) and length (0x2F) are right: this is a whole frame the panel sent, not line noise. Dropping it
 * unanswered leaves the panel retrying forever and publishes nothing, so the same panel's duress never arrives.
 * A frame whose account is not on the allowlist is at most an unknown account: NAKed, with its duress content still
 * published unverified (README "Refused frames never hide a duress").
 */
describe('DC-09 input: a real panel whose account is not hex', () => {
  const captured = (): Buffer => Buffer.from('\n7A28002F"ADM-CID"6616R0L0#foc7688[#foc7688|1351 01 000]\r', 'latin1');

  it('the captured FC-7688 frame is not dropped unanswered', async () => {
    const { receiver } = testDc09Receiver({ input: 'ip', accounts: null });
    const outcome = await receiver.handleFrame(captured(), 'tcp');
    expect(outcome.error?.code).not.toBe('DC09_FORMAT_INVALID');
    expect(outcome.answer).not.toBe('none');
  });

  it('a duress from that panel is published (unverified when the account is not allowlisted)', async () => {
    const { receiver } = testDc09Receiver({ input: 'ip', accounts: [{ account: '1234' }] });
    const outcome = await receiver.handleFrame(wrap('"ADM-CID"6617R0L0#foc7688[#foc7688|1121 01 003]'), 'tcp');
    expect(outcome.events.some((event) => event.duress)).toBe(true);
    expect(outcome.events[0]).toMatchObject({ verified: false, account: 'foc7688' });
  });

  it('an allowlisted account is verified in either letter case and its ACK echoes the account as sent', async () => {
    const { receiver, outbox } = testDc09Receiver({ input: 'ip', accounts: [{ account: 'FOC7688' }] });
    const outcome = await receiver.handleFrame(captured(), 'tcp');
    expect(outcome.answer).toBe('ack');
    expect(outcome.events[0]).toMatchObject({ verified: true, account: 'foc7688', quirks: expect.arrayContaining(['non-hex-account']) });
    const ack = decodeDc09Frame(outcome.reply!);
    expect(ack.ok && ack.value).toMatchObject({ token: 'ACK', seq: '6616', receiver: '0', line: '0', account: 'foc7688' });
    // The same frame again is a retransmit: ACKed, stored once.
    const again = await receiver.handleFrame(captured(), 'tcp');
    expect([again.answer, again.duplicate]).toEqual(['ack', true]);
    expect(outbox.backlog('probe')).toBe(1);
  });

  it('a keyed account of that kind decrypts under its key and is verified', async () => {
    const key = Buffer.from('00112233445566778899AABBCCDDEEFF', 'hex');
    const { receiver } = testDc09Receiver({ input: 'ip', accounts: [{ account: 'FOC7688', key }] });
    const frame = panelFrame({ token: 'ADM-CID', seq: '0007', account: 'foc7688', data: '#foc7688|1121 01 003', key });
    const outcome = await receiver.handleFrame(frame, 'tcp');
    expect(outcome.answer).toBe('ack');
    expect(outcome.events[0]).toMatchObject({ verified: true, duress: true });
  });

  it('strict mode refuses the account with a NAK naming the quirk, not silence', async () => {
    const { receiver } = testDc09Receiver({ input: 'ip', accounts: null, strict: true });
    const outcome = await receiver.handleFrame(captured(), 'tcp');
    expect(outcome.answer).toBe('nak');
    expect(outcome.error?.message).toContain('non-hex-account');
  });
});
