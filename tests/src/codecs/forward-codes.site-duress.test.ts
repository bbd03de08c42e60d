import { describe, expect, it } from 'vitest';
import { contactIdSignal } from '../../../src/codecs/contact-id.js';
import { eventFrameContent, type Dc09EventFormat } from '../../../src/codecs/dc09/transmitter.js';
import { contactIdFieldsForEvent } from '../../../src/codecs/forward-codes.js';
import { createIdSource } from '../../../src/model/ids.js';
import type { NormalizedEvent } from '../../../src/model/event.js';
import { emptySignal } from '../../../src/model/signal.js';
import { decodeFrame } from '../../../src/pipeline/decode-frame.js';
import { eventFromSignal, VERIFIED, type FrameOrigin } from '../../../src/pipeline/event-builder.js';
import { systemClock } from '../../../src/ports.js';
import { sitesSchema } from '../../../src/settings/sites.js';
import { wrapDc09Body } from '../../../src/codecs/dc09/frame.js';

/**
 * README "Classification": a generic 130 on a zone typed holdup, an opening by a user marked duress, Ajax's 423
 * duress disarm are duress/hold-up events. README "Forwarding to an alarm receiving centre": the DC-09 and Sur-Gard
 * outputs write the event back in the centre's vocabulary. The centre has no copy of the gateway's site rules, so
 * what it receives must still read as a duress or hold-up (the promise: downstream never receives an unrecognized
 * duress signal). Moved from the review reproducers (tests/review/classify-forward-site-duress.test.ts).
 */
const SITES = sitesSchema.parse([
  {
    id: 'bank-1',
    accounts: ['1234'],
    zones: [{ number: 5, name: 'Teller 1 hold-up button', type: 'holdup' }],
    users: [{ number: 12, name: 'Manager duress code', duress: true }],
  },
  { id: 'home-ajax', accounts: ['4321'], profile: 'ajax' },
]);
const gateway = { ids: createIdSource(systemClock), sites: () => SITES };
const centre = { ids: createIdSource(systemClock), sites: () => [] };
const origin: FrameOrigin = { input: 'panel', transport: 'tcp', receivedAt: Date.now(), raw: new Uint8Array(), trust: VERIFIED };

function cidEvent(account: string, q: '1' | '3', code: string, ccc: string): NormalizedEvent {
  const signal = contactIdSignal({ qualifier: q, event: code, group: '01', ccc }, { protocol: 'adm-cid', account, receiver: null, line: null });
  return eventFromSignal(signal, origin, gateway);
}

/** What the centre's receiver reads from the forwarded DC-09 content (it knows the standard tables only). */
function atTheCentre(event: NormalizedEvent, format: Dc09EventFormat): NormalizedEvent[] {
  const forwarded = eventFrameContent(event, format, '9876')!;
  const body = `"${forwarded.content.token}"0001R0L0#9876[#9876|${forwarded.content.data}]`;
  const decoded = decodeFrame(wrapDc09Body(body), {});
  if (!decoded.ok) throw new Error(decoded.error.message);
  return decoded.value.signals.map((s) => eventFromSignal(s, origin, centre));
}

const CASES: Array<[string, NormalizedEvent]> = [
  ['1 130 on zone 5 typed holdup (teller button on a generic zone)', cidEvent('1234', '1', '130', '005')],
  ['1 401 opening by user 12 marked duress (Paradox duress user)', cidEvent('1234', '1', '401', '012')],
  ['1 423 on an Ajax hub (duress disarm)', cidEvent('4321', '1', '423', '003')],
  ['SIA BA05 on zone 5 typed holdup', siaEvent('BA', 5)],
  ['SIA OP12 by user 12 marked duress', siaEvent('OP', 12)],
];

function siaEvent(code: string, address: number): NormalizedEvent {
  return eventFromSignal({ ...emptySignal('sia-dcs'), account: '1234', code: { scheme: 'sia', value: code }, partition: 1, address }, origin, gateway);
}

describe('forwarding keeps a duress that the site configuration or a vendor profile found', () => {
  for (const [name, event] of CASES) {
    for (const format of ['adm-cid', 'sia-dcs'] as const) {
      it(`${name}, forwarded as ${format}, still reads as duress at the centre`, () => {
        expect(event.duress).toBe(true);
        const back = atTheCentre(event, format);
        expect(back.map((e) => `${e.code?.value} ${e.category} duress=${e.duress}`)).toEqual([expect.stringMatching(/duress=true$/)]);
      });
    }
  }

  // The reviewer's first form of this test asked for qualifier 3; but 3 121 reads "duress restore" at a centre (the
  // alarm over), so a closing by the duress user goes as a new duress, and [I] says the panel reported a closing.
  it('a closing (3 401) by the duress user is forwarded as a new duress, never as an opening (disarm)', () => {
    const closing = cidEvent('1234', '3', '401', '012');
    expect(closing.duress).toBe(true);
    expect(contactIdFieldsForEvent(closing)!.fields).toMatchObject({ qualifier: '1', event: '121', ccc: '012' });
    const forwarded = eventFrameContent(closing, 'adm-cid', '9876')!;
    expect(forwarded.extended['I']).toMatch(/panel code Contact ID 401 .*closing/);
  });
});
