import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { spyOnStatements, type StatementRun } from '../../helpers/statement-spy.js';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ASSURANCE_FILE_NAME, AssuranceStore, type IncidentRecord } from '../../../src/assurance/store.js';

/**
 * The console lists the most recent acknowledged incidents with how many there are in all, on every refresh of every
 * open console. Counted in SQLite that was a scan of every acknowledged incident ever stored, on the event loop that
 * stores and ACKs duress frames; the store keeps the count in memory instead, and it must stay what the file holds
 * however an incident is written.
 */
describe('AssuranceStore acknowledged-incident count', () => {
  let dataDir: string;
  /** Every statement run by any connection opened while spying. */
  let runs: StatementRun[];

  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'panelbridge-acked-count-'));
    runs = spyOnStatements();
  });

  afterEach(async () => {
    vi.restoreAllMocks();
    await rm(dataDir, { recursive: true, force: true });
  });

  function incident(i: number, ackedAt: number | null, fields: Partial<IncidentRecord> = {}): IncidentRecord {
    return {
      id: `incident-${i}`, key: `account:A${i}`, site: null, account: `A${i}`, category: 'duress', openedAt: i, openingEventId: `event-${i}`,
      lastEventAt: i, eventCount: 1, ackedAt, ackedBy: ackedAt === null ? null : 'desk', note: null, deliveredAt: null, opening: null, calls: [],
      ...fields,
    };
  }

  /** How many acknowledged incidents the file holds, through a connection of its own. */
  function storedCount(): number {
    const db = new Database(path.join(dataDir, ASSURANCE_FILE_NAME), { readonly: true });
    try {
      return db.prepare<[], { n: number }>('SELECT count(*) AS n FROM incident WHERE acked_at IS NOT NULL').get()!.n;
    } finally {
      db.close();
    }
  }

  it('answers the total without counting rows on a request, and keeps it equal to the file through every kind of write', () => {
    let store = AssuranceStore.openIn(dataDir);
    for (let i = 0; i < 300; i++) store.putIncident(incident(i, i % 3 === 0 ? null : 1_000 + i));
    store.flush();

    runs.length = 0;
    // What 100 refreshes of the console's incident list ask.
    for (let i = 0; i < 100; i++) expect(store.acknowledgedIncidents(5).total).toBe(200);
    expect(runs.map(({ source }) => source).filter((source) => /count\(/i.test(source)), 'statements counting acknowledged incidents').toEqual([]);
    expect(runs.length, 'statements per request').toBe(100);

    const steps: Array<[string, () => void]> = [
      ['an open incident acknowledged', () => store.putIncident(incident(0, 5_000))],
      ['an acknowledged one written again (delivered, a call)', () => store.putIncident(incident(1, 1_001, { deliveredAt: 7 }))],
      ['an incident opened', () => store.putIncident(incident(1_000, null))],
      ['one opened and acknowledged before the write', () => (store.putIncident(incident(1_001, null)), store.putIncident(incident(1_001, 9_000)))],
      ['one acknowledged twice before the write', () => (store.putIncident(incident(3, 9_000)), store.putIncident(incident(3, 9_001, { note: 'again' })))],
      ['an acknowledged one written open again', () => store.putIncident(incident(2, null))],
      ['with other rows in the batch', () => (store.setLinkLost('A5', 9_100), store.pruneHistory(0), store.putIncident(incident(5, null)), store.putIncident(incident(1_002, 9_200)))],
    ];
    for (const [step, write] of steps) {
      write();
      expect(store.acknowledgedIncidents(1).total, step).toBe(storedCount());
    }
    store.close();

    store = AssuranceStore.openIn(dataDir);
    expect(store.acknowledgedIncidents(1).total, 'after reopening').toBe(storedCount());
    store.close();
    const readOnly = AssuranceStore.openReadOnly(path.join(dataDir, ASSURANCE_FILE_NAME));
    expect(readOnly.acknowledgedIncidents(1).total, 'read-only view').toBe(storedCount());
    readOnly.close();
  });
});
