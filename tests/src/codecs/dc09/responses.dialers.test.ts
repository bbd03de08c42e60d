import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeDc09Frame } from '../../../../src/codecs/dc09/frame.js';
import { encodeAck } from '../../../../src/codecs/dc09/responses.js';
import { fioletovenReads } from '../../../helpers/dc09-parsers.js';
import { panelFrame } from '../../../helpers/panel.js';

/**
 * The gateway's *ACK read by fioletoven/dc09's dialler (dialler/src/dialler.rs `process_ack_message`): parse_dc09
 * with its key, which needs a UTF-8 plaintext, then `validate` (the account and sequence number as sent). A *ACK it
 * cannot read is logged as an error, and the event counts as not delivered.
 */
describe('the *ACK, read by the fioletoven/dc09 dialler', () => {
  const key = Buffer.from('0123456789ABCDEF', 'latin1');
  const request = (() => {
    const decoded = decodeDc09Frame(panelFrame({ token: 'SIA-DCS', seq: '0042', account: '12AB', line: '0', data: '#12AB|Nri1/HA03', key }), { keyFor: () => key });
    if (!decoded.ok) throw new Error(decoded.error.message);
    return decoded.value;
  })();
  /** A random source whose bytes are all above 0x7F, as a share of any random source's are. */
  const highBytes = (n: number): Uint8Array => Buffer.alloc(n, 0xc3);

  it('decrypts to text and echoes the account and sequence number, whatever the random source gives', () => {
    for (const random of [highBytes, ...Array.from({ length: 20 }, () => randomBytes)]) {
      const read = fioletovenReads(encodeAck(request, { now: Date.now(), key, random }), key);
      expect(read).toMatchObject({ token: '*ACK', sequence: '0042', account: '12AB' });
      expect(read.timestamp).toMatch(/^\d\d:\d\d:\d\d,\d\d-\d\d-\d{4}$/);
    }
  });
});
