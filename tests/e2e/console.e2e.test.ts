import { execFile } from 'node:child_process';
import http from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, GatewayProcess, tempDir, writeConfig } from '../helpers/gateway-process.js';

/** Debian's chromium (`.ci/run` installs it when missing). */
const CHROMIUM = '/usr/bin/chromium';
/** Screenshots of each page, kept as test artifacts (gitignored). */
export const ARTIFACTS = new URL('../../test-artifacts/console/', import.meta.url).pathname;

const run = promisify(execFile);

async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

let gateway: GatewayProcess;
let context: BrowserContext;
let page: Page;
let base: string;
let dc09Port: number;
let configFile: string;
let token: string;
const dirs: string[] = [];
const browserErrors: string[] = [];

/** The simulator as a panel: one Contact ID frame over DC-09 TCP, answered with an ACK. */
async function press(event: string, zone: number): Promise<void> {
  const { stdout } = await run(process.execPath, [CLI, 'simulate', '--to', `tcp://127.0.0.1:${dc09Port}`, '--account', '1234', '--event', event, '--zone', String(zone)]);
  expect(stdout).toContain('-> ACK');
}

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const dir = tempDir('console-e2e');
  dirs.push(dir);
  const apiPort = await freePort();
  dc09Port = await freePort();
  configFile = writeConfig(dir, {
    dataDir: path.join(dir, 'var'),
    api: { host: '127.0.0.1', port: apiPort },
    logLevel: 'info',
    inputs: [{ type: 'dc09', name: 'panels', host: '127.0.0.1', port: dc09Port, udp: false }],
    outputs: [{ type: 'stdout', name: 'central-station', audience: 'central' }],
    sites: [
      {
        id: 'bank-1',
        name: 'Bank branch 1',
        address: '1 High Street, Springfield',
        response: 'Silent alarm. Do not phone the branch. Dispatch police; meet the manager at the side door.',
        timeZone: 'Europe/Berlin',
        accounts: ['1234'],
        zones: [
          { number: 5, name: 'Teller 1 hold-up button', type: 'holdup', location: 'Counter 1, under the desk', testEvery: '7d', guidance: 'Press firmly once. Hand over what is asked for; do not look at the camera.' },
          { number: 6, name: 'Teller 2 hold-up button', type: 'holdup', location: 'Counter 2', testEvery: '7d', guidance: 'Press firmly once; step back from the counter.' },
          { number: 9, name: 'Manager pendant', type: 'panic', holder: 'A. Manager', testEvery: '30d', guidance: 'Hold the button for two seconds; stay where you are.' },
        ],
      },
    ],
  });
  gateway = GatewayProcess.spawn(configFile);
  await gateway.ready;
  base = `http://127.0.0.1:${apiPort}`;
  token = readFileSync(path.join(dir, 'var', 'api-token'), 'utf8').trim();
  const profile = mkdtempSync(path.join(os.tmpdir(), 'panelbridge-chromium-'));
  dirs.push(profile);
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  context.setDefaultTimeout(10_000);
  // Anything the content security policy blocked (an inline style, a script) means a page shows broken.
  context.on('console', (message) => {
    if (message.type() === 'error') browserErrors.push(message.text());
  });
  page = context.pages()[0] ?? (await context.newPage());
}, 60_000);

afterAll(async () => {
  await context?.close();
  gateway?.kill('SIGTERM');
  await gateway?.exited;
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('the duress console in a real browser', () => {
  it('signs in with the API token and shows the overview', async () => {
    await page.goto(base + '/');
    await page.getByLabel('API token').fill('not-the-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').waitFor();
    // By keyboard alone: the token field has the focus, Enter signs in.
    await page.getByLabel('API token').fill('');
    await page.keyboard.type(token);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    await page.getByRole('heading', { name: 'Bank branch 1' }).waitFor();
    const cookies = await context.cookies(base);
    expect(cookies).toEqual([expect.objectContaining({ name: 'pb_console', httpOnly: true, sameSite: 'Strict' })]);
    expect(await page.evaluate(() => document.cookie)).toBe(''); // HttpOnly: the page's script cannot read it
    await shot('overview');
    await page.setViewportSize({ width: 390, height: 844 }); // a phone
    await shot('overview-phone');
    await page.setViewportSize({ width: 1280, height: 900 });
  }, 30_000);

  it('runs a guided walk: two devices report, one does not, and the result says so', async () => {
    await page.getByRole('link', { name: 'Test walk' }).click();
    await page.getByRole('heading', { name: 'Start a test window' }).waitFor();
    for (const name of ['Teller 1 hold-up button (zone-5)', 'Teller 2 hold-up button (zone-6)', 'Manager pendant (zone-9)']) await page.getByLabel(name).check();
    page.once('dialog', (dialog) => void dialog.accept()); // opening asks first
    await page.getByRole('button', { name: 'Start test window' }).click();
    const device = (name: string) => page.locator(`li[data-device="${name}"]`);
    await device('zone-5').waitFor();
    await expect(device('zone-5').textContent()).resolves.toContain('Press firmly once. Hand over what is asked for');
    const closeButton = page.getByRole('button', { name: 'Close window and show result' });
    // Drawn once the page knows the session may close windows (its first render may come before that).
    await closeButton.waitFor();
    const before = await closeButton.boundingBox();
    await press('holdup', 5);
    await press('panic', 9);
    // Live: the page turns each device green through server-sent events, without a reload.
    await device('zone-5').and(page.locator('.state-exercised')).waitFor({ timeout: 10_000 });
    await device('zone-9').and(page.locator('.state-exercised')).waitFor({ timeout: 10_000 });
    await expect(device('zone-6').getAttribute('class')).resolves.toContain('state-waiting');
    await expect(device('zone-5').textContent()).resolves.toMatch(/stored .*→ central-station/);
    // Signals arriving (live re-renders) move nothing on the page: the button below the devices stays put.
    expect(await closeButton.boundingBox()).toEqual(before);
    await shot('walk-open');
    page.once('dialog', (dialog) => void dialog.accept()); // closing asks first
    await page.getByRole('button', { name: 'Close window and show result' }).click();
    await page.locator('#walk-result').waitFor();
    await expect(page.locator('#walk-result').textContent()).resolves.toBe('2 reported, 1 not exercised, 0 wrong');
    await expect(device('zone-6').getAttribute('class')).resolves.toContain('state-not-exercised');
    await shot('walk-result');
  }, 40_000);

  it('acknowledges a real incident with a note and records who did it', async () => {
    // Teller 2 for real (each simulator run starts at sequence 0001, so zone 5 again would be a retransmission).
    await press('holdup', 6);
    await page.getByRole('link', { name: 'Incidents' }).click();
    const incident = page.locator('section[data-incident]').first();
    await incident.waitFor({ timeout: 10_000 });
    const text = await incident.textContent();
    expect(text).toContain('OPEN');
    expect(text).toContain('1 High Street, Springfield');
    expect(text).toContain('Dispatch police');
    expect(text).toContain('Teller 2 hold-up button · Counter 2');
    expect(text).toMatch(/stored\d/); // the opening event's stored time is on the timeline
    await shot('incident-open');
    await incident.getByLabel('Note (what was done)').fill('Police on site at 10:04; all staff safe.');
    page.once('dialog', (dialog) => void dialog.accept()); // acknowledging asks first
    await incident.getByRole('button', { name: 'Acknowledge' }).click();
    await page.getByText('Incident acknowledged.').waitFor();
    await page.getByLabel('Show acknowledged').check();
    await page.getByText('admin: Police on site at 10:04; all staff safe.').waitFor();
    await shot('incident-acknowledged');
    // In the tamper-evident audit log, under the token's name, with the note; the chain verifies.
    const { stdout } = await run(process.execPath, [CLI, 'audit', 'show', '--json', '--config', configFile]);
    const records = stdout.trim().split('\n').map((line) => JSON.parse(line) as { action: string; actor: { name: string }; details: { note?: string } });
    expect(records.find((r) => r.action === 'incident-acknowledged')).toMatchObject({
      actor: { name: 'admin' },
      details: { note: 'Police on site at 10:04; all staff safe.' },
    });
    expect(records.filter((r) => r.action === 'test-window-opened' || r.action === 'test-window-stopped')).toHaveLength(2);
    await run(process.execPath, [CLI, 'audit', 'verify', '--config', configFile]);
  }, 30_000);

  it('gives a page on another port of this host the session cookie, and the cookie alone reads and acknowledges nothing', async () => {
    // A local process without privilege serves a page; the operator follows a link to it from anywhere. The
    // browser sends it the cookie (cookies are per host, not per port); the process replays it, being no browser.
    const received: string[] = [];
    const thief = http.createServer((req, res) => {
      received.push(req.headers.cookie ?? '');
      res.writeHead(200, { 'content-type': 'text/html' }).end('<script>fetch("/again")</script>');
    });
    await new Promise<void>((resolve) => thief.listen(0, '127.0.0.1', resolve));
    const other = await context.newPage();
    try {
      await other.goto(`data:text/html,<a id=l href="http://127.0.0.1:${(thief.address() as net.AddressInfo).port}/">news</a>`);
      await other.click('#l');
      await expect.poll(() => received.filter((c) => c.includes('pb_console=')).length).toBeGreaterThan(0);
    } finally {
      await other.close();
      thief.close();
    }
    const cookie = received.find((c) => c.includes('pb_console='))!;
    const incident = await page.locator('section[data-incident]').first().getAttribute('data-incident');
    expect((await fetch(`${base}/console/api/incidents?all=1`, { headers: { cookie } })).status).toBe(401);
    expect((await fetch(`${base}/console/api/live`, { headers: { cookie } })).status).toBe(401);
    const ack = await fetch(`${base}/console/api/incidents/${incident}/ack`, { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body: '{"note":"x"}' });
    expect(ack.status).toBe(401);
    await fetch(`${base}/console/session`, { method: 'DELETE', headers: { cookie } });
    // The operator's page, which holds the secret, carries on.
    await page.getByLabel('Show acknowledged').uncheck();
    await page.getByText('none open').waitFor();
    expect(await page.evaluate(() => sessionStorage.getItem('pb-session'))).toMatch(/^[A-Za-z0-9_-]{43}$/);
  }, 30_000);

  it('opens the print-ready report and its CSV', async () => {
    await page.getByRole('link', { name: 'Report' }).click();
    await page.getByRole('heading', { name: 'Assurance report' }).waitFor();
    // The form offers the site's own last 30 days: between Berlin's midnight and UTC's, its today is the UTC date's next day.
    const berlinToday = new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Berlin', year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date());
    expect(await page.locator('#report-to').inputValue()).toBe(berlinToday);
    const [report] = await Promise.all([context.waitForEvent('page'), page.getByRole('button', { name: 'Open print-ready report' }).click()]);
    await report.locator('tbody tr').first().waitFor(); // fetched by its page's script with the secret
    expect(await report.evaluate(() => getComputedStyle(document.body).fontFamily)).toContain('system-ui'); // its inline style applied
    expect(await report.title()).toMatch(/^Duress assurance report: Bank branch 1, /);
    const rows = await report.locator('tbody tr').allTextContents();
    expect(rows.find((r) => r.includes('zone-5'))).toMatch(/Teller 1 hold-up button.*zone-5.*Counter 1/);
    await report.screenshot({ path: path.join(ARTIFACTS, 'report.png'), fullPage: true });
    await report.close();
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download CSV' }).click()]);
    const csv = readFileSync((await download.path())!, 'utf8').split('\r\n');
    expect(download.suggestedFilename()).toMatch(/^assurance-bank-1-\d{4}-\d{2}-\d{2}-\d{4}-\d{2}-\d{2}\.csv$/);
    expect(csv.find((l) => l.startsWith('device,zone-5,'))).toMatch(/^device,zone-5,zone,Teller 1 hold-up button,"Counter 1, under the desk",,1,0,0,0,/);
    expect(csv.find((l) => l.startsWith('device,zone-6,'))).toMatch(/^device,zone-6,zone,Teller 2 hold-up button,Counter 2,,0,1,0,0,/);
    expect(csv.find((l) => l.startsWith('device,zone-9,'))).toMatch(/,1,0,0,0,/);
    expect(csv.filter((l) => l.startsWith('incident,'))).toHaveLength(1);
  }, 30_000);

  it('prints a one-page card per device', async () => {
    // From the walk, in a tab of its own, which gets the secret with its copy of the console's sessionStorage. Each
    // device's link names its device: a screen reader's list of links otherwise reads the same words for each.
    await page.getByRole('link', { name: 'Test walk' }).click();
    const [card] = await Promise.all([context.waitForEvent('page'), page.getByRole('link', { name: 'Printable card: Teller 1 hold-up button', exact: true }).click()]);
    await card.getByRole('heading', { name: 'Teller 1 hold-up button' }).waitFor();
    await card.close();
    // Its address in this tab, which keeps its sessionStorage across navigations.
    await page.goto(`${base}/console/card/bank-1/zone-9`);
    await page.getByRole('heading', { name: 'Manager pendant' }).waitFor();
    expect(await page.textContent('body')).toContain('Hold the button for two seconds; stay where you are.');
    await shot('device-card');
    // A tab of its own (typed address, bookmark) has no secret: it asks to sign in, then shows the card.
    const fresh = await context.newPage();
    await fresh.goto(`${base}/console/card/bank-1/zone-9`);
    await fresh.getByLabel('API token').fill(token);
    await fresh.getByRole('button', { name: 'Sign in' }).click();
    await fresh.getByRole('heading', { name: 'Manager pendant' }).waitFor();
    await fresh.close();
  }, 20_000);

  it('signs out: the session ends and the tab forgets its secret', async () => {
    await page.goto(base + '/');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(await page.evaluate(() => sessionStorage.getItem('pb-session'))).toBeNull();
  }, 20_000);

  it('keeps working when a page on another port of this host plants a cookie of the same name for the API paths', async () => {
    await page.getByLabel('API token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    // Cookies are per host, not per port: a local process's page may set one the browser then sends the gateway,
    // and one with a longer path goes first in the Cookie header.
    const planter = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html', 'set-cookie': 'pb_console=planted; Path=/console/api; Max-Age=3600' }).end('news');
    });
    await new Promise<void>((resolve) => planter.listen(0, '127.0.0.1', resolve));
    const other = await context.newPage();
    try {
      await other.goto(`http://127.0.0.1:${(planter.address() as net.AddressInfo).port}/`);
    } finally {
      await other.close();
      planter.close();
    }
    expect((await context.cookies(`${base}/console/api/me`)).map((c) => c.value)).toContain('planted');
    await page.goto(base + '/');
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    await page.getByRole('link', { name: 'Incidents' }).click();
    await page.getByRole('heading', { name: 'Incidents' }).waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  }, 30_000);

  it('refuses the data without a session, and no page broke its content security policy', async () => {
    const anonymous = await fetch(`${base}/console/api/overview`);
    expect(anonymous.status).toBe(401);
    expect(browserErrors.filter((e) => !e.includes('401'))).toEqual([]);
  });
});
