import { describe, expect, it } from 'vitest';
import { AssuranceStore } from '../../../src/assurance/store.js';
import { currentSlot } from '../../../src/assurance/test-schedules.js';
import { MAX_WINDOW_MINUTES } from '../../../src/assurance/test-windows.js';
import { localTime, zonedInstant, zonedInstants } from '../../../src/settings/time-zone.js';
import { siteSchema, sitesSchema, type SiteConfig } from '../../../src/settings/sites.js';
import { cid, FakeClock, harness, INSTALLER, MINUTE, reasonText, SITES } from '../../helpers/assurance-harness.js';
import { windowViews } from '../../../adapters/api/assurance-views.js';

const BANK: SiteConfig = {
  id: 'bank-1',
  accounts: ['1234'],
  timeZone: 'Europe/Berlin',
  testSchedule: { days: 'weekdays', from: '08:00', to: '08:15' },
  zones: [
    { number: 5, name: 'Teller 1 hold-up button', type: 'holdup' },
    { number: 9, name: 'Manager pendant', type: 'panic', guidance: 'Press and hold for two seconds; then walk away from the counter.' },
  ],
  users: [{ number: 12, name: 'Manager duress code', duress: true }],
};

/** Tuesday 2024-01-02 08:00 in Berlin (UTC+1 in winter). */
const TUESDAY_0800_BERLIN = Date.UTC(2024, 0, 2, 7, 0);

function scheduledHarness(site: SiteConfig = BANK, store?: AssuranceStore) {
  const sites = sitesSchema.parse([site]);
  return harness({ sites, clock: new FakeClock(TUESDAY_0800_BERLIN - 30 * MINUTE), ...(store === undefined ? {} : { store }) });
}

describe('site time zones', () => {
  it('turn instants into the local wall clock and back, across daylight saving time', () => {
    expect(localTime(TUESDAY_0800_BERLIN, 'Europe/Berlin')).toEqual({ year: 2024, month: 1, day: 2, weekday: 'tue', minutes: 8 * 60 });
    expect(zonedInstant(2024, 1, 2, 8 * 60, 'Europe/Berlin')).toBe(TUESDAY_0800_BERLIN);
    expect(zonedInstant(2024, 7, 2, 8 * 60, 'Europe/Berlin')).toBe(Date.UTC(2024, 6, 2, 6, 0)); // summer: UTC+2
    expect(zonedInstant(2024, 3, 11, 8 * 60, 'America/New_York')).toBe(Date.UTC(2024, 2, 11, 12, 0)); // the day after the change
    expect(zonedInstant(2024, 1, 2, 8 * 60, 'UTC')).toBe(Date.UTC(2024, 0, 2, 8, 0));
  });

  it('reach a time twice on the night the clocks go back over it, and once, as they jump, on the night they skip it', () => {
    // Berlin: on 2024-10-27 03:00 CEST (01:00Z) becomes 02:00 CET; on 2024-03-31 02:00 CET (01:00Z) becomes 03:00 CEST.
    expect(zonedInstants(2024, 10, 27, 2 * 60 + 30, 'Europe/Berlin')).toEqual([Date.UTC(2024, 9, 27, 0, 30), Date.UTC(2024, 9, 27, 1, 30)]);
    expect(zonedInstant(2024, 10, 27, 2 * 60 + 30, 'Europe/Berlin')).toBe(Date.UTC(2024, 9, 27, 0, 30));
    expect(zonedInstants(2024, 3, 31, 2 * 60 + 30, 'Europe/Berlin')).toEqual([Date.UTC(2024, 2, 31, 1, 0)]);
    expect(zonedInstants(2024, 10, 6, 2 * 60 + 15, 'Australia/Lord_Howe')).toEqual([Date.UTC(2024, 9, 5, 15, 30)]); // half an hour forward
    expect(zonedInstant(2024, 9, 8, 0, 'America/Santiago')).toBe(Date.UTC(2024, 8, 8, 4, 0)); // midnight skipped: the day starts at 01:00
  });

  it('decide which slot of the schedule runs now, and none on other days or hours', () => {
    const [site] = sitesSchema.parse([BANK]);
    expect(currentSlot(site!, TUESDAY_0800_BERLIN - 1)).toBeUndefined();
    expect(currentSlot(site!, TUESDAY_0800_BERLIN + 5 * MINUTE)).toEqual({
      site: 'bank-1',
      key: 'bank-1@2024-01-02T08:00',
      startsAt: TUESDAY_0800_BERLIN,
      endsAt: TUESDAY_0800_BERLIN + 15 * MINUTE,
    });
    expect(currentSlot(site!, TUESDAY_0800_BERLIN + 15 * MINUTE)).toBeUndefined();
    const saturday = TUESDAY_0800_BERLIN + 4 * 86_400_000;
    expect(localTime(saturday, 'Europe/Berlin').weekday).toBe('sat');
    expect(currentSlot(site!, saturday + MINUTE)).toBeUndefined();
    expect(currentSlot(SITES[0]!, TUESDAY_0800_BERLIN + MINUTE)).toBeUndefined(); // no schedule
  });
});

describe('a recurring test schedule', () => {
  it('opens the window by itself and reports each device not exercised as a missed test', async () => {
    const h = scheduledHarness();
    await h.tick();
    expect(windowViews(h.assurance)).toEqual([]);

    h.clock.advance(30 * MINUTE);
    await h.tick();
    const [window] = windowViews(h.assurance);
    expect(window).toMatchObject({
      site: 'bank-1',
      scheduled: true,
      startedAt: new Date(TUESDAY_0800_BERLIN).toISOString(),
      endsAt: new Date(TUESDAY_0800_BERLIN + 15 * MINUTE).toISOString(),
      devices: ['zone-5', 'zone-9', 'user-12'],
    });
    const opened = h.supervisory().find((e) => e.control?.action === 'test-window-opened');
    expect(opened?.control).toMatchObject({ by: 'gateway', channel: 'gateway', window: window!.id, note: 'testSchedule of site bank-1, slot bank-1@2024-01-02T08:00' });

    h.clock.advance(2 * MINUTE);
    const pressed = await h.receive(cid('122', 5));
    expect(pressed.test).toBe(true);
    expect(pressed.incident ?? null).toBeNull();

    h.clock.advance(13 * MINUTE);
    await h.tick();
    expect(windowViews(h.assurance)).toEqual([]);
    const missed = h.supervisory().filter((e) => reasonText(e).startsWith('missed scheduled test'));
    expect(missed.map((e) => (e.devices as Array<{ device: string }>)[0]!.device)).toEqual(['zone-9', 'user-12']);
    expect(reasonText(missed[0]!)).toBe(
      `missed scheduled test: duress device zone-9 "Manager pendant" at site bank-1 did not report in scheduled test window ${window!.id} (2024-01-02T07:00:00.000Z to 2024-01-02T07:15:00.000Z)`,
    );
    const devices = Object.fromEntries(h.assurance.deviceReport().devices.map((d) => [d.device, d]));
    expect(devices['zone-5']).toMatchObject({ testCount: 1, missedTests: 0, lastMissedAt: null });
    expect(devices['zone-9']).toMatchObject({ testCount: 0, missedTests: 1, lastMissedAt: '2024-01-02T07:15:00.000Z' });
    expect(h.store.history('bank-1', 0, Date.now() * 2).map((r) => [r.device, r.kind])).toEqual([
      ['zone-5', 'test'],
      ['user-12', 'missed'],
      ['zone-9', 'missed'],
    ]);
  });

  it('opens one window per slot: not again after it was stopped early, nor after a restart, but again the next weekday', async () => {
    const store = AssuranceStore.open(':memory:');
    const h = scheduledHarness(BANK, store);
    h.clock.advance(31 * MINUTE);
    await h.tick();
    const [first] = windowViews(h.assurance);
    h.assurance.stopWindow(first!.id, INSTALLER);
    await h.tick();
    expect(windowViews(h.assurance)).toEqual([]);

    const restarted = harness({ sites: sitesSchema.parse([BANK]), clock: h.clock, store });
    await restarted.tick();
    expect(windowViews(restarted.assurance)).toEqual([]);

    h.clock.advance(86_400_000);
    await restarted.tick();
    expect(windowViews(restarted.assurance)).toMatchObject([{ scheduled: true, startedAt: new Date(h.clock.now()).toISOString() }]);
  });

  it('tests only the listed devices, and a real duress from another device in the window is a real incident', async () => {
    const h = scheduledHarness({ ...BANK, testSchedule: { days: ['tue'], from: '08:00', to: '08:15', devices: ['zone-5'] } });
    h.clock.advance(30 * MINUTE);
    await h.tick();
    expect(windowViews(h.assurance)).toMatchObject([{ devices: ['zone-5'] }]);
    const real = await h.receive(cid('122', 9));
    expect(real).toMatchObject({ test: false, category: 'holdup' });
    expect(real.incident).toEqual(expect.any(String));
    h.clock.advance(15 * MINUTE);
    await h.tick();
    const missed = h.supervisory().filter((e) => reasonText(e).startsWith('missed scheduled test'));
    expect(missed.map((e) => (e.devices as Array<{ device: string }>)[0]!.device)).toEqual(['zone-5']);
  });

  it('a window a person opens is never a missed test', async () => {
    const h = scheduledHarness({ ...BANK, testSchedule: undefined });
    h.assurance.startWindow({ site: 'bank-1', minutes: 5 }, INSTALLER);
    h.clock.advance(6 * MINUTE);
    await h.tick();
    expect(h.supervisory().some((e) => reasonText(e).startsWith('missed scheduled test'))).toBe(false);
    expect(h.assurance.deviceReport().devices.every((d) => d.missedTests === 0)).toBe(true);
  });
});

describe('a test schedule on the nights the clocks change', () => {
  /** A Berlin branch tested daily from `from` to `to`. */
  function nightly(from: string, to: string) {
    return sitesSchema.parse([{ ...BANK, testSchedule: { days: 'daily', from, to } }])[0]!;
  }
  // 2024-10-27: 02:00-03:00 comes twice, first in CEST (00:00Z-01:00Z), then in CET (01:00Z-02:00Z).
  const FALL_BACK_0200_CEST = Date.UTC(2024, 9, 27, 0, 0);
  // 2024-03-31: at 02:00 CET (01:00Z) the clocks jump to 03:00 CEST.
  const SPRING_FORWARD = Date.UTC(2024, 2, 31, 1, 0);

  it('end the first time the wall clock reaches `to` after the slot opened', () => {
    expect(currentSlot(nightly('02:00', '02:30'), FALL_BACK_0200_CEST)).toMatchObject({ startsAt: FALL_BACK_0200_CEST, endsAt: FALL_BACK_0200_CEST + 30 * MINUTE });
    // Running in the hour's second coming (02:10 CET), the slot keeps its key and ends at 02:30 CET.
    expect(currentSlot(nightly('02:00', '02:30'), FALL_BACK_0200_CEST + 70 * MINUTE)).toMatchObject({
      key: 'bank-1@2024-10-27T02:00',
      endsAt: FALL_BACK_0200_CEST + 90 * MINUTE,
    });
    // 03:30 comes once, after 02:00-03:00 came twice.
    expect(currentSlot(nightly('02:00', '03:30'), FALL_BACK_0200_CEST)?.endsAt).toBe(FALL_BACK_0200_CEST + 150 * MINUTE);
    // The clocks jump from 02:00 over 02:30: the slot ends as they do.
    expect(currentSlot(nightly('01:30', '02:30'), SPRING_FORWARD - 30 * MINUTE)).toMatchObject({ startsAt: SPRING_FORWARD - 30 * MINUTE, endsAt: SPRING_FORWARD });
    // From 02:30 is reached as the clocks jump to 03:00.
    expect(currentSlot(nightly('02:30', '03:15'), SPRING_FORWARD)).toMatchObject({ startsAt: SPRING_FORWARD, endsAt: SPRING_FORWARD + 15 * MINUTE });
    // The clocks skip all of 02:00-02:30: no slot that night.
    for (const at of [SPRING_FORWARD - MINUTE, SPRING_FORWARD, SPRING_FORWARD + 30 * MINUTE]) expect(currentSlot(nightly('02:00', '02:30'), at)).toBeUndefined();
  });

  it('never open a window longer than one opened by hand (24 h), not even on the night the clocks go back', async () => {
    // Daily 00:00-23:59 on 2024-10-27 runs 24 h 59 min: from 00:00 CEST (22:00Z the day before) to 23:59 CET.
    const MIDNIGHT_CEST = Date.UTC(2024, 9, 26, 22, 0);
    const h = harness({ sites: [nightly('00:00', '23:59')], clock: new FakeClock(MIDNIGHT_CEST) });
    await h.tick();
    const [window] = windowViews(h.assurance);
    expect(window).toMatchObject({ startedAt: new Date(MIDNIGHT_CEST).toISOString(), endsAt: new Date(MIDNIGHT_CEST + MAX_WINDOW_MINUTES * MINUTE).toISOString() });
    h.clock.advance(MAX_WINDOW_MINUTES * MINUTE + MINUTE); // 23:01 CET, inside the slot's wall-clock hours
    await h.tick();
    expect(windowViews(h.assurance)).toEqual([]);
    expect(await h.receive(cid('122', 5))).toMatchObject({ duress: true, test: false, incident: expect.any(String) });
  });

  it('open one window when the clocks go back, and a real hold-up after `to` is not a test, not even when the hours come again', async () => {
    const h = harness({ sites: [nightly('02:00', '02:30')], clock: new FakeClock(FALL_BACK_0200_CEST) });
    await h.tick();
    const [window] = windowViews(h.assurance);
    expect(window).toMatchObject({ startedAt: new Date(FALL_BACK_0200_CEST).toISOString(), endsAt: new Date(FALL_BACK_0200_CEST + 30 * MINUTE).toISOString() });

    h.clock.advance(45 * MINUTE); // 02:45 CEST
    await h.tick();
    expect(windowViews(h.assurance)).toEqual([]);
    const afterTheSlot = await h.receive(cid('122', 5));
    expect(afterTheSlot).toMatchObject({ duress: true, test: false, incident: expect.any(String) });

    h.clock.advance(25 * MINUTE); // 02:10 CET
    await h.tick();
    expect(windowViews(h.assurance)).toEqual([]);
    expect((await h.receive(cid('122', 5))).test).toBe(false);
  });
});

describe('testSchedule and timeZone settings', () => {
  const issues = (site: unknown) => {
    const parsed = siteSchema.safeParse(site);
    return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  it('accept day sets and lists, and default the time zone to UTC', () => {
    const site = siteSchema.parse({ ...BANK, timeZone: undefined, testSchedule: { days: ['mon', 'fri'], from: '23:00', to: '23:59' } });
    expect(site.timeZone).toBe('UTC');
    expect(site.testSchedule).toEqual({ days: ['mon', 'fri'], from: 23 * 60, to: 23 * 60 + 59 });
    expect(siteSchema.parse(BANK).testSchedule?.days).toEqual(['mon', 'tue', 'wed', 'thu', 'fri']);
  });

  it('name what is wrong: an unknown zone, a window ending before it starts, a bad time, an unknown device', () => {
    expect(issues({ ...BANK, timeZone: 'Mars/Olympus' })).toEqual([
      'timeZone: expected an IANA time zone such as Europe/Berlin or America/New_York',
    ]);
    expect(issues({ ...BANK, testSchedule: { days: 'weekdays', from: '08:15', to: '08:00' } })).toEqual([
      'testSchedule.to: to must be later than from on the same day',
    ]);
    expect(issues({ ...BANK, testSchedule: { days: 'weekdays', from: '8:00', to: '24:00' } })).toEqual([
      'testSchedule.from: expected a time of day as HH:MM (00:00 to 23:59)',
      'testSchedule.to: expected a time of day as HH:MM (00:00 to 23:59)',
    ]);
    expect(issues({ ...BANK, testSchedule: { days: ['mo'], from: '08:00', to: '08:15' } })[0]).toMatch(/^testSchedule\.days/);
    expect(issues({ ...BANK, testSchedule: { days: 'weekdays', from: '08:00', to: '08:15', devices: ['zone-3'] } })).toEqual([
      'testSchedule.devices.0: zone-3 is not a duress device of this site; its duress devices: zone-5, zone-9, user-12',
    ]);
  });

  it('keep guidance on zones, users and doors for the people pressing them', () => {
    const site = siteSchema.parse({ ...BANK, doors: [{ id: 'lobby', name: 'Lobby', duress: true, guidance: 'Enter your duress PIN and open the door as usual.' }] });
    expect(site.zones?.[1]?.guidance).toBe('Press and hold for two seconds; then walk away from the counter.');
    expect(site.doors?.[0]?.guidance).toBe('Enter your duress PIN and open the door as usual.');
    expect(issues({ ...BANK, users: [{ number: 1, name: 'A', guidance: '' }] })).toHaveLength(1);
  });
});
