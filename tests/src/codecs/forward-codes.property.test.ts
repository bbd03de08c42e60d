import { randomBytes } from 'node:crypto';
import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import contactIdTable from '../../../src/catalog/contact-id.json' with { type: 'json' };
import siaTable from '../../../src/catalog/sia.json' with { type: 'json' };
import { contactIdSignal } from '../../../src/codecs/contact-id.js';
import { contactIdFieldsForEvent } from '../../../src/codecs/forward-codes.js';
import { encodeSurgardContactId } from '../../../src/codecs/surgard.js';
import { buildPanelFrame, eventFrameContent, type Dc09EventFormat } from '../../../src/codecs/dc09/transmitter.js';
import { DURESS_CATEGORIES, type NormalizedEvent } from '../../../src/model/event.js';
import { createIdSource } from '../../../src/model/ids.js';
import { emptySignal, type Signal } from '../../../src/model/signal.js';
import { decodeFrame } from '../../../src/pipeline/decode-frame.js';
import { eventFromSignal, VERIFIED, type FrameOrigin } from '../../../src/pipeline/event-builder.js';
import { systemClock } from '../../../src/ports.js';

/**
 * Issue 20 "round trip": an event decoded from an input and forwarded through the DC-09 output (ADM-CID or
 * SIA-DCS, plain or encrypted) or the Sur-Gard automation output decodes back, through the same decode path as
 * `panelbridge decode`, to the same category, zone, user and duress meaning, for every catalogued code. What a
 * format cannot carry is named in the forwarding notes; the test holds the encoder to exactly that.
 */

const builder = { ids: createIdSource(systemClock), sites: () => [] };
const origin: FrameOrigin = { input: 'panel', transport: 'tcp', receivedAt: Date.UTC(2026, 0, 1), raw: new Uint8Array(), trust: VERIFIED };
const KEY = Buffer.from('000102030405060708090A0B0C0D0E0F', 'hex');
const ACCOUNT = '1234';

interface Numbers {
  qualifier: '1' | '3' | '6';
  partition: number;
  address: number;
  user: number | null;
}

const numbers = fc.record({
  qualifier: fc.constantFrom('1', '3', '6') as fc.Arbitrary<'1' | '3' | '6'>,
  partition: fc.integer({ min: 0, max: 99 }),
  address: fc.integer({ min: 0, max: 999 }),
  user: fc.option(fc.integer({ min: 1, max: 999 }), { nil: null }),
});

function contactIdEvent(code: string, n: Numbers): NormalizedEvent {
  const signal = contactIdSignal(
    { qualifier: n.qualifier, event: code, group: String(n.partition).padStart(2, '0'), ccc: String(n.address).padStart(3, '0') },
    { protocol: 'adm-cid', account: ACCOUNT, receiver: null, line: null },
  );
  return eventFromSignal(signal, origin, builder);
}

function siaEvent(code: string, n: Numbers): NormalizedEvent {
  const signal: Signal = {
    ...emptySignal('sia-dcs'),
    account: ACCOUNT,
    code: { scheme: 'sia', value: code },
    qualifier: n.qualifier === '6' ? 'status' : null,
    partition: n.partition === 0 ? null : n.partition,
    address: n.address,
    user: n.user,
  };
  return eventFromSignal(signal, origin, builder);
}

function decodedEvents(bytes: Uint8Array, key?: Uint8Array): NormalizedEvent[] {
  const decoded = decodeFrame(bytes, { keyFor: () => key });
  if (!decoded.ok) throw new Error(`${decoded.error.code}: ${decoded.error.message}`);
  return decoded.value.signals.map((signal) => eventFromSignal(signal, origin, builder));
}

function forwardDc09(event: NormalizedEvent, format: Dc09EventFormat, encrypted: boolean): { back: NormalizedEvent[]; notes: string[] } {
  const forwarded = eventFrameContent(event, format, '9876');
  if (forwarded === null) throw new Error('no content');
  const bytes = buildPanelFrame({
    content: forwarded.content,
    extended: forwarded.extended,
    seq: '0001',
    account: '9876',
    now: Date.now(),
    random: randomBytes,
    ...(encrypted ? { key: KEY } : {}),
  });
  return { back: decodedEvents(bytes, encrypted ? KEY : undefined), notes: forwarded.notes };
}

function forwardSurgard(event: NormalizedEvent): { back: NormalizedEvent[]; notes: string[] } {
  const forwarded = contactIdFieldsForEvent(event);
  if (forwarded === null) throw new Error('no content');
  const packet = encodeSurgardContactId({ receiver: '01', line: '001', account: ACCOUNT, fields: forwarded.fields });
  return { back: decodedEvents(Buffer.from(packet, 'latin1')), notes: forwarded.notes };
}

/** Same duress meaning always; same category, zone and user unless a note names what could not be carried. */
function expectSameMeaning(sent: NormalizedEvent, result: { back: NormalizedEvent[]; notes: string[] }): void {
  expect(result.back).toHaveLength(1);
  const back = result.back[0]!;
  const context = { sent: { code: sent.code, category: sent.category, zone: sent.zone, user: sent.user, door: sent.door, number: sent.number }, back: { code: back.code, category: back.category, zone: back.zone, user: back.user, door: back.door, number: back.number }, notes: result.notes };
  expect(back.duress, JSON.stringify(context)).toBe(sent.duress);
  if (sent.category === 'unrecognized' && back.category !== sent.category) {
    // A monitoring centre has no "unrecognized": it gets a general alarm it must look at, and the log says so.
    expect(back.category, JSON.stringify(context)).toBe('burglary');
    expect(result.notes.join(' ')).toMatch(/generic unrecognized code/);
  } else if (back.category !== sent.category) {
    // Only between duress and hold-up, and only when a note says so (SIA HA needs a user id to mean duress).
    expect(DURESS_CATEGORIES.has(back.category) && DURESS_CATEGORIES.has(sent.category), JSON.stringify(context)).toBe(true);
    expect(result.notes.join(' '), JSON.stringify(context)).toMatch(sent.category === 'duress' ? /reads it as a hold-up/ : /user \d+ not sent/);
  }
  if (!result.notes.some((note) => note.includes(`zone ${sent.zone?.number}`))) expect(back.zone?.number, JSON.stringify(context)).toBe(sent.zone?.number);
  if (!result.notes.some((note) => note.includes(`user ${sent.user?.number}`))) expect(back.user?.number, JSON.stringify(context)).toBe(sent.user?.number);
  const noted = (what: string, value: number | string | undefined) => result.notes.some((note) => note.startsWith(`${what} ${value} not sent`));
  if (!noted('door', sent.door?.id)) expect(back.door?.id, JSON.stringify(context)).toBe(sent.door?.id);
  if (sent.number !== undefined && !noted(sent.number.kind, sent.number.value)) expect(back.number, JSON.stringify(context)).toEqual(sent.number);
  if (result.notes.length === 0) expect(back.code?.value).toBe(sent.code?.value);
}

const cidCodes = Object.keys(contactIdTable);
const siaCodes = Object.keys(siaTable);
const ways: Array<[string, (event: NormalizedEvent) => { back: NormalizedEvent[]; notes: string[] }]> = [
  ['DC-09 ADM-CID', (e) => forwardDc09(e, 'adm-cid', false)],
  ['DC-09 *ADM-CID (encrypted)', (e) => forwardDc09(e, 'adm-cid', true)],
  ['DC-09 SIA-DCS', (e) => forwardDc09(e, 'sia-dcs', false)],
  ['DC-09 *SIA-DCS (encrypted)', (e) => forwardDc09(e, 'sia-dcs', true)],
  ['Sur-Gard protocol 5', forwardSurgard],
];

describe.each(ways)('forwarded as %s, decoded back', (_name, forward) => {
  test.prop([fc.constantFrom(...cidCodes), numbers], { numRuns: 300 })('every catalogued Contact ID code keeps its meaning', (code, n) => {
    expectSameMeaning(contactIdEvent(code, n), forward(contactIdEvent(code, n)));
  });

  test.prop([fc.constantFrom(...siaCodes), numbers], { numRuns: 300 })('every catalogued SIA code keeps its meaning', (code, n) => {
    expectSameMeaning(siaEvent(code, n), forward(siaEvent(code, n)));
  });

  test('each catalogued code once, at zone/user 7 in area 2', () => {
    const n: Numbers = { qualifier: '1', partition: 2, address: 7, user: 9 };
    for (const code of cidCodes) expectSameMeaning(contactIdEvent(code, n), forward(contactIdEvent(code, n)));
    for (const code of siaCodes) expectSameMeaning(siaEvent(code, n), forward(siaEvent(code, n)));
  });
});

describe('what the forwarding keeps exactly', () => {
  test('a Contact ID duress (121, user 5) goes to SIA as HA with the user id, and comes back a duress of user 5', () => {
    const event = contactIdEvent('121', { qualifier: '1', partition: 1, address: 5, user: null });
    const forwarded = eventFrameContent(event, 'sia-dcs', '9876');
    expect(forwarded?.content.data).toBe('Nid005/ri1/HA');
    const back = forwardDc09(event, 'sia-dcs', false).back[0]!;
    expect(back).toMatchObject({ category: 'duress', duress: true, user: { number: 5 }, zone: null });
  });

  test('a SIA duress (HA with a user id) goes to Contact ID as 121 with the user, never as 122 hold-up', () => {
    const event = siaEvent('HA', { qualifier: '1', partition: 1, address: 0, user: 12 });
    expect(event.category).toBe('duress');
    expect(eventFrameContent(event, 'adm-cid', '9876')?.content.data).toBe('1121 01 012');
  });

  test('a code with no equivalent is sent as the generic code of its category and named', () => {
    const event = siaEvent('GA', { qualifier: '1', partition: 0, address: 3, user: null }); // gas alarm → fire
    const forwarded = eventFrameContent(event, 'adm-cid', '9876');
    expect(forwarded?.content.data).toBe('1110 00 003');
    expect(forwarded?.notes).toEqual(['SIA GA has no Contact ID equivalent: sent as the generic fire code Contact ID 110']);
  });

  test.each([
    ['a Contact ID closing (401, qualifier 3) → SIA CL of the user', () => contactIdEvent('401', { qualifier: '3', partition: 0, address: 3, user: null }), 'sia-dcs', 'NCL003'],
    ['a SIA opening (OP) → Contact ID 401, qualifier 1', () => siaEvent('OP', { qualifier: '1', partition: 1, address: 4, user: null }), 'adm-cid', '1401 01 004'],
    ['a SIA closing (CL) → Contact ID 401, qualifier 3', () => siaEvent('CL', { qualifier: '1', partition: 1, address: 4, user: null }), 'adm-cid', '3401 01 004'],
    ['a Contact ID restore (3130) → SIA BR', () => contactIdEvent('130', { qualifier: '3', partition: 0, address: 3, user: null }), 'sia-dcs', 'NBR003'],
    ['a Contact ID status report (6130) → an SIA O block', () => contactIdEvent('130', { qualifier: '6', partition: 0, address: 3, user: null }), 'sia-dcs', 'OBA003'],
    ['a SIA restore (HR) → Contact ID 122, qualifier 3', () => siaEvent('HR', { qualifier: '1', partition: 0, address: 5, user: null }), 'adm-cid', '3122 00 005'],
  ] as const)('%s', (_name, event, format, data) => {
    expect(eventFrameContent(event(), format, '9876')?.content.data).toBe(data);
  });

  test('an unverified event is forwarded, named in the notes and marked in [I] for the operator', () => {
    const event = { ...contactIdEvent('121', { qualifier: '1', partition: 1, address: 5, user: null }), verified: false, unverifiedReason: 'unknown-account', text: 'keypad 2' } as NormalizedEvent;
    const forwarded = eventFrameContent(event, 'adm-cid', '9876');
    expect(forwarded?.content.data).toBe('1121 01 005');
    expect(forwarded?.extended['I']).toBe('UNVERIFIED unknown-account: keypad 2');
    expect(forwarded?.notes).toEqual(['unverified (unknown-account): forwarded all the same']);
    expect(contactIdFieldsForEvent(event)?.notes).toEqual(['unverified (unknown-account): forwarded all the same']);
  });

  test('a heartbeat is not an event to forward', () => {
    const event = eventFromSignal(emptySignal('null'), origin, builder);
    expect(eventFrameContent(event, 'adm-cid', '9876')).toBeNull();
    expect(contactIdFieldsForEvent(event)).toBeNull();
  });
});
