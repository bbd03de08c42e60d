import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { eventJson } from '../../../src/model/event-json.js';
import { jsonText } from '../../../src/model/json-text.js';
import { CATEGORIES, CONTROL_ACTIONS, EVENT_SCHEMA_ID, PROTOCOLS, TRANSPORTS, UNVERIFIED_REASONS } from '../../../src/model/event.js';
import { createIdSource, seededRandom } from '../../../src/model/ids.js';
import type { Signal } from '../../../src/model/signal.js';
import { eventFromSignal, gatewayEvent, unverified, VERIFIED, type FrameOrigin } from '../../../src/pipeline/event-builder.js';
import { ZONE_TYPES, siteSchema, type Site } from '../../../src/settings/sites.js';
import contactIdTable from '../../../src/catalog/contact-id.json' with { type: 'json' };
import siaTable from '../../../src/catalog/sia.json' with { type: 'json' };

/** Strings JSON must escape or keep as they are: quotes, backslashes, controls, U+2028, lone and paired surrogates. */
const nastyString = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({ unit: fc.constantFrom('"', '\\', '\n', '\r', '\u0000', '\u001f', '\u007f', '\u2028', '\ud800', '\udc00', 'é', '😀', 'a', '/'), maxLength: 12 }),
);
const numberValue = fc.oneof(fc.integer(), fc.double(), fc.constantFrom(-0, Number.NaN, Number.POSITIVE_INFINITY, 1e21, 5e-324));
/** Anything JSON.stringify writes, plus what it leaves out or writes as null. */
const anyValue = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  nastyString,
  numberValue,
  fc.constantFrom(undefined, null, true, false, () => 1, Symbol('s')),
  fc.date({ noInvalidDate: true }),
  fc.constantFrom({ toJSON: () => 'replaced' }, Object.assign(['a'], { toJSON: () => ({ b: 1 }) }), { a: 1, toJSON: () => undefined }),
);
const absent = Symbol('absent');
/** A field of the right kind most of the time, else anything, else absent. */
const field = <T>(right: fc.Arbitrary<T>) =>
  fc.oneof({ arbitrary: right, weight: 6 }, { arbitrary: anyValue, weight: 1 }, { arbitrary: fc.constant(absent), weight: 1 });
const nullable = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: null });

/**
 * Parts shared by many events, frozen as the builder shares them, so the serialiser's kept texts are hit by events
 * that differ around them. Some are frozen but hold an object, or a getter, whose text must not be kept.
 */
const sharedParts = [
  Object.freeze({ scheme: 'sia', value: 'BA', description: 'Burglary "Alarm"' }),
  Object.freeze({ scheme: 'contact-id', value: '121', description: 'Duress' }),
  Object.freeze({ input: 'panels', transport: 'tcp', peer: '10.0.0.1:5000' }),
  Object.freeze({ number: 3 }),
  Object.freeze({ id: 'site-1', name: 'Bank\n"Main"' }),
  Object.freeze({ scheme: 'sia', value: 'HA', nested: { changes: 1 } }),
  Object.freeze(Object.defineProperty({ scheme: 'sia' }, 'value', { get: () => `read ${reads}`, enumerable: true })),
];
/** What the frozen getter above returns; moved on between events. */
let reads = 0;
const objectValue = fc.oneof(
  fc.constantFrom(...sharedParts),
  fc.dictionary(fc.oneof(fc.constantFrom('number', 'name', 'id', 'scheme', 'value'), nastyString), anyValue, { maxKeys: 4 }),
);

/** Every key of an event, in the order the builder writes them, each with what it may hold. */
const builtFields = {
  schema: fc.oneof({ arbitrary: fc.constant(EVENT_SCHEMA_ID), weight: 8 }, { arbitrary: nastyString, weight: 1 }),
  id: field(nastyString),
  receivedAt: field(fc.constantFrom('2026-06-01T00:00:00.000Z', '2026-06-01T00:00:00.001Z')),
  occurredAt: field(nullable(nastyString)),
  source: field(objectValue),
  verified: field(fc.boolean()),
  unverifiedReason: field(fc.oneof(fc.constantFrom(...UNVERIFIED_REASONS), nastyString)),
  protocol: field(nullable(fc.constantFrom(...PROTOCOLS))),
  account: field(nullable(nastyString)),
  receiver: field(nullable(nastyString)),
  line: field(nullable(nastyString)),
  code: field(nullable(objectValue)),
  qualifier: field(fc.constantFrom('new', 'restore', 'status')),
  category: field(fc.constantFrom(...CATEGORIES)),
  duress: field(fc.boolean()),
  silent: field(fc.boolean()),
  partition: field(nullable(objectValue)),
  zone: field(nullable(objectValue)),
  user: field(nullable(objectValue)),
  site: field(nullable(objectValue)),
  door: field(objectValue),
  number: field(objectValue),
  devices: field(fc.array(anyValue, { maxLength: 3 })),
  test: field(fc.boolean()),
  reasons: field(fc.oneof(fc.array(fc.oneof(fc.constantFrom('SIA BA "Burglary Alarm": burglary'), nastyString), { maxLength: 3 }), fc.constant([1, 'a', undefined]))),
  quirks: field(fc.array(nastyString, { maxLength: 2 })),
  extended: field(fc.dictionary(nastyString, nastyString, { maxKeys: 3 })),
  text: field(nullable(nastyString)),
  raw: field(nastyString),
};

/** What is set on an event after it is built (the annotator, the receivers), or a key no event has. */
const addedFields = fc.array(
  fc.oneof(
    fc.tuple(fc.constant('incident'), nullable(nastyString)),
    fc.tuple(fc.constant('unverifiedCount'), fc.integer({ min: 1, max: 99 })),
    fc.tuple(fc.constant('covert'), fc.constant(true)),
    fc.tuple(
      fc.constant('control'),
      fc.record({ action: fc.constantFrom(...CONTROL_ACTIONS), by: nastyString, role: nastyString, channel: fc.constantFrom('api', 'mqtt', 'gateway'), note: nullable(nastyString) }),
    ),
    fc.tuple(nastyString, anyValue),
    fc.tuple(fc.constant('toJSON'), fc.constantFrom(() => 'replaced', () => ({ a: 1 }), 5)),
    // A key of the builder's set again after the event was built: it moves to the end.
    fc.tuple(fc.constantFrom(...Object.keys(builtFields)), anyValue),
  ),
  { maxLength: 4 },
);

const eventArb = fc.tuple(fc.record(builtFields), addedFields).map(([fields, added]) => {
  const event: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) if (value !== absent) event[key] = value;
  for (const [key, value] of added) {
    delete event[key];
    event[key] = value;
  }
  return event;
});

/** The same as JSON.stringify, throw included. */
function expectSameText(value: unknown): void {
  let expected: string | undefined;
  try {
    expected = JSON.stringify(value);
  } catch (error) {
    expect(() => jsonText(value)).toThrow((error as Error).constructor as new () => Error);
    return;
  }
  expect(jsonText(value)).toBe(expected);
}

const knownCodes = [
  ...Object.keys(contactIdTable).map((value) => ({ scheme: 'contact-id' as const, value })),
  ...Object.keys(siaTable).map((value) => ({ scheme: 'sia' as const, value })),
];
const smallNumber = fc.integer({ min: 0, max: 12 });

const signalArb: fc.Arbitrary<Signal> = fc.record({
  protocol: fc.constantFrom(null, ...PROTOCOLS),
  account: fc.constantFrom(null, '1234', '5678'),
  receiver: nullable(nastyString),
  line: nullable(nastyString),
  code: fc.oneof(
    fc.constant(null),
    fc.constantFrom(...knownCodes),
    fc.constantFrom(...knownCodes).map(({ scheme, value }) => ({ scheme, value: value.toLowerCase() })),
    fc.record({ scheme: fc.constantFrom<'contact-id' | 'sia'>('contact-id', 'sia'), value: nastyString }),
  ),
  qualifier: fc.constantFrom(null, 'new', 'restore', 'status'),
  partition: nullable(smallNumber),
  address: nullable(fc.oneof(smallNumber, fc.constantFrom(999, 20_000))),
  user: nullable(smallNumber),
  occurredAt: nullable(fc.constant('2026-06-01T00:00:00Z')),
  text: nullable(nastyString),
  extended: fc.dictionary(fc.constantFrom('A', 'H', 'X', 'Y'), nastyString, { maxKeys: 2 }),
  quirks: fc.array(nastyString, { maxLength: 2 }),
  access: fc.option(
    fc.record({ door: fc.option(nastyString, { nil: undefined }), doorName: fc.option(nastyString, { nil: undefined }), credential: fc.option(nastyString, { nil: undefined }), holder: fc.option(nastyString, { nil: undefined }), eventType: fc.option(fc.constantFrom('Granted', 'Duress'), { nil: undefined }) }, { requiredKeys: [] }),
    { nil: undefined },
  ),
});

/** One site for account 1234 with zones, users and doors, so classifications carry their shared contexts. */
const SITES: readonly Site[] = [
  siteSchema.parse({
    id: 'branch-"12"',
    name: 'Branch\t12',
    address: 'Main St 1',
    accounts: ['1234'],
    zones: ZONE_TYPES.map((type, i) => ({ number: i + 1, name: `zone ${type}`, type, ...(i % 2 === 0 ? { location: 'hall\\' } : {}) })),
    users: [{ number: 2, name: 'Ann' }, { number: 3, name: 'Bob', duress: true }],
    doors: [{ id: 'front', name: 'Front "door"', zone: 9 }],
  }),
];

const originArb: fc.Arbitrary<FrameOrigin> = fc.record({
  input: fc.constantFrom('panels', 'serial "1"'),
  transport: fc.constantFrom(...TRANSPORTS),
  peer: fc.option(fc.constantFrom('10.0.0.1:5000', '10.0.0.2:5001', '[::1]:6000'), { nil: undefined }),
  receivedAt: fc.integer({ min: 1_780_000_000_000, max: 1_780_000_100_000 }),
  raw: fc.uint8Array({ maxLength: 40 }),
  trust: fc.oneof(fc.constant(VERIFIED), fc.constantFrom(...UNVERIFIED_REASONS).map(unverified)),
}, { requiredKeys: ['input', 'transport', 'receivedAt', 'raw', 'trust'] });

/** What the recorder's annotator and the receivers do to an event before its text is taken. */
const annotationArb = fc.record({
  test: fc.boolean(),
  reason: fc.option(nastyString, { nil: undefined }),
  incident: fc.option(fc.constantFrom('incident-1', 'incident-2'), { nil: undefined }),
  unverifiedCount: fc.option(fc.integer({ min: 1, max: 50 }), { nil: undefined }),
  covert: fc.boolean(),
});

const ids = createIdSource({ now: () => 1_780_000_000_000 }, seededRandom(21));
const deps = { ids, sites: () => SITES };

describe('event JSON, property', () => {
  test.prop([eventArb], { numRuns: 3000 })('an event of any shape is written as JSON.stringify writes it', (event) => {
    expectSameText(event);
  });

  test.prop([fc.array(eventArb, { minLength: 2, maxLength: 6 })], { numRuns: 500 })(
    'events sharing frozen parts, differing around them, are each written as JSON.stringify writes them',
    (events) => {
      for (const event of events) {
        reads += 1;
        expectSameText(event);
      }
    },
  );

  test.prop(
    [fc.anything({ maxDepth: 3, withBoxedValues: true, withNullPrototype: true, withSparseArray: true, withDate: true, withMap: true, withSet: true, withTypedArray: true, withObjectString: true })],
    { numRuns: 2000 },
  )('any value is written as JSON.stringify writes it', (value) => {
    expectSameText(value);
  });

  test.prop([fc.array(fc.tuple(signalArb, originArb, annotationArb), { minLength: 1, maxLength: 5 })], { numRuns: 1500 })(
    'built and annotated events are written as JSON.stringify writes them',
    (frames) => {
      for (const [signal, origin, annotation] of frames) {
        const event = eventFromSignal(signal, origin, deps);
        if (annotation.test) event.test = true;
        if (annotation.reason !== undefined) event.reasons.push(annotation.reason);
        if (annotation.unverifiedCount !== undefined) event.unverifiedCount = annotation.unverifiedCount;
        if (annotation.covert) event.covert = true;
        if (annotation.incident !== undefined) event.incident = annotation.incident;
        expect(eventJson(event)).toBe(JSON.stringify(event));
      }
    },
  );

  test.prop([originArb, fc.constantFrom(null, '1234'), fc.option(fc.array(anyValue, { maxLength: 3 }), { nil: undefined }), annotationArb], { numRuns: 500 })(
    'events the gateway raises are written as JSON.stringify writes them',
    (origin, account, devices, annotation) => {
      const event = gatewayEvent({ category: 'supervisory', account, reasons: ['link "lost"'], ...(devices === undefined ? {} : { devices }) }, origin, deps);
      if (annotation.incident !== undefined) event.incident = annotation.incident;
      expect(eventJson(event)).toBe(JSON.stringify(event));
    },
  );
});
