import { describe, expect, it } from 'vitest';
import { accessReceiver } from '../../helpers/access-receiver.js';
import type { AccessMapping } from '../../../src/codecs/access-xml.js';

/**
 * Documents in which a duress stands where no reading of the input looks for it. Each must still arrive labelled
 * duress (security.md rule 1, README: "every signal that is or may be duress arrives labelled duress: true").
 */
const FEED: AccessMapping = { name: 'feed', match: 'Event', eventType: 'Event.Type', door: 'Event.Door', duressValues: ['DURESS'], grantedValues: ['GRANTED'], deniedValues: [] };
/** A mapping whose match names the container of a batch (quirk match-is-container). */
const BATCH: AccessMapping = { ...FEED, name: 'batch', match: 'Events', eventType: 'Events.Event.Type', door: 'Events.Event.Door' };

async function storedAfter(body: string | Uint8Array) {
  const { receiver, stored } = accessReceiver({ mappings: [FEED, BATCH] });
  const outcome = await receiver.handleBody(typeof body === 'string' ? Buffer.from(body) : body);
  return { outcome, stored: stored() };
}

const onvif = (topics: string[]) => `<NotificationMessage>${topics.map((topic) => `<Topic>${topic}</Topic>`).join('')}</NotificationMessage>`;

describe('a duress hidden in the document structure', () => {
  it('a second Topic after a benign one is read, not only the first', async () => {
    const { outcome } = await storedAfter(onvif(['tns1:AccessControl/AccessGranted/Credential', 'tns1:AccessControl/Duress']));
    expect(outcome.events.map((event) => [event.category, event.duress])).toEqual([
      ['access', false],
      ['duress', true],
    ]);
    expect(outcome.events[1]?.quirks).toContain('repeated-topic: 2 topics in one notification');
  });
});

describe('a duress the event type spells so that no reading of it matches', () => {
  it.each([
    ['full-width letters (NFKC folds them)', onvif(['tns1:AccessControl/Ｄｕｒｅｓｓ'])],
    ['a zero-width space inside the word', onvif(['tns1:AccessControl/Du\u200bress'])],
    ['a soft hyphen written as a character reference', onvif(['tns1:AccessControl/Du&#xAD;ress'])],
    ['Cyrillic letters that look Latin (е U+0435, ѕ U+0455)', onvif(['tns1:AccessControl/Dur\u0435\u0455s'])],
    ['a combining accent', onvif(['tns1:AccessControl/Du\u0301ress'])],
    ['a vendor value with a no-break space', '<Event><Type>DURESS&#160;ALARM</Type></Event>'],
  ])('%s', async (_how, body) => {
    const { outcome } = await storedAfter(body);
    expect(outcome.status).toBe(200);
    expect(outcome.events).toMatchObject([{ category: 'duress', duress: true }]);
  });
});

describe('a duress that stands beside where the mapping looks', () => {
  it.each([
    ['the ONVIF topic as an attribute', '<NotificationMessage Topic="tns1:AccessControl/Duress"/>'],
    ['the ONVIF topic inside a child element', onvif(['<Expression>tns1:AccessControl/Duress</Expression>'])],
    ['the vendor event type as an attribute, not an element', '<Event Type="DURESS"><Door>vault</Door></Event>'],
    ['the vendor event type in a child of the mapped element', '<Event><Type><Code>DURESS</Code></Type></Event>'],
    ['a document no mapping reads', '<AlarmReport><Kind>Duress</Kind><Door>vault</Door></AlarmReport>'],
    ['an empty element that marks the duress', '<Event><Type>OPENED</Type><Duress/></Event>'],
  ])('%s', async (_how, body) => {
    const { outcome } = await storedAfter(body);
    expect(outcome.status).toBe(200);
    expect(outcome.events).toMatchObject([{ duress: true }]);
  });

  it('in a batch, only the event whose own element names the duress is suspected', async () => {
    const { outcome } = await storedAfter('<Events><Event><Type>OPENED</Type></Event><Event Kind="Duress"><Type>ALARM</Type></Event></Events>');
    expect(outcome.events.map((event) => [event.category, event.duress])).toEqual([
      ['unrecognized', false],
      ['duress', true],
    ]);
  });

  it('a benign event type beside a duress word elsewhere stays what the mapping says', async () => {
    const { outcome } = await storedAfter('<Event><Type>GRANTED</Type><Holder>Duress Test User</Holder></Event>');
    expect(outcome.events).toMatchObject([{ category: 'access', duress: false }]);
  });
});

describe('a duress in bytes that lie about their encoding', () => {
  it.each([
    ['a holder in Latin-1 in a document that declares UTF-8', Buffer.from('<?xml version="1.0" encoding="UTF-8"?><Event><Type>DURESS</Type><Door>T\u00fcr 2</Door></Event>', 'latin1')],
    ['UTF-16LE without a byte order mark', Buffer.from('<Event><Type>DURESS</Type><Door>vault</Door></Event>', 'utf16le')],
    ['a declared encoding nobody reads (UTF-7) over ASCII bytes', Buffer.from('<?xml version="1.0" encoding="UTF-7"?><Event><Type>DURESS</Type></Event>')],
  ])('%s', async (_how, body) => {
    const { outcome } = await storedAfter(body);
    expect(outcome.status).toBe(200);
    expect(outcome.events).toMatchObject([{ category: 'duress', duress: true }]);
  });
});

describe('a duress in a document the input refuses', () => {
  const BILLION_LAUGHS =
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>' +
    '<NotificationMessage><Topic>tns1:AccessControl/Duress</Topic><Holder>&lol2;</Holder></NotificationMessage>';
  it.each([
    ['an unescaped ampersand in a door name', '<Event><Type>DURESS</Type><Door>Cash & Carry</Door></Event>', 400, 'XML_MALFORMED'],
    ['events posted one after another without a container', '<Event><Type>GRANTED</Type></Event><Event><Type>DURESS</Type></Event>', 400, 'XML_MALFORMED'],
    ['a document cut short', '<Event><Type>DURESS</Type><Door>vault', 400, 'XML_MALFORMED'],
    ['a DOCTYPE naming the vendor DTD', '<!DOCTYPE Event SYSTEM "event.dtd"><Event><Type>DURESS</Type></Event>', 400, 'XML_ENTITY_REJECTED'],
    ['entity expansion (never expanded)', BILLION_LAUGHS, 400, 'XML_ENTITY_REJECTED'],
    ['a batch over the body limit', `<Events><Event><Type>DURESS</Type></Event>${'<Event><Type>GRANTED</Type></Event>'.repeat(2_000)}</Events>`, 413, 'XML_TOO_LARGE'],
  ])('%s: refused, and the suspected duress stored once however often it comes', async (_how, body, status, code) => {
    const { receiver, stored } = accessReceiver({ mappings: [FEED, BATCH] });
    for (let attempt = 0; attempt < 2; attempt++) {
      const outcome = await receiver.handleBody(Buffer.from(body));
      expect(outcome.status).toBe(status);
      expect(outcome.body).toMatchObject({ error: { code } });
      expect(outcome.events).toMatchObject([{ category: 'duress', duress: true, code: { value: '121' } }]);
    }
    expect(stored()).toHaveLength(1);
    expect(stored()[0]?.quirks).toEqual([`content-unparsed: ${code}`, expect.stringMatching(/^duress-suspected: /)]);
  });

  it('a refused document that names no duress stores nothing', async () => {
    const { outcome, stored } = await storedAfter('<Event><Type>GRANTED</Type><Door>Cash & Carry</Door></Event>');
    expect(outcome.status).toBe(400);
    expect(outcome.events).toEqual([]);
    expect(stored).toEqual([]);
  });
});

describe('a forced door hidden behind a repeated data item', () => {
  it('a second State item after Normal is read: the door forced open is not passed as back to normal', async () => {
    const body =
      '<NotificationMessage><Topic>tns1:Door/State/DoorAlarm</Topic><Message><Message>' +
      '<Source><SimpleItem Name="DoorToken" Value="vault"/></Source>' +
      '<Data><SimpleItem Name="State" Value="Normal"/><SimpleItem Name="State" Value="DoorForcedOpen"/></Data>' +
      '</Message></Message></NotificationMessage>';
    const { outcome } = await storedAfter(body);
    expect(outcome.events).toMatchObject([{ code: { value: 'DF' }, qualifier: 'new' }]);
    expect(outcome.events[0]?.quirks).toContain('repeated-item: State has 2 values ("Normal", "DoorForcedOpen"); the alarm is read');
  });
});
