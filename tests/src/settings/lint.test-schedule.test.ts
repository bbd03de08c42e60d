import { describe, expect, it } from 'vitest';
import { lintSettings } from '../../../src/settings/lint.js';
import { parseSettings } from '../../../src/settings/settings.js';

// security.md: nobody may silence a duress. A hold-up inside a test window is a test and opens no incident, so a
// testSchedule whose windows cover most of the time (daily 00:00-23:59) keeps a site in test mode for good.
function scheduleWarnings(testSchedule: string): Array<{ path: string; severity: string; message: string }> {
  const parsed = parseSettings(`
inputs: [{ type: dc09, name: ip, port: 12000, accounts: [{ account: "1234" }] }]
outputs: [{ type: stdout, name: log }]
sites:
  - id: bank-1
    accounts: ["1234"]
    testSchedule: ${testSchedule}
    zones: [{ number: 5, name: Teller hold-up, type: holdup, testEvery: 30d }]
`);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return lintSettings(parsed.settings, { fileIsWorldReadable: false }).filter((f) => f.path.includes('testSchedule'));
}

describe('check: a test schedule that keeps a site in test mode', () => {
  it.each([
    ['all day, every day', '{ days: daily, from: "00:00", to: "23:59" }', /99\.9% of the week/],
    ['working hours on weekdays', '{ days: weekdays, from: "08:00", to: "18:00" }', /29\.8% of the week/],
    ['one whole day a week', '{ days: [sun], from: "00:00", to: "23:59" }', /14\.3% of the week/],
  ])('warns for %s', (_, schedule, share) => {
    expect(scheduleWarnings(schedule)).toEqual([{ path: 'sites[0].testSchedule', severity: 'warning', message: expect.stringMatching(share) }]);
  });

  it.each([
    ['a quarter of an hour on weekdays', '{ days: weekdays, from: "08:00", to: "08:15" }'],
    ['two hours every day', '{ days: daily, from: "07:00", to: "09:00" }'],
    ['a long walk test once a week', '{ days: [tue], from: "06:00", to: "14:00" }'],
  ])('says nothing for %s', (_, schedule) => {
    expect(scheduleWarnings(schedule)).toEqual([]);
  });
});
