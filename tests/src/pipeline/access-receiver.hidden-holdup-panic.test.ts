import { describe, expect, it } from 'vitest';
import { accessReceiver } from '../../helpers/access-receiver.js';
import type { AccessMapping } from '../../../src/codecs/access-xml.js';

/**
 * Hold-up and panic buttons reported by an access controller whose words no mapping reads. They must arrive as the
 * panel codes for them do (protocols.md §6 cheat-sheet): a hold-up as Contact ID 122 / SIA HA, category `holdup`,
 * `duress: true`; a panic as Contact ID 120 / SIA PA, category `panic` ("Panic button = E120 / PA", §1.6).
 */
const FEED: AccessMapping = { name: 'feed', match: 'Event', eventType: 'Event.Type', door: 'Event.Door', duressValues: ['DURESS'], grantedValues: ['GRANTED'], deniedValues: [] };

async function storedAfter(body: string) {
  const { receiver, stored } = accessReceiver({ mappings: [FEED] });
  const outcome = await receiver.handleBody(Buffer.from(body));
  return { outcome, stored: stored() };
}

const HOLDUP = { category: 'holdup', duress: true, silent: true };
const PANIC = { category: 'panic', duress: false };

describe('a hold-up or panic the event type names, which no mapping reads', () => {
  it.each([
    ['Hold-Up', HOLDUP],
    ['Holdup', HOLDUP],
    ['Hold up button', HOLDUP],
    ['HOLD_UP_ALARM', HOLDUP],
    ['Teller HoldUp', HOLDUP],
    ['Hold\u2011up (a non-breaking hyphen)', HOLDUP],
    ['H\u043eld-up (a Cyrillic о)', HOLDUP],
    ['Hold\u200b-up (a zero-width space)', HOLDUP],
    ['Panic Alarm', PANIC],
    ['Panic button pressed', PANIC],
    ['PanicAlarm', PANIC],
    ['P\u0430nic Alarm (a Cyrillic а)', PANIC],
    ['Pa\u00adnic (a soft hyphen)', PANIC],
  ])('vendor event type "%s"', async (type, expected) => {
    const { outcome } = await storedAfter(`<Event><Type>${type}</Type><Door>teller 1</Door></Event>`);
    expect(outcome.status).toBe(200);
    expect(outcome.events).toMatchObject([expected]);
  });

  it('an ONVIF topic no table reads', async () => {
    const { outcome } = await storedAfter('<NotificationMessage><Topic>tnsvendor:Alarm/HoldUp</Topic></NotificationMessage>');
    expect(outcome.events).toMatchObject([HOLDUP]);
  });

  it('a duress word outranks a hold-up word in the same type', async () => {
    const { outcome } = await storedAfter('<Event><Type>Hold-up duress</Type></Event>');
    expect(outcome.events).toMatchObject([{ category: 'duress', duress: true }]);
  });
});

describe('a hold-up or panic that stands beside where the mapping looks', () => {
  it.each([
    ['the event type as an attribute', '<Event Type="Hold-Up"><Door>teller 1</Door></Event>', HOLDUP, '122'],
    ['an empty element that marks it', '<Event><Type>INPUT</Type><HoldUp/></Event>', HOLDUP, '122'],
    ['a document no mapping reads', '<AlarmReport><Kind>Panic Alarm</Kind></AlarmReport>', PANIC, '120'],
    ['the type in a child of the mapped element', '<Event><Type><Code>PANIC</Code></Type></Event>', PANIC, '120'],
  ])('%s', async (_how, body, expected, code) => {
    const { outcome } = await storedAfter(body);
    expect(outcome.status).toBe(200);
    expect(outcome.events).toMatchObject([{ ...expected, code: { scheme: 'contact-id', value: code } }]);
    expect(outcome.events[0]?.quirks).toContainEqual(expect.stringMatching(/^duress-suspected: /));
  });

  it('a refused document that names a hold-up stores it as Contact ID 122', async () => {
    const { outcome, stored } = await storedAfter('<Event><Type>Hold-up</Type><Door>Cash & Carry</Door></Event>');
    expect(outcome.status).toBe(400);
    expect(stored).toMatchObject([{ ...HOLDUP, code: { value: '122' } }]);
  });
});

describe('words that only contain "hold" and "up"', () => {
  it.each(['Threshold up', 'Door hold upstairs', 'Card HoldUpdate', 'Hold upper lock'])('"%s" stays unrecognized', async (type) => {
    const { outcome } = await storedAfter(`<Event><Type>${type}</Type></Event>`);
    expect(outcome.events).toMatchObject([{ category: 'unrecognized', duress: false }]);
  });

  it('a plural is still a hold-up', async () => {
    const { outcome } = await storedAfter('<Event><Type>Hold-ups: 1</Type></Event>');
    expect(outcome.events).toMatchObject([HOLDUP]);
  });
});

describe('panic hardware is a door, not an alarm', () => {
  it.each([
    'Panic bar door opened',
    'PanicBar door opened',
    'Panic hardware alarm',
    'Panic exit device: door held open',
    'Panic-bar exit used',
  ])('"%s" stays unrecognized', async (type) => {
    const { outcome } = await storedAfter(`<Event><Type>${type}</Type><Door>fire exit 3</Door></Event>`);
    expect(outcome.events).toMatchObject([{ category: 'unrecognized', duress: false }]);
  });

  it.each([
    ['an attribute', '<Event Kind="Panic bar"><Type>OPENED</Type></Event>'],
    ['an element name', '<Event><Type>OPENED</Type><PanicBar>pushed</PanicBar></Event>'],
    ['the holder of a credential', '<Event><Type>OPENED</Type><Holder>Hispanic Studies</Holder></Event>'],
  ])('in %s, stays unrecognized', async (_where, body) => {
    const { outcome } = await storedAfter(body);
    expect(outcome.events).toMatchObject([{ category: 'unrecognized', duress: false }]);
    expect(outcome.events[0]?.quirks ?? []).not.toContainEqual(expect.stringMatching(/^duress-suspected/));
  });

  it('a panic button beside a panic bar is still a panic', async () => {
    const { outcome } = await storedAfter('<Event><Type>Panic button at panic bar door</Type></Event>');
    expect(outcome.events).toMatchObject([PANIC]);
  });
});
