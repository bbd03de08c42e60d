import type { NormalizedEvent } from '../model/event.js';
import type { ClockStep } from '../clock-steps.js';
import type { DeviceDirectory, DeviceKind, DuressDevice } from './devices.js';
import type { AssuranceStore, DeviceRecord, PanelTestRecord } from './store.js';

/** One device as `GET /devices`, `panelbridge devices` and the retained MQTT state show it. */
export interface DeviceStatus {
  site: string;
  device: string;
  kind: DeviceKind;
  number: number | null;
  name: string;
  type?: string;
  door?: string;
  lastTestedAt: string | null;
  /** Last real use (a call for help outside any test window). */
  lastActivatedAt: string | null;
  testCount: number;
  neverTested: boolean;
  overdue: boolean;
  /** When the next test is due (null without a schedule). */
  dueAt: string | null;
  lastEventId: string | null;
  /** Test schedule in milliseconds, or null. */
  testEvery: number | null;
  /** Scheduled test windows (sites[].testSchedule) that closed without it. */
  missedTests: number;
  lastMissedAt: string | null;
}

export interface PanelTestStatus {
  site: string | null;
  account: string | null;
  lastTestedAt: string;
  lastEventId: string;
  testCount: number;
}

export interface DeviceFilter {
  site?: string;
  overdue?: boolean;
  neverTested?: boolean;
}

/** Devices of one site and/or needing attention; `overdue` and `neverTested` together select either kind. */
export function filterDevices(devices: readonly DeviceStatus[], filter: DeviceFilter): DeviceStatus[] {
  const attention = filter.overdue === true || filter.neverTested === true;
  return devices.filter(
    (d) =>
      (filter.site === undefined || d.site === filter.site) &&
      (!attention || (filter.overdue === true && d.overdue) || (filter.neverTested === true && d.neverTested)),
  );
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/** The times a device record holds. */
const RECORD_TIMES = ['since', 'lastTestedAt', 'lastActivatedAt', 'lastMissedAt', 'overdueReportedAt'] as const;

function recordKey(site: string, device: string): string {
  return `${site}\u0000${device}`;
}

/** Last time the device was proven to work: a real activation proves it as much as a test does. */
function lastProof(record: DeviceRecord): number | null {
  const times = [record.lastTestedAt, record.lastActivatedAt].filter((t): t is number => t !== null);
  return times.length === 0 ? null : Math.max(...times);
}

/**
 * Panel-test records of accounts on no site kept at most (a site's are bounded by the configuration). A sender on an
 * input that trusts any account can name a new one in every test report: past this many, the account tested least
 * recently is forgotten, in the store too.
 */
export const MAX_ACCOUNT_PANEL_TESTS = 10_000;

/**
 * When each configured duress device was last tested or used, persisted in the assurance store. A device is
 * overdue when neither happened within `testEvery` of the previous proof (or of when the ledger first knew it).
 */
export class DeviceLedger {
  private readonly records: Map<string, DeviceRecord>;
  /** Panel tests of sites (bounded by the configuration), by scope. */
  private readonly sitePanels = new Map<string, PanelTestRecord>();
  /** Panel tests of accounts on no site, by scope, least recently tested first (MAX_ACCOUNT_PANEL_TESTS). */
  private readonly accountPanels = new Map<string, PanelTestRecord>();

  constructor(
    private readonly store: AssuranceStore,
    private readonly directory: DeviceDirectory,
    private readonly onPanelTestEvicted: (record: PanelTestRecord) => void = () => undefined,
  ) {
    this.records = new Map(store.devices().map((r) => [recordKey(r.site, r.device), r]));
    for (const record of store.panelTests().sort((a, b) => a.lastTestedAt - b.lastTestedAt)) this.panelsOf(record).set(record.scope, record);
  }

  /** Starts the test interval of every configured device the ledger has not seen before. */
  enroll(now: number): void {
    for (const device of this.directory.all()) this.recordOf(device, now);
  }

  recordTest(devices: readonly DuressDevice[], event: NormalizedEvent, at: number): void {
    for (const device of devices) {
      const record = this.recordOf(device, at);
      this.save({ ...record, lastTestedAt: at, testCount: record.testCount + 1, lastEventId: event.id, overdueReportedAt: null });
      this.store.addHistory({ site: device.site, device: device.device, at, kind: 'test', ref: event.id });
    }
  }

  recordActivation(devices: readonly DuressDevice[], event: NormalizedEvent, at: number): void {
    for (const device of devices) {
      this.save({ ...this.recordOf(device, at), lastActivatedAt: at, lastEventId: event.id, overdueReportedAt: null });
      this.store.addHistory({ site: device.site, device: device.device, at, kind: 'use', ref: event.id });
    }
  }

  /** A scheduled test window closed without this device: a missed test (it does not move when the device is due). */
  recordMissed(device: DuressDevice, window: string, at: number): void {
    const record = this.recordOf(device, at);
    this.save({ ...record, missedCount: record.missedCount + 1, lastMissedAt: at });
    this.store.addHistory({ site: device.site, device: device.device, at, kind: 'missed', ref: window });
  }

  /** A panel-level test report (Contact ID 601/602, SIA RP): proves the communicator, not any device. */
  recordPanelTest(event: NormalizedEvent, at: number): void {
    const site = event.site?.id ?? null;
    const scope = site === null ? `account:${event.account ?? ''}` : `site:${site}`;
    const panels = site === null ? this.accountPanels : this.sitePanels;
    const previous = panels.get(scope);
    const record: PanelTestRecord = {
      scope,
      site,
      account: site === null ? event.account : null,
      lastTestedAt: at,
      lastEventId: event.id,
      testCount: (previous?.testCount ?? 0) + 1,
    };
    // Re-inserted last: the accounts' map stays in test order, its first the one to forget.
    panels.delete(scope);
    if (previous === undefined && panels === this.accountPanels) {
      for (const [forgotten, old] of this.accountPanels) {
        if (this.accountPanels.size < MAX_ACCOUNT_PANEL_TESTS) break;
        this.accountPanels.delete(forgotten);
        this.store.deletePanelTest(forgotten);
        this.onPanelTestEvicted(old);
      }
    }
    panels.set(scope, record);
    this.store.putPanelTest(record);
  }

  private panelsOf(record: PanelTestRecord): Map<string, PanelTestRecord> {
    return record.site === null ? this.accountPanels : this.sitePanels;
  }

  /** Every configured duress device with its ledger entry (a device not yet enrolled starts its interval now). */
  list(now: number): DeviceStatus[] {
    return this.directory.all().map((device) => this.status(device, this.records.get(recordKey(device.site, device.device)), now));
  }

  /** Devices overdue now that were not reported yet; each is reported once until its next test or use. */
  newlyOverdue(now: number): DeviceStatus[] {
    const reported: DeviceStatus[] = [];
    for (const device of this.directory.all()) {
      const record = this.recordOf(device, now);
      const status = this.status(device, record, now);
      if (!status.overdue || record.overdueReportedAt !== null) continue;
      this.save({ ...record, overdueReportedAt: now });
      reported.push(status);
    }
    return reported;
  }

  /**
   * Moves the times written before a step of the wall clock (since the gateway started) with it. A Pi boots on a
   * stale clock, or in 1970, until NTP steps it forward by days: a device enrolled or tested in between would be
   * overdue at once, its history pruned as older than the retention, and a panel test shown as days old.
   */
  clockStepped(step: ClockStep): void {
    for (const record of [...this.records.values()]) {
      const shifted = { ...record };
      for (const field of RECORD_TIMES) {
        const at = record[field];
        if (at !== null && at >= step.from && at <= step.to) shifted[field] = at + step.by;
      }
      if (RECORD_TIMES.some((field) => shifted[field] !== record[field])) this.save(shifted);
    }
    // In place: the accounts' map keeps its order, the least recently tested first.
    for (const panel of [...this.sitePanels.values(), ...this.accountPanels.values()]) {
      if (panel.lastTestedAt < step.from || panel.lastTestedAt > step.to) continue;
      panel.lastTestedAt += step.by;
      this.store.putPanelTest(panel);
    }
    this.store.shiftHistory(step.from, step.to, step.by);
  }

  panelTests(): PanelTestStatus[] {
    return [...this.sitePanels.values(), ...this.accountPanels.values()].map(({ site, account, lastTestedAt, lastEventId, testCount }) => ({
      site,
      account,
      lastTestedAt: new Date(lastTestedAt).toISOString(),
      lastEventId,
      testCount,
    }));
  }

  private status(device: DuressDevice, record: DeviceRecord | undefined, now: number): DeviceStatus {
    const proof = record === undefined ? null : lastProof(record);
    const dueAt = device.testEvery === null ? null : (proof ?? record?.since ?? now) + device.testEvery;
    return {
      site: device.site,
      device: device.device,
      kind: device.kind,
      number: device.number,
      name: device.name,
      ...(device.type === undefined ? {} : { type: device.type }),
      ...(device.door === undefined ? {} : { door: device.door }),
      lastTestedAt: iso(record?.lastTestedAt ?? null),
      lastActivatedAt: iso(record?.lastActivatedAt ?? null),
      testCount: record?.testCount ?? 0,
      neverTested: (record?.lastTestedAt ?? null) === null,
      overdue: dueAt !== null && now > dueAt,
      dueAt: iso(dueAt),
      lastEventId: record?.lastEventId ?? null,
      testEvery: device.testEvery,
      missedTests: record?.missedCount ?? 0,
      lastMissedAt: iso(record?.lastMissedAt ?? null),
    };
  }

  private recordOf(device: DuressDevice, now: number): DeviceRecord {
    const existing = this.records.get(recordKey(device.site, device.device));
    if (existing !== undefined) return existing;
    const record: DeviceRecord = {
      site: device.site,
      device: device.device,
      since: now,
      lastTestedAt: null,
      lastActivatedAt: null,
      testCount: 0,
      lastEventId: null,
      overdueReportedAt: null,
      missedCount: 0,
      lastMissedAt: null,
    };
    this.save(record);
    return record;
  }

  private save(record: DeviceRecord): void {
    this.records.set(recordKey(record.site, record.device), record);
    this.store.putDevice(record);
  }
}
