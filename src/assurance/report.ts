import type { Site } from '../settings/sites.js';
import { deviceForPeople, duressDevicesOf, type DuressDevice } from './devices.js';
import type { AssuranceStore, DeviceHistoryRecord, DeviceRecord } from './store.js';
import { localDate, localTime, zonedInstant } from '../settings/time-zone.js';

const DAY_MS = 86_400_000;
/** The coverage chart's span, ending with the report's last day. */
export const COVERAGE_DAYS = 90;
/** A device without `testEvery` counts as covered on a day when it was proven within this long before. */
export const DEFAULT_COVERAGE_INTERVAL_MS = 30 * DAY_MS;

export interface ReportPeriod {
  /** First local day, YYYY-MM-DD. */
  from: string;
  /** Last local day, YYYY-MM-DD (included). */
  to: string;
}

export interface DeviceReportLine {
  device: string;
  kind: DuressDevice['kind'];
  name: string;
  location: string | null;
  holder: string | null;
  tests: number;
  uses: number;
  missedTests: number;
  /** Days of the period that ended with the device overdue for its test. */
  overdueDays: number;
  lastProvenAt: string | null;
}

export interface CoverageDay {
  date: string;
  /** Devices proven within their interval (testEvery, else 30 days) at the end of the day. */
  covered: number;
  total: number;
}

export interface IncidentReportLine {
  id: string;
  category: string;
  openedAt: string;
  deliveredAt: string | null;
  acknowledgedAt: string | null;
  acknowledgedBy: string | null;
  note: string | null;
  secondsToDelivery: number | null;
  secondsToAcknowledgement: number | null;
}

export interface AssuranceReport {
  site: { id: string; name: string | null; address: string | null; timeZone: string };
  period: ReportPeriod;
  generatedAt: string;
  devices: DeviceReportLine[];
  coverage: CoverageDay[];
  incidents: IncidentReportLine[];
  windows: { opened: number; scheduled: number };
}

export type ReportRequest = { site: Site; period: ReportPeriod; now: number };

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** `YYYY-MM-DD` → its parts, or undefined when it is not a real date. */
export function parseLocalDate(text: string): { year: number; month: number; day: number } | undefined {
  const match = DATE.exec(text);
  if (match === null) return undefined;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const check = new Date(Date.UTC(year, month - 1, day));
  return check.getUTCMonth() === month - 1 && check.getUTCDate() === day ? { year, month, day } : undefined;
}

/**
 * The longest period a report covers: a calendar year, leap or not (the history behind it is kept 455 days). Its
 * cost grows with its days, and every console viewer may ask for one: 0001 to 9999 held the event loop 44 s.
 */
export const MAX_REPORT_DAYS = 366;

/** Why a period cannot be reported, or undefined when it can. */
export function periodProblem(period: ReportPeriod): string | undefined {
  const from = parseLocalDate(period.from);
  const to = parseLocalDate(period.to);
  if (from === undefined || to === undefined) return 'from and to must be dates written YYYY-MM-DD';
  if (period.to < period.from) return 'to must not be before from';
  if (daysBetween(period.from, period.to) > MAX_REPORT_DAYS) return `a report covers at most ${MAX_REPORT_DAYS} days`;
  return undefined;
}

/** Local midnight starting each day from `first` for `count` days, plus the midnight ending the last one. */
function dayStarts(first: string, count: number, timeZone: string): number[] {
  const { year, month, day } = parseLocalDate(first)!;
  return Array.from({ length: count + 1 }, (_, i) => zonedInstant(year, month, day + i, 0, timeZone));
}

function daysBetween(from: string, to: string): number {
  const a = parseLocalDate(from)!;
  const b = parseLocalDate(to)!;
  return Math.round((Date.UTC(b.year, b.month - 1, b.day) - Date.UTC(a.year, a.month - 1, a.day)) / DAY_MS) + 1;
}

function shiftDate(date: string, days: number): string {
  const { year, month, day } = parseLocalDate(date)!;
  const shifted = new Date(Date.UTC(year, month - 1, day + days));
  return localDate({ year: shifted.getUTCFullYear(), month: shifted.getUTCMonth() + 1, day: shifted.getUTCDate() });
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
const seconds = (from: number, to: number | null): number | null => (to === null ? null : Math.round((to - from) / 1000));

/** The last test or use of the device at or before `at`, from its history (oldest first). */
function lastProofBefore(history: readonly DeviceHistoryRecord[], at: number): number | null {
  let last: number | null = null;
  for (const entry of history) {
    if (entry.at > at) break;
    if (entry.kind !== 'missed') last = entry.at;
  }
  return last;
}

/** Overdue at `at`: no proof within its interval, counted from the last proof or from when the ledger first knew it. */
function overdueAt(record: DeviceRecord | undefined, history: readonly DeviceHistoryRecord[], at: number, interval: number): boolean {
  const since = record?.since ?? at;
  if (at < since) return false;
  return at > (lastProofBefore(history, at) ?? since) + interval;
}

/**
 * What a site's duress assurance did in a period of local days: every device with its tests, uses, missed
 * scheduled tests and overdue days; test coverage per day over the last COVERAGE_DAYS days of the period; the
 * incidents opened with their times to delivery and acknowledgement. Built from the assurance store only.
 */
export function buildReport(store: AssuranceStore, request: ReportRequest): AssuranceReport {
  const { site, period, now } = request;
  const problem = periodProblem(period);
  if (problem !== undefined) throw new RangeError(problem);
  const zone = site.timeZone;
  const days = daysBetween(period.from, period.to);
  const bounds = dayStarts(period.from, days, zone);
  const [start, end] = [bounds[0]!, bounds.at(-1)!];
  const devices = duressDevicesOf(site);
  const records = new Map(store.devices().filter((r) => r.site === site.id).map((r) => [r.device, r]));
  const history = store.history(site.id, 0, end);
  const historyOf = new Map(devices.map((d) => [d.device, history.filter((h) => h.device === d.device)]));
  const dayEnds = bounds.slice(1).filter((at) => at <= now);

  const lines: DeviceReportLine[] = devices.map((device) => {
    const own = historyOf.get(device.device)!;
    const inPeriod = own.filter((h) => h.at >= start && h.at < end);
    const count = (kind: DeviceHistoryRecord['kind']) => inPeriod.filter((h) => h.kind === kind).length;
    const record = records.get(device.device);
    return {
      ...deviceForPeople(device),
      tests: count('test'),
      uses: count('use'),
      missedTests: count('missed'),
      overdueDays:
        device.testEvery === null ? 0 : dayEnds.filter((at) => overdueAt(record, own, at, device.testEvery!)).length,
      lastProvenAt: iso(lastProofBefore(own, end)),
    };
  });

  const coverageFrom = shiftDate(period.to, 1 - COVERAGE_DAYS);
  const coverageBounds = dayStarts(coverageFrom, COVERAGE_DAYS, zone);
  // A day not begun yet has no coverage to show; today counts up to now.
  const coverageEnds = coverageBounds.slice(1).map((at) => Math.min(at, now)).filter((_, i) => coverageBounds[i]! <= now);
  const coverage: CoverageDay[] = coverageEnds.map((at, i) => ({
    date: shiftDate(coverageFrom, i),
    covered: devices.filter((d) => {
      const interval = d.testEvery ?? DEFAULT_COVERAGE_INTERVAL_MS;
      const proof = lastProofBefore(historyOf.get(d.device)!, at);
      return proof !== null && at - proof <= interval;
    }).length,
    total: devices.length,
  }));

  const incidents = store.incidentsBetween(site.id, start, end).map((i) => ({
    id: i.id,
    category: i.category,
    openedAt: iso(i.openedAt)!,
    deliveredAt: iso(i.deliveredAt),
    acknowledgedAt: iso(i.ackedAt),
    acknowledgedBy: i.ackedBy,
    note: i.note,
    secondsToDelivery: seconds(i.openedAt, i.deliveredAt),
    secondsToAcknowledgement: seconds(i.openedAt, i.ackedAt),
  }));
  const windows = store.windowsBetween(site.id, start, end);

  return {
    site: { id: site.id, name: site.name ?? null, address: site.address ?? null, timeZone: zone },
    period,
    generatedAt: iso(now)!,
    devices: lines,
    coverage,
    incidents,
    windows: { opened: windows.length, scheduled: windows.filter((w) => w.scheduleSlot !== null).length },
  };
}

/** Without a start, a report covers this many days ending with its last day. */
export const DEFAULT_PERIOD_DAYS = 30;

/** The period asked for, its last day defaulting to the site's today and its first to 29 days before. */
export function periodOf(site: Site, asked: Partial<ReportPeriod>, now: number): ReportPeriod {
  const to = asked.to ?? localDate(localTime(now, site.timeZone));
  return { from: asked.from ?? (parseLocalDate(to) === undefined ? to : shiftDate(to, 1 - DEFAULT_PERIOD_DAYS)), to };
}
