import { describe, expect, it } from 'vitest';
import { SURGARD_ACK, SURGARD_NAK } from '../../../src/codecs/surgard.js';
import { MemoryOutbox } from '../../../src/outbox/memory-outbox.js';
import { Counters } from '../../../src/observability/counters.js';
import { serialReceiver } from '../../helpers/serial-receiver.js';

const DC4 = '\u0014';

/** A Sur-Gard receiver with two NAKs before acceptance: what `packet` got as its first answer, and what was stored. */
async function receive(packet: string, options: { account?: string } = {}) {
  const outbox = new MemoryOutbox();
  outbox.registerOutputs(['probe']);
  const receiver = serialReceiver(outbox, { maxNaks: 2, ...options });
  const outcome = await receiver.handlePacket(Buffer.from(packet, 'latin1'), '/dev/ttyS0');
  return { answer: outcome.reply?.[0], stored: outbox.pending('probe', 10).map((e) => e.event) };
}

describe('SerialReceiver: Sur-Gard packets a receiver may send as configured', () => {
  // Were they refused, the receiver would be NAKed twice and the third copy stored as `unrecognized`.
  it('stores a duress whose header carries a 2-digit line (RRLL) at the first copy', async () => {
    const { answer, stored } = await receive(`50110 181234E12101001${DC4}`);
    expect(answer).toBe(SURGARD_ACK);
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ category: 'duress', duress: true, code: { value: '121' }, line: '10' });
  });

  // Noise, or the stale start of a packet the receiver broke off, glued before a packet within the second: it was
  // NAKed, and noise that keeps coming (a byte every second) glued itself to every resend, until the receiver gave up.
  it('stores a packet after bytes glued before it at the first copy, the bytes dropped', async () => {
    for (const packet of [`x501100 181234E13001001${DC4}`, `\u0000\u0000501100 181234E13001001${DC4}`, `5011 1812501100 181234E13001001${DC4}`]) {
      const { answer, stored } = await receive(packet);
      expect(answer, JSON.stringify(packet)).toBe(SURGARD_ACK);
      expect(stored).toEqual([expect.objectContaining({ category: 'burglary', account: '1234', line: '100', quirks: ['leading-noise-dropped'] })]);
    }
    expect((await receive(`~~101000           @    ${DC4}`)).answer).toBe(SURGARD_ACK);
  });

  it('stores once a packet read past glued bytes and its clean resend after a lost ACK', async () => {
    const outbox = new MemoryOutbox();
    outbox.registerOutputs(['probe']);
    const receiver = serialReceiver(outbox);
    for (const copy of [`x501100 181234E12101001${DC4}`, `501100 181234E12101001${DC4}`]) {
      expect((await receiver.handlePacket(Buffer.from(copy, 'latin1'), '/dev/ttyS0')).reply?.[0]).toBe(SURGARD_ACK);
    }
    expect(outbox.pending('probe', 10).map((e) => e.event.category)).toEqual(['duress']);
  });

  // The receiver missed the ACK of a stored packet and resends it; noise garbles that copy, which is NAKed; the next
  // copy is clean. The garbled copy began a streak of its own, so the clean one was stored a second time.
  it('stores once a packet whose resend after a lost ACK was garbled, NAKed and sent again', async () => {
    const outbox = new MemoryOutbox();
    outbox.registerOutputs(['probe']);
    const receiver = serialReceiver(outbox);
    const answers = [];
    for (const copy of [`501100 181234E13001001${DC4}`, `501100 181234E1300\u00001001${DC4}`, `501100 181234E13001001${DC4}`]) {
      answers.push((await receiver.handlePacket(Buffer.from(copy, 'latin1'), '/dev/ttyS0')).reply?.[0]);
    }
    expect(answers).toEqual([SURGARD_ACK, SURGARD_NAK, SURGARD_ACK]);
    expect(outbox.pending('probe', 10).map((e) => e.event.category)).toEqual(['burglary']);
  });

  // Sur-Gard's "Force SIA Zone Number" is off by default: a panel's `NriHA` reaches the automation as sent.
  it('stores a hold-up whose SIA data has an ri without digits at the first copy', async () => {
    const { answer, stored } = await receive(`S01001[#1234|NriHA]${DC4}`);
    expect(answer).toBe(SURGARD_ACK);
    expect(stored[0]).toMatchObject({ category: 'holdup', duress: true, code: { value: 'HA' }, quirks: ['empty-modifier', 'no-slash-before-code'] });
  });

  // Bosch D6600 Computer Interface Manual §3.1.22: `h S r r L [ data ] t`, an S packet without an account block.
  it('stores a hold-up from an S packet without an account block under the account configured for the port', async () => {
    const { answer, stored } = await receive(`S011[Nri1/HA05]${DC4}`, { account: '9000' });
    expect(answer).toBe(SURGARD_ACK);
    expect(stored[0]).toMatchObject({ category: 'holdup', duress: true, code: { value: 'HA' }, account: '9000', quirks: ['no-account'] });
  });

  // D6600 Computer Interface Manual §3.0 Table 2: in D6500 mode lines 16-32 and groups are one letter, G to Y.
  it.each(['H', 'Y'])('stores a hold-up from a D6600 line written %s at the first copy', async (line) => {
    const { answer, stored } = await receive(`S01${line}[#1234|Nri1/HA05]${DC4}`);
    expect(answer).toBe(SURGARD_ACK);
    expect(stored[0]).toMatchObject({ category: 'holdup', duress: true, code: { value: 'HA' }, line });
  });

  // D6600 Computer Interface Manual §3.1.4: message type a, `h a r r l s a a a a 1 8 Q X Y Z G G C C C t`.
  // D6500 Computer Interface Manual §4.1.1: a type 1 test report cannot be told from a Sur-Gard protocol 1 restore
  // with a 1-digit line. A copy reads the same, so NAKs would only delay it: stored at once with its text, ACKed.
  it('stores a D6500 type 1 message it cannot tell from protocol 1 as unrecognized with its text, ACKed at the first copy', async () => {
    const { answer, stored } = await receive(' 1011      1234 R   E\u0014', { account: '9000' });
    expect(answer).toBe(SURGARD_ACK);
    expect(stored).toEqual([expect.objectContaining({ category: 'unrecognized', raw: ' 1011      1234 R   E\\x14', code: null })]);
    expect(stored[0]!.reasons[0]).toContain('SURGARD_AMBIGUOUS');
  });

  it('stores a D6600 Contact ID duress (message type a) at the first copy', async () => {
    const { answer, stored } = await receive(`a011 123418112101001${DC4}`);
    expect(answer).toBe(SURGARD_ACK);
    expect(stored[0]).toMatchObject({ category: 'duress', duress: true, code: { value: '121' }, account: '1234' });
  });
});

describe('SerialReceiver: lines of a one-way receiver output', () => {
  // Honeywell MX8000 guide §8.5.4, Figure 8-4: the 685 computer output `RG AAAA 18 QXYZ GG FCCC`, no check digit.
  it('stores an Ademco 685 Contact ID keypad duress line as a duress', async () => {
    const outbox = new MemoryOutbox();
    outbox.registerOutputs(['probe']);
    await serialReceiver(outbox, { protocol: 'contact-id-lines', account: '9000' }).handlePacket(Buffer.from('11 1234 18 E121 01 U001', 'latin1'), '/dev/ttyS0');
    expect(outbox.pending('probe', 10).map((e) => e.event)).toEqual([
      expect.objectContaining({ category: 'duress', duress: true, code: expect.objectContaining({ value: '121' }), account: '1234', receiver: '1', line: '1' }),
    ]);
  });
});

describe('SerialReceiver: heartbeats of a receiver in Ademco 685 mode', () => {
  // Silent Knight VisorAlarm Plus 2U manual, appendix IV p.71: in its Ademco 685 format the heartbeat is
  // `[H]RLsOKAYs@s[T]`, LF header and CR terminator. Stored, it would reach every output as `unrecognized` each time.
  // Ademco 685 manual, Computer Interface: its periodic test message is answered like any message, by an ACK.
  it('counts a 685 heartbeat line as a link test, stores nothing and ACKs it', async () => {
    const outbox = new MemoryOutbox();
    outbox.registerOutputs(['probe']);
    const counters = new Counters();
    const outcome = await serialReceiver(outbox, { protocol: 'contact-id-lines', account: '9000', counters }).handlePacket(Buffer.from('11 OKAY @ ', 'latin1'), '/dev/ttyS0');
    expect(outcome).toMatchObject({ events: [], reply: Uint8Array.of(SURGARD_ACK) });
    expect(outcome.error).toBeUndefined();
    expect(outbox.pending('probe', 10)).toEqual([]);
    expect(counters.get('heartbeats_total', { input: 'receiver' })).toBe(1);
  });
});

// Ademco 685 manual, Computer Interface (ACK/NACK handshake option), and the Honeywell MX8000 guide §8.4.6: the
// computer answers each message, CR-terminated, with ACK (0x06) or NACK (0x15); without an ACK the receiver sends it
// again, then declares "computer fail". The Silent Knight VisorAlarm in 685 emulation does the same with `p=1`.
describe('SerialReceiver: an Ademco 685 receiver waiting for the computer\'s ACK (contact-id-lines)', () => {
  const DURESS_685 = Buffer.from('11 1234 18 E121 01 U001', 'latin1');

  function lines685(outbox: MemoryOutbox, clock = { now: () => 1_000 }) {
    outbox.registerOutputs(['probe']);
    return serialReceiver(outbox, { protocol: 'contact-id-lines', account: '9000', clock });
  }

  it('ACKs a line once it is stored', async () => {
    const outbox = new MemoryOutbox();
    const outcome = await lines685(outbox).handlePacket(DURESS_685, '/dev/ttyS0');
    expect(outcome.reply).toEqual(Uint8Array.of(SURGARD_ACK));
    expect(outbox.pending('probe', 10).map((e) => e.event)).toEqual([expect.objectContaining({ category: 'duress' })]);
  });

  it('ACKs a line no codec reads once it is stored as unrecognized: a one-way panel would never send it again', async () => {
    const outbox = new MemoryOutbox();
    const outcome = await lines685(outbox).handlePacket(Buffer.from('11 1234 18 E1X0 01 C001', 'latin1'), '/dev/ttyS0');
    expect(outcome.reply).toEqual(Uint8Array.of(SURGARD_ACK));
    expect(outbox.pending('probe', 10).map((e) => e.event.category)).toEqual(['unrecognized']);
  });

  it('NAKs a line it could not store, so the receiver sends it again', async () => {
    const outbox = new MemoryOutbox();
    outbox.append = () => Promise.reject(new Error('ENOSPC: no space left on device'));
    const outcome = await lines685(outbox).handlePacket(DURESS_685, '/dev/ttyS0');
    expect(outcome.reply).toEqual(Uint8Array.of(SURGARD_NAK));
  });

  it('stores a line resent after a lost ACK once, and ACKs the copy too', async () => {
    const outbox = new MemoryOutbox();
    let now = 1_000;
    const receiver = lines685(outbox, { now: () => now });
    await receiver.handlePacket(DURESS_685, '/dev/ttyS0');
    now += 2_000;
    const copy = await receiver.handlePacket(DURESS_685, '/dev/ttyS0');
    expect(copy).toMatchObject({ reply: Uint8Array.of(SURGARD_ACK), duplicate: true });
    expect(outbox.pending('probe', 10)).toHaveLength(1);
  });

  // No public source has a receiver or panel waiting for an answer to a SIA DC-03 text line.
  it('leaves sia-dc03-lines unanswered', async () => {
    const outbox = new MemoryOutbox();
    outbox.registerOutputs(['probe']);
    const outcome = await serialReceiver(outbox, { protocol: 'sia-dc03-lines' }).handlePacket(Buffer.from('#123456 NHA0012', 'latin1'), '/dev/ttyS0');
    expect(outcome).toMatchObject({ reply: null, events: [expect.objectContaining({ category: 'holdup' })] });
  });
});

describe('SerialReceiver.carriesDuress', () => {
  it('tells a duress or hold-up frame from others by decoding and classifying it, storing nothing', () => {
    const outbox = new MemoryOutbox();
    outbox.registerOutputs(['probe']);
    const lines = serialReceiver(outbox, { protocol: 'contact-id-lines' });
    const carries = (text: string) => lines.carriesDuress(Buffer.from(text, 'latin1'));
    // DC-05 lines (protocols.md §1.2): 121 duress, 131 perimeter burglary.
    expect([carries('1234181121010014'), carries('1234181131010158'), carries('not a line')]).toEqual([true, false, false]);
    expect(serialReceiver(outbox).carriesDuress(Buffer.from(`S011[Nri1/HA05]${DC4}`, 'latin1'))).toBe(true);
    expect(outbox.pending('probe', 10)).toEqual([]);
  });

  it('reads a line past its control bytes, as handling it would (a BREAK reads as 0x00)', () => {
    const lines = serialReceiver(new MemoryOutbox(), { protocol: 'contact-id-lines' });
    expect(lines.carriesDuress(Buffer.from('\u00001234181121010014', 'latin1'))).toBe(true);
  });
});

describe('SerialReceiver: a frame that does not decode but names a duress or hold-up', () => {
  async function receiveOn(protocol: 'surgard' | 'sia-dc03-lines' | 'contact-id-lines', frame: string) {
    const outbox = new MemoryOutbox();
    outbox.registerOutputs(['probe']);
    const receiver = serialReceiver(outbox, { protocol, account: '9000', maxNaks: 2 });
    const outcome = await receiver.handlePacket(Buffer.from(frame, 'latin1'), '/dev/ttyS0');
    return { answer: outcome.reply?.[0], stored: outbox.pending('probe', 10).map((e) => e.event), carries: receiver.carriesDuress(Buffer.from(frame, 'latin1')) };
  }
  const suspected = (code: string) => expect.arrayContaining([expect.stringMatching(new RegExp(`^duress-suspected: .*${code}`))]);

  // Were it NAKed, the hold-up would wait two resends; stored unrecognized, local outputs would receive it.
  it('stores a Sur-Gard S packet whose SIA data is refused as the hold-up it names, ACKed at the first copy', async () => {
    const { answer, stored, carries } = await receiveOn('surgard', `S01100[#1234|Nri1/HA05*]${DC4}`);
    expect(answer).toBe(SURGARD_ACK);
    expect(stored).toEqual([expect.objectContaining({ duress: true, account: '1234', code: expect.objectContaining({ value: 'HA' }), quirks: suspected('HA') })]);
    expect(carries).toBe(true);
  });

  it('stores a refused SIA line naming a hold-up as that hold-up', async () => {
    const { stored, carries } = await receiveOn('sia-dc03-lines', '#1234|Nri1/HA05*');
    expect(stored).toEqual([expect.objectContaining({ duress: true, account: '1234', quirks: suspected('HA') })]);
    expect(carries).toBe(true);
  });

  it('stores a SIA line naming a hold-up in lowercase as that hold-up, on a line or inside a Sur-Gard packet, read or refused', async () => {
    for (const [protocol, frame, quirk] of [
      ['sia-dc03-lines', '#1234|Nri1/ha05', 'miscased-code'],
      ['surgard', `S01100[#1234|Nri1/hA05*]${DC4}`, 'duress-suspected: SIA HA in the content (written hA)'],
    ] as const) {
      const { stored, carries } = await receiveOn(protocol, frame);
      expect(stored).toEqual([expect.objectContaining({ duress: true, account: '1234', code: expect.objectContaining({ value: 'HA' }), quirks: expect.arrayContaining([quirk]) })]);
      expect(carries).toBe(true);
    }
  });

  it('stores a Contact ID line whose check digit is wrong as the duress it may be', async () => {
    const { stored, carries } = await receiveOn('contact-id-lines', '1234181121010010');
    expect(stored).toEqual([expect.objectContaining({ duress: true, account: '1234', code: expect.objectContaining({ value: '121' }), quirks: suspected('121') })]);
    expect(carries).toBe(true);
  });

  // Fire-Lite MS-5UD/MS-10UD manual, Appendix A.2 "Ademco Contact ID Typical Printout" from a central station receiver
  // such as the Ademco 685: `11:28 03/25 11 7777 E110 00 C001` (time, date, receiver/line, account, QXYZ GG CCCC).
  it('stores a 685 printout line naming a hold-up as that hold-up, with its account and zone', async () => {
    const { stored, carries } = await receiveOn('contact-id-lines', '11:28 03/25 11 7777 E122 00 C005');
    expect(stored).toEqual([expect.objectContaining({ category: 'holdup', duress: true, account: '7777', zone: expect.objectContaining({ number: 5 }), quirks: suspected('122') })]);
    expect(carries).toBe(true);
  });

  // MX8000 guide §8.5.4 Figure 8-4 layout with its contact/user letter garbled.
  it('stores a refused 685 computer output line naming a duress as that duress', async () => {
    const { stored, carries } = await receiveOn('contact-id-lines', '11 1234 18 E121 01 X001');
    expect(stored).toEqual([expect.objectContaining({ category: 'duress', duress: true, account: '1234', quirks: suspected('121') })]);
    expect(carries).toBe(true);
  });

  // A byte of line noise (or one an attacker on the cable adds) inside the receiver's Contact ID packet (protocols.md
  // §4.1: `501100 181234E12101001` is a duress): it was NAKed twice, then stored unrecognized, which local outputs receive.
  it('stores a Sur-Gard Contact ID packet (5, Q, D6600 a) garbled by a noise byte as the duress it names, ACKed at the first copy', async () => {
    for (const [packet, account] of [
      [`501100 181234E121\u0000010\u0008\u000001${DC4}`, '1234'],
      [`Q01100 580012345678E12101\u00ff001${DC4}`, '0012345678'],
      [`a011 123418E1210\u00001001${DC4}`, '1234'],
    ] as const) {
      const { answer, stored, carries } = await receiveOn('surgard', packet);
      expect(answer, JSON.stringify(packet)).toBe(SURGARD_ACK);
      expect(stored).toEqual([expect.objectContaining({ category: 'duress', duress: true, account, code: expect.objectContaining({ value: '121' }), quirks: suspected('121') })]);
      expect(carries).toBe(true);
    }
  });

  // A Sur-Gard packet writes the Contact ID qualifier as E, R or P (SGAUTO p.19). Refused (a protocol id the codec
  // does not read, a message type other than 18, a garbled zone), it was NAKed twice, then stored unrecognized, unlabelled.
  it('stores a refused Sur-Gard packet carrying a Contact ID duress as that duress, ACKed at the first copy', async () => {
    for (const packet of [`2011 181234E12101001${DC4}`, `501001 171234E12101001${DC4}`, `501001 181234E12101X01${DC4}`]) {
      const { answer, stored, carries } = await receiveOn('surgard', packet);
      expect(answer, JSON.stringify(packet)).toBe(SURGARD_ACK);
      expect(stored).toEqual([expect.objectContaining({ category: 'duress', duress: true, account: '1234', code: expect.objectContaining({ value: '121' }), quirks: suspected('121') })]);
      expect(carries).toBe(true);
    }
  });

  // MLR2-DG manual p.39 protocol 3 layout `3RRLssssAAAAAAXXYYYY` with a noise byte in its zone.
  it('stores a Sur-Gard SIA protocol 1 packet garbled by a noise byte as the hold-up it names', async () => {
    const { answer, stored } = await receiveOn('surgard', `301100    123456HA00\u000005${DC4}`);
    expect(answer).toBe(SURGARD_ACK);
    expect(stored).toEqual([expect.objectContaining({ category: 'holdup', duress: true, code: expect.objectContaining({ value: 'HA' }), quirks: suspected('HA') })]);
  });

  // Noise within a second of a line is glued to it (the framer has no start byte for 16-digit lines): the line was
  // stored unrecognized, which local outputs receive.
  it('stores a Contact ID line with noise glued before its account as the duress it names', async () => {
    for (const line of ['~~1234181121010014', 'Z!1234181121010014', 'x91234181121010014']) {
      const { stored, carries } = await receiveOn('contact-id-lines', line);
      expect(stored, JSON.stringify(line)).toEqual([expect.objectContaining({ category: 'duress', duress: true, code: expect.objectContaining({ value: '121' }), quirks: suspected('121') })]);
      expect(carries).toBe(true);
    }
  });

  // A noise byte with its top bit set (no Contact ID line has one) inside the line: it was kept, so the line stayed
  // unreadable and the duress code after it was not found; stored unrecognized, which local outputs receive.
  it('reads a Contact ID line past a noise byte with its top bit set, as past a control byte', async () => {
    const { stored, carries } = await receiveOn('contact-id-lines', '12341811\u00ff21010014');
    expect(stored).toEqual([expect.objectContaining({ category: 'duress', duress: true, account: '1234', code: expect.objectContaining({ value: '121' }), quirks: ['control-bytes-dropped'] })]);
    expect(carries).toBe(true);
  });

  it('still stores refused content without such a code as unrecognized', async () => {
    const { stored, carries } = await receiveOn('sia-dc03-lines', '#1234|Nri1/BA05*');
    expect(stored).toEqual([expect.objectContaining({ category: 'unrecognized', duress: false })]);
    expect(carries).toBe(false);
  });
});
