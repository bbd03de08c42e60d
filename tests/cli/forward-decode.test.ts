import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { contactIdFieldsForEvent } from '../../src/codecs/forward-codes.js';
import { encodeSurgardContactId } from '../../src/codecs/surgard.js';
import { buildPanelFrame, eventFrameContent } from '../../src/codecs/dc09/transmitter.js';
import { testEvent } from '../helpers/output-events.js';
import { CLI } from '../helpers/gateway-process.js';

const run = promisify(execFile);
const KEY_HEX = '00112233445566778899AABBCCDDEEFF';

/** `panelbridge decode --hex …`: the events it prints. */
async function decode(bytes: Uint8Array, key?: string): Promise<Array<Record<string, unknown>>> {
  const { stdout } = await run(process.execPath, [CLI, 'decode', '--hex', Buffer.from(bytes).toString('hex'), ...(key === undefined ? [] : ['--key', key, '--key-encoding', 'hex'])]);
  return stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
}

const duress = testEvent({ category: 'duress', code: { scheme: 'contact-id', value: '121', description: 'Duress' }, user: { number: 12 }, partition: { number: 2 } });

describe('what the forwarding outputs send, read back by `panelbridge decode`', () => {
  it.each(['adm-cid', 'sia-dcs'] as const)('an encrypted DC-09 %s duress decodes to a duress of the same user', async (format) => {
    const forwarded = eventFrameContent(duress, format, '9876')!;
    const key = Buffer.from(KEY_HEX, 'hex');
    const frame = buildPanelFrame({ content: forwarded.content, extended: forwarded.extended, seq: '0001', account: '9876', now: Date.now(), random: randomBytes, key });
    const [event] = await decode(frame, KEY_HEX);
    expect(event).toMatchObject({ category: 'duress', duress: true, user: { number: 12 }, partition: { number: 2 }, zone: null, account: '9876' });
  });

  it('a Sur-Gard automation packet decodes to a duress of the same user', async () => {
    const packet = encodeSurgardContactId({ receiver: '01', line: '001', account: '1234', fields: contactIdFieldsForEvent(duress)!.fields });
    const [event] = await decode(Buffer.from(packet, 'latin1'));
    expect(event).toMatchObject({ protocol: 'surgard', category: 'duress', duress: true, user: { number: 12 }, account: '1234' });
  });
});
