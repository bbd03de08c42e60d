import type { AssuranceReport } from '../../../src/assurance/report.js';

type Cell = string | number | null;

/**
 * RFC 4180 field: quoted when it holds a comma, quote or line break. A =+-@ that would start a spreadsheet cell is
 * defused: at the start, and after each ';' or tab, where a spreadsheet set to split on ';' (German, French locales)
 * or on tabs (an import dialog's choice) starts a cell whatever the quotes.
 */
function field(value: Cell): string {
  if (value === null) return '';
  let text = String(value);
  if (typeof value === 'string') text = text.replace(/(?<=^|[;\t])(?=[=+\-@\t\r])/g, "'"); // zero-width: a run of tabs is defused at each
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

const row = (cells: readonly Cell[]) => cells.map(field).join(',');

/**
 * The report as one CSV table: the first column says what each row is (`device`, `incident`, `coverage`), so a
 * spreadsheet filter separates them; each kind has its own header row.
 */
export function renderReportCsv(report: AssuranceReport): string {
  const lines = [
    row(['record', 'site', 'from', 'to', 'generatedAt', 'timeZone']),
    row(['report', report.site.id, report.period.from, report.period.to, report.generatedAt, report.site.timeZone]),
    row(['record', 'device', 'kind', 'name', 'location', 'holder', 'tests', 'uses', 'missedTests', 'overdueDays', 'lastProvenAt']),
    ...report.devices.map((d) =>
      row(['device', d.device, d.kind, d.name, d.location, d.holder, d.tests, d.uses, d.missedTests, d.overdueDays, d.lastProvenAt]),
    ),
    row(['record', 'incident', 'category', 'openedAt', 'deliveredAt', 'acknowledgedAt', 'acknowledgedBy', 'secondsToDelivery', 'secondsToAcknowledgement', 'note']),
    ...report.incidents.map((i) =>
      row(['incident', i.id, i.category, i.openedAt, i.deliveredAt, i.acknowledgedAt, i.acknowledgedBy, i.secondsToDelivery, i.secondsToAcknowledgement, i.note]),
    ),
    row(['record', 'date', 'covered', 'total']),
    ...report.coverage.map((c) => row(['coverage', c.date, c.covered, c.total])),
  ];
  return lines.join('\r\n') + '\r\n';
}
