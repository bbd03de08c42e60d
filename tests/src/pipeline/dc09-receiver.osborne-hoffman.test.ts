import { describe, expect, it } from 'vitest';
import { testDc09Receiver } from '../../helpers/dc09-receiver.js';

/**
 * Osborne-Hoffman framing as Aritech/ATS panels send it (pysiaalarm PR #44 and issue #49): a fixed CRC 0101, the
 * account only in the data block, an OH tail after it, answers `ACK\r`/`NAK\r`. Nothing authenticates such a
 * line, so an input takes it only with `osborneHoffman: true` and from an account on its allowlist.
 */
const HOLDUP = Buffer.from(`\n01010053"SIA-DCS"0007R0075L0001[#001465|Nri1/HA7*'TELLER 3'NM]7C9677F21948CC12|#001465\r\x00`, 'latin1');
const HEARTBEAT = Buffer.from('\nSR0001L0001 001465XX \r', 'latin1');

function receiver(osborneHoffman: boolean | undefined, accounts: Array<{ account: string }> | null = [{ account: '001465' }]) {
  const { receiver: r, counters } = testDc09Receiver({ input: 'ats', accounts, ...(osborneHoffman === undefined ? {} : { osborneHoffman }) });
  return { r, counters };
}

const text = (bytes: Uint8Array | null) => (bytes === null ? null : Buffer.from(bytes).toString('latin1'));

describe('Osborne-Hoffman lines on a DC-09 input', () => {
  it('allowed: the hold-up is stored and ACKed as an OH receiver answers', async () => {
    const { r } = receiver(true);
    const outcome = await r.handleFrame(HOLDUP, 'tcp', '192.0.2.7:4000');
    expect(outcome.answer).toBe('ack');
    expect(text(outcome.reply)).toBe('ACK\r');
    expect(outcome.events).toHaveLength(1);
    expect(outcome.events[0]).toMatchObject({ account: '001465', category: 'holdup', duress: true, verified: true, text: 'TELLER 3', zone: { number: 7 } });
    expect(outcome.events[0]!.quirks).toEqual(expect.arrayContaining(['osborne-hoffman', 'trailing-nul', 'xsia-text']));
    expect(outcome.events[0]!.extended['ohTail']).toBe('7C9677F21948CC12|#001465');
  });

  it.each([
    ['off by default', undefined, [{ account: '001465' }]],
    ['turned off', false, [{ account: '001465' }]],
    ['allowed, but the account is not on the allowlist', true, [{ account: '9999' }]],
  ] as const)('%s: NAK, and the hold-up is still decoded and published, verified: false', async (_name, allowed, accounts) => {
    const { r, counters } = receiver(allowed, [...accounts]);
    const outcome = await r.handleFrame(HOLDUP, 'tcp');
    expect(outcome.answer).toBe('nak');
    expect(text(outcome.reply)).toBe('NAK\r');
    expect(outcome.error?.code).toBe('DC09_OH_NOT_ALLOWED');
    expect(outcome.events).toHaveLength(1);
    expect(outcome.events[0]).toMatchObject({ category: 'holdup', duress: true, verified: false, unverifiedReason: 'osborne-hoffman-not-allowed' });
    expect(counters.get('frames_rejected_total', { input: 'ats', code: 'DC09_OH_NOT_ALLOWED' })).toBe(1);
  });

  it('the OH heartbeat is ACKed when allowed; when not, NAKed and anything published from it is unverified', async () => {
    const allowed = await receiver(true).r.handleFrame(HEARTBEAT, 'tcp');
    expect({ answer: allowed.answer, reply: text(allowed.reply), events: allowed.events.length }).toEqual({ answer: 'ack', reply: 'ACK\r', events: 0 });
    const refused = await receiver(false).r.handleFrame(HEARTBEAT, 'tcp');
    expect({ answer: refused.answer, reply: text(refused.reply) }).toEqual({ answer: 'nak', reply: 'NAK\r' });
    for (const event of refused.events) expect(event).toMatchObject({ verified: false, unverifiedReason: 'osborne-hoffman-not-allowed' });
  });

  /**
   * An ATS panel pads the account of its heartbeat with 'XX': the ATS100A of pysiaalarm issue #49 sends
   * 'SR0001L0001 072538XX ' beside '[#072538|Nri01/CL003…]', utcar's ATS2000IP 'SR0001L0001    001465XX    [ID…]' beside
   * '[#001465|…]'. Read as '072538XX', the heartbeat of an allowlisted panel was NAKed and credited to no account, so
   * the panel reported a failed link and the gateway missed its supervision.
   */
  it('the ATS heartbeat is ACKed and credited to the account its SIA lines carry', async () => {
    const traffic: string[] = [];
    const { receiver: r } = testDc09Receiver({ input: 'ats', accounts: [{ account: '072538' }], osborneHoffman: true, onTraffic: (account) => traffic.push(account) });
    const heartbeat = await r.handleFrame(Buffer.from('SR0001L0001 072538XX \r', 'latin1'), 'tcp');
    expect({ answer: heartbeat.answer, reply: text(heartbeat.reply) }).toEqual({ answer: 'ack', reply: 'ACK\r' });
    const closing = await r.handleFrame(Buffer.from(`\n01010039"SIA-DCS"0002R0001L0001[#072538|Nri01/CL003*''NM]\r`, 'latin1'), 'tcp');
    expect(closing.answer).toBe('ack');
    expect(traffic).toEqual(['072538', '072538']);
  });

  // tdeckers/utcar, written against a live ATS2000IP: "there might be NULL chars mixed in" the heartbeat's padding.
  it('a heartbeat with NULs among its padding spaces is ACKed, not left unanswered', async () => {
    const outcome = await receiver(true).r.handleFrame(Buffer.from('\nSR0001L0001\x00\x00\x00\x00001465XX\x00\x00 \x00[ID5B9490D8]\r', 'latin1'), 'tcp');
    expect({ answer: outcome.answer, reply: text(outcome.reply), events: outcome.events.length }).toEqual({ answer: 'ack', reply: 'ACK\r', events: 0 });
  });

  it('a DC-09 frame with a wrong CRC that is not 0101 is still refused without an answer', async () => {
    const forged = Buffer.from(HOLDUP.toString('latin1').replace('0101', '0102'), 'latin1');
    const outcome = await receiver(true).r.handleFrame(forged, 'tcp');
    expect(outcome.answer).toBe('none');
    expect(outcome.error?.code).toBe('DC09_CRC_MISMATCH');
  });
});
