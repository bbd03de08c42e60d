import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { eventJson } from '../../../src/model/event-json.js';
import { PROTOCOLS, TRANSPORTS, UNVERIFIED_REASONS } from '../../../src/model/event.js';
import { createIdSource, seededRandom } from '../../../src/model/ids.js';
import type { Signal } from '../../../src/model/signal.js';
import type { NormalizedEvent } from '../../../src/model/event.js';
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
const nullable = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: null });

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
type Annotation = { test: boolean; reason?: string; incident?: string; unverifiedCount?: number; covert: boolean };
const annotationArb: fc.Arbitrary<Annotation> = fc.record({
  test: fc.boolean(),
  reason: fc.option(nastyString, { nil: undefined }),
  incident: fc.option(fc.constantFrom('incident-1', 'incident-2'), { nil: undefined }),
  unverifiedCount: fc.option(fc.integer({ min: 1, max: 50 }), { nil: undefined }),
  covert: fc.boolean(),
});

const ids = createIdSource({ now: () => 1_780_000_000_000 }, seededRandom(21));
const deps = { ids, sites: () => SITES };

function annotate(event: NormalizedEvent, annotation: Annotation): void {
  if (annotation.test) event.test = true;
  if (annotation.reason !== undefined) event.reasons.push(annotation.reason);
  if (annotation.unverifiedCount !== undefined) event.unverifiedCount = annotation.unverifiedCount;
  if (annotation.covert) event.covert = true;
  if (annotation.incident !== undefined) event.incident = annotation.incident;
}

/*
 * Classification shares frozen parts between events (a code's code object, numbers, a site's context) and the text
 * is kept on the event: what is set on one event after it is built must show in its text and in no other event.
 */
describe('event JSON of built events, property', () => {
  test.prop([fc.array(fc.tuple(signalArb, originArb, annotationArb), { minLength: 1, maxLength: 5 })], { numRuns: 1500 })(
    'built and annotated events are written as their final object',
    (frames) => {
      for (const [signal, origin, annotation] of frames) {
        const event = eventFromSignal(signal, origin, deps);
        annotate(event, annotation);
        expect(eventJson(event)).toBe(JSON.stringify(event));
      }
    },
  );

  test.prop([signalArb, originArb, annotationArb], { numRuns: 500 })('annotating an event changes no other event', (signal, origin, annotation) => {
    const annotated = eventFromSignal(signal, origin, deps);
    const other = eventFromSignal(signal, origin, deps);
    const before = eventJson(other);
    annotate(annotated, annotation);
    eventJson(annotated);
    const again = eventFromSignal(signal, origin, deps);
    expect(JSON.parse(eventJson(again))).toEqual({ ...(JSON.parse(before) as object), id: again.id });
  });

  test.prop([originArb, fc.constantFrom(null, '1234'), fc.option(fc.array(anyValue, { maxLength: 3 }), { nil: undefined }), annotationArb], { numRuns: 500 })(
    'events the gateway raises are written as their final object',
    (origin, account, devices, annotation) => {
      const event = gatewayEvent({ category: 'supervisory', account, reasons: ['link "lost"'], ...(devices === undefined ? {} : { devices }) }, origin, deps);
      annotate(event, annotation);
      expect(eventJson(event)).toBe(JSON.stringify(event));
    },
  );
});
