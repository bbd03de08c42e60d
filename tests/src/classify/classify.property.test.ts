import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { z } from 'zod';
import { classify } from '../../../src/classify/classify.js';
import { PROFILE_NAMES } from '../../../src/catalog/profile-names.js';
import { PROFILES } from '../../../src/classify/profiles.js';
import { catalogedDuressCodes, lookupCode, type CodeScheme } from '../../../src/catalog/index.js';
import { DURESS_CATEGORIES, PROTOCOLS, eventSchema } from '../../../src/model/event.js';
import type { Signal } from '../../../src/model/signal.js';
import { ZONE_TYPES, siteSchema, type Site, type ZoneType } from '../../../src/settings/sites.js';
import contactIdTable from '../../../src/catalog/contact-id.json' with { type: 'json' };
import siaTable from '../../../src/catalog/sia.json' with { type: 'json' };

/** The classified fields of an event, exactly: nothing missing, nothing extra. */
const classificationSchema = z.strictObject(
  eventSchema.pick({
    category: true,
    duress: true,
    silent: true,
    qualifier: true,
    code: true,
    partition: true,
    zone: true,
    user: true,
    door: true,
    number: true,
    test: true,
    reasons: true,
    site: true,
  }).extend({
    // The event carries covert only when true; the classification says it either way.
    covert: z.boolean(),
  }).shape,
);

// Small numbers, so generated addresses often hit the generated zones, users and doors; plus vendor specials.
const number = fc.oneof(fc.integer({ min: 0, max: 16 }), fc.constantFrom(998, 999, 4095));
const text = fc.string({ minLength: 1, maxLength: 12 });
const optional = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
const duration = fc.constantFrom('90s', '30m', '1d', '7d');

function withoutDuplicateDoorZones<T extends { zone?: number }>(doors: T[]): T[] {
  const seen = new Set<number>();
  return doors.map((door) => {
    if (door.zone === undefined || !seen.has(door.zone)) {
      if (door.zone !== undefined) seen.add(door.zone);
      return door;
    }
    return { ...door, zone: undefined };
  });
}

/** Any site configuration: random profile, typed zones, users (some duress), doors. Parsed like the real config. */
const siteArb: fc.Arbitrary<Site> = fc
  .record({
    id: fc.constant('site-1'),
    name: optional(text),
    address: optional(text),
    response: optional(text),
    accounts: fc.constant(['1234']),
    profile: fc.constantFrom(...PROFILE_NAMES),
    zones: optional(
      fc.uniqueArray(
        fc.record({ number, name: text, type: fc.constantFrom(...ZONE_TYPES), location: optional(text), holder: optional(text), testEvery: optional(duration) }),
        { selector: (z) => z.number, maxLength: 8 },
      ),
    ),
    users: optional(
      fc.uniqueArray(fc.record({ number, name: text, duress: optional(fc.boolean()), testEvery: optional(duration) }), {
        selector: (u) => u.number,
        maxLength: 6,
      }),
    ),
    doors: optional(
      fc
        .uniqueArray(fc.record({ id: text, name: text, zone: optional(number), duress: optional(fc.boolean()) }), { selector: (d) => d.id, maxLength: 4 })
        .map(withoutDuplicateDoorZones),
    ),
  })
  .map((config) => siteSchema.parse(JSON.parse(JSON.stringify(config))));

const knownCodes = [
  ...Object.keys(contactIdTable).map((value) => ({ scheme: 'contact-id' as const, value })),
  ...Object.keys(siaTable).map((value) => ({ scheme: 'sia' as const, value })),
];

const anyCode: fc.Arbitrary<Signal['code']> = fc.oneof(
  fc.constant(null),
  fc.constantFrom(...knownCodes),
  fc.record({ scheme: fc.constantFrom<CodeScheme>('contact-id', 'sia'), value: fc.string({ maxLength: 40 }) }),
  fc.record({ scheme: fc.constantFrom<CodeScheme>('contact-id', 'sia'), value: fc.constantFrom('__proto__', 'constructor', 'toString', '') }),
);

function signalArb(code: fc.Arbitrary<Signal['code']>): fc.Arbitrary<Signal> {
  return fc.record({
    protocol: fc.constantFrom(null, ...PROTOCOLS),
    account: fc.constantFrom(null, '1234'),
    receiver: fc.constant(null),
    line: fc.constant(null),
    code,
    qualifier: fc.constantFrom(null, 'new', 'restore', 'status'),
    partition: fc.option(number, { nil: null }),
    address: fc.option(number, { nil: null }),
    user: fc.option(number, { nil: null }),
    occurredAt: fc.constant(null),
    text: fc.option(fc.string(), { nil: null }),
    extended: fc.constant({}),
    quirks: fc.constant([]),
    access: optional(fc.record({ door: optional(text), doorName: optional(text), eventType: optional(fc.oneof(text, fc.constant('Duress'))) })),
  });
}

const contexts = fc.option(siteArb, { nil: undefined }).map((site) => (site === undefined ? {} : { site }));

describe('classification properties', () => {
  // (a) catalogued duress and hold-up codes stay duress, whatever the site, profile, qualifier or address.
  test.prop([signalArb(fc.constantFrom(...catalogedDuressCodes())), contexts], { numRuns: 400 })(
    'every catalogued duress/hold-up code is duress under any site configuration',
    (signal, context) => {
      const c = classify(signal, context);
      expect(c.duress).toBe(true);
      expect(DURESS_CATEGORIES.has(c.category)).toBe(true);
      expect(c.silent).toBe(true);
    },
  );

  // Site rules may add duress labels, never remove one: a site can only keep or raise what the bare tables say.
  test.prop([signalArb(anyCode), siteArb], { numRuns: 400 })('a site never removes a duress label the tables give', (signal, site) => {
    if (classify(signal, {}).duress) expect(classify(signal, { site }).duress).toBe(true);
  });

  // (b) no input yields no event: one well-formed classification with reasons, for anything a codec can hand over.
  test.prop([signalArb(anyCode), contexts], { numRuns: 400 })('every signal yields exactly one classification with reasons', (signal, context) => {
    const c = classify(signal, context);
    expect(Array.isArray(c)).toBe(false);
    classificationSchema.parse(c);
    expect(c.reasons.length).toBeGreaterThan(0);
    for (const reason of c.reasons) expect(reason.trim()).not.toBe('');
    expect(c.duress).toBe(DURESS_CATEGORIES.has(c.category));
    if (c.duress) expect(c.silent).toBe(true);
    expect(c.code === null).toBe(signal.code === null);
    expect(c.category === 'heartbeat').toBe(signal.code === null && signal.access === undefined);
  });

  // (c) unknown codes: unrecognized on ordinary zones; on a hold-up, panic or duress zone, that zone's category.
  const codesNamedByProfiles = new Set(PROFILE_NAMES.flatMap((name) => PROFILES[name].rules.flatMap((r) => r.match.code ?? [])));
  const unknownCode = fc
    .oneof(
      // 2xx-9xx: outside the alarm range, where a 1xx code on a typed zone counts as an alarm (see the unit tests).
      fc.integer({ min: 200, max: 999 }).map((n) => ({ scheme: 'contact-id' as const, value: String(n) })),
      fc.stringMatching(/^[A-Z]{2}$/).map((value) => ({ scheme: 'sia' as const, value })),
    )
    .filter(({ scheme, value }) => lookupCode(scheme, value) === undefined && !codesNamedByProfiles.has(value));
  const DURESS_DEVICE_CATEGORY: Partial<Record<ZoneType, string>> = { holdup: 'holdup', panic: 'panic', duress: 'duress' };

  test.prop([signalArb(unknownCode), siteArb, fc.constantFrom(...ZONE_TYPES)], { numRuns: 300 })(
    'an unknown code is unrecognized, except on a duress device where it takes the zone category (or a duress user or door under its number: duress)',
    (generated, generatedSite, type) => {
      const zoneNumber = generated.address ?? 1;
      const signal: Signal = { ...generated, address: zoneNumber, user: null, access: undefined };
      const otherZones = (generatedSite.zones ?? []).filter((z) => z.number !== zoneNumber);
      const site: Site = { ...generatedSite, zones: [...otherZones, { number: zoneNumber, name: 'device', type }] };
      const c = classify(signal, { site });
      const alsoDuress =
        site.users?.some((u) => u.number === zoneNumber && u.duress === true) === true || site.doors?.some((d) => d.zone === zoneNumber && d.duress === true) === true;
      const expected = DURESS_DEVICE_CATEGORY[type] ?? (alsoDuress ? 'duress' : 'unrecognized');
      expect(c.category).toBe(expected);
      expect(c.zone).toMatchObject({ number: zoneNumber, type });
      if (DURESS_DEVICE_CATEGORY[type] !== undefined) expect(c.reasons.join('\n')).toMatch(/unknown code on a duress device/);
    },
  );
});
