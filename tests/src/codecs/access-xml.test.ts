import { describe, expect, it } from 'vitest';
import { decodeAccessXml, type AccessMapping, type AccessXmlOptions } from '../../../src/codecs/access-xml.js';

const DURESS_NOTIFICATION = `<NotificationMessage><Topic>tns1:AccessControl/Duress</Topic><Message><Message UtcTime="2025-03-01T09:15:02Z">
  <Source><SimpleItem Name="AccessPointToken" Value="door-lobby-2"/></Source></Message></Message></NotificationMessage>`;

const options = (overrides: Partial<AccessXmlOptions> = {}): AccessXmlOptions => ({ maxBytes: 65_536, mappings: [], defaults: {}, ...overrides });

const mapping = (overrides: Partial<AccessMapping>): AccessMapping => ({
  name: 'feed',
  match: 'Event',
  eventType: 'Event.Type',
  duressValues: ['DURESS'],
  grantedValues: [],
  deniedValues: [],
  ...overrides,
});

function decodeOk(body: string | Uint8Array, opts = options()) {
  const result = decodeAccessXml(body, opts);
  if (!result.ok) throw new Error(`${result.error.code}: ${result.error.message}`);
  return result.value;
}

function errorOf(body: string | Uint8Array, opts = options()) {
  const result = decodeAccessXml(body, opts);
  return result.ok ? undefined : result.error;
}

describe('decodeAccessXml', () => {
  it('reads bytes as UTF-8 and ignores a byte order mark', () => {
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(DURESS_NOTIFICATION.replace('door-lobby-2', 'Tür-2'))]);
    expect(decodeOk(bytes)[0]?.access?.door).toBe('Tür-2');
    expect(decodeOk('\ufeff' + DURESS_NOTIFICATION)).toHaveLength(1);
  });

  // A controller that declares (or defaults to) UTF-8 and writes a holder's name in Latin-1 must not lose its duress
  // to a 400: the bytes that are not UTF-8 read U+FFFD, named in a quirk.
  it('reads bytes that are not UTF-8 with replacement characters, naming the quirk', () => {
    const bytes = Buffer.from(DURESS_NOTIFICATION.replace('door-lobby-2', 'T\u00fcr-2'), 'latin1');
    expect(decodeOk(bytes)[0]).toMatchObject({ code: { value: '124' }, access: { door: 'T\ufffdr-2' }, quirks: ['encoding-invalid: bytes that are not utf-8 read as U+FFFD'] });
  });

  // XML 1.0 §4.3.3: "All XML processors MUST accept the UTF-8 and UTF-16 encodings"; Appendix F: the byte order mark,
  // the UTF-16 shape of "<?" and the encoding declaration say how the entity is encoded.
  const declared = (encoding: string) => `<?xml version="1.0" encoding="${encoding}"?>${DURESS_NOTIFICATION.replace('door-lobby-2', 'Tür-2')}`;

  it.each([
    ['UTF-16 with its byte order mark', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(declared('UTF-16'), 'utf16le')])],
    ['UTF-16BE with its byte order mark', Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(declared('UTF-16'), 'utf16le').swap16()])],
    ['UTF-16LE without a byte order mark', Buffer.from(declared('UTF-16LE'), 'utf16le')],
    ['ISO-8859-1 as declared', Buffer.from(declared('ISO-8859-1'), 'latin1')],
    ['windows-1252 as declared (single quotes)', Buffer.from(declared('windows-1252').replace('"windows-1252"', "'windows-1252'"), 'latin1')],
  ])('reads a document in %s', (_what, bytes) => {
    expect(decodeOk(bytes)[0]).toMatchObject({ access: { door: 'Tür-2', eventType: 'tns1:AccessControl/Duress' } });
  });

  // .NET's XmlWriter over a StringWriter declares utf-16 and the text is posted as UTF-8 (libxml2: "Document labelled
  // UTF-16 but has UTF-8 content"); bytes that spell "<?xm" in ASCII cannot be UTF-16 (Appendix F.1).
  it.each(['utf-16', 'UTF-16', 'unicode'])('reads UTF-8 bytes whose declaration says encoding="%s"', (label) => {
    expect(decodeOk(Buffer.from(declared(label), 'utf8'))[0]).toMatchObject({ access: { door: 'Tür-2' } });
  });

  it('reads an encoding it does not know as UTF-8, naming it', () => {
    expect(decodeOk(Buffer.from(declared('x-made-up'), 'utf8'))[0]).toMatchObject({
      access: { door: 'Tür-2' },
      quirks: ['encoding-unsupported: "x-made-up" read as UTF-8'],
    });
  });

  it('reads bytes that are not the declared encoding with replacement characters', () => {
    expect(decodeOk(Buffer.from(declared('UTF-8'), 'latin1'))[0]).toMatchObject({ code: { value: '124' }, access: { door: 'T\ufffdr-2' }, quirks: [expect.stringMatching(/^encoding-invalid/)] });
  });

  // XML 1.0 Appendix F wants a byte order mark on UTF-16, but a sender that encodes its text as UTF-16 without one
  // still writes "<" as 3C 00: no UTF-8 document starts so.
  it.each([
    ['UTF-16LE', Buffer.from('<Event><Type>DURESS</Type></Event>', 'utf16le')],
    ['UTF-16BE', Buffer.from('<Event><Type>DURESS</Type></Event>', 'utf16le').swap16()],
  ])('reads %s without a byte order mark or declaration', (_encoding, bytes) => {
    expect(decodeOk(bytes, options({ mappings: [mapping({})] }))).toMatchObject([{ code: { value: '124' } }]);
  });

  it('counts the limit in bytes, not characters', () => {
    const body = `<Event><Type>DURESS</Type><Note>${'é'.repeat(40)}</Note></Event>`;
    const size = Buffer.byteLength(body);
    expect(body.length).toBeLessThan(size);
    const opts = { mappings: [mapping({})] };
    expect(errorOf(body, options({ ...opts, maxBytes: size - 1 }))?.code).toBe('XML_TOO_LARGE');
    expect(decodeOk(body, options({ ...opts, maxBytes: size }))).toHaveLength(1);
  });

  it('refuses DOCTYPE and ENTITY declarations in any letter case, even without entity use', () => {
    expect(errorOf('<!doctype html><Event/>')?.code).toBe('XML_ENTITY_REJECTED');
    expect(errorOf('<Event><![CDATA[<!ENTITY x "y">]]></Event>')?.code).toBe('XML_ENTITY_REJECTED');
  });

  it('turns a prototype-polluting element name into XML_MALFORMED instead of throwing', () => {
    expect(errorOf('<Event><__proto__><polluted>1</polluted></__proto__></Event>')?.code).toBe('XML_MALFORMED');
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('turns nesting past the parser limit into XML_MALFORMED', () => {
    const deep = '<a>'.repeat(500) + '</a>'.repeat(500);
    expect(errorOf(deep)?.code).toBe('XML_MALFORMED');
  });

  it('bounds the raw preview of a refused body', () => {
    const error = errorOf(`<a>${'x'.repeat(10_000)}`);
    expect(error?.code).toBe('XML_MALFORMED');
    expect(error?.rawPreview?.length).toBeLessThanOrEqual(257);
  });

  it('names the mappings it tried when none matches', () => {
    const error = errorOf('<Other/>', options({ mappings: [mapping({ name: 'acme' }), mapping({ name: 'bacnet', match: 'AccessEvent' })] }));
    expect(error?.code).toBe('XML_MAPPING_FAILED');
    expect(error?.message).toContain('ONVIF or acme, bacnet');
  });

  it('tries configured mappings before the built-in ONVIF reading, in order', () => {
    const envelope = `<Envelope><Body><Notify>${DURESS_NOTIFICATION}</Notify></Body></Envelope>`;
    const takesOver = mapping({ match: 'Envelope.Body.Notify', eventType: 'Envelope.Body.Notify.NotificationMessage.Topic', duressValues: [] });
    const [signal] = decodeOk(envelope, options({ mappings: [mapping({ match: 'Missing' }), takesOver] }));
    // The configured mapping read the topic but lists no value for it: unrecognized, not ONVIF's duress.
    expect(signal?.code?.value).toBe('access:tns1:AccessControl/Duress');
    expect(decodeOk(envelope)[0]?.code?.value).toBe('124');
  });

  it('follows a numeric path segment to one occurrence of a repeated element', () => {
    const body = '<Batch><Event><Type>GRANTED</Type><Door>d1</Door></Event><Event><Type>DURESS</Type><Door>d2</Door></Event></Batch>';
    const second = mapping({ match: 'Batch.Event.1', eventType: 'Batch.Event.1.Type', door: 'Batch.Event.1.Door' });
    expect(decodeOk(body, options({ mappings: [second] }))).toMatchObject([{ code: { value: '124' }, access: { door: 'd2' } }]);
  });

  // A batch a controller flushed after an outage, or two card reads in one post: the duress must not be lost.
  it('reads one event per element at match, its paths inside that element and the others from the document', () => {
    const feed = mapping({
      match: 'Events.Event',
      eventType: 'Events.Event.Type',
      door: 'Events.Event.Door',
      user: 'Events.Event.Card',
      site: 'Events.@site',
      grantedValues: ['GRANTED'],
    });
    const body =
      '<Events site="branch-7">' +
      '<Event><Type>GRANTED</Type><Door>lobby</Door><Card>17</Card></Event>' +
      '<Event><Type>DURESS</Type><Door>vault</Door></Event>' +
      '</Events>';
    expect(decodeOk(body, options({ mappings: [feed] }))).toMatchObject([
      { code: { value: '422' }, site: 'branch-7', user: 17, access: { door: 'lobby', credential: '17' } },
      { code: { value: '124' }, site: 'branch-7', user: null, access: { door: 'vault' } },
    ]);
    // One event, as before: the element itself at match.
    expect(decodeOk('<Event><Type>DURESS</Type></Event>', options({ mappings: [mapping({})] }))).toHaveLength(1);
  });

  it('reads every event of a match element that holds several (match names their container), naming the quirk', () => {
    const container = mapping({ match: 'Events', eventType: 'Events.Event.Type', door: 'Events.Event.Door', user: 'Events.Event.Card', site: 'Events.Site', grantedValues: ['GRANTED'] });
    const body =
      '<Events><Site>branch-7</Site>' +
      '<Event><Type>GRANTED</Type><Door>lobby</Door><Card>17</Card></Event>' +
      '<Event><Type>DURESS</Type><Door>vault</Door></Event>' +
      '</Events>';
    const events = decodeOk(body, options({ mappings: [container] }));
    // Doors pair with their events by position; one card for two events belongs to neither for sure.
    expect(events).toMatchObject([
      { code: { value: '422' }, site: 'branch-7', user: null, access: { door: 'lobby' } },
      { code: { value: '124' }, site: 'branch-7', user: null, access: { door: 'vault' } },
    ]);
    expect(events.every((event) => event.quirks.some((quirk) => quirk.startsWith('match-is-container')))).toBe(true);
    expect(events.every((event) => event.access?.credential === undefined)).toBe(true);
  });

  it('does not follow inherited properties in a mapping path', () => {
    // GRANTED: a document that names a duress is read as a suspected one even when no mapping matches.
    const result = decodeAccessXml('<Event><Type>GRANTED</Type></Event>', options({ mappings: [mapping({ match: 'Event.constructor' })] }));
    expect(result.ok ? 'matched' : result.error.code).toBe('XML_MAPPING_FAILED');
  });

  it('takes account and site from the document first, then from the input defaults', () => {
    const feed = mapping({ account: 'Event.Account', site: 'Event.Site' });
    const defaults = { account: '9999', site: 'default-site' };
    const fromDocument = decodeOk('<Event><Type>DURESS</Type><Account>0042</Account><Site>branch-7</Site></Event>', options({ mappings: [feed], defaults }));
    expect(fromDocument[0]).toMatchObject({ account: '0042', site: 'branch-7' });
    const fromDefaults = decodeOk('<Event><Type>DURESS</Type></Event>', options({ mappings: [feed], defaults }));
    expect(fromDefaults[0]).toMatchObject({ account: '9999', site: 'default-site' });
    expect(decodeOk(DURESS_NOTIFICATION)[0]).toMatchObject({ account: null, site: null });
  });

  it('keeps a non-numeric or over-long credential as text only', () => {
    const feed = mapping({ user: 'Event.Card' });
    const read = (card: string) => decodeOk(`<Event><Type>DURESS</Type><Card>${card}</Card></Event>`, options({ mappings: [feed] }))[0];
    expect(read('0042')).toMatchObject({ user: 42, access: { credential: '0042' } });
    expect(read('A-42')).toMatchObject({ user: null, access: { credential: 'A-42' } });
    expect(read('12345678901')).toMatchObject({ user: null, access: { credential: '12345678901' } });
  });

  it('keeps a notification without a topic as unrecognized rather than dropping it', () => {
    const [signal] = decodeOk('<NotificationMessage><Message><Message/></Message></NotificationMessage>');
    expect(signal?.code?.value).toBe('access:');
    expect(signal?.text).toBe('access event (no event type)');
  });

  it('bounds the code value built from a long event type', () => {
    const [signal] = decodeOk(`<Event><Type>${'X'.repeat(5_000)}</Type></Event>`, options({ mappings: [mapping({})] }));
    expect(signal?.code?.value.length).toBeLessThanOrEqual('access:'.length + 128);
  });
});

describe('decodeAccessXml times', () => {
  const decodedAt = (time: string) => decodeOk(DURESS_NOTIFICATION.replace('2025-03-01T09:15:02Z', time))[0]!;

  it('reads a time without an offset as UTC (ONVIF UtcTime), whatever the gateway host\'s time zone', () => {
    const zone = process.env['TZ'];
    process.env['TZ'] = 'Europe/Berlin';
    try {
      expect(decodedAt('2025-03-01T09:15:02').occurredAt).toBe('2025-03-01T09:15:02.000Z');
      expect(decodedAt('2025-07-01T09:15:02.5+02:00').occurredAt).toBe('2025-07-01T07:15:02.500Z');
      expect(decodedAt('2024-02-29T23:59:59.999Z').occurredAt).toBe('2024-02-29T23:59:59.999Z');
      expect(decodedAt('2025-03-01 09:15:02').occurredAt).toBe('2025-03-01T09:15:02.000Z'); // RFC 3339's space, vendor feeds
    } finally {
      if (zone === undefined) delete process.env['TZ'];
      else process.env['TZ'] = zone;
    }
  });

  it.each(['2025-02-29T09:15:02Z', '2025-04-31T09:15:02Z', '2025-03-01T24:00:00Z', '2025-13-01T09:15:02Z', 'March 1, 2025 09:15', '1'])(
    'keeps %s as a quirk, not as the time a lenient parser rolls it over to',
    (time) => {
      const signal = decodedAt(time);
      expect(signal.occurredAt).toBeNull();
      expect(signal.quirks).toContain(`time-unparsed: "${time}"`);
    },
  );
});
