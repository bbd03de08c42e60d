import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ASSURANCE_FILE_NAME, AssuranceStore, type DeviceRecord, type IncidentRecord } from '../../../src/assurance/store.js';
import type { GatewayError } from '../../../src/errors.js';

const dirs: string[] = [];
const stores: AssuranceStore[] = [];
afterEach(() => {
  for (const store of stores.splice(0)) store.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A writable store in a fresh dataDir, and a second connection reading the same file (as `panelbridge devices`). */
function openStore(): { store: AssuranceStore; readRows: () => { incidents: IncidentRecord[]; devices: DeviceRecord[] }; dir: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pb-store-'));
  dirs.push(dir);
  const store = AssuranceStore.openIn(dir);
  stores.push(store);
  const readRows = () => {
    const reader = AssuranceStore.openReadOnly(path.join(dir, ASSURANCE_FILE_NAME));
    try {
      return { incidents: reader.recentIncidents(100), devices: reader.devices() };
    } finally {
      reader.close();
    }
  };
  return { store, readRows, dir };
}

function incident(eventCount: number, fields: Partial<IncidentRecord> = {}): IncidentRecord {
  return {
    id: 'inc-1',
    key: 'site:bank-1',
    site: 'bank-1',
    account: '1234',
    category: 'holdup',
    openedAt: 1_000,
    openingEventId: 'ev-1',
    lastEventAt: 1_000 + eventCount,
    eventCount,
    ackedAt: null,
    ackedBy: null,
    note: null,
    deliveredAt: null,
    opening: null,
    calls: [],
    ...fields,
  };
}

const device: DeviceRecord = {
  site: 'bank-1',
  device: 'zone-5',
  since: 0,
  lastTestedAt: null,
  lastActivatedAt: 5_000,
  testCount: 0,
  lastEventId: 'ev-1',
  overdueReportedAt: null,
  missedCount: 0,
  lastMissedAt: null,
};

describe('AssuranceStore write batching', () => {
  it('writes the rows changed since the last write together, each in its latest state', () => {
    const { store, readRows } = openStore();
    for (let count = 1; count <= 50; count++) store.putIncident(incident(count));
    store.putDevice(device);
    expect(readRows()).toEqual({ incidents: [], devices: [] }); // queued, not yet written
    store.flush();
    const rows = readRows();
    expect(rows.incidents).toEqual([incident(50)]);
    expect(rows.devices).toEqual([device]);
  });

  it('writes queued rows in the background without being asked', async () => {
    const { store, readRows } = openStore();
    store.putIncident(incident(1));
    await vi.waitFor(() => expect(readRows().incidents).toHaveLength(1), { timeout: 2_000, interval: 5 });
  });

  it('lets its own reads see queued writes', () => {
    const { store } = openStore();
    store.putIncident(incident(3));
    expect(store.incident('inc-1')).toEqual(incident(3));
    expect(store.openIncidents()).toEqual([incident(3)]);
  });

  it('runs queued writes in the order of their last call: a prune asked again after a clock step follows its shift', () => {
    const store = AssuranceStore.open(':memory:');
    stores.push(store);
    const year = 365 * 86_400_000;
    store.addHistory({ site: 'bank-1', device: 'zone-9', at: 1_000, kind: 'test', ref: 'ev-1' }); // on a 1970 boot clock
    store.pruneHistory(1_000 - 2 * year);
    store.shiftHistory(0, 2_000, 54 * year); // NTP stepped the clock to the present
    store.pruneHistory(54 * year - 2 * year);
    expect(store.history('bank-1', 0, 55 * year).map((r) => r.at)).toEqual([1_000 + 54 * year]);
  });

  it('writes what is queued when closed, so a restart finds it', () => {
    const { store, dir } = openStore();
    store.putIncident(incident(2));
    store.setLinkLost('1234', 7_000);
    store.close();
    const reopened = AssuranceStore.openIn(dir);
    stores.push(reopened);
    expect(reopened.openIncidents()).toEqual([incident(2)]);
    expect(reopened.lostLinks()).toEqual([{ account: '1234', lostAt: 7_000 }]);
  });

  it('keeps a batch that failed queued, writes none of it, and reports background failures', async () => {
    const { store, readRows } = openStore();
    const failures: GatewayError[] = [];
    store.onWriteError((error) => failures.push(error));
    store.putDevice(device);
    // category is NOT NULL: SQLite refuses the row, and with it the whole transaction.
    store.putIncident(incident(1, { category: null as unknown as string }));
    expect(() => store.flush()).toThrow(/cannot write the assurance ledger/);
    expect(readRows()).toEqual({ incidents: [], devices: [] });

    store.putDevice({ ...device, testCount: 1 });
    await vi.waitFor(() => expect(failures.length).toBeGreaterThan(0), { timeout: 2_000, interval: 5 });
    expect(failures[0]!.code).toBe('ASSURANCE_STORE_FAILED');

    store.putIncident(incident(2)); // the corrected row replaces the refused one
    store.flush();
    expect(readRows()).toEqual({ incidents: [incident(2)], devices: [{ ...device, testCount: 1 }] });
  });
});

describe('AssuranceStore while another process holds its write lock', () => {
  it('reports the fault once, not at every retry, and once more when a retry writes the rows', async () => {
    const { store, dir, readRows } = openStore();
    const failures: GatewayError[] = [];
    const recoveries: number[] = [];
    store.onWriteError((error) => failures.push(error));
    store.onWriteRecovered((failedForMs) => recoveries.push(failedForMs));
    // An operator's sqlite3 inside a transaction: the gateway logged an error with its stack every second meanwhile.
    const operator = new Database(path.join(dir, ASSURANCE_FILE_NAME));
    operator.exec('BEGIN IMMEDIATE');
    const flushes = vi.spyOn(store, 'flush');
    store.putDevice(device);
    await vi.waitFor(() => expect(flushes.mock.calls.length).toBeGreaterThanOrEqual(3), { timeout: 10_000, interval: 20 });
    expect(failures.map((error) => error.message)).toEqual([expect.stringMatching(/database is locked/)]);
    expect(recoveries).toEqual([]);
    operator.exec('ROLLBACK');
    operator.close();
    await vi.waitFor(() => expect(recoveries).toHaveLength(1), { timeout: 5_000, interval: 20 });
    expect(recoveries[0]).toBeGreaterThan(0);
    expect(failures).toHaveLength(1);
    expect(readRows().devices).toEqual([device]);
  }, 20_000);
});

describe('AssuranceStore incidents', () => {
  it('keep what the opening event and later callers said, and an incident stored by an earlier version reads with neither', () => {
    const { store, dir, readRows } = openStore();
    const opening = {
      occurredAt: '2024-01-01T08:59:58.000Z',
      devices: ['door-lobby-2'],
      zone: { number: 20 },
      user: null,
      door: { id: 'lobby-2', name: 'Lobby door 2', credential: '0042', holder: 'A. Manager' },
      verified: false,
      unverifiedReason: 'unauthenticated-source' as const,
    };
    const calls = [{ ...opening, devices: ['user-12'], zone: null, user: { number: 12 }, door: null, eventId: 'ev-2', receivedAt: 2_000, category: 'duress' }];
    store.putIncident(incident(2, { opening, calls }));
    store.flush();
    expect(readRows().incidents).toEqual([incident(2, { opening, calls })]);
    store.close();
    // The schema before openings and later calls were kept: a row written then has neither.
    const db = new Database(path.join(dir, ASSURANCE_FILE_NAME));
    db.exec(
      `ALTER TABLE incident DROP COLUMN opening; ALTER TABLE incident DROP COLUMN calls; ALTER TABLE test_window DROP COLUMN stopped_by; DROP TABLE site_config; UPDATE incident SET id = 'inc-old'`,
    );
    db.pragma('user_version = 2');
    db.close();
    const migrated = AssuranceStore.openIn(dir);
    stores.push(migrated);
    expect(migrated.incident('inc-old')).toEqual(incident(2, { id: 'inc-old', opening: null, calls: [] }));
  });
});
