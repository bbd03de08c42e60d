import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AssuranceStore } from '../../../src/assurance/store.js';
import { cid, FakeClock, harness, MINUTE, reasonText, sia, INSTALLER } from '../../helpers/assurance-harness.js';
import { incidentViews, windowView, windowViews } from '../../../adapters/api/assurance-views.js';

/** The supervisory events other than the one announcing that a window opened. */
function closings(h: ReturnType<typeof harness>) {
  return h.supervisory().filter((e) => e.control?.action !== 'test-window-opened');
}

function opened(result: ReturnType<ReturnType<typeof harness>['assurance']['startWindow']>) {
  if (!result.ok) throw new Error(result.message);
  return result.window;
}

describe('opening a test window', () => {
  it('refuses an unknown site, a bad duration and devices the site does not have', () => {
    const { assurance } = harness();
    expect(assurance.startWindow({ site: 'nowhere', minutes: 10 }, INSTALLER)).toMatchObject({ ok: false, reason: 'unknown-site' });
    for (const minutes of [0, -5, Number.NaN, 24 * 60 + 1])
      expect(assurance.startWindow({ site: 'bank-1', minutes }, INSTALLER)).toMatchObject({ ok: false, reason: 'invalid-request' });
    const unknown = assurance.startWindow({ site: 'bank-1', minutes: 10, devices: ['zone-5', 'zone-3'] }, INSTALLER);
    expect(unknown).toMatchObject({ ok: false, reason: 'invalid-request' });
    expect(!unknown.ok && unknown.message).toMatch(/not a duress device of site bank-1: zone-3; devices of bank-1: zone-5, zone-9, user-12, door-lobby-2/);
    expect(assurance.startWindow({ site: 'bank-1', minutes: 10, devices: [] }, INSTALLER)).toMatchObject({ ok: false, reason: 'invalid-request' });
    expect(windowViews(assurance)).toEqual([]);
  });

  it('returns the window id and when it ends', () => {
    const h = harness();
    const window = opened(h.assurance.startWindow({ site: 'bank-1', minutes: 30 }, INSTALLER));
    expect(windowView(h.assurance, window)).toMatchObject({
      id: window.id,
      site: 'bank-1',
      endsAt: new Date(h.clock.now() + 30 * MINUTE).toISOString(),
      devices: ['zone-5', 'zone-9', 'user-12', 'door-lobby-2'],
      exercised: [],
      notExercised: ['zone-5', 'zone-9', 'user-12', 'door-lobby-2'],
    });
  });
  it('publishes its opening although the outbox failed at first: stored again at the next check, degraded meanwhile', async () => {
    const h = harness();
    const append = h.outbox.append.bind(h.outbox);
    let failures = 1;
    h.outbox.append = (events, options) => (failures-- > 0 ? Promise.reject(new Error('disk full')) : append(events, options));
    opened(h.assurance.startWindow({ site: 'bank-1', minutes: 30 }, INSTALLER));
    await h.assurance.flush();
    expect(h.supervisory()).toEqual([]);
    expect(h.assurance.health()).toMatchObject({ state: 'degraded', detail: '1 supervisory event(s) not stored yet (the outbox refuses writes)' });

    await h.tick();
    expect(h.supervisory().filter((e) => e.control?.action === 'test-window-opened')).toHaveLength(1);
    expect(h.assurance.health().state).toBe('up');
    expect(h.logs.filter((line) => line.msg?.startsWith('supervisory event not stored yet'))).toHaveLength(1);
  });

  it("takes a site's exact name as well as its id, and opens the window on the site's id", () => {
    const h = harness();
    const window = opened(h.assurance.startWindow({ site: 'Bank branch 1', minutes: 30 }, INSTALLER));
    expect(window.site).toBe('bank-1');
    expect(h.assurance.startWindow({ site: 'bank branch 1', minutes: 30 }, INSTALLER)).toMatchObject({ ok: false, reason: 'unknown-site' });
    expect(h.assurance.startWindow({ site: 'Bank branch', minutes: 30 }, INSTALLER)).toMatchObject({ ok: false, reason: 'unknown-site' });
  });
});

describe('events during a test window', () => {
  it('are marked test, still stored for publication, and count as tests of their devices', async () => {
    const h = harness();
    const window = opened(h.assurance.startWindow({ site: 'bank-1', minutes: 30 }, INSTALLER));
    h.clock.advance(MINUTE);
    const holdup = await h.receive(cid('130', 5));
    const burglary = await h.receive(cid('130', 3)); // not a duress device: still a test in a whole-site window
    const elsewhere = await h.receive(cid('122', 1, { account: '5678' })); // another site: real
    expect(holdup).toMatchObject({ category: 'holdup', duress: true, test: true });
    expect(reasonText(holdup)).toContain(`test window ${window.id} is open for site bank-1`);
    expect(burglary.test).toBe(true);
    expect(elsewhere.test).toBe(false);
    expect(h.events.map((e) => e.id)).toEqual(expect.arrayContaining([holdup.id, burglary.id, elsewhere.id]));
    const zone5 = h.assurance.deviceReport().devices.find((d) => d.device === 'zone-5')!;
    expect(zone5).toMatchObject({ testCount: 1, neverTested: false, lastActivatedAt: null, lastEventId: holdup.id });
  });

  it('never marks a real duress from a device outside the window\'s device list as a test', async () => {
    const h = harness();
    opened(h.assurance.startWindow({ site: 'bank-1', minutes: 30, devices: ['zone-5'] }, INSTALLER));
    const tested = await h.receive(cid('130', 5));
    const realDuress = await h.receive(cid('121', 12)); // the manager's duress code: not under test
    const burglary = await h.receive(cid('130', 3)); // no listed device named: not a test
    expect(tested.test).toBe(true);
    expect(realDuress).toMatchObject({ category: 'duress', test: false });
    expect(realDuress.incident).toEqual(expect.any(String));
    expect(burglary.test).toBe(false);
    expect(h.assurance.deviceReport().devices.find((d) => d.device === 'user-12')).toMatchObject({ testCount: 0, lastActivatedAt: realDuress.receivedAt });
  });

  it('never marks a duress naming a device under test and a duress device not under test as a test', async () => {
    const h = harness();
    const window = opened(h.assurance.startWindow({ site: 'bank-1', minutes: 30, devices: ['zone-5'] }, INSTALLER));
    // SIA HA (hold-up) on zone 5 with the `id` modifier naming user 12, the manager's duress code.
    const holdup = await h.receive({ ...sia('HA', 5), user: 12 });
    expect(holdup).toMatchObject({ duress: true, test: false, zone: { number: 5 }, user: { number: 12 } });
    expect(holdup.incident).toEqual(expect.any(String));
    expect(windowView(h.assurance, window).exercised).toEqual([]);
    const devices = Object.fromEntries(h.assurance.deviceReport().devices.map((d) => [d.device, d]));
    expect(devices['user-12']).toMatchObject({ testCount: 0, lastActivatedAt: holdup.receivedAt });
    expect(devices['zone-5']).toMatchObject({ testCount: 0, lastActivatedAt: holdup.receivedAt });
  });

  it('are tests when every duress device they name is under test, whatever other devices they name', async () => {
    const h = harness();
    const window = opened(h.assurance.startWindow({ site: 'bank-1', minutes: 30, devices: ['zone-5', 'user-12'] }, INSTALLER));
    const both = await h.receive({ ...sia('HA', 5), user: 12 });
    const cleanerAtTheButton = await h.receive({ ...sia('HA', 5), user: 4 }); // user 4 is no duress device
    const codeAtTheBackDoor = await h.receive({ ...sia('HA', 3), user: 12 }); // zone 3 is no duress device
    for (const event of [both, cleanerAtTheButton, codeAtTheBackDoor]) expect(event).toMatchObject({ duress: true, test: true });
    expect(incidentViews(h.assurance)).toEqual([]);
    expect(windowView(h.assurance, window).exercised).toEqual(['zone-5', 'user-12']);
    const devices = Object.fromEntries(h.assurance.deviceReport().devices.map((d) => [d.device, d]));
    expect(devices['zone-5']).toMatchObject({ testCount: 2, lastActivatedAt: null });
    expect(devices['user-12']).toMatchObject({ testCount: 2, lastActivatedAt: null });
  });

  it('count as tests only of the devices under test: another device a call for help names was used for real', async () => {
    const h = harness();
    const window = opened(h.assurance.startWindow({ site: 'bank-1', minutes: 30, devices: ['zone-9'] }, INSTALLER));
    // The manager's pendant (zone 9, a panic zone) reported with the lobby door, a duress door not under test.
    const panic = await h.receive({ ...sia('PA', 9), access: { door: 'lobby-2' } });
    expect(panic).toMatchObject({ category: 'panic', duress: false, test: true, door: { id: 'lobby-2' } });
    expect(windowView(h.assurance, window).exercised).toEqual(['zone-9']);
    const devices = Object.fromEntries(h.assurance.deviceReport().devices.map((d) => [d.device, d]));
    expect(devices['zone-9']).toMatchObject({ testCount: 1, lastActivatedAt: null });
    expect(devices['door-lobby-2']).toMatchObject({ testCount: 0, lastActivatedAt: panic.receivedAt });
  });

  it('never marks a duress from no configured device as a test, even in a whole-site window', async () => {
    const h = harness();
    opened(h.assurance.startWindow({ site: 'bank-1', minutes: 30 }, INSTALLER));
    const unknownUser = await h.receive(cid('121', 7));
    expect(unknownUser).toMatchObject({ category: 'duress', test: false });
    expect(incidentViews(h.assurance)).toHaveLength(1);
  });

  it('are exercised only by a call for help: not by a panel test report, a tamper or a restore', async () => {
    const h = harness();
    const window = opened(h.assurance.startWindow({ site: 'bank-1', minutes: 30, devices: ['zone-5'] }, INSTALLER));
    await h.receive(cid('601', 5));
    const tamper = await h.receive(cid('383', 5)); // sensor tamper on the hold-up button
    const restore = await h.receive(cid('122', 5, { qualifier: 'restore' }));
    expect([tamper.category, tamper.test, restore.test]).toEqual(['tamper', true, true]);
    expect(windowView(h.assurance, window).exercised).toEqual([]);
    expect(h.assurance.deviceReport().devices[0]).toMatchObject({ device: 'zone-5', testCount: 0 });
  });

  it('are not tests once the window has ended', async () => {
    const h = harness();
    opened(h.assurance.startWindow({ site: 'bank-1', minutes: 10 }, INSTALLER));
    h.clock.advance(10 * MINUTE);
    const after = await h.receive(cid('130', 5));
    expect(after.test).toBe(false);
    expect(after.incident).toEqual(expect.any(String));
  });
});

describe('a test press whose window closes while it is being stored', () => {
  it('counts as a test of its device, as it was marked, not as a real use', async () => {
    const h = harness();
    const opened = h.assurance.startWindow({ site: 'bank-1', minutes: 30, devices: ['zone-5'] }, INSTALLER);
    if (!opened.ok) throw new Error(opened.message);
    await h.assurance.flush();
    h.clock.advance(30 * MINUTE - 1);
    // The outbox holds the press's write a moment (an fsync) while the window's time runs out.
    const append = h.outbox.append.bind(h.outbox);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let first = true;
    h.outbox.append = (events, options) => {
      if (!first) return append(events, options);
      first = false;
      return held.then(() => append(events, options));
    };
    const pressed = h.receive(cid('122', 5)); // annotated now: inside the window, a test
    h.clock.advance(1);
    await h.tick(); // the window expires meanwhile
    release();
    expect(await pressed).toMatchObject({ duress: true, test: true });
    expect(h.assurance.deviceReport().devices.find((d) => d.device === 'zone-5')).toMatchObject({ testCount: 1, lastActivatedAt: null });
  });
});

describe('who opened a test window', () => {
  it('is published as a control action naming the token, its role and the note', async () => {
    const h = harness();
    const window = opened(h.assurance.startWindow({ site: 'bank-1', minutes: 15, devices: ['zone-5'] }, INSTALLER, 'quarterly test'));
    await h.assurance.flush();
    const [announced] = h.supervisory();
    expect(announced!.control).toEqual({ action: 'test-window-opened', by: 'installer-1', role: 'installer', channel: 'api', note: 'quarterly test', window: window.id });
    expect(reasonText(announced!)).toMatch(/opened by installer-1 \(installer, api\)/);
    expect((announced!.devices as Array<{ device: string }>).map((d) => d.device)).toEqual(['zone-5']);
  });
});

describe('closing a test window', () => {
  it('expires by itself and publishes ONE supervisory event listing the devices not exercised', async () => {
    const h = harness();
    const window = opened(h.assurance.startWindow({ site: 'bank-1', minutes: 20 }, INSTALLER));
    await h.receive(cid('130', 5));
    await h.receive(cid('130', 5, { qualifier: 'restore' }));
    await h.receive(cid('124', 20)); // duress PIN at the lobby door
    h.clock.advance(19 * MINUTE);
    await h.tick();
    expect(closings(h)).toEqual([]);
    h.clock.advance(MINUTE);
    await h.tick();
    await h.tick();
    const closed = closings(h);
    expect(closed).toHaveLength(1);
    expect(closed[0]!.control).toEqual({ action: 'test-window-expired', by: 'gateway', role: 'system', channel: 'gateway', note: null, window: window.id });
    expect(closed[0]).toMatchObject({ category: 'supervisory', test: false, account: '1234', site: { id: 'bank-1' } });
    expect((closed[0]!.devices as Array<{ device: string }>).map((d) => d.device)).toEqual(['zone-9', 'user-12']);
    expect(reasonText(closed[0]!)).toMatch(/expired: 2 of 4 duress device\(s\) reported.*not exercised: zone-9 "Manager pendant", user-12 "Manager duress code"/);
    expect(windowViews(h.assurance)).toEqual([]);
    expect(windowViews(h.assurance, true)[0]).toMatchObject({ id: window.id, closeReason: 'expired', exercised: ['zone-5', 'door-lobby-2'] });
  });

  it('can be stopped early; the summary names only the listed devices', async () => {
    const h = harness();
    const window = opened(h.assurance.startWindow({ site: 'bank-1', minutes: 60, devices: ['zone-5', 'zone-9'] }, INSTALLER));
    await h.receive(cid('130', 9));
    const stopped = h.assurance.stopWindow(window.id, INSTALLER);
    const view = stopped === undefined ? undefined : windowView(h.assurance, stopped.window);
    expect(view).toMatchObject({ closeReason: 'stopped', exercised: ['zone-9'], notExercised: ['zone-5'] });
    // The same person's retry is answered with the window it closed; nobody else stopped it.
    expect(h.assurance.stopWindow(window.id, INSTALLER)?.window).toEqual(stopped?.window);
    expect(h.assurance.stopWindow(window.id, { ...INSTALLER, name: 'installer-2' })).toBeUndefined();
    await h.assurance.flush();
    expect(closings(h)).toHaveLength(1);
    expect(closings(h)[0]!.control).toMatchObject({ action: 'test-window-stopped', by: 'installer-1', role: 'installer', channel: 'api' });
    expect(closings(h)[0]!.devices).toEqual([{ site: 'bank-1', device: 'zone-5', kind: 'zone', number: 5, name: 'Teller 1 hold-up button', type: 'holdup' }]);
  });

  it('still expires after a restart, with what was exercised before it', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pb-windows-'));
    try {
      const clock = new FakeClock();
      const first = harness({ clock, store: AssuranceStore.openIn(dir) });
      opened(first.assurance.startWindow({ site: 'bank-1', minutes: 15, devices: ['zone-5', 'user-12'] }, INSTALLER));
      await first.receive(cid('121', 12));
      first.store.close();

      const second = harness({ clock, store: AssuranceStore.openIn(dir) });
      expect(windowViews(second.assurance)).toHaveLength(1);
      expect((await second.receive(sia('PA', 5))).test).toBe(true);
      clock.advance(15 * MINUTE);
      await second.tick();
      expect(second.supervisory()).toHaveLength(1);
      expect(reasonText(second.supervisory()[0]!)).toMatch(/2 of 2 duress device\(s\) reported \| every device under test reported/);
      second.store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a test window when the host clock is stepped', () => {
  const HOUR = 60 * MINUTE;

  it('moves back with the clock: it covers the time it was opened for, not an hour later', async () => {
    const h = harness();
    h.clock.step(HOUR); // the host clock runs an hour fast (a bad RTC at boot)
    const window = opened(h.assurance.startWindow({ site: 'bank-1', minutes: 30 }, INSTALLER));
    const reallyOpenedAt = h.clock.now() - HOUR;
    h.clock.step(-HOUR); // NTP steps it back
    h.clock.advance(5 * MINUTE);
    expect((await h.receive(cid('130', 5))).test).toBe(true); // the installer goes on testing
    expect(windowView(h.assurance, window).endsAt).toBe(new Date(reallyOpenedAt + 30 * MINUTE).toISOString());

    h.clock.advance(65 * MINUTE); // 70 minutes after it was opened for 30, a teller presses the hold-up button
    await h.tick();
    expect(closings(h).map((e) => e.control?.action)).toEqual(['test-window-expired']);
    const holdup = await h.receive(cid('122', 5));
    expect(holdup).toMatchObject({ duress: true, test: false, incident: expect.any(String) });
  });

  it('covers no more than its minutes after it opened when the clock is stepped back by less than that', async () => {
    const h = harness();
    opened(h.assurance.startWindow({ site: 'bank-1', minutes: 30 }, INSTALLER));
    h.clock.advance(25 * MINUTE);
    h.clock.step(-10 * MINUTE);
    h.clock.advance(6 * MINUTE); // 31 minutes after it opened, 21 by the wall clock
    expect((await h.receive(cid('122', 5))).test).toBe(false);
  });

  it('ends by the wall clock after a step forward (or a suspend): sooner, never later', async () => {
    const h = harness();
    opened(h.assurance.startWindow({ site: 'bank-1', minutes: 30 }, INSTALLER));
    h.clock.advance(5 * MINUTE);
    h.clock.step(25 * MINUTE);
    await h.tick();
    expect(closings(h).map((e) => e.control?.action)).toEqual(['test-window-expired']);
    expect((await h.receive(cid('122', 5))).test).toBe(false);
  });

  it('is stopped by the gateway when, after a restart, it starts ahead of the clock', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pb-windows-'));
    try {
      const clock = new FakeClock();
      clock.step(HOUR);
      const first = harness({ clock, store: AssuranceStore.openIn(dir) });
      const window = opened(first.assurance.startWindow({ site: 'bank-1', minutes: 30 }, INSTALLER));
      first.store.close();

      clock.step(-HOUR); // while the gateway was down: the step cannot be followed
      const second = harness({ clock, store: AssuranceStore.openIn(dir) });
      await second.tick();
      expect(windowViews(second.assurance)).toEqual([]);
      expect(second.supervisory()[0]!.control).toMatchObject({
        action: 'test-window-stopped',
        by: 'gateway',
        note: "the host clock went back past the window's opening",
        window: window.id,
      });
      clock.advance(70 * MINUTE);
      expect((await second.receive(cid('122', 5))).test).toBe(false);
      second.store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
