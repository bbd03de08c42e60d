import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { duressDevicesOf } from '../../../src/assurance/devices.js';
import { filterDevices, MAX_ACCOUNT_PANEL_TESTS } from '../../../src/assurance/ledger.js';
import { AssuranceStore } from '../../../src/assurance/store.js';
import { cid, DAY, FakeClock, harness, reasonText, sia, SITES, WEEK } from '../../helpers/assurance-harness.js';

const bank = SITES[0]!;

function device(h: ReturnType<typeof harness>, name: string) {
  const found = h.assurance.deviceReport().devices.find((d) => d.site === 'bank-1' && d.device === name);
  if (found === undefined) throw new Error(`no device ${name}`);
  return found;
}

describe('configured duress devices', () => {
  it('are the hold-up/panic/duress zones, duress users and duress doors of a site, and nothing else', () => {
    expect(duressDevicesOf(bank).map((d) => [d.device, d.kind, d.number, d.name, d.testEvery])).toEqual([
      ['zone-5', 'zone', 5, 'Teller 1 hold-up button', WEEK],
      ['zone-9', 'zone', 9, 'Manager pendant', 30 * DAY],
      ['user-12', 'user', 12, 'Manager duress code', 30 * DAY],
      ['door-lobby-2', 'door', 20, 'Lobby door 2', 90 * DAY],
    ]);
  });
});

describe('device ledger', () => {
  it('lists every configured device as never tested and not yet overdue when it first learns of it', () => {
    const h = harness();
    const devices = h.assurance.deviceReport().devices;
    expect(devices.map((d) => `${d.site}/${d.device}`)).toEqual([
      'bank-1/zone-5', 'bank-1/zone-9', 'bank-1/user-12', 'bank-1/door-lobby-2', 'shop-2/zone-1',
    ]);
    for (const d of devices) expect(d).toMatchObject({ neverTested: true, overdue: false, testCount: 0, lastTestedAt: null, lastActivatedAt: null, lastEventId: null });
    expect(device(h, 'zone-5').dueAt).toBe(new Date(h.clock.now() + WEEK).toISOString());
  });

  it('records a real hold-up as use, not as a test', async () => {
    const h = harness();
    const event = await h.receive(cid('130', 5)); // burglary code on a zone the site types as hold-up
    expect(event.category).toBe('holdup');
    expect(device(h, 'zone-5')).toMatchObject({
      lastActivatedAt: new Date(h.clock.now()).toISOString(),
      lastTestedAt: null,
      neverTested: true,
      testCount: 0,
      lastEventId: event.id,
    });
  });

  it('counts a walk-test report of the point (Contact ID 615) as a device test', async () => {
    const h = harness();
    const event = await h.receive(cid('615', 9));
    expect(device(h, 'zone-9')).toMatchObject({ testCount: 1, neverTested: false, lastEventId: event.id, lastTestedAt: event.receivedAt });
  });

  it('counts panel test reports (Contact ID 601/602, SIA RP) as panel tests, never as device tests', async () => {
    const h = harness();
    await h.receive(cid('601', 5)); // manual test report that happens to carry zone 5
    await h.receive(cid('602', 0));
    const rp = await h.receive(sia('RP', null));
    expect(device(h, 'zone-5')).toMatchObject({ testCount: 0, neverTested: true, lastActivatedAt: null });
    expect(h.assurance.deviceReport().panels).toEqual([
      { site: 'bank-1', account: null, lastTestedAt: rp.receivedAt, lastEventId: rp.id, testCount: 3 },
    ]);
  });

  it('keeps the panel tests of at most MAX_ACCOUNT_PANEL_TESTS accounts on no site, forgetting the least recently tested, in the store too', async () => {
    const h = harness();
    await h.receive(cid('602', 0)); // bank-1's: a site's record is never forgotten
    const flood = MAX_ACCOUNT_PANEL_TESTS * 2;
    for (let i = 0; i < flood; i++) {
      h.clock.advance(1);
      await h.receive(cid('602', 0, { account: `F${i}` }));
      if (i % 1_000 === 0) await h.receive(cid('602', 0, { account: 'C0FFEE' })); // a panel on no site, testing all along
    }
    const panels = h.assurance.deviceReport().panels;
    expect(panels.length).toBe(MAX_ACCOUNT_PANEL_TESTS + 1);
    expect(panels.map((p) => p.site ?? p.account)).toEqual(expect.arrayContaining(['bank-1', 'C0FFEE', `F${flood - 1}`]));
    expect(panels.map((p) => p.account)).not.toContain('F0');
    expect(h.store.panelTests()).toHaveLength(MAX_ACCOUNT_PANEL_TESTS + 1);
    expect(h.counters.get('assurance_records_evicted_total', { kind: 'panel-test' })).toBe(flood + 1 - MAX_ACCOUNT_PANEL_TESTS);
    expect(h.logs.filter((l) => l.msg?.startsWith('panel test record forgotten')).length).toBeGreaterThan(0);
  });

  it('reports a device overdue once, weeks later, and clears it when the device is tested', async () => {
    const h = harness({ sites: [bank] });
    h.clock.advance(WEEK);
    await h.tick();
    expect(h.supervisory()).toEqual([]); // exactly at the due time: not yet overdue
    h.clock.advance(1);
    await h.tick();
    await h.tick();
    const overdue = h.supervisory();
    expect(overdue).toHaveLength(1);
    expect(overdue[0]).toMatchObject({
      category: 'supervisory',
      account: '1234',
      site: { id: 'bank-1' },
      devices: [{ site: 'bank-1', device: 'zone-5', kind: 'zone', number: 5, name: 'Teller 1 hold-up button' }],
    });
    expect(reasonText(overdue[0]!)).toMatch(/zone-5 .* overdue for its test: never tested.*testEvery 7d/);
    expect(device(h, 'zone-5').overdue).toBe(true);

    // Three more weeks: the pendant (30 d) and duress code fall due too; zone 5 is not reported again.
    h.clock.advance(3 * WEEK + 3 * DAY);
    await h.tick();
    expect(h.supervisory().flatMap((e) => e.devices as Array<{ device: string }>).map((d) => d.device)).toEqual([
      'zone-5', 'zone-9', 'user-12',
    ]);

    await h.receive(cid('615', 5));
    expect(device(h, 'zone-5')).toMatchObject({ overdue: false, neverTested: false });
    h.clock.advance(WEEK + 1);
    await h.tick();
    expect(h.supervisory().filter((e) => (e.devices as Array<{ device: string }>)[0]!.device === 'zone-5')).toHaveLength(2);
  });

  /** A Pi without a saved clock boots in 1970; NTP steps it to the present once it syncs. */
  it('does not find every device overdue when NTP steps a 1970 boot clock to the present', async () => {
    const clock = new FakeClock(0);
    const h = harness({ clock, sites: [bank] });
    await h.tick();
    clock.advance(DAY);
    await h.receive(cid('615', 9)); // a walk test on the stale clock
    clock.step(Date.UTC(2024, 0, 1, 9, 0, 0) - clock.now());
    await h.tick();
    expect(h.supervisory()).toEqual([]);
    expect(device(h, 'zone-9').lastTestedAt).toBe(new Date(clock.now()).toISOString());
    // Its history moved with it, not pruned as 54 years old.
    expect(h.store.history('bank-1', 0, clock.now() + 1).map((r) => [r.device, r.kind, r.at])).toEqual([['zone-9', 'test', clock.now()]]);
    clock.advance(WEEK - DAY + 1); // a week after the start, not after the walk test
    await h.tick();
    expect(h.supervisory().flatMap((e) => e.devices as Array<{ device: string }>).map((d) => d.device)).toEqual(['zone-5']);
  });

  it('moves the panel tests taken on a 1970 boot clock with the step, in the store too', async () => {
    const clock = new FakeClock(0);
    const h = harness({ clock, sites: [bank] });
    await h.tick();
    clock.advance(DAY);
    await h.receive(sia('RP', null)); // bank-1's periodic test on the stale clock
    await h.receive(cid('602', 0, { account: 'C0FFEE' })); // a panel on no site
    clock.step(Date.UTC(2024, 0, 1, 9, 0, 0) - clock.now());
    await h.tick();
    const now = new Date(clock.now()).toISOString();
    expect(h.assurance.deviceReport().panels.map((p) => [p.site ?? p.account, p.lastTestedAt])).toEqual([['bank-1', now], ['C0FFEE', now]]);
    await h.assurance.flush();
    expect(h.store.panelTests().map((p) => [p.scope, p.lastTestedAt])).toEqual([
      ['account:C0FFEE', clock.now()],
      ['site:bank-1', clock.now()],
    ]);
  });

  it('takes a real activation as proof the device works when deciding overdue', async () => {
    const h = harness();
    h.clock.advance(6 * DAY);
    await h.receive(cid('122', 5)); // silent hold-up
    h.clock.advance(2 * DAY);
    expect(device(h, 'zone-5')).toMatchObject({ overdue: false, neverTested: true });
  });

  it('filters devices needing attention: overdue, never tested, or either', async () => {
    const h = harness();
    await h.receive(cid('615', 9));
    h.clock.advance(2 * DAY); // shop-2's till button (1 d) is overdue now
    const all = h.assurance.deviceReport().devices;
    const names = (list: typeof all) => list.map((d) => `${d.site}/${d.device}`);
    expect(names(filterDevices(all, { overdue: true }))).toEqual(['shop-2/zone-1']);
    expect(names(filterDevices(all, { neverTested: true }))).toEqual(['bank-1/zone-5', 'bank-1/user-12', 'bank-1/door-lobby-2', 'shop-2/zone-1']);
    expect(names(filterDevices(all, { neverTested: true, overdue: true, site: 'shop-2' }))).toEqual(['shop-2/zone-1']);
    expect(filterDevices(all, {})).toHaveLength(all.length);
  });
});

describe('ledger persistence', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('survives a restart: tests, activations, the interval start and the overdue report', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pb-ledger-'));
    dirs.push(dir);
    const clock = new FakeClock();
    const first = harness({ clock, store: AssuranceStore.openIn(dir) });
    const test = await first.receive(cid('615', 9));
    await first.receive(cid('124', 20)); // duress PIN at the lobby door
    clock.advance(WEEK + 1);
    await first.tick(); // zone 5 reported overdue
    first.store.close();

    clock.advance(DAY);
    const second = harness({ clock, store: AssuranceStore.openIn(dir) });
    expect(device(second, 'zone-9')).toMatchObject({ testCount: 1, lastEventId: test.id, neverTested: false });
    expect(device(second, 'door-lobby-2').lastActivatedAt).not.toBeNull();
    expect(device(second, 'zone-5').overdue).toBe(true);
    await second.tick();
    expect(second.supervisory()).toEqual([]); // already reported before the restart
    second.store.close();
  });

  it('refuses a store written by a newer version', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pb-ledger-'));
    dirs.push(dir);
    const store = AssuranceStore.openIn(dir);
    store.close();
    const file = path.join(dir, 'assurance.sqlite');
    // Bump the schema version the way a future release would.
    const db = new Database(file);
    db.pragma('user_version = 99');
    db.close();
    expect(() => AssuranceStore.open(file)).toThrow(/ASSURANCE_STORE_FAILED/);
    expect(() => AssuranceStore.openReadOnly(file)).toThrow(/schema version 99/);
  });
});
