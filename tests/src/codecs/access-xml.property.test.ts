import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { decodeAccessXml, type AccessMapping } from '../../../src/codecs/access-xml.js';
import { isErrorCode } from '../../../src/errors.js';

const MAPPINGS: AccessMapping[] = [
  {
    name: 'feed',
    match: 'Event.Type',
    eventType: 'Event.Type',
    door: 'Event.Door.@id',
    user: 'Event.Card',
    time: 'Event.Time',
    duressValues: ['DURESS'],
    grantedValues: ['GRANTED'],
    deniedValues: ['DENIED'],
  },
];
const OPTIONS = { maxBytes: 4096, mappings: MAPPINGS, defaults: { account: '1234' } };

/** Pieces of the documents the input expects, so random strings reach the parser and the mappings. */
const TOKENS = [
  '<', '>', '</', '/>', '=', '"', "'", ' ', '\n', '<?xml version="1.0"?>', '<!DOCTYPE x>', '<!ENTITY a "b">', '<![CDATA[', ']]>',
  '<!--', '-->', '&amp;', '&#x41;', '&#99999999;', '&lol;', 'NotificationMessage', 'Topic', 'Message', 'Source', 'Data',
  'SimpleItem', 'Name="AccessPointToken"', 'Value="d"', 'UtcTime="2025-03-01T09:15:02Z"', 'tns1:AccessControl/Duress',
  'Envelope', 'Body', 'Notify', 'Event', 'Type', 'Door', 'id="x"', 'Card', 'Time', 'DURESS', '0042', 's:', 'tt:', '__proto__',
];
const nearXml = fc.array(fc.constantFrom(...TOKENS), { maxLength: 60 }).map((parts) => parts.join(''));
const anyBody = fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: 'binary', maxLength: 200 }), nearXml);

/** Text that is safe inside an attribute once escaped. */
const attributeText = fc.string({ minLength: 1, maxLength: 20 }).filter((s) => !/[\u0000-\u001f\ufffe\uffff]/.test(s) && s.trim() === s && s !== '');
const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

describe('decodeAccessXml is total', () => {
  test('any string gives a result (never an exception) with a registered error code', () => {
    fc.assert(
      fc.property(anyBody, (body) => {
        const result = decodeAccessXml(body, OPTIONS);
        if (!result.ok) expect(isErrorCode(result.error.code)).toBe(true);
        else for (const signal of result.value) expect(signal.protocol).toBe('access-xml');
      }),
      { numRuns: 2000 },
    );
  });

  test('any bytes give a result', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const result = decodeAccessXml(bytes, OPTIONS);
        expect(typeof result.ok).toBe('boolean');
      }),
      { numRuns: 1000 },
    );
  });

  test('a body that declares a DTD never reaches the parser', () => {
    fc.assert(
      fc.property(nearXml, nearXml, (before, after) => {
        const result = decodeAccessXml(`${before}<!DOCTYPE x [<!ENTITY a "b">]>${after}`, { ...OPTIONS, maxBytes: 1 << 20 });
        expect(result.ok ? 'decoded' : result.error.code).toBe('XML_ENTITY_REJECTED');
      }),
    );
  });
});

describe('ONVIF notifications', () => {
  test('every NotificationMessage becomes one signal carrying its door and credential as sent', () => {
    const message = fc.record({
      kind: fc.constantFrom(
        'Duress',
        'AccessGranted/Credential',
        'AccessDenied/Credential',
        'AccessTaken/Credential',
        'Denied/Credential',
        'Denied/CredentialNotFound/Card',
        'Denied/Authentication/InvalidPIN',
        'Request/Timeout',
        'NotAnOnvifTopic/Credential',
      ),
      door: attributeText,
      credential: attributeText,
    });
    fc.assert(
      fc.property(fc.array(message, { minLength: 1, maxLength: 5 }), (messages) => {
        const body = messages
          .map(
            (m) =>
              `<wsnt:NotificationMessage><wsnt:Topic>tns1:AccessControl/${m.kind}</wsnt:Topic><wsnt:Message><tt:Message UtcTime="2025-03-01T09:15:02Z">` +
              `<tt:Source><tt:SimpleItem Name="AccessPointToken" Value="${escapeXml(m.door)}"/></tt:Source>` +
              `<tt:Data><tt:SimpleItem Name="CredentialToken" Value="${escapeXml(m.credential)}"/></tt:Data></tt:Message></wsnt:Message></wsnt:NotificationMessage>`,
          )
          .join('');
        const result = decodeAccessXml(`<s:Envelope><s:Body><wsnt:Notify>${body}</wsnt:Notify></s:Body></s:Envelope>`, { ...OPTIONS, maxBytes: 1 << 20 });
        if (!result.ok) throw new Error(`${result.error.code}: ${result.error.message}`);
        expect(result.value).toHaveLength(messages.length);
        result.value.forEach((signal, i) => {
          const sent = messages[i]!;
          expect(signal.access).toMatchObject({ door: sent.door, credential: sent.credential });
          const codes: Record<string, string> = {
            Duress: '124',
            'AccessGranted/Credential': '422',
            'AccessTaken/Credential': '422',
            'AccessDenied/Credential': '421',
            'Denied/Credential': '421',
            'Denied/CredentialNotFound/Card': '421',
            'Denied/Authentication/InvalidPIN': '421',
            'Request/Timeout': '420',
          };
          const expectedCode = codes[sent.kind];
          expect(signal.code?.value).toBe(expectedCode ?? `access:tns1:AccessControl/${sent.kind}`);
        });
      }),
      { numRuns: 300 },
    );
  });
});
