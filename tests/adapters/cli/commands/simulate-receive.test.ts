import { describe, expect, it } from 'vitest';
import { formatReceivedRecord } from '../../../../adapters/cli/commands/simulate-receive.js';

describe('the printed line', () => {
  it('names the answer, the event and its numbers', () => {
    const line = formatReceivedRecord({
      receivedAt: '2026-01-01T00:00:00.000Z',
      transport: 'tcp',
      peer: '127.0.0.1:5000',
      token: '*ADM-CID',
      account: '9876',
      seq: '0001',
      answer: 'ack',
      events: [{ category: 'duress', duress: true, qualifier: 'new', code: { scheme: 'contact-id', value: '121', description: 'Duress' }, partition: { number: 1 }, zone: null, user: { number: 5 }, occurredAt: null, extended: { S: 'Branch 12' }, verified: true }],
    });
    expect(line).toBe('2026-01-01T00:00:00.000Z tcp 127.0.0.1:5000 *ADM-CID #9876 seq 0001 → ACK  duress (DURESS) (Contact ID 121 Duress) area 1 zone - user 5 [SBranch 12]');
  });
});
