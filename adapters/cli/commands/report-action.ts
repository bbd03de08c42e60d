import { buildReport, periodOf, periodProblem, type AssuranceReport, type ReportPeriod } from '../../../src/assurance/report.js';
import { systemClock } from '../../../src/ports.js';
import type { Settings } from '../../../src/settings/settings.js';
import { renderReportCsv } from '../../api/report/report-csv.js';
import { renderReportHtml } from '../../api/report/report-html.js';
import { EXIT_USAGE } from '../config.js';
import { gatewaySettingsOrExit } from '../gateway-data-dir.js';
import { readAssuranceStore } from './devices-action.js';

export interface ReportOptions {
  config: string;
  site: string;
  from?: string;
  to?: string;
  csv?: boolean;
  html?: boolean;
}

export type ReportResult = { ok: true; report: AssuranceReport } | { ok: false; message: string };

/** The report of one site and period, read from the gateway's ledger in dataDir (works while it runs). */
export function readReport(settings: Settings, siteId: string, period: Partial<ReportPeriod>, now: number): ReportResult {
  const site = settings.sites.find((s) => s.id === siteId);
  if (site === undefined) return { ok: false, message: `no site "${siteId}"; sites: ${settings.sites.map((s) => s.id).join(', ') || '(none)'}` };
  const resolved = periodOf(site, period, now);
  const problem = periodProblem(resolved);
  if (problem !== undefined) return { ok: false, message: problem };
  return { ok: true, report: readAssuranceStore(settings, (store) => buildReport(store, { site, period: resolved, now })) };
}

/** The report as aligned text: one line per device, then the incidents and the latest coverage. */
export function renderReportText(report: AssuranceReport): string {
  const header = ['DEVICE', 'NAME', 'TESTS', 'USES', 'MISSED', 'OVERDUE DAYS', 'LAST PROVEN'];
  const rows = report.devices.map((d) => [d.device, d.name, String(d.tests), String(d.uses), String(d.missedTests), String(d.overdueDays), d.lastProvenAt ?? '-']);
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  const latest = report.coverage.at(-1);
  const seconds = (s: number | null) => (s === null ? 'not yet' : `${s} s`);
  return [
    `site ${report.site.id}${report.site.name === null ? '' : ` (${report.site.name})`}, ${report.period.from} to ${report.period.to} (${report.site.timeZone})`,
    '',
    line(header),
    ...rows.map(line),
    '',
    `test windows: ${report.windows.opened} (${report.windows.scheduled} scheduled)`,
    latest === undefined ? 'coverage: no data' : `coverage on ${latest.date}: ${latest.covered} of ${latest.total} device(s)`,
    `incidents: ${report.incidents.length}`,
    ...report.incidents.map(
      (i) => `  ${i.openedAt} ${i.category}: delivered after ${seconds(i.secondsToDelivery)}, acknowledged after ${seconds(i.secondsToAcknowledgement)}${i.acknowledgedBy === null ? '' : ` by ${i.acknowledgedBy}`}`,
    ),
  ].join('\n') + '\n';
}

/** What `panelbridge report` does. */
export function printReport(options: ReportOptions): void {
  const settings = gatewaySettingsOrExit(options.config);
  if (settings === undefined) return;
  const period = { ...(options.from === undefined ? {} : { from: options.from }), ...(options.to === undefined ? {} : { to: options.to }) };
  const result = readReport(settings, options.site, period, systemClock.now());
  if (!result.ok) {
    process.stderr.write(`error: ${result.message}\n`);
    process.exitCode = EXIT_USAGE;
    return;
  }
  const render = options.csv === true ? renderReportCsv : options.html === true ? renderReportHtml : renderReportText;
  process.stdout.write(render(result.report));
}
