import type { AssuranceReport, CoverageDay } from '../../../src/assurance/report.js';

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text for HTML element content or a quoted attribute. */
export function escapeHtml(value: string | number | null): string {
  return value === null ? '' : String(value).replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

function cell(value: string | number | null, numeric = false): string {
  return `<td${numeric ? ' class="n"' : ''}>${value === null ? '–' : escapeHtml(value)}</td>`;
}

function minutesOrSeconds(seconds: number | null): string | null {
  if (seconds === null) return null;
  return seconds < 120 ? `${seconds} s` : `${Math.round(seconds / 60)} min`;
}

const when = (iso: string | null) => (iso === null ? null : `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`);

/** The page's only style sheet, inline so a saved or printed copy stands alone (the console allows it by hash). */
export const REPORT_CSS = `
@page { size: A4; margin: 15mm; }
body { font: 11pt/1.4 system-ui, sans-serif; color: #111; background: #fff; margin: 1.5rem; }
h1 { font-size: 16pt; margin: 0 0 .2rem; } h2 { font-size: 13pt; margin: 1.2rem 0 .4rem; }
table { border-collapse: collapse; width: 100%; } th, td { border-bottom: 1px solid #bbb; padding: .25rem .4rem; text-align: left; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; } tr.bad td { background: #fde8e8; }
.meta { color: #333; } .chart { width: 100%; height: auto; } .chart rect { fill: #1f6f43; } .chart .grid { stroke: #bbb; } .chart text { font-size: 10px; fill: #333; }
@media print { body { margin: 0; } a { color: inherit; text-decoration: none; } }
`;

const CHART = { width: 720, height: 120, top: 8, bottom: 18 } as const;

/** Coverage per day as an inline SVG bar chart (no script, prints as is). */
function coverageChart(days: readonly CoverageDay[]): string {
  if (days.length === 0) return '<p>No coverage yet.</p>';
  const step = CHART.width / days.length;
  const plot = CHART.height - CHART.top - CHART.bottom;
  const bars = days
    .map((d, i) => {
      const share = d.total === 0 ? 0 : d.covered / d.total;
      const h = Math.round(share * plot);
      return `<rect x="${(i * step).toFixed(1)}" y="${CHART.top + plot - h}" width="${Math.max(step - 1, 1).toFixed(1)}" height="${h}"><title>${escapeHtml(`${d.date}: ${d.covered} of ${d.total}`)}</title></rect>`;
    })
    .join('');
  const first = escapeHtml(days[0]!.date);
  const last = escapeHtml(days.at(-1)!.date);
  const latest = days.at(-1)!;
  return `<svg class="chart" viewBox="0 0 ${CHART.width} ${CHART.height}" role="img" aria-label="Test coverage per day from ${first} to ${last}; last day ${latest.covered} of ${latest.total} devices">
<line x1="0" y1="${CHART.top}" x2="${CHART.width}" y2="${CHART.top}" class="grid"/><g class="bars">${bars}</g>
<text x="0" y="${CHART.height - 4}">${first}</text><text x="${CHART.width}" y="${CHART.height - 4}" text-anchor="end">${last}</text></svg>`;
}

/** The report as a self-contained, print-ready HTML page (A4, no script, no external asset). */
export function renderReportHtml(report: AssuranceReport): string {
  const { site, period } = report;
  const title = `Duress assurance report: ${site.name ?? site.id}, ${period.from} to ${period.to}`;
  const devices = report.devices
    .map(
      (d) =>
        `<tr class="${d.missedTests > 0 || d.overdueDays > 0 ? 'bad' : ''}">${cell(d.name)}${cell(d.device)}${cell(d.location ?? d.holder)}${cell(d.tests, true)}${cell(d.uses, true)}${cell(d.missedTests, true)}${cell(d.overdueDays, true)}${cell(when(d.lastProvenAt))}</tr>`,
    )
    .join('\n');
  const incidents = report.incidents
    .map(
      (i) =>
        `<tr>${cell(when(i.openedAt))}${cell(i.category)}${cell(minutesOrSeconds(i.secondsToDelivery), true)}${cell(minutesOrSeconds(i.secondsToAcknowledgement), true)}${cell(i.acknowledgedBy)}${cell(i.note)}</tr>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${REPORT_CSS}</style></head><body>
<h1>${escapeHtml(title)}</h1>
<p class="meta">${escapeHtml(site.address ?? '')}${site.address === null ? '' : ' · '}Site ${escapeHtml(site.id)} · days in ${escapeHtml(site.timeZone)} · ${report.windows.opened} test window(s), ${report.windows.scheduled} scheduled · generated ${escapeHtml(when(report.generatedAt))}</p>
<h2>Devices</h2>
<table><thead><tr><th>Name</th><th>Device</th><th>Where / who</th><th>Tests</th><th>Uses</th><th>Missed</th><th>Overdue days</th><th>Last proven</th></tr></thead>
<tbody>
${devices || '<tr><td colspan="8">No duress devices configured.</td></tr>'}
</tbody></table>
<h2>Test coverage, last ${report.coverage.length} days</h2>
${coverageChart(report.coverage)}
<h2>Incidents</h2>
<table><thead><tr><th>Opened</th><th>Category</th><th>To delivery</th><th>To acknowledgement</th><th>By</th><th>Note</th></tr></thead>
<tbody>
${incidents || '<tr><td colspan="6">No incidents in this period.</td></tr>'}
</tbody></table>
</body></html>
`;
}
