import { describe, expect, it } from 'vitest';
import { dc09Player, type Dc09Panel } from '../../../adapters/simulate/panel.js';
import { AnswerQueue, type Link } from '../../../adapters/outputs/dc09-link.js';
import { SequenceCounter } from '../../../src/simulate/frames.js';
import { frameContent } from '../../../src/simulate/events.js';
import { wrap } from '../../helpers/panel.js';

/** A receiver that answers every frame with `answer`. */
function receiverAnswering(answer: Buffer): Link {
  const answers = new AnswerQueue();
  return { answers, send: async () => void setImmediate(() => answers.push(answer)), close: async () => answers.close() };
}

async function play(answer: Buffer, ids: Pick<Dc09Panel, 'receiver' | 'line'> = { receiver: undefined, line: undefined }) {
  const panel: Dc09Panel = { account: '1234', key: undefined, ...ids, timeoutMs: 1_000, sequence: new SequenceCounter() };
  const content = frameContent({ kind: 'named', name: 'holdup' }, '1234', { zone: 5 }, 'adm-cid');
  return dc09Player(receiverAnswering(answer), panel, { content, event: 'holdup zone 5' }).play(); // sends "ADM-CID"0001…#1234[…]
}

/** README "Simulator": it "checks each answer as a panel would (CRC and length, the echoed sequence number, …)". */
describe('simulate: answers a panel would refuse', () => {
  it('reports ACK for an ACK that echoes the frame', async () => {
    expect((await play(wrap('"ACK"0001L0#1234[]'))).answer).toBe('ack');
    expect((await play(wrap('"ACK"0001R1FL2#1234[]'), { receiver: '1F', line: '2' })).answer).toBe('ack');
  });

  it('does not report ACK for an answer whose length field is wrong', async () => {
    const ack = wrap('"ACK"0001L0#1234[]'); // \n + CRC + "0012" + body + \r
    ack[8] = 0x39; // length "0019" for the 0x12-byte body; the CRC still matches
    expect((await play(ack)).answer).toBe('invalid');
  });

  it('does not report ACK for an ACK that echoes another account, receiver or line (protocols.md §3.7)', async () => {
    expect((await play(wrap('"ACK"0001L0#9999[]'))).answer).toBe('invalid');
    expect((await play(wrap('"ACK"0001L0#1234[]'), { receiver: '1F', line: '2' })).answer).toBe('invalid');
    expect((await play(wrap('"ACK"0001R1FL0#1234[]'), { receiver: '1F', line: '2' })).answer).toBe('invalid');
  });
});
