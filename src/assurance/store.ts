import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { GatewayError, schemaTooNew } from '../errors.js';
import type { NormalizedEvent, UnverifiedReason } from '../model/event.js';
import { SQLITE_BUSY_TIMEOUT_MS } from '../timeout.js';
import { limitWalSize } from '../sqlite-wal.js';
import { WriteFaults } from '../observability/write-faults.js';
import type { SiteConfigRecord } from './site-configs.js';
import { BackgroundSync, syncFileData, type SyncFile } from '../background-sync.js';

/**
 * Why SQLite rather than a JSON file: the ledger changes one row at a time (a test, an activation, an incident),
 * and SQLite writes just those rows, atomically and fsynced, where a JSON file would be rewritten whole on every
 * change. WAL lets `panelbridge devices` read the file while the gateway writes it.
 */
export const ASSURANCE_FILE_NAME = 'assurance.sqlite';

export interface DeviceRecord {
  site: string;
  device: string;
  /** When the ledger first knew the device: the start of its first test interval. */
  since: number;
  lastTestedAt: number | null;
  lastActivatedAt: number | null;
  testCount: number;
  lastEventId: string | null;
  /** Set when the device was reported overdue; cleared by its next test or activation. */
  overdueReportedAt: number | null;
  /** Scheduled test windows that closed without it. */
  missedCount: number;
  lastMissedAt: number | null;
}

/** What happened to a device once: the report's raw material. */
export type DeviceHistoryKind = 'test' | 'use' | 'missed';

export interface DeviceHistoryRecord {
  site: string;
  device: string;
  at: number;
  kind: DeviceHistoryKind;
  /** The event (test, use) or the window (missed) behind it. */
  ref: string;
}

export interface PanelTestRecord {
  /** `site:{id}`, or `account:{account}` for an account that belongs to no site. */
  scope: string;
  site: string | null;
  account: string | null;
  lastTestedAt: number;
  lastEventId: string;
  testCount: number;
}

export interface WindowRecord {
  id: string;
  site: string;
  startedAt: number;
  endsAt: number;
  /** The devices under test, or null for every duress device of the site. */
  devices: string[] | null;
  exercised: string[];
  closedAt: number | null;
  closeReason: 'expired' | 'stopped' | null;
  /** `{site}@{local date}T{from}` for a window the site's testSchedule opened; null for one a person opened. */
  scheduleSlot: string | null;
  /** Who stopped it (the actor's name); null while open, when it expired, or when stopped before this was kept. */
  stoppedBy: string | null;
}

export interface IncidentRecord {
  id: string;
  /** `site:{id}` or `account:{ACCOUNT}`: one open incident per key. */
  key: string;
  site: string | null;
  account: string | null;
  category: string;
  openedAt: number;
  openingEventId: string;
  lastEventAt: number;
  eventCount: number;
  ackedAt: number | null;
  ackedBy: string | null;
  note: string | null;
  /** When a central output first confirmed the opening event. */
  deliveredAt: number | null;
  /** What the opening event said; null for an incident stored before it was kept. */
  opening: IncidentOpening | null;
  /**
   * The real calls for help that joined the incident from another caller than its opening (another device, user or
   * door): each caller's first, oldest first, at most INCIDENT_CALLS_KEPT. Acknowledging the incident ends them too.
   */
  calls: IncidentCall[];
}

/** What a responder needs from the event that opened an incident, kept with it for as long as the incident. */
export interface IncidentOpening {
  /** The panel's time of the press, when it sent one. */
  occurredAt: string | null;
  /** The configured duress devices it named, by their names within the site (`zone-5`, `user-12`, `door-lobby-2`). */
  devices: string[];
  zone: NormalizedEvent['zone'];
  user: NormalizedEvent['user'];
  /** The door, with the credential presented and its holder. */
  door: NonNullable<NormalizedEvent['door']> | null;
  verified: boolean;
  unverifiedReason: UnverifiedReason | null;
}

/** A later call for help that joined an incident: what it named, as an opening is kept. */
export interface IncidentCall extends IncidentOpening {
  eventId: string;
  receivedAt: number;
  category: string;
}

export interface LostLinkRecord {
  account: string;
  lostAt: number;
}

/** Migration N (0-based) moves the schema from user_version N to N + 1. Append only; never edit a shipped step. */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE device (
    site TEXT NOT NULL,
    device TEXT NOT NULL,
    since INTEGER NOT NULL,
    last_tested_at INTEGER,
    last_activated_at INTEGER,
    test_count INTEGER NOT NULL,
    last_event_id TEXT,
    overdue_reported_at INTEGER,
    PRIMARY KEY (site, device)
  ) WITHOUT ROWID;
  CREATE TABLE panel_test (
    scope TEXT PRIMARY KEY,
    site TEXT,
    account TEXT,
    last_tested_at INTEGER NOT NULL,
    last_event_id TEXT NOT NULL,
    test_count INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE test_window (
    id TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL,
    devices TEXT,
    exercised TEXT NOT NULL,
    closed_at INTEGER,
    close_reason TEXT
  ) WITHOUT ROWID;
  CREATE TABLE incident (
    id TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    site TEXT,
    account TEXT,
    category TEXT NOT NULL,
    opened_at INTEGER NOT NULL,
    opening_event_id TEXT NOT NULL,
    last_event_at INTEGER NOT NULL,
    event_count INTEGER NOT NULL,
    acked_at INTEGER,
    acked_by TEXT,
    note TEXT
  ) WITHOUT ROWID;
  CREATE INDEX incident_open ON incident (key) WHERE acked_at IS NULL;
  CREATE INDEX incident_opened ON incident (opened_at);
  CREATE TABLE lost_link (account TEXT PRIMARY KEY, lost_at INTEGER NOT NULL) WITHOUT ROWID;
  `,
  `
  ALTER TABLE device ADD COLUMN missed_count INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE device ADD COLUMN last_missed_at INTEGER;
  ALTER TABLE test_window ADD COLUMN schedule_slot TEXT;
  CREATE UNIQUE INDEX test_window_slot ON test_window (schedule_slot) WHERE schedule_slot IS NOT NULL;
  ALTER TABLE incident ADD COLUMN delivered_at INTEGER;
  CREATE TABLE device_history (
    site TEXT NOT NULL,
    device TEXT NOT NULL,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    ref TEXT NOT NULL,
    PRIMARY KEY (site, at, device, kind)
  ) WITHOUT ROWID;
  `,
  `
  ALTER TABLE incident ADD COLUMN opening TEXT;
  `,
  `
  ALTER TABLE incident ADD COLUMN calls TEXT;
  `,
  `
  ALTER TABLE test_window ADD COLUMN stopped_by TEXT;
  `,
  `
  CREATE TABLE site_config (site TEXT PRIMARY KEY, digest TEXT NOT NULL, accounts TEXT NOT NULL, duress_devices TEXT NOT NULL) WITHOUT ROWID;
  `,
];

type Row = Record<string, unknown>;

/** Ledger changes are written at most this often: one transaction and one fsync for everything changed since. */
export const LEDGER_WRITE_INTERVAL_MS = 5;
/** How long a failed background write waits before it is tried again. */
const WRITE_RETRY_MS = 1_000;

const DEVICE_COLUMNS = {
  site: 'site', device: 'device', since: 'since', lastTestedAt: 'last_tested_at', lastActivatedAt: 'last_activated_at',
  testCount: 'test_count', lastEventId: 'last_event_id', overdueReportedAt: 'overdue_reported_at',
  missedCount: 'missed_count', lastMissedAt: 'last_missed_at',
} as const;
const HISTORY_COLUMNS = { site: 'site', device: 'device', at: 'at', kind: 'kind', ref: 'ref' } as const;
const PANEL_TEST_COLUMNS = {
  scope: 'scope', site: 'site', account: 'account', lastTestedAt: 'last_tested_at', lastEventId: 'last_event_id',
  testCount: 'test_count',
} as const;
const INCIDENT_COLUMNS = {
  id: 'id', key: 'key', site: 'site', account: 'account', category: 'category', openedAt: 'opened_at',
  openingEventId: 'opening_event_id', lastEventAt: 'last_event_at', eventCount: 'event_count', ackedAt: 'acked_at',
  ackedBy: 'acked_by', note: 'note', deliveredAt: 'delivered_at', opening: 'opening', calls: 'calls',
} as const;

/** `INSERT OR REPLACE` of a record whose fields map one-to-one onto columns. */
function upsertSql(table: string, columns: Record<string, string>): string {
  const names = Object.values(columns);
  return `INSERT OR REPLACE INTO ${table} (${names.join(', ')}) VALUES (${Object.keys(columns).map((k) => `@${k}`).join(', ')})`;
}

function fromRow<T>(row: Row, columns: Record<string, string>): T {
  return Object.fromEntries(Object.entries(columns).map(([field, column]) => [field, row[column]])) as T;
}

function windowFromRow(row: Row): WindowRecord {
  return {
    id: row.id as string,
    site: row.site as string,
    startedAt: row.started_at as number,
    endsAt: row.ends_at as number,
    devices: row.devices === null ? null : (JSON.parse(row.devices as string) as string[]),
    exercised: JSON.parse(row.exercised as string) as string[],
    closedAt: row.closed_at as number | null,
    closeReason: row.close_reason as WindowRecord['closeReason'],
    scheduleSlot: row.schedule_slot as string | null,
    stoppedBy: row.stopped_by as string | null,
  };
}

function incidentFromRow(row: Row): IncidentRecord {
  const incident = fromRow<IncidentRecord>(row, INCIDENT_COLUMNS);
  return {
    ...incident,
    opening: row.opening === null ? null : (JSON.parse(row.opening as string) as IncidentOpening),
    // null: stored before later calls were kept.
    calls: row.calls === null ? [] : (JSON.parse(row.calls as string) as IncidentCall[]),
  };
}

function storeFailed(file: string, error: unknown): GatewayError {
  if (error instanceof GatewayError) return error;
  return new GatewayError('ASSURANCE_STORE_FAILED', `cannot open ${file}: ${(error as Error).message}`, { cause: error });
}

/**
 * The persisted state of duress assurance: device ledger, panel tests, test windows, incidents, lost links.
 *
 * Writes are batched: a `put…` is queued and written with every other row changed meanwhile, in one transaction, on
 * the next turn of the event loop but at most once per LEDGER_WRITE_INTERVAL_MS (a hold-up button that keeps sending
 * must not cost a commit per frame), and synced by one fdatasync off the event loop (see open). Only the latest
 * state of a row is written. Reads flush first, so they see every write; a crash loses at most the last few
 * milliseconds of changes. A batch that fails stays queued and is retried.
 */
export class AssuranceStore {
  private readonly statements;
  /** Row key → its latest write, in first-write order. */
  private readonly pending = new Map<string, () => void>();
  /**
   * How many acknowledged incidents the file holds: counted once at open, then kept by the writes as they commit.
   * The console asks on every refresh, and counting in SQL walked every acknowledged incident ever stored.
   */
  private acknowledgedTotal: number;
  /** How much the incident writes of the batch being written change acknowledgedTotal, once it commits. */
  private batchAcknowledged = 0;
  /** The background write (or retry) due next. */
  private scheduled: NodeJS.Timeout | undefined;
  private lastWriteAt = Number.NEGATIVE_INFINITY;
  private readonly writeFaults = new WriteFaults<GatewayError>();
  /** Makes each batch durable after it is committed, off the event loop; undefined: nothing to sync (read-only, `:memory:`). */
  private readonly walSync: BackgroundSync | undefined;

  private constructor(
    private readonly db: Database.Database,
    walSync?: { file: string; sync: SyncFile },
  ) {
    this.walSync =
      walSync === undefined
        ? undefined
        : new BackgroundSync(walSync.file, walSync.sync, (error) => {
            this.writeFaults.failed(new GatewayError('ASSURANCE_STORE_FAILED', `cannot sync the assurance ledger: ${(error as Error).message}`, { cause: error }));
            setTimeout(() => this.walSync?.request(), WRITE_RETRY_MS).unref();
          });
    this.statements = {
      devices: db.prepare<[], Row>(`SELECT * FROM device`),
      putDevice: db.prepare(upsertSql('device', DEVICE_COLUMNS)),
      panelTests: db.prepare<[], Row>(`SELECT * FROM panel_test ORDER BY scope`),
      putPanelTest: db.prepare(upsertSql('panel_test', PANEL_TEST_COLUMNS)),
      deletePanelTest: db.prepare<[string]>(`DELETE FROM panel_test WHERE scope = ?`),
      openWindows: db.prepare<[], Row>(`SELECT * FROM test_window WHERE closed_at IS NULL ORDER BY started_at`),
      recentWindows: db.prepare<[number], Row>(`SELECT * FROM test_window ORDER BY started_at DESC LIMIT ?`),
      putWindow: db.prepare(
        `INSERT OR REPLACE INTO test_window (id, site, started_at, ends_at, devices, exercised, closed_at, close_reason, schedule_slot, stopped_by)
         VALUES (@id, @site, @startedAt, @endsAt, @devices, @exercised, @closedAt, @closeReason, @scheduleSlot, @stoppedBy)`,
      ),
      window: db.prepare<[string], Row>(`SELECT * FROM test_window WHERE id = ?`),
      windowOfSlot: db.prepare<[string], Row>(`SELECT * FROM test_window WHERE schedule_slot = ?`),
      windowsBetween: db.prepare<[string, number, number], Row>(
        `SELECT * FROM test_window WHERE site = ? AND started_at >= ? AND started_at < ? ORDER BY started_at`,
      ),
      incidentsBetween: db.prepare<[string, number, number], Row>(
        `SELECT * FROM incident WHERE site = ? AND opened_at >= ? AND opened_at < ? ORDER BY opened_at`,
      ),
      history: db.prepare<[string, number, number], Row>(
        `SELECT * FROM device_history WHERE site = ? AND at >= ? AND at < ? ORDER BY at, device`,
      ),
      putHistory: db.prepare(upsertSql('device_history', HISTORY_COLUMNS)),
      pruneHistory: db.prepare<[number]>(`DELETE FROM device_history WHERE at < ?`),
      shiftHistory: db.prepare<[number, number, number]>(`UPDATE OR REPLACE device_history SET at = at + ? WHERE at BETWEEN ? AND ?`),
      openIncidents: db.prepare<[], Row>(`SELECT * FROM incident WHERE acked_at IS NULL ORDER BY opened_at`),
      acknowledgedIncidents: db.prepare<[number], Row>(`SELECT * FROM incident WHERE acked_at IS NOT NULL ORDER BY opened_at DESC LIMIT ?`),
      acknowledgedCount: db.prepare<[], { count: number }>(`SELECT count(*) AS count FROM incident WHERE acked_at IS NOT NULL`),
      incidentAcknowledged: db.prepare<[string], { acknowledged: number }>(`SELECT acked_at IS NOT NULL AS acknowledged FROM incident WHERE id = ?`),
      incident: db.prepare<[string], Row>(`SELECT * FROM incident WHERE id = ?`),
      putIncident: db.prepare(upsertSql('incident', INCIDENT_COLUMNS)),
      lostLinks: db.prepare<[], LostLinkRecord>(`SELECT account, lost_at AS lostAt FROM lost_link`),
      putLostLink: db.prepare<[string, number]>(`INSERT OR REPLACE INTO lost_link (account, lost_at) VALUES (?, ?)`),
      deleteLostLink: db.prepare<[string]>(`DELETE FROM lost_link WHERE account = ?`),
      siteConfigs: db.prepare<[], Row>(`SELECT * FROM site_config ORDER BY site`),
      putSiteConfig: db.prepare(`INSERT OR REPLACE INTO site_config (site, digest, accounts, duress_devices) VALUES (@site, @digest, @accounts, @duressDevices)`),
      deleteSiteConfigs: db.prepare(`DELETE FROM site_config`),
    };
    this.acknowledgedTotal = this.statements.acknowledgedCount.get()!.count;
  }

  /** Opens (creating and migrating) `dataDir/assurance.sqlite`. */
  static openIn(dataDir: string, sync?: SyncFile): AssuranceStore {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    return AssuranceStore.open(path.join(dataDir, ASSURANCE_FILE_NAME), sync);
  }

  /**
   * `:memory:` gives a throwaway store (tests, a CLI run with no ledger yet). `sync` makes the WAL's committed
   * batches durable (default: fdatasync on the thread pool).
   */
  static open(file: string, sync: SyncFile = syncFileData): AssuranceStore {
    let db: Database.Database | undefined;
    try {
      db = new Database(file, { timeout: SQLITE_BUSY_TIMEOUT_MS });
      if (file !== ':memory:' && db.pragma('journal_mode = WAL', { simple: true }) !== 'wal')
        throw new Error('WAL journal mode unavailable');
      // NORMAL: a commit does not fsync on the event loop (a duress's incident and device rows would stall the
      // answers to every panel for as long, which a panel-side observer could time); each committed batch is
      // synced off it instead (walSync), so an incident opened or a test recorded still survives power loss, like
      // the outbox entry it belongs to, a few milliseconds later. Checkpoints still sync (rarely, and not per write).
      db.pragma('synchronous = NORMAL');
      limitWalSize(db);
      migrate(db, file);
      return new AssuranceStore(db, file === ':memory:' ? undefined : { file: `${file}-wal`, sync });
    } catch (error) {
      db?.close();
      throw storeFailed(file, error);
    }
  }

  /** Read-only view of a store another process (the running gateway) may be writing. */
  static openReadOnly(file: string): AssuranceStore {
    let db: Database.Database | undefined;
    try {
      db = new Database(file, { readonly: true, fileMustExist: true });
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version !== MIGRATIONS.length)
        throw new GatewayError('ASSURANCE_STORE_FAILED', `${file} has schema version ${version}; this build reads ${MIGRATIONS.length}`);
      return new AssuranceStore(db);
    } catch (error) {
      db?.close();
      throw storeFailed(file, error);
    }
  }

  devices(): DeviceRecord[] {
    this.flush();
    return this.statements.devices.all().map((row) => fromRow<DeviceRecord>(row, DEVICE_COLUMNS));
  }

  putDevice(record: DeviceRecord): void {
    this.defer(`device\u0000${record.site}\u0000${record.device}`, () => this.statements.putDevice.run(record));
  }

  panelTests(): PanelTestRecord[] {
    this.flush();
    return this.statements.panelTests.all().map((row) => fromRow<PanelTestRecord>(row, PANEL_TEST_COLUMNS));
  }

  putPanelTest(record: PanelTestRecord): void {
    this.defer(`panel_test\u0000${record.scope}`, () => this.statements.putPanelTest.run(record));
  }

  deletePanelTest(scope: string): void {
    this.defer(`panel_test\u0000${scope}`, () => this.statements.deletePanelTest.run(scope));
  }

  openWindows(): WindowRecord[] {
    this.flush();
    return this.statements.openWindows.all().map(windowFromRow);
  }

  /** The most recent windows, open or closed, newest first. */
  recentWindows(limit: number): WindowRecord[] {
    this.flush();
    return this.statements.recentWindows.all(limit).map(windowFromRow);
  }

  /** The window a test schedule opened for this slot, if it did. */
  windowOfSlot(slot: string): WindowRecord | undefined {
    return this.oneWindow(this.statements.windowOfSlot, slot);
  }

  /** The window with this id, open or closed. */
  window(id: string): WindowRecord | undefined {
    return this.oneWindow(this.statements.window, id);
  }

  private oneWindow(statement: Database.Statement<[string], Row>, key: string): WindowRecord | undefined {
    this.flush();
    const row = statement.get(key);
    return row === undefined ? undefined : windowFromRow(row);
  }

  /** Windows of a site started in [from, to), oldest first. */
  windowsBetween(site: string, from: number, to: number): WindowRecord[] {
    this.flush();
    return this.statements.windowsBetween.all(site, from, to).map(windowFromRow);
  }

  /** Incidents of a site opened in [from, to), oldest first. */
  incidentsBetween(site: string, from: number, to: number): IncidentRecord[] {
    this.flush();
    return this.statements.incidentsBetween.all(site, from, to).map(incidentFromRow);
  }

  /** Tests, uses and missed tests of a site's devices in [from, to), oldest first. */
  history(site: string, from: number, to: number): DeviceHistoryRecord[] {
    this.flush();
    return this.statements.history.all(site, from, to).map((row) => fromRow<DeviceHistoryRecord>(row, HISTORY_COLUMNS));
  }

  /** Forgets device history older than `before` (with the next batched write). */
  pruneHistory(before: number): void {
    this.defer('device_history prune', () => this.statements.pruneHistory.run(before));
  }

  /** Moves the history written in [from, to] by `by` (a step of the wall clock), after the writes queued before. */
  shiftHistory(from: number, to: number, by: number): void {
    this.defer(`device_history shift\u0000${from}`, () => this.statements.shiftHistory.run(by, from, to));
  }

  addHistory(record: DeviceHistoryRecord): void {
    this.defer(`device_history\u0000${record.site}\u0000${record.at}\u0000${record.device}\u0000${record.kind}`, () =>
      this.statements.putHistory.run(record),
    );
  }

  putWindow(record: WindowRecord): void {
    const row = {
      ...record,
      devices: record.devices === null ? null : JSON.stringify(record.devices),
      exercised: JSON.stringify(record.exercised),
    };
    this.defer(`test_window\u0000${record.id}`, () => this.statements.putWindow.run(row));
  }

  openIncidents(): IncidentRecord[] {
    this.flush();
    return this.statements.openIncidents.all().map(incidentFromRow);
  }

  /**
   * Every open incident and the `limit` most recently opened acknowledged ones, newest first. The limit applies to
   * acknowledged ones only: a cut by age would hide an old open incident behind newer ones (at most one is open per
   * site or account).
   */
  recentIncidents(limit: number): IncidentRecord[] {
    this.flush();
    return [...this.statements.openIncidents.all(), ...this.statements.acknowledgedIncidents.all(limit)]
      .map(incidentFromRow)
      .sort((a, b) => b.openedAt - a.openedAt);
  }

  /** The most recently opened acknowledged incidents, newest first, and how many are stored in all. */
  acknowledgedIncidents(limit: number): { incidents: IncidentRecord[]; total: number } {
    this.flush();
    return { incidents: this.statements.acknowledgedIncidents.all(limit).map(incidentFromRow), total: this.acknowledgedTotal };
  }

  incident(id: string): IncidentRecord | undefined {
    this.flush();
    const row = this.statements.incident.get(id);
    return row === undefined ? undefined : incidentFromRow(row);
  }

  putIncident(record: IncidentRecord): void {
    const row = { ...record, opening: record.opening === null ? null : JSON.stringify(record.opening), calls: JSON.stringify(record.calls) };
    this.defer(`incident\u0000${record.id}`, () => {
      // The row as the file holds it before this write (a lookup by primary key), earlier writes of the batch included.
      const was = this.statements.incidentAcknowledged.get(record.id)?.acknowledged === 1 ? 1 : 0;
      this.statements.putIncident.run(row);
      this.batchAcknowledged += (record.ackedAt === null ? 0 : 1) - was;
    });
  }

  lostLinks(): LostLinkRecord[] {
    this.flush();
    return this.statements.lostLinks.all();
  }

  setLinkLost(account: string, lostAt: number | null): void {
    this.defer(`lost_link\u0000${account}`, () => {
      if (lostAt === null) this.statements.deleteLostLink.run(account);
      else this.statements.putLostLink.run(account, lostAt);
    });
  }

  /** The sites as last loaded (SiteConfigRecord); empty before the first start that recorded them. */
  siteConfigs(): SiteConfigRecord[] {
    this.flush();
    return this.statements.siteConfigs.all().map((row) => ({
      site: row.site as string,
      digest: row.digest as string,
      accounts: JSON.parse(row.accounts as string) as string[],
      duressDevices: JSON.parse(row.duress_devices as string) as SiteConfigRecord['duressDevices'],
    }));
  }

  /** Replaces the recorded sites by `records` (with the next batched write). */
  replaceSiteConfigs(records: readonly SiteConfigRecord[]): void {
    const rows = records.map((record) => ({ ...record, accounts: JSON.stringify(record.accounts), duressDevices: JSON.stringify(record.duressDevices) }));
    this.defer('site_config', () => {
      this.statements.deleteSiteConfigs.run();
      for (const row of rows) this.statements.putSiteConfig.run(row);
    });
  }

  /** Writes the queued rows now, in one transaction. Throws ASSURANCE_STORE_FAILED; the rows stay queued. */
  flush(): void {
    clearTimeout(this.scheduled);
    this.scheduled = undefined;
    if (this.pending.size === 0) return;
    try {
      this.batchAcknowledged = 0;
      this.db.transaction(() => {
        for (const write of this.pending.values()) write();
      })();
      // Only once committed: a batch rolled back changed nothing.
      this.acknowledgedTotal += this.batchAcknowledged;
      this.walSync?.request();
      this.lastWriteAt = performance.now();
    } catch (error) {
      throw new GatewayError('ASSURANCE_STORE_FAILED', `cannot write the assurance ledger: ${(error as Error).message}`, { cause: error });
    }
    this.pending.clear();
    this.writeFaults.succeeded();
  }

  /**
   * Told when background writes start failing (a full disk, another process's write lock); the rows are retried
   * every WRITE_RETRY_MS, and a fault that lasts is told once, not at every retry.
   */
  onWriteError(listener: (error: GatewayError) => void): void {
    this.writeFaults.onFailed(listener);
  }

  /** Told when a write succeeds after background writes failed, with how long they failed. */
  onWriteRecovered(listener: (failedForMs: number) => void): void {
    this.writeFaults.onRecovered(listener);
  }

  /** Writes what is queued, then closes; the file is closed even when that write fails. */
  close(): void {
    try {
      if (this.db.open) this.flush();
    } finally {
      if (this.db.open) this.db.close();
    }
  }

  private defer(row: string, write: () => void): void {
    // A write again to the same row goes to the end: the writes run in the order of their last call (a history
    // prune after a clock step must follow the step's shift of the history).
    this.pending.delete(row);
    this.pending.set(row, write);
    if (this.scheduled !== undefined) return;
    const wait = Math.max(0, this.lastWriteAt + LEDGER_WRITE_INTERVAL_MS - performance.now());
    this.scheduled = setTimeout(() => this.writeInBackground(), wait);
  }

  private writeInBackground(): void {
    try {
      this.flush();
    } catch (error) {
      this.writeFaults.failed(error as GatewayError);
      this.scheduled ??= setTimeout(() => this.writeInBackground(), WRITE_RETRY_MS).unref();
    }
  }
}

function migrate(db: Database.Database, file: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > MIGRATIONS.length) throw schemaTooNew('ASSURANCE_STORE_FAILED', file, version, MIGRATIONS.length);
  db.transaction(() => {
    for (const step of MIGRATIONS.slice(version)) db.exec(step);
    db.pragma(`user_version = ${MIGRATIONS.length}`);
  }).immediate();
}
