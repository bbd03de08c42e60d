import { describe, expect, it } from 'vitest';
import { decodeAccessXml, type AccessMapping } from '../../../src/codecs/access-xml.js';
import { parseSettings } from '../../../src/settings/settings.js';

/**
 * Feeds that report a duress as a field beside the event type, not as an event type of its own:
 * - Lenel OnGuard access events carry Type, SubType ("granted, door forced open") and a boolean Duress, "whether
 *   this card access indicates an under duress/emergency state" (Lnl_AccessEvent, as the GeViScope SDK's
 *   LenelAccessEvent action lists its parameters: ID, Panel, Device, CardNumber, AccessResult, Type, SubType, …,
 *   Duress, …). The documents below carry those properties as elements; the shape is written for this test.
 * - Software House C•CURE 9000 reports a duress admission as message type "Card admitted" with state code "Duress"
 *   (Genetec, "How CCURE 9000 events are mapped in Security Center", CCURE Access Control Plugin Guide 3.7.0, which
 *   maps it to a plain "Access granted").
 */
const LENEL: AccessMapping = {
  name: 'lenel-onguard',
  match: 'AccessEvent',
  eventType: 'AccessEvent.SubType',
  door: 'AccessEvent.Device',
  user: 'AccessEvent.CardNumber',
  duressFlag: 'AccessEvent.Duress',
  duressValues: [],
  grantedValues: ['Granted'],
  deniedValues: ['Denied'],
};
const CCURE: AccessMapping = {
  name: 'ccure-9000',
  match: 'Journal.Message',
  eventType: 'Journal.Message.@MessageType',
  door: 'Journal.Message.Door',
  duressFlag: 'Journal.Message.StateCode',
  duressValues: [],
  grantedValues: ['Card admitted'],
  deniedValues: ['Card rejected'],
};

const lenel = (duress: string) =>
  `<AccessEvent><Type>Access</Type><SubType>Granted</SubType><Device>Lobby reader 2</Device><CardNumber>417</CardNumber><Duress>${duress}</Duress></AccessEvent>`;
const ccure = (state: string) => `<Journal><Message MessageType="Card admitted"><Door>Vault</Door><StateCode>${state}</StateCode></Message></Journal>`;

function decode(body: string, mapping: AccessMapping) {
  const result = decodeAccessXml(body, { maxBytes: 65_536, mappings: [mapping], defaults: {} });
  if (!result.ok) throw new Error(`${result.error.code}: ${result.error.message}`);
  return result.value;
}

describe('a mapping whose duressFlag marks an event of any type as duress', () => {
  it.each(['true', 'True', '1', 'yes'])('Lenel OnGuard: a granted access with Duress %s is a duress', (flag) => {
    expect(decode(lenel(flag), LENEL)).toMatchObject([{ code: { value: '124' }, user: 417, access: { door: 'Lobby reader 2', eventType: 'Granted' } }]);
  });

  it.each(['false', '0', ''])('Lenel OnGuard: Duress %s leaves the granted access as it is', (flag) => {
    expect(decode(lenel(flag), LENEL)).toMatchObject([{ code: { value: '422' } }]);
  });

  it('C•CURE 9000: a card admitted with state code Duress is a duress, with Admit a granted access', () => {
    expect(decode(ccure('Duress'), CCURE)).toMatchObject([{ code: { value: '124' }, access: { door: 'Vault', eventType: 'Card admitted' } }]);
    expect(decode(ccure('Admit'), CCURE)).toMatchObject([{ code: { value: '422' } }]);
  });

  it('an unknown event type beside a false duress flag is not suspected of duress for the flag\'s name', () => {
    const forced = lenel('false').replace('<SubType>Granted</SubType>', '<SubType>Door Forced Open</SubType>');
    const [signal] = decode(forced, LENEL);
    expect(signal?.code?.value).toBe('access:Door Forced Open');
    expect(signal?.quirks.some((quirk) => quirk.startsWith('duress-suspected'))).toBe(false);
  });
});

describe('duressFlag in the configuration', () => {
  it('is read from an access-xml mapping and reaches the decoder', () => {
    const parsed = parseSettings(`
inputs:
  - type: access-xml
    name: doors
    port: 0
    mappings:
      - { name: lenel-onguard, match: AccessEvent, eventType: AccessEvent.SubType, duressFlag: AccessEvent.Duress, grantedValues: [Granted] }
outputs: []
`);
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    const input = parsed.settings.inputs[0];
    if (input?.type !== 'access-xml') throw new Error('expected an access-xml input');
    expect(decode(lenel('true'), input.mappings[0]!)).toMatchObject([{ code: { value: '124' } }]);
  });
});
