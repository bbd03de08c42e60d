import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { siteSchema, sitesSchema } from '../../../src/settings/sites.js';
import { siteForAccount } from '../../../src/classify/classify.js';

const EXAMPLE = `
sites:
  - id: branch-12
    name: Branch 12
    address: "1 Main Street"
    accounts: ["1234"]
    profile: generic
    response: "Silent alarm. Do not phone the branch. Dispatch police."
    zones:
      - { number: 5, name: Teller 3 hold-up button, type: holdup, location: Counter 3, testEvery: 1d }
      - { number: 9, name: Manager pendant, type: panic, holder: A. Manager, testEvery: 7d }
    users:
      - { number: 12, name: Manager duress code, duress: true, testEvery: 30d }
    doors:
      - { id: door-lobby-2, name: Lobby door 2, duress: true, testEvery: 90s }
`;

const DAY = 86_400_000;

function issuesOf(input: unknown): Array<{ path: string; message: string }> {
  const result = siteSchema.safeParse(input);
  if (result.success) return [];
  return result.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
}

const minimal = { id: 'shop', accounts: ['1234'] };

describe('siteSchema', () => {
  it('accepts the documented example, durations in ms', () => {
    const [site] = sitesSchema.parse((parseYaml(EXAMPLE) as { sites: unknown }).sites);
    expect(site).toMatchObject({
      id: 'branch-12',
      profile: 'generic',
      zones: [
        { number: 5, type: 'holdup', location: 'Counter 3', testEvery: DAY },
        { number: 9, type: 'panic', holder: 'A. Manager', testEvery: 7 * DAY },
      ],
      users: [{ number: 12, duress: true, testEvery: 30 * DAY }],
      doors: [{ id: 'door-lobby-2', duress: true, testEvery: 90_000 }],
    });
  });

  it('defaults the profile to generic', () => {
    expect(siteSchema.parse(minimal).profile).toBe('generic');
  });

  it('names the known profiles when the profile is unknown', () => {
    expect(issuesOf({ ...minimal, profile: 'acme' })).toEqual([
      { path: 'profile', message: 'profile must be one of generic, ajax, dsc, bosch, lupus, paradox' },
    ]);
  });

  it('asks for quotes around an account YAML read as a number (leading zeros would be lost)', () => {
    const [issue] = issuesOf(parseYaml('{ id: shop, accounts: [0123] }'));
    expect(issue?.path).toBe('accounts.0');
    expect(issue?.message).toMatch(/write the account in quotes.*leading zeros/);
  });

  it('requires at least one account', () => {
    expect(issuesOf({ id: 'shop', accounts: [] })).toEqual([{ path: 'accounts', message: 'a site needs at least one account' }]);
  });

  it('names the valid zone types', () => {
    const [issue] = issuesOf({ ...minimal, zones: [{ number: 1, name: 'x', type: 'holdupp' }] });
    expect(issue).toEqual({ path: 'zones.0.type', message: 'type must be one of holdup, panic, duress, medical, fire, burglary, other' });
  });

  it('rejects a zone, user or door listed twice, pointing at the second', () => {
    const issues = issuesOf({
      ...minimal,
      zones: [
        { number: 1, name: 'a', type: 'holdup' },
        { number: 1, name: 'b', type: 'panic' },
      ],
      users: [
        { number: 2, name: 'a' },
        { number: 2, name: 'b' },
      ],
      doors: [
        { id: 'd', name: 'a', zone: 7 },
        { id: 'd', name: 'b', zone: 7 },
        { id: 'e', name: 'c' },
      ],
    });
    expect(issues).toEqual([
      { path: 'zones.1', message: 'zone 1 is listed twice' },
      { path: 'users.1', message: 'user 2 is listed twice' },
      { path: 'doors.1', message: 'door d is listed twice' },
      { path: 'doors.1.zone', message: 'door zone 7 is listed twice' },
    ]);
  });

  it('rejects misspelt keys instead of ignoring them', () => {
    const [issue] = issuesOf({ ...minimal, zones: [{ number: 1, name: 'a', tpye: 'holdup', type: 'holdup' }] });
    expect(issue?.path).toBe('zones.0');
    expect(issue?.message).toMatch(/tpye/);
  });

  it('rejects a zero or malformed test interval at its path', () => {
    expect(issuesOf({ ...minimal, users: [{ number: 1, name: 'a', testEvery: '0d' }] })).toEqual([
      { path: 'users.0.testEvery', message: 'testEvery must be longer than zero' },
    ]);
    expect(issuesOf({ ...minimal, users: [{ number: 1, name: 'a', testEvery: 'weekly' }] })[0]?.path).toBe('users.0.testEvery');
  });
});

describe('siteForAccount', () => {
  const sites = sitesSchema.parse([
    { id: 'a', accounts: ['0123', 'ab12'] },
    { id: 'b', accounts: ['123'] },
  ]);

  it('matches exactly, with leading zeros significant', () => {
    expect(siteForAccount(sites, '0123')?.id).toBe('a');
    expect(siteForAccount(sites, '123')?.id).toBe('b');
    expect(siteForAccount(sites, '00123')).toBeUndefined();
  });

  it('ignores letter case (hex accounts)', () => {
    expect(siteForAccount(sites, 'AB12')?.id).toBe('a');
  });

  it('finds nothing for a missing account', () => {
    expect(siteForAccount(sites, null)).toBeUndefined();
  });
});
