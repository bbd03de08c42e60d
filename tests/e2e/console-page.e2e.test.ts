import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConsoleFeed, MAX_STREAMS_PER_NAME } from '../../adapters/api/console/feed.js';
import { registerConsole } from '../../adapters/api/console/routes.js';
import { ApiServer } from '../../adapters/api/server.js';
import { TokenRegistry } from '../../adapters/api/tokens.js';
import type { Signal } from '../../src/model/signal.js';
import { eventFromSignal, VERIFIED, type Trust } from '../../src/pipeline/event-builder.js';
import { silentLogger } from '../../src/ports.js';
import { apiSchema } from '../../src/settings/settings.js';
import { sitesSchema } from '../../src/settings/sites.js';
import { cid, harness, operator } from '../helpers/assurance-harness.js';

// The console page in Debian's headless Chromium against an in-process gateway (console.e2e.test.ts drives a
// whole gateway process): what an incident shows, and how the page stays live or says it is not.
// The page's script is the compiled one in dist/ (`npm test` builds first).

const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'viewer-token-0123456789';
const OPERATOR_TOKEN = 'operator-token-0123456789';
const INSTALLER_TOKEN = 'installer-token-0123456789';
const SITES = sitesSchema.parse([
  {
    id: 'bank-1',
    name: 'Bank branch 1',
    accounts: ['1234'],
    zones: [
      { number: 5, name: 'Teller 1 hold-up button', type: 'holdup' },
      { number: 6, name: 'Teller 2 hold-up button', type: 'holdup', location: 'Counter 2' },
    ],
  },
  // Far from the central station's screens: its responders must read its times as the site's.
  {
    id: 'shop-2',
    name: 'Shop 2',
    address: 'Hinterhaus, Grundstücksverkehrsgenehmigungszuständigkeitsübertragungsstraße 14, 10553 Berlin',
    accounts: ['5678'],
    timeZone: 'Asia/Tokyo',
    response: 'Call the keyholder; police on 110.',
    zones: [{ number: 1, name: 'Till button', type: 'holdup', location: 'Kassenarbeitsplatzhinterdertheke' }],
  },
]);

let browser: Browser;
const cleanup: Array<() => Promise<void>> = [];
beforeAll(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
}, 30_000);
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});
afterAll(async () => browser?.close());

/** A gateway's API with the console (sessions in memory, as the real one), and a way to store panel signals. */
async function gateway(port = 0) {
  const h = harness({ sites: SITES });
  const feed = new ConsoleFeed(() => h.clock.now());
  const loaded = TokenRegistry.load(apiSchema.parse({ port: 0, tokens: [
    { name: 'desk', role: 'viewer', token: TOKEN },
    { name: 'lead', role: 'operator', token: OPERATOR_TOKEN },
    { name: 'fitter', role: 'installer', token: INSTALLER_TOKEN },
  ] }), '/nonexistent-not-used');
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
  const api = new ApiServer({ host: '127.0.0.1', port, logger: silentLogger, tokens: loaded.registry, limits: { maxConnectionsPerPeer: 64 } });
  const health = () => ({ status: 'ok', body: { status: 'ok', inputs: [], outputs: [] } });
  registerConsole(api, { source: { assurance: h.assurance, feed, sites: () => SITES, health, centralOutputs: ['central'] }, tokens: loaded.registry, now: () => h.clock.now() });
  await api.start();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    feed.stop();
    await api.stop();
  };
  cleanup.push(stop);
  const receive = async (signal: Signal, trust: Trust = VERIFIED) => {
    const event = eventFromSignal(signal, { input: 'panels', transport: 'tcp', receivedAt: h.clock.now(), raw: new Uint8Array([0x31]), trust }, h.builder);
    const outcome = await h.recorder.record([event]);
    if (!outcome.ok) throw outcome.error;
    feed.stored(outcome.events);
  };
  return { port: api.address!.port, base: `http://127.0.0.1:${api.address!.port}`, stop, receive, assurance: h.assurance };
}

/** WCAG contrast ratio of two computed `rgb(…)` colours. */
function contrast(a: string, b: string): number {
  const luminance = (rgb: string) => {
    const [r, g, bl] = rgb.match(/\d+/g)!.slice(0, 3).map((c) => Number(c) / 255).map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
    return 0.2126 * r! + 0.7152 * g! + 0.0722 * bl!;
  };
  const [light, dark] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (light! + 0.05) / (dark! + 0.05);
}

async function signedIn(port: number, hash = '', token = TOKEN, options: Parameters<Browser['newContext']>[0] = {}): Promise<Page> {
  const context = await browser.newContext(options);
  context.setDefaultTimeout(10_000);
  cleanup.push(() => context.close());
  const page = await context.newPage();
  await page.goto(`http://127.0.0.1:${port}/${hash}`);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#nav:not([hidden])').waitFor();
  return page;
}

describe('the incident page', () => {
  it('names the zone the panel sent when no configured device matches it, and marks a source nobody authenticated', async () => {
    const gw = await gateway();
    await gw.receive(cid('122', 7)); // bank-1 has no zone 7
    await gw.receive(cid('122', 1, { account: '5678' }), { verified: false, reason: 'unauthenticated-source' });
    const page = await signedIn(gw.port, '#incidents');
    const incident = (site: string) => page.locator('section[data-incident]', { hasText: site });
    await incident('Shop 2').waitFor();
    expect(await incident('Bank branch 1').textContent()).toContain('Zone 7');
    expect(await incident('Bank branch 1').textContent()).not.toContain('UNVERIFIED');
    expect(await incident('Shop 2').textContent()).toContain('UNVERIFIED SOURCE (unauthenticated-source)');
  }, 30_000);
});

describe('a responder', () => {
  it('hears a new duress at once (an assertive alert naming the site), and nobody sees it once signed out', async () => {
    const gw = await gateway();
    const page = await signedIn(gw.port);
    await page.getByText('none open').first().waitFor();
    await gw.receive(cid('122', 5));
    const alert = page.locator('[role=alert], [aria-live=assertive]').filter({ hasText: 'Bank branch 1' });
    await alert.waitFor({ timeout: 5_000 });
    // Only who signed in: the screen a passer-by sees after sign-out says nothing of it.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(await page.locator('body').textContent()).not.toContain('Bank branch 1');
    // Nothing of it where history, tabs or a shoulder-surfer read: the title and the address.
    expect(await page.title()).toBe('panelbridge duress console');
  }, 30_000);

  it('hears another call for help that joins an open incident', async () => {
    const gw = await gateway();
    await gw.receive(cid('122', 5));
    const page = await signedIn(gw.port);
    await page.getByRole('alert').filter({ hasText: 'Bank branch 1' }).waitFor();
    await gw.receive(cid('122', 6)); // another hold-up button of the branch
    expect(gw.assurance.incidentRecords()[0]!.calls).toHaveLength(1);
    await page.getByRole('alert').filter({ hasText: 'another caller' }).waitFor({ timeout: 5_000 });
    // Where the caller is, as people know the button: its name and location, not its id.
    await page.getByRole('link', { name: 'Incidents' }).click();
    await page.locator('section[data-incident]').getByText('Teller 2 hold-up button · Counter 2').waitFor({ timeout: 5_000 });
  }, 30_000);

  it('reads the times of an incident in the time zone of its site, labelled, whatever the zone of the browser', async () => {
    const gw = await gateway();
    await gw.receive(cid('122', 1, { account: '5678' }));
    await gw.receive(cid('401', 2, { account: '5678' })); // a later event of the site
    const page = await signedIn(gw.port, '#incidents', TOKEN, { timezoneId: 'America/New_York', locale: 'en-US' });
    const incident = page.locator('section[data-incident]', { hasText: 'Shop 2' });
    await incident.waitFor();
    const [record] = gw.assurance.incidentRecords();
    const tokyo = new Date(record!.openedAt).toLocaleString('en-US', { timeZone: 'Asia/Tokyo' });
    expect(await incident.getByRole('row', { name: /received/ }).textContent()).toContain(tokyo);
    expect(await incident.textContent()).toContain('Asia/Tokyo');
    // The later events read in the same zone as the timeline they follow.
    await incident.getByText('1 later event(s) from the site').click();
    const later = await incident.locator('details .times').textContent();
    expect(later).toContain(`stored ${new Date(record!.openedAt).toLocaleTimeString('en-US', { timeZone: 'Asia/Tokyo' })}`);
  }, 30_000);

  it('on a 320 px phone sees where, what and whom without scrolling sideways', async () => {
    const gw = await gateway();
    await gw.receive(cid('122', 1, { account: '5678' }));
    const page = await signedIn(gw.port, '#incidents', OPERATOR_TOKEN, { viewport: { width: 320, height: 640 } });
    const incident = page.locator('section[data-incident]', { hasText: 'Shop 2' });
    await incident.waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(320);
    for (const box of await incident.locator('dd, h3, h4, textarea, button').evaluateAll((nodes) => nodes.map((n) => n.getBoundingClientRect().right))) expect(box).toBeLessThanOrEqual(320);
    // Nor sideways inside the timeline: its times and their zone are in view.
    expect(await incident.locator('.scroll').evaluate((box) => box.scrollWidth - box.clientWidth)).toBe(0);
  }, 30_000);

  it('never reads null or undefined where a field is missing: a duress from no account of no site', async () => {
    const gw = await gateway();
    await gw.receive({ ...cid('122', 3), account: null });
    const page = await signedIn(gw.port);
    await page.getByRole('heading', { name: 'No configured site' }).waitFor();
    const shown = () => page.locator('body').innerText();
    expect(await shown()).not.toMatch(/null|undefined/);
    await page.getByRole('link', { name: 'Incidents' }).click();
    await page.locator('section[data-incident]').waitFor();
    expect(await shown()).not.toMatch(/null|undefined/);
  }, 30_000);

  it('keeps the keyboard focus on the same control when a live update redraws the view', async () => {
    const gw = await gateway();
    await gw.receive(cid('122', 5));
    const page = await signedIn(gw.port);
    const bank = page.getByRole('region', { name: 'Bank branch 1' });
    await bank.getByRole('link').focus();
    await gw.receive(cid('122', 1, { account: '5678' }));
    await page.getByRole('region', { name: 'Shop 2' }).getByRole('link').waitFor(); // redrawn
    expect(await bank.getByRole('link').evaluate((link) => link === document.activeElement)).toBe(true);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Incidents' }).waitFor();
  }, 30_000);

  it('finds the headings of a card nested below its own, so a screen reader outlines each incident and walk as one', async () => {
    const gw = await gateway();
    await gw.receive(cid('122', 5));
    gw.assurance.startWindow({ site: 'bank-1', minutes: 30 }, { name: 'fitter', role: 'installer', channel: 'api' });
    const page = await signedIn(gw.port, '#incidents');
    const misplaced = () =>
      page.locator('section[aria-labelledby]').evaluateAll((cards) =>
        cards.flatMap((card) => {
          const [own, ...inner] = [...card.querySelectorAll('h1, h2, h3, h4, h5, h6')];
          return inner.filter((h) => h.tagName <= own!.tagName).map((h) => h.textContent);
        }),
      );
    await page.locator('section[data-incident]').waitFor();
    expect(await misplaced()).toEqual([]);
    await page.getByRole('link', { name: 'Test walk' }).click();
    await page.locator('li[data-device]').first().waitFor();
    expect(await misplaced()).toEqual([]);
  }, 30_000);

  it('sees where the keyboard is in the dark header too: its focus ring has 3:1 contrast with the header', async () => {
    const gw = await gateway();
    const page = await signedIn(gw.port);
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    await page.getByRole('link', { name: 'Incidents' }).focus();
    await page.keyboard.press('Shift+Tab'); // from the keyboard: :focus-visible
    const [ring, header] = await page.evaluate(() => [getComputedStyle(document.activeElement!).outlineColor, getComputedStyle(document.querySelector('header')!).backgroundColor]);
    expect(contrast(ring!, header!)).toBeGreaterThanOrEqual(3);
  }, 30_000);

  it('keeps the later events of an incident open while new ones arrive', async () => {
    const gw = await gateway();
    await gw.receive(cid('122', 1, { account: '5678' }));
    await gw.receive(cid('401', 2, { account: '5678' }));
    const page = await signedIn(gw.port, '#incidents');
    const incident = page.locator('section[data-incident]', { hasText: 'Shop 2' });
    await incident.getByText('1 later event(s) from the site').click();
    await gw.receive(cid('401', 3, { account: '5678' }));
    await incident.getByText('2 later event(s) from the site').waitFor(); // redrawn
    expect(await incident.locator('details').evaluate((details) => (details as HTMLDetailsElement).open)).toBe(true);
  }, 30_000);

  it('reads a walk in the time zone of its site, labelled, whatever the zone of the browser', async () => {
    const gw = await gateway();
    const opened = gw.assurance.startWindow({ site: 'shop-2', minutes: 30 }, { name: 'fitter', role: 'installer', channel: 'api' });
    if (!opened.ok) throw new Error(opened.message);
    const page = await signedIn(gw.port, '#walk', INSTALLER_TOKEN, { timezoneId: 'America/New_York', locale: 'en-US' });
    const until = new Date(opened.window.endsAt).toLocaleTimeString('en-US', { timeZone: 'Asia/Tokyo' });
    await page.getByText(`Until ${until} (Asia/Tokyo)`).waitFor({ timeout: 5_000 });
  }, 30_000);

  it('an installer walks a test on a 320 px phone without scrolling sideways', async () => {
    const gw = await gateway();
    gw.assurance.startWindow({ site: 'shop-2', minutes: 30 }, { name: 'fitter', role: 'installer', channel: 'api' });
    const page = await signedIn(gw.port, '#walk', INSTALLER_TOKEN, { viewport: { width: 320, height: 640 } });
    await page.locator('li[data-device]').waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(320);
  }, 30_000);

  it('acknowledges only once they confirm: a stray tap on Acknowledge does nothing', async () => {
    const gw = await gateway();
    await gw.receive(cid('122', 5));
    const page = await signedIn(gw.port, '#incidents', OPERATOR_TOKEN);
    const incident = page.locator('section[data-incident]').first();
    await incident.getByLabel('Note (what was done)').fill('Police called.');
    const asked: string[] = [];
    page.once('dialog', (dialog) => void (asked.push(dialog.message()), dialog.dismiss()));
    await incident.getByRole('button', { name: 'Acknowledge' }).click();
    await expect.poll(() => asked.length).toBe(1);
    expect(gw.assurance.incidentRecords()).toHaveLength(1); // still open
    page.once('dialog', (dialog) => void dialog.accept());
    await incident.getByRole('button', { name: 'Acknowledge' }).click();
    await page.getByText('Incident acknowledged.').waitFor();
    expect(gw.assurance.incidentRecords()).toHaveLength(0);
    // Its button is gone: the keyboard goes on from the view, not from the top of the page.
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('main');
    // Signed out, the screen tells a passer-by nothing of what happened.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(await page.locator('body').innerText()).not.toMatch(/incident/i);
  }, 30_000);

  it('closes a test window only once the installer confirms', async () => {
    const gw = await gateway();
    const opened = gw.assurance.startWindow({ site: 'bank-1', minutes: 30 }, { name: 'fitter', role: 'installer', channel: 'api' });
    if (!opened.ok) throw new Error(opened.message);
    const page = await signedIn(gw.port, '#walk', INSTALLER_TOKEN);
    await page.getByRole('heading', { name: 'Test window open: Bank branch 1' }).waitFor(); // by name, as people know it
    const asked: string[] = [];
    page.once('dialog', (dialog) => void (asked.push(dialog.message()), dialog.dismiss()));
    await page.getByRole('button', { name: 'Close window and show result' }).click();
    await expect.poll(() => asked.length).toBe(1);
    expect(gw.assurance.windowRecords()).toHaveLength(1); // still open
  }, 30_000);

  it('opens a test window only once the installer confirms: while open, a press of its devices is no real alarm', async () => {
    const gw = await gateway();
    const page = await signedIn(gw.port, '#walk', INSTALLER_TOKEN);
    const asked: string[] = [];
    page.once('dialog', (dialog) => void (asked.push(dialog.message()), dialog.dismiss()));
    await page.getByRole('button', { name: 'Start test window' }).click();
    await expect.poll(() => asked.length).toBe(1);
    expect(asked[0]).toContain('Bank branch 1');
    expect(gw.assurance.windowRecords()).toHaveLength(0);
  }, 30_000);
});

describe('a card or report page', () => {
  it('shows what the gateway refused, in place of the page', async () => {
    const gw = await gateway();
    const page = await signedIn(gw.port);
    await page.goto(`${gw.base}/console/card/bank-1/zone-77`); // this tab keeps its secret across navigations
    await page.getByRole('alert').filter({ hasText: 'no such duress device' }).waitFor();
    await page.goto(`${gw.base}/console/report?site=bank-1&from=2000-01-01&to=2024-12-31`);
    await page.getByRole('alert').filter({ hasText: 'at most 366 days' }).waitFor();
  }, 30_000);

  it('is never the CSV read as a page: HTML written into a note is not shown as HTML', async () => {
    const gw = await gateway();
    await gw.receive(cid('122', 5));
    const [incident] = gw.assurance.incidentRecords();
    // An operator's note is free text; whoever wrote this one wants viewers to follow a link of theirs.
    gw.assurance.acknowledge(incident!.id, operator('desk'), '<a id=lure href=http://evil.example/>Session expired: sign in again</a>');
    const page = await signedIn(gw.port);
    await page.goto(`${gw.base}/console/report?site=bank-1&format=csv`); // a link anyone can send
    await page.getByRole('alert').or(page.locator('#lure')).first().waitFor();
    expect(await page.locator('#lure').count()).toBe(0);
    await page.getByRole('alert').filter({ hasText: 'not a page' }).waitFor();
  }, 30_000);
});

describe('a wall screen', () => {
  const notLive = (page: Page) => page.getByRole('alert').filter({ hasText: 'Not live' });

  it('says it is not live while the gateway restarts, then asks to sign in again (sessions are in memory)', async () => {
    const first = await gateway();
    const page = await signedIn(first.port);
    await page.getByText('none open').first().waitFor();
    await first.stop();
    await notLive(page).waitFor();
    await gateway(first.port);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(await notLive(page).isVisible()).toBe(false);
  }, 30_000);

  it('whose live view is refused as busy says so, still shows a new duress, and goes live once a view is free', async () => {
    const gw = await gateway();
    const signIn = await fetch(`${gw.base}/console/session`, { method: 'POST', headers: { 'content-type': 'application/json', origin: gw.base }, body: JSON.stringify({ token: TOKEN }) });
    const session = { cookie: signIn.headers.get('set-cookie')!.split(';')[0]!, 'x-panelbridge-session': ((await signIn.json()) as { session: string }).session };
    const others = new AbortController();
    cleanup.push(async () => others.abort());
    // Other screens with the same token hold every live view it may have.
    for (let i = 0; i < MAX_STREAMS_PER_NAME; i++) await (await fetch(`${gw.base}/console/api/live`, { headers: session, signal: others.signal })).body!.getReader().read();
    const page = await signedIn(gw.port);
    await notLive(page).filter({ hasText: 'too many live screens' }).waitFor();
    await gw.receive(cid('122', 5));
    await page.getByText('1 open').waitFor(); // by polling
    others.abort();
    await notLive(page).waitFor({ state: 'hidden' });
  }, 30_000);
});
