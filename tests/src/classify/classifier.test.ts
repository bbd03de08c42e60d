import { describe, expect, it } from 'vitest';
import { createClassifier, type CodeScheme } from '../../../src/classify/classifier.js';
import type { CodeEntry } from '../../../src/catalog/types.js';
import { emptySignal, type Signal } from '../../../src/model/signal.js';
import { siteSchema, type SiteConfig } from '../../../src/settings/sites.js';

// A small table of our own, so these tests pin the rules, not the shipped tables' content.
const TABLES: Record<CodeScheme, Record<string, CodeEntry>> = {
  'contact-id': {
    '121': { description: 'Duress', category: 'duress', address: 'user', silent: true },
    '124': { description: 'Duress - access granted', category: 'duress', address: 'door', silent: true },
    '130': { description: 'Burglary', category: 'burglary', address: 'zone' },
    '137': { description: 'Tamper', category: 'tamper', address: 'zone' },
    '150': { description: '24 hour non-burglary', category: 'trouble', address: 'zone' },
    '380': { description: 'Sensor trouble', category: 'trouble', address: 'zone' },
    '401': { description: 'Open/close by user', category: 'opening', address: 'user', openClose: true },
    '601': { description: 'Manual trigger test report', category: 'test', address: 'zone' },
  },
  sia: {
    HA: { description: 'Holdup Alarm', category: 'holdup', address: 'zone', silent: true },
    HR: { description: 'Holdup Restoral', category: 'holdup', address: 'zone', qualifier: 'restore', silent: true },
    BA: { description: 'Burglary Alarm', category: 'burglary', address: 'zone' },
    YN: { description: 'Invalid Report', category: 'unrecognized', address: 'none' },
  },
};

const classify = createClassifier((scheme, value) => TABLES[scheme][value]);

function cid(value: string, qualifier: Signal['qualifier'], address: number | null, extra: Partial<Signal> = {}): Signal {
  return { ...emptySignal('contact-id'), account: '1234', code: { scheme: 'contact-id', value }, qualifier, address, ...extra };
}

function sia(value: string, address: number | null, extra: Partial<Signal> = {}): Signal {
  return { ...emptySignal('sia-dcs'), account: '1234', code: { scheme: 'sia', value }, address, ...extra };
}

function site(extra: Partial<SiteConfig> = {}) {
  return siteSchema.parse({
    id: 'branch-12',
    name: 'Branch 12',
    address: '1 Main Street',
    accounts: ['1234'],
    response: 'Silent alarm. Do not phone the branch. Dispatch police.',
    zones: [
      { number: 5, name: 'Teller 3 hold-up button', type: 'holdup', location: 'Counter 3', testEvery: '1d' },
      { number: 9, name: 'Manager pendant', type: 'panic', holder: 'A. Manager', testEvery: '7d' },
      { number: 11, name: 'First aid pendant', type: 'medical' },
      { number: 14, name: 'Panic bar', type: 'duress' },
      { number: 20, name: 'Back door', type: 'burglary' },
    ],
    users: [
      { number: 12, name: 'Manager duress code', duress: true, testEvery: '30d' },
      { number: 3, name: 'Cleaner' },
    ],
    doors: [{ id: 'door-lobby-2', name: 'Lobby door 2', zone: 7, duress: true }],
    ...extra,
  });
}

describe('baseline by code table', () => {
  it('a message without a code is a heartbeat', () => {
    const c = classify(emptySignal('null'), {});
    expect(c).toMatchObject({ category: 'heartbeat', duress: false, silent: false, qualifier: 'new', code: null });
    expect(c.reasons[0]).toMatch(/heartbeat/);
  });

  it('a heartbeat is no one\'s event: user and vendor rules do not apply to it', () => {
    const lupus = siteSchema.parse({ id: 'home', accounts: ['1234'], profile: 'lupus', users: [{ number: 998, name: 'x', duress: true }] });
    expect(classify({ ...emptySignal('null'), user: 998 }, { site: lupus })).toMatchObject({ category: 'heartbeat', duress: false, user: null });
  });

  it('an access signal without a code is kept as access, and its duress report counts', () => {
    expect(classify({ ...emptySignal('access-xml'), access: { door: 'd1', eventType: 'granted' } }, {})).toMatchObject({ category: 'access', door: { id: 'd1' } });
    expect(classify({ ...emptySignal('access-xml'), access: { door: 'd1', eventType: 'duress' } }, {})).toMatchObject({ category: 'duress' });
  });

  it('an unknown code is unrecognized with the code and a reason, never dropped', () => {
    const c = classify(cid('999', 'new', 4), {});
    expect(c).toMatchObject({ category: 'unrecognized', duress: false, qualifier: 'new' });
    expect(c.code).toEqual({ scheme: 'contact-id', value: '999', description: 'Not in the Contact ID code table' });
    expect(c.reasons).toContain('unknown Contact ID code 999');
  });

  it('Contact ID open/close: qualifier 1 is an opening, 3 a closing, both published as new', () => {
    expect(classify(cid('401', 'new', 3), {})).toMatchObject({ category: 'opening', qualifier: 'new', user: { number: 3 } });
    expect(classify(cid('401', 'restore', 3), {})).toMatchObject({ category: 'closing', qualifier: 'new' });
    expect(classify(cid('401', 'status', 3), {})).toMatchObject({ category: 'opening', qualifier: 'status' });
  });

  it('Contact ID qualifiers 3 and 6 on a duress code: restore and status, still duress', () => {
    const restore = classify(cid('121', 'restore', 12), {});
    expect(restore).toMatchObject({ category: 'duress', duress: true, silent: true, qualifier: 'restore' });
    const status = classify(cid('121', 'status', 12), {});
    expect(status).toMatchObject({ category: 'duress', duress: true, qualifier: 'status' });
    expect(status.reasons.join('\n')).toMatch(/no new incident/);
  });

  it('a SIA code brings its own qualifier, but an old-event (status) block wins', () => {
    expect(classify(sia('HR', 5), {})).toMatchObject({ category: 'holdup', duress: true, qualifier: 'restore' });
    expect(classify(sia('HA', 5), {})).toMatchObject({ qualifier: 'new' });
    expect(classify(sia('HR', 5, { qualifier: 'status' }), {})).toMatchObject({ duress: true, qualifier: 'status' });
  });

  it('the address is a zone or a user as the table says; the id modifier is a user; partition is kept', () => {
    expect(classify(cid('130', 'new', 20, { partition: 2 }), {})).toMatchObject({
      zone: { number: 20 },
      user: null,
      partition: { number: 2 },
    });
    expect(classify(cid('121', 'new', 12), {})).toMatchObject({ zone: null, user: { number: 12 } });
    expect(classify(sia('BA', 20, { user: 3 }), {})).toMatchObject({ zone: { number: 20 }, user: { number: 3 } });
  });

  it('address 000 names no zone unless the site lists a zone 0', () => {
    expect(classify(cid('130', 'new', 0), {}).zone).toBeNull();
    const withZero = site({ zones: [{ number: 0, name: 'Panel box', type: 'burglary' }] });
    expect(classify(cid('130', 'new', 0), { site: withZero }).zone).toMatchObject({ number: 0, name: 'Panel box' });
  });

  it('silent comes from the table or from duress; duress is exactly duress/holdup', () => {
    expect(classify(cid('130', 'new', 20), {})).toMatchObject({ duress: false, silent: false });
    expect(classify(sia('HA', 5), {})).toMatchObject({ category: 'holdup', duress: true, silent: true });
  });

  it('a test code is category test; the test flag waits for test windows', () => {
    expect(classify(cid('601', 'new', 0), {})).toMatchObject({ category: 'test', test: false });
  });
});

describe('responder context from the site', () => {
  it('names the site, zone (type, location, holder) and user', () => {
    const s = site();
    const c = classify(cid('130', 'new', 9), { site: s });
    expect(c.site).toEqual({
      id: 'branch-12',
      name: 'Branch 12',
      address: '1 Main Street',
      response: 'Silent alarm. Do not phone the branch. Dispatch police.',
    });
    expect(c.zone).toEqual({ number: 9, name: 'Manager pendant', type: 'panic', holder: 'A. Manager' });
    expect(classify(cid('401', 'new', 3), { site: s }).user).toEqual({ number: 3, name: 'Cleaner' });
  });

  it('leaves out site fields that are not configured', () => {
    const bare = siteSchema.parse({ id: 'shop', accounts: ['1234'] });
    expect(classify(cid('130', 'new', 1), { site: bare }).site).toEqual({ id: 'shop' });
  });

  it('a zone or user the site does not list is still classified, with a reason', () => {
    const c = classify(cid('130', 'new', 33), { site: site() });
    expect(c).toMatchObject({ category: 'burglary', zone: { number: 33 } });
    expect(c.reasons).toContain('zone 33 is not listed for site branch-12');
    expect(classify(cid('401', 'new', 44), { site: site() }).reasons).toContain('user 44 is not listed for site branch-12');
  });

  it('a site that lists no zones raises no "not listed" reason', () => {
    const bare = siteSchema.parse({ id: 'shop', accounts: ['1234'] });
    expect(classify(cid('130', 'new', 33), { site: bare }).reasons.join('\n')).not.toMatch(/not listed/);
  });
});

describe('typed zones', () => {
  it('an alarm on a hold-up zone is a hold-up, whatever the code says, and names the zone', () => {
    const c = classify(cid('130', 'new', 5), { site: site() });
    expect(c).toMatchObject({ category: 'holdup', duress: true, silent: true });
    expect(c.reasons.join('\n')).toMatch(/alarm on zone 5 "Teller 3 hold-up button"/);
  });

  it('a 24-hour non-burglary report (a "trouble" in the table) from a hold-up zone is a hold-up', () => {
    expect(classify(cid('150', 'new', 5), { site: site() })).toMatchObject({ category: 'holdup', duress: true });
  });

  it('alarms on panic, duress and medical zones take that category', () => {
    expect(classify(cid('130', 'new', 9), { site: site() })).toMatchObject({ category: 'panic', duress: false });
    expect(classify(sia('BA', 14), { site: site() })).toMatchObject({ category: 'duress', duress: true });
    expect(classify(cid('130', 'new', 11), { site: site() })).toMatchObject({ category: 'medical', duress: false });
  });

  it('a status report of an alarm on a hold-up zone is a hold-up status', () => {
    expect(classify(cid('130', 'status', 5), { site: site() })).toMatchObject({ category: 'holdup', qualifier: 'status' });
  });

  it('the restore of an alarm on a hold-up zone is a hold-up restore: as covert as the hold-up', () => {
    const c = classify(cid('130', 'restore', 5), { site: site() });
    expect(c).toMatchObject({ category: 'holdup', duress: true, qualifier: 'restore' });
    expect(c.reasons.join('\n')).toMatch(/restore of an alarm on zone 5 "Teller 3 hold-up button", a duress device/);
    expect(classify(cid('130', 'restore', 20), { site: site() })).toMatchObject({ category: 'burglary', duress: false });
  });

  it('trouble and tamper on a hold-up zone keep their category, and say it is a duress device', () => {
    for (const [code, qualifier, category] of [
      ['380', 'new', 'trouble'],
      ['137', 'new', 'tamper'],
    ] as const) {
      const c = classify(cid(code, qualifier, 5), { site: site() });
      expect(c).toMatchObject({ category, qualifier, zone: { number: 5, location: 'Counter 3', type: 'holdup' } });
      expect(c.reasons.join('\n')).toMatch(/zone 5 "Teller 3 hold-up button" is a duress device/);
    }
  });

  it('an unknown code on a hold-up, panic or duress zone takes the zone category', () => {
    const holdup = classify(cid('999', 'new', 5), { site: site() });
    expect(holdup).toMatchObject({ category: 'holdup', duress: true });
    expect(holdup.reasons.join('\n')).toMatch(/unknown code on a duress device/);
    expect(classify(sia('YN', 9), { site: site() })).toMatchObject({ category: 'unrecognized' });
    expect(classify(cid('999', 'new', 9), { site: site() })).toMatchObject({ category: 'panic' });
    expect(classify(cid('999', 'restore', 14), { site: site() })).toMatchObject({ category: 'duress', qualifier: 'restore' });
  });

  it('an unknown Contact ID alarm-range (1xx) code on a medical zone is medical', () => {
    expect(classify(cid('199', 'new', 11), { site: site() })).toMatchObject({ category: 'medical' });
    expect(classify(cid('999', 'new', 11), { site: site() })).toMatchObject({ category: 'unrecognized' });
  });

  it('an unknown code on a burglary zone stays unrecognized', () => {
    expect(classify(cid('999', 'new', 20), { site: site() })).toMatchObject({ category: 'unrecognized', duress: false });
  });

  it('a zone type never removes a duress label', () => {
    const c = classify(sia('HA', 9), { site: site() });
    expect(c).toMatchObject({ category: 'holdup', duress: true });
    expect(c.reasons.join('\n')).toMatch(/holdup is kept/);
    expect(classify(cid('124', 'new', 11), { site: site() })).toMatchObject({ category: 'duress', duress: true });
  });
});

describe('duress users', () => {
  it('any event by a duress user is duress, openings and closings included', () => {
    for (const qualifier of ['new', 'restore'] as const) {
      const c = classify(cid('401', qualifier, 12), { site: site() });
      expect(c).toMatchObject({ category: 'duress', duress: true, silent: true, user: { number: 12, name: 'Manager duress code' } });
      expect(c.reasons.join('\n')).toMatch(/user 12 "Manager duress code" is a duress user/);
    }
  });

  it('the SIA id modifier names the duress user too', () => {
    expect(classify(sia('BA', 20, { user: 12 }), { site: site() })).toMatchObject({ category: 'duress' });
  });

  it('an unknown code whose address is a listed duress user is duress', () => {
    const c = classify(cid('999', 'new', 12), { site: site() });
    expect(c).toMatchObject({ category: 'duress', zone: null, user: { number: 12 } });
    expect(c.reasons.join('\n')).toMatch(/read as a user/);
  });

  it('an ordinary user stays ordinary', () => {
    expect(classify(cid('401', 'new', 3), { site: site() })).toMatchObject({ category: 'opening', duress: false });
  });
});

describe('doors', () => {
  it('Contact ID 124 names the door configured for its zone', () => {
    const c = classify(cid('124', 'new', 7), { site: site() });
    expect(c).toMatchObject({ category: 'duress', door: { id: 'door-lobby-2', name: 'Lobby door 2' } });
    expect(c.reasons.join('\n')).not.toMatch(/not listed/);
  });

  it('Contact ID 124 from an unconfigured point still carries the point as door id', () => {
    const c = classify(cid('124', 'new', 8), { site: site() });
    expect(c.door).toEqual({ id: '8' });
    expect(c.reasons).toContain('door 8 is not listed for site branch-12');
  });

  it('access signals carry their door, named by the site when it lists it', () => {
    const access = { door: 'door-lobby-2', doorName: 'Controller name', eventType: 'granted' };
    expect(classify(cid('130', 'new', 20, { access }), { site: site() }).door).toEqual({ id: 'door-lobby-2', name: 'Lobby door 2' });
    expect(classify(cid('130', 'new', 20, { access: { door: 'x', doorName: 'Side door' } }), {}).door).toEqual({ id: 'x', name: 'Side door' });
    expect(classify(cid('130', 'new', 20), {}).door).toBeUndefined();
  });

  it('an access event the controller calls duress is duress', () => {
    const c = classify(cid('999', 'new', null, { access: { door: 'x', eventType: 'DuressPinEntered' } }), {});
    expect(c).toMatchObject({ category: 'duress', duress: true });
  });

  it('an unknown code at a duress door is duress', () => {
    const c = classify(cid('999', 'new', null, { access: { door: 'door-lobby-2' } }), { site: site() });
    expect(c).toMatchObject({ category: 'duress' });
    expect(c.reasons.join('\n')).toMatch(/unknown code on a duress device: door door-lobby-2/);
  });
});
