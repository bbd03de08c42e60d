import { describe, expect, it } from 'vitest';
import { PROFILE_NAMES } from '../../../src/catalog/profile-names.js';
import { PROFILES, profileRules, ruleMatches, type ProfileRule, type RuleFacts } from '../../../src/classify/profiles.js';

describe('vendor profiles', () => {
  it('every profile file loads under its own name', () => {
    for (const name of PROFILE_NAMES) expect(PROFILES[name].profile).toBe(name);
  });

  it('every rule cites a source and a reason', () => {
    for (const name of PROFILE_NAMES)
      for (const rule of PROFILES[name].rules) {
        expect(rule.reason.length).toBeGreaterThan(10);
        expect(rule.source.length).toBeGreaterThan(10);
      }
  });

  it('a vendor profile applies the generic rules first, then its own', () => {
    const origins = (name: (typeof PROFILE_NAMES)[number]) => profileRules(name).map((r) => r.profile);
    expect(profileRules('dsc').map((r) => r.rule)).toEqual([...PROFILES.generic.rules, ...PROFILES.dsc.rules]);
    expect(origins('dsc')).toEqual([...PROFILES.generic.rules.map(() => 'generic'), ...PROFILES.dsc.rules.map(() => 'dsc')]);
    expect(origins('generic')).toEqual(PROFILES.generic.rules.map(() => 'generic'));
  });
});

describe('ruleMatches', () => {
  const facts = (over: Partial<RuleFacts>): RuleFacts => ({
    code: { scheme: 'sia', value: 'HA' },
    qualifier: 'new',
    address: null,
    users: [],
    ...over,
  });
  const rule = (match: ProfileRule['match']): ProfileRule => ({ match, category: 'duress', reason: 'r', source: 's' });

  it('matches scheme, code (any case) and qualifier', () => {
    const r = rule({ scheme: 'contact-id', code: '423', qualifier: 'new' });
    expect(ruleMatches(r, facts({ code: { scheme: 'contact-id', value: '423' } }))).toBe(true);
    expect(ruleMatches(r, facts({ code: { scheme: 'contact-id', value: '423' }, qualifier: 'restore' }))).toBe(false);
    expect(ruleMatches(r, facts({ code: { scheme: 'sia', value: '423' } }))).toBe(false);
    expect(ruleMatches(rule({ code: 'ND' }), facts({ code: { scheme: 'sia', value: 'nd' } }))).toBe(true);
    expect(ruleMatches(rule({ code: 'ND' }), facts({ code: null }))).toBe(false);
  });

  it('address zero means 0 or none; nonzero means any other number', () => {
    const zero = rule({ code: 'HA', address: 'zero' });
    const nonzero = rule({ code: 'HA', address: 'nonzero' });
    expect([0, null, 3].map((address) => ruleMatches(zero, facts({ address })))).toEqual([true, true, false]);
    expect([0, null, 3].map((address) => ruleMatches(nonzero, facts({ address })))).toEqual([false, false, true]);
    expect(ruleMatches(rule({ code: 'HA', address: 3 }), facts({ address: 3 }))).toBe(true);
  });

  it('user present means any user; a number means that user', () => {
    expect(ruleMatches(rule({ code: 'HA', user: 'present' }), facts({ users: [4] }))).toBe(true);
    expect(ruleMatches(rule({ code: 'HA', user: 'present' }), facts({}))).toBe(false);
    expect(ruleMatches(rule({ user: 998 }), facts({ code: null, users: [998] }))).toBe(true);
    expect(ruleMatches(rule({ user: 998 }), facts({ users: [997] }))).toBe(false);
  });
});
