import { describe, expect, it } from 'vitest';
import { contactIdSignal } from '../../../src/codecs/contact-id.js';
import { contactIdFieldsForEvent } from '../../../src/codecs/forward-codes.js';
import { createIdSource } from '../../../src/model/ids.js';
import { eventFromSignal, VERIFIED, type FrameOrigin } from '../../../src/pipeline/event-builder.js';
import { systemClock } from '../../../src/ports.js';
import { sitesSchema } from '../../../src/settings/sites.js';

/**
 * Contact ID 121's CCC names a user: a duress with a zone and no user (a zone typed duress) sent as 121 would reach
 * the centre as `1 121 GG 000`, naming no one and nowhere. It goes as the silent hold-up 122 with its zone.
 */
const SITES = sitesSchema.parse([
  { id: 'bank-1', accounts: ['1234'], zones: [{ number: 5, name: 'Teller 1 duress pendant', type: 'duress' }] },
]);
const gateway = { ids: createIdSource(systemClock), sites: () => SITES };
const origin: FrameOrigin = { input: 'panel', transport: 'tcp', receivedAt: Date.now(), raw: new Uint8Array(), trust: VERIFIED };

function cidEvent(q: '1' | '3', code: string, ccc: string) {
  const signal = contactIdSignal({ qualifier: q, event: code, group: '01', ccc }, { protocol: 'adm-cid', account: '1234', receiver: null, line: null });
  return eventFromSignal(signal, origin, gateway);
}

describe('forwarding a duress found by a zone typed duress keeps its zone', () => {
  for (const code of ['122', '130']) {
    it(`1 ${code} 01 005 on zone 5 typed duress reaches a Contact ID centre naming zone 5`, () => {
      const event = cidEvent('1', code, '005');
      expect(event).toMatchObject({ category: 'duress', duress: true, zone: { number: 5 } });
      const forwarded = contactIdFieldsForEvent(event)!;
      expect(forwarded.fields).toMatchObject({ qualifier: '1', event: '122', ccc: '005' });
    });
  }
});
