import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeDc09Frame } from '../../src/codecs/dc09/frame.js';
import { encodeAck, encodeNak } from '../../src/codecs/dc09/responses.js';
import { ackFrame, isAck, loadFrame } from './load-client.js';
import { panelFrame, parseAnswer } from '../helpers/panel.js';

// The throughput bench's lean load client must speak the same DC-09 as the test panel and the receiver.
describe('bench load client', () => {
  it('builds the same frame as the independent test panel, and the codec decodes it', () => {
    for (const seq of [1, 42, 9999]) {
      const frame = loadFrame('100123', seq);
      const seqText = String(seq).padStart(4, '0');
      const data = `#100123|Nri1/BA${String(seq % 100).padStart(2, '0')}`;
      expect(frame.equals(panelFrame({ token: 'SIA-DCS', seq: seqText, account: '100123', data }))).toBe(true);
      const decoded = decodeDc09Frame(frame, { strict: true, keyFor: () => undefined });
      expect(decoded.ok && decoded.value.seq).toBe(seqText);
    }
  });

  it("counts the receiver's ACK, and nothing else, as an ACK", () => {
    const decoded = decodeDc09Frame(loadFrame('100123', 7), { strict: true, keyFor: () => undefined });
    if (!decoded.ok) throw new Error(decoded.error.message);
    const ack = Buffer.from(encodeAck(decoded.value, { now: Date.now(), random: randomBytes }));
    expect(isAck(ack)).toBe(true);
    expect(isAck(Buffer.from(encodeNak(Date.now())))).toBe(false);
    const corrupted = Buffer.from(ack);
    corrupted.writeUInt8(corrupted.readUInt8(corrupted.length - 3) ^ 0x01, corrupted.length - 3);
    expect(isAck(corrupted)).toBe(false);
    expect(isAck(ack.subarray(0, ack.length - 1))).toBe(false);
  });

  it('answers with a CRC-valid ACK from its calibration frame', () => {
    const answer = parseAnswer(ackFrame());
    expect(answer).toMatchObject({ token: 'ACK', crcValid: true });
    expect(isAck(ackFrame())).toBe(true);
  });
});
