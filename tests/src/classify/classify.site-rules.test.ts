import { describe, expect, it } from 'vitest';
import { classify } from '../../../src/classify/classify.js';
import { emptySignal, type Signal } from '../../../src/model/signal.js';
import { siteSchema } from '../../../src/settings/sites.js';

/** A branch whose configuration names its duress devices: what the panel's codes do not say, the site does. */
const site = (profile = 'generic') =>
  siteSchema.parse({
    id: 'branch',
    accounts: ['1234'],
    profile,
    zones: [
      { number: 5, name: 'Teller hold-up', type: 'holdup' },
      { number: 12, name: 'Back door contact', type: 'burglary' },
    ],
    users: [{ number: 12, name: 'Manager duress code', duress: true }],
    doors: [{ id: 'lobby', name: 'Lobby door', zone: 7, duress: true }],
  });
const cid = (value: string, address: number): Signal => ({
  ...emptySignal('adm-cid'),
  account: '1234',
  code: { scheme: 'contact-id', value },
  qualifier: 'new',
  partition: 1,
  address,
});
const sia = (value: string, address: number | null, user: number | null = null): Signal => ({
  ...emptySignal('sia-dcs'),
  account: '1234',
  code: { scheme: 'sia', value },
  address,
  user,
});

describe('site rules with the real code tables', () => {
  it('an unknown code on the point of a door that takes duress PINs is a duress', () => {
    expect(classify(cid('199', 7), { site: site() })).toMatchObject({ duress: true, category: 'duress' });
    expect(classify(sia('XZ', 7), { site: site() })).toMatchObject({ duress: true, category: 'duress' });
  });

  it('an unknown code whose number is a burglary zone and a duress user is a duress: it may be the user', () => {
    expect(classify(cid('799', 12), { site: site() })).toMatchObject({ duress: true, category: 'duress' });
  });

  it('a SIA water or freeze alarm on a hold-up zone is a hold-up, as its Contact ID twin (154, 159) is', () => {
    for (const signal of [cid('154', 5), sia('WA', 5), sia('ZA', 5)]) expect(classify(signal, { site: site() })).toMatchObject({ duress: true, category: 'holdup' });
  });

  it('a keypad duress stays duress when a rule for a hold-up device also applies', () => {
    expect(classify(cid('121', 998), { site: site('lupus') }).category).toBe('duress');
    expect(classify(sia('HA', 5, 4), { site: site('dsc') }).category).toBe('duress');
  });

  it('labels nothing of another account: the same numbers elsewhere stay what their codes say', () => {
    expect(classify({ ...cid('799', 12), account: '9999' }, {})).toMatchObject({ duress: false, category: 'unrecognized' });
  });
});
