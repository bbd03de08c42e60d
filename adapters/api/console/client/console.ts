/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// The console's browser script: no framework, no dependency, text set only through textContent (never HTML).
// Built by tsc beside the gateway; its size is budgeted in routes.ts (SCRIPT_BUDGET_BYTES).

/** Answers of the console API; their shapes are built in views.ts. */
type Json = any;
type Child = Node | string | null | undefined | false;

const main = document.getElementById('main')!;
const live = document.getElementById('live')!;
const VIEWS = ['overview', 'walk', 'incidents', 'report'];
/** Not live (stream lost or busy): poll and retry this often. */
const RETRY_MS = 3_000;
/** Poll this often even when live: a stream can stall silently. */
const BACKSTOP_MS = 60_000;
/** The session's secret, sent with every request: the cookie goes to every port of the host, sessionStorage is this port's. */
const SECRET = 'pb-session';
let me: Json;
/** The live stream: read with fetch, as an EventSource cannot send the secret. */
let stream: AbortController | undefined;
let retry: ReturnType<typeof setTimeout> | undefined;
let refreshing = false;
/** Open incidents the alarm already announced since sign-in, with how many callers joined each. */
let heard = new Map<string, number>();

function el(tag: string, attrs: Record<string, string | boolean | ((e: Event) => void)> = {}, ...children: Child[]): HTMLElement {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (typeof value === 'function') node.addEventListener(name, value);
    else if (value === true) node.setAttribute(name, '');
    else if (value !== false) node.setAttribute(name, value);
  }
  for (const child of children) if (child !== null && child !== undefined && child !== false) node.append(child);
  return node;
}

/** The zone a site's times read in, always named beside them; no configured site: this browser's. */
const siteZone = (zone: string | null | undefined): string => zone ?? Intl.DateTimeFormat().resolvedOptions().timeZone;
/** A time of a site, in its `timeZone` (siteZone). */
const when = (iso: string | null, timeZone: string) => (iso ? new Date(iso).toLocaleString(undefined, { timeZone }) : '–');
const time = (iso: string | null, timeZone: string) => (iso ? new Date(iso).toLocaleTimeString(undefined, { timeZone }) : '–');
/** Where an incident is: its site's name, else the account it came from (a panel may send none). */
const where = (site: Json, account: string | null): string => site?.name ?? (account === null ? 'no account sent' : `account ${account}`);
const pill = (text: string, kind: string) => el('span', { class: `pill ${kind}` }, text);
const say = (text: string) => (live.textContent = text);

/**
 * Announces each newly open incident, and each caller joining one, in the assertive region (screen readers interrupt
 * for it), whatever view is shown; empty and hidden once none is open. `where`: the site's name, or the account of a
 * site not configured; `calls`: how many callers joined it.
 */
function alarm(open: Array<{ id: string; category: string; where: string; calls: number }>): void {
  const fresh = open.filter((i) => heard.get(i.id) !== i.calls);
  const region = document.getElementById('alarm')!;
  if (open.length === 0) region.textContent = '';
  else if (fresh.length > 0) region.textContent = `DURESS: ${fresh.map((i) => `${i.category.toUpperCase()} at ${i.where}${heard.has(i.id) ? ' (another caller)' : ''}`).join('; ')}. See Incidents.`;
  heard = new Map(open.map((i) => [i.id, i.calls]));
  region.hidden = open.length === 0;
}

async function overviewData(): Promise<Json> {
  const data = await api('/console/api/overview');
  alarm([
    ...data.sites.flatMap((s: Json) => s.openIncidents.map((i: Json) => ({ ...i, where: s.name }))),
    ...data.withoutSite.map((i: Json) => ({ ...i, where: where(null, i.account) })),
  ]);
  return data;
}

const secretHeader = (): Record<string, string> => {
  const secret = sessionStorage.getItem(SECRET);
  return secret ? { 'x-panelbridge-session': secret } : {};
};

async function send(path: string, method = 'GET', body?: unknown): Promise<Response> {
  const response = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: { ...secretHeader(), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (response.status === 401 && path !== '/console/session') {
    signIn();
    throw new Error('signed out');
  }
  if (!response.ok) throw new Error((await response.json()).error?.message ?? response.statusText);
  return response;
}

async function api(path: string, method = 'GET', body?: unknown): Promise<Json> {
  const response = await send(path, method, body);
  return response.status === 204 ? {} : response.json();
}

const CONTROLS = 'a, button, input, select, textarea, summary';

/**
 * Finds the focused control again after a redraw: by its id, else by its place among the controls of its card;
 * gone (an acknowledged incident's button), the view itself, so the keyboard does not restart at the page's top.
 */
function focusPlace(): () => Element | null | undefined {
  const node = document.activeElement;
  if (!node || !main.contains(node)) return () => null;
  if (node.id) return () => document.getElementById(node.id) ?? main;
  const card = node.closest('[aria-labelledby]');
  const scope = card && `[aria-labelledby="${CSS.escape(card.getAttribute('aria-labelledby')!)}"]`;
  const index = [...(card ?? main).querySelectorAll(CONTROLS)].indexOf(node);
  return () => (scope ? main.querySelector(scope) : main)?.querySelectorAll(CONTROLS)[index] ?? main;
}

/** The property of a field a redraw keeps: what was typed, ticked or unfolded. */
const stateOf = (f: Json): string => (f.tagName === 'DETAILS' ? 'open' : f.type === 'checkbox' ? 'checked' : 'value');

/** Replaces the view, keeping what was typed, ticked or unfolded and where the focus was. */
function show(...children: Child[]): void {
  const focused = focusPlace();
  const fields = () => [...main.querySelectorAll<Json>('input, textarea, details[id]')].map((f) => [f.id || `${f.name}=${f.value}`, f] as const);
  const kept = new Map(fields().map(([key, f]) => [key, f[stateOf(f)]]));
  main.replaceChildren(...children.filter((c): c is Node | string => c !== null && c !== undefined && c !== false));
  for (const [key, f] of fields()) {
    const value = kept.get(key);
    if (value !== undefined) f[stateOf(f)] = value;
  }
  (focused() as HTMLElement | null | undefined)?.focus();
}

function signIn(message = ''): void {
  me = undefined;
  alarm([]); // the duress, and what was done about it, are for who signed in
  say('');
  sessionStorage.removeItem(SECRET);
  notLive('');
  stream?.abort();
  stream = undefined;
  document.getElementById('nav')!.hidden = true;
  document.getElementById('who')!.textContent = '';
  const input = el('input', { id: 'token', type: 'password', autocomplete: 'current-password', required: true }) as HTMLInputElement;
  const form = el(
    'form',
    {
      submit: async (e) => {
        e.preventDefault();
        try {
          sessionStorage.setItem(SECRET, (await api('/console/session', 'POST', { token: input.value })).session);
          await start();
        } catch (error) {
          signIn((error as Error).message);
        }
      },
    },
    el('h2', {}, 'Sign in'),
    el('label', { for: 'token' }, 'API token'),
    el('div', { class: 'row' }, input, el('button', { type: 'submit' }, 'Sign in')),
    el('p', { class: 'muted' }, 'The token is exchanged for a session cookie; it is not kept in this browser.'),
    message && el('p', { class: 'banner', role: 'alert' }, message),
  );
  show(form);
  input.focus();
}

async function start(): Promise<void> {
  if (!sessionStorage.getItem(SECRET)) return signIn(); // the cookie alone is refused: ask for nothing
  if (location.pathname !== '/') return showPage();
  me = await api('/console/api/me');
  document.getElementById('nav')!.hidden = false;
  const who = document.getElementById('who')!;
  who.replaceChildren(`${me.name} (${me.role}) `, el('button', { class: 'secondary', type: 'button', click: signOut }, 'Sign out'));
  listen();
  if (!location.hash) location.hash = '#overview';
  await refresh('navigate');
}

/** A card or the report, opened by navigation: the gateway's page for it, fetched with the secret, replaces this one. */
async function showPage(): Promise<void> {
  try {
    const response = await send(`/console/api${location.pathname.slice(8)}${location.search}`);
    // Only its HTML escapes what it shows (a CSV's note could hold markup).
    if (!response.headers.get('content-type')!.startsWith('text/html')) throw new Error('not a page');
    const html = await response.text();
    document.documentElement.replaceWith(document.adoptNode(new DOMParser().parseFromString(html, 'text/html').documentElement));
  } catch (error) {
    if ((error as Error).message !== 'signed out') show(el('p', { class: 'banner', role: 'alert' }, (error as Error).message));
  }
}

async function listen(): Promise<void> {
  const own = (stream = new AbortController());
  try {
    const response = await fetch('/console/api/live', { headers: secretHeader(), signal: own.signal });
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    for (let chunk; response.ok && !(chunk = await reader.read()).done; ) {
      const events = (text += chunk.value).split('\n\n');
      text = events.pop()!;
      for (const event of events)
        if (event.startsWith('event: busy')) notLive('Not live: too many live screens; polling.');
        else if (event.startsWith('event: update')) {
          notLive('');
          void refresh('live');
        }
    }
  } catch {}
  if (stream === own) notLive('Not live: gateway unreachable; retrying.');
}

/** Says why the page is not live ('' when it is); meanwhile polls and retries the stream. */
function notLive(why: string): void {
  const banner = document.getElementById('offline')!;
  banner.textContent = why;
  banner.hidden = !why;
  clearTimeout(retry);
  if (!why) return;
  stream?.abort();
  stream = undefined;
  retry = setTimeout(async () => {
    await refresh('live'); // a session lost in a restart: sign-in
    if (me) listen();
  }, RETRY_MS);
}

async function signOut(): Promise<void> {
  await api('/console/session', 'DELETE');
  signIn();
}

type Reason = 'live' | 'user' | 'navigate';
let queued: Reason | undefined;

/**
 * Re-renders the current view. A live update waits while someone types (it would move their caret); a render
 * asked for while one runs follows it.
 */
async function refresh(reason: Reason): Promise<void> {
  const active = document.activeElement as HTMLInputElement | null;
  if (reason === 'live' && active && main.contains(active) && (active.tagName === 'TEXTAREA' || /^(text|password|number|date)$/.test(active.type ?? ''))) {
    say('New data arrived; it shows when you leave the field.');
    active.addEventListener('blur', () => void refresh('live'), { once: true });
    return;
  }
  if (refreshing) {
    queued = queued === 'navigate' ? queued : reason;
    return;
  }
  refreshing = true;
  const view = VIEWS.includes(location.hash.slice(1)) ? location.hash.slice(1) : 'overview';
  for (const link of document.querySelectorAll('#nav a')) {
    if (link.getAttribute('href') === `#${view}`) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  try {
    await ({ overview: renderOverview, walk: renderWalk, incidents: renderIncidents, report: renderReport } as Record<string, () => Promise<void>>)[view]!();
    if (reason === 'navigate') {
      say('');
      main.focus();
    }
  } catch (error) {
    if ((error as Error).message !== 'signed out') say(`Could not load: ${(error as Error).message}`);
  } finally {
    refreshing = false;
  }
  const next = queued;
  queued = undefined;
  if (next !== undefined) await refresh(next);
}

function table(head: string[], rows: Child[][]): HTMLElement {
  return el('div', { class: 'scroll' }, el('table', {}, el('thead', {}, el('tr', {}, ...head.map((h) => el('th', { scope: 'col' }, h)))), el('tbody', {}, ...rows.map((r) => el('tr', {}, ...r.map((c) => el('td', {}, c)))))));
}

async function renderOverview(): Promise<void> {
  const data = await overviewData();
  const gw = data.gateway;
  const health = el(
    'section',
    { class: `card wide ${gw.status === 'ok' ? 'ok' : 'alarm'}`, 'aria-labelledby': 'gw' },
    el('h3', { id: 'gw' }, 'Gateway ', pill(gw.status, gw.status === 'ok' ? 'ok' : 'bad')),
    table(
      ['', 'Name', 'State', 'Backlog', 'Dead letters'],
      [
        ...gw.inputs.map((i: Json) => ['input', i.name, pill(i.state, i.state === 'up' ? 'ok' : 'bad'), '', '']),
        ...gw.outputs.map((o: Json) => ['output', o.name, pill(o.state, o.state === 'up' ? 'ok' : 'bad'), String(o.backlog), String(o.deadLetters)]),
      ],
    ),
  );
  const sites = data.sites.map((s: Json) =>
    el(
      'section',
      { class: `card ${s.openIncidents.length > 0 ? 'alarm' : ''}`, 'aria-labelledby': `site-${s.id}` },
      el('h3', { id: `site-${s.id}` }, s.name),
      s.address && el('p', { class: 'muted' }, s.address),
      el(
        'dl',
        {},
        el('dt', {}, 'Incidents'),
        el('dd', {}, s.openIncidents.length === 0 ? pill('none open', 'ok') : el('a', { href: '#incidents' }, pill(`${s.openIncidents.length} open`, 'bad'), ` ${s.openIncidents.map((i: Json) => i.category).join(', ')}`)),
        el('dt', {}, 'Overdue'),
        el('dd', {}, s.overdue.length === 0 ? pill('none', 'ok') : pill(`${s.overdue.length}`, 'warn'), ' ', s.overdue.map((d: Json) => d.name).join(', ')),
        el('dt', {}, 'Never tested'),
        el('dd', {}, s.neverTested.length === 0 ? pill('none', 'ok') : pill(`${s.neverTested.length} of ${s.devices}`, 'warn'), ' ', s.neverTested.map((d: Json) => d.name).join(', ')),
        el('dt', {}, 'Links'),
        el('dd', {}, ...s.links.map((l: Json) => el('span', {}, pill(l.state, l.state === 'lost' ? 'bad' : l.state === 'up' ? 'ok' : 'idle'), ` ${l.account} `))),
        el('dt', {}, 'Test window'),
        el('dd', {}, s.testWindow ? el('a', { href: '#walk' }, pill('open', 'warn')) : pill('closed', 'idle')),
      ),
    ),
  );
  const orphans = data.withoutSite.map((i: Json) => `${i.category} (${where(null, i.account)})`);
  const withoutSite = orphans.length > 0 && el('section', { class: 'card alarm' }, el('h3', {}, 'No configured site'), el('a', { href: '#incidents' }, pill(`${orphans.length} open`, 'bad'), ` ${orphans.join(', ')}`));
  show(el('h2', {}, 'Overview'), el('div', { class: 'grid' }, health, withoutSite, ...sites));
}

/** An arrival's times in `timeZone`, its site's. */
const arrivalTimes = (timeZone: string) => (a: Json): HTMLElement =>
  el(
    'div',
    { class: 'times' },
    el('span', {}, `${a.category}${a.zone === null ? '' : ` zone ${a.zone}`}${a.user === null ? '' : ` user ${a.user}`}${a.door === null ? '' : ` door ${a.door}`}`),
    el('span', {}, `pressed ${time(a.pressedAt, timeZone)}`),
    el('span', {}, `stored ${time(a.storedAt, timeZone)}`),
    ...a.delivered.map((d: Json) => el('span', {}, `→ ${d.output} ${time(d.at, timeZone)}`)),
  );

const STATE_WORDS: Record<string, string> = { waiting: 'waiting', exercised: 'reported', wrong: 'wrong signal', 'not-exercised': 'not exercised' };

function walkView(w: Json): HTMLElement {
  const open = w.window.closedAt === null;
  const zone = siteZone(w.timeZone);
  return el(
    'section',
    { class: 'card', 'aria-labelledby': `walk-${w.window.id}` },
    el('h3', { id: `walk-${w.window.id}` }, `${open ? 'Test window open' : 'Result'}: ${w.siteName}`, w.window.scheduled ? ' (scheduled)' : ''),
    el('p', { class: 'muted' }, `${open ? `Until ${time(w.window.endsAt, zone)}` : `Closed ${when(w.window.closedAt, zone)}`} (${zone})`),
    w.result && el('p', { class: w.result.notExercised.length + w.result.wrong.length === 0 ? '' : 'banner', id: 'walk-result' }, `${w.result.exercised.length} reported, ${w.result.notExercised.length} not exercised, ${w.result.wrong.length} wrong`),
    el(
      'ul',
      { class: 'devices' },
      ...w.devices.map((d: Json) =>
        el(
          'li',
          { class: `card state-${d.state}`, 'data-device': d.device },
          el('h4', {}, pill(STATE_WORDS[d.state] ?? d.state, ''), ` ${d.name} `, el('span', { class: 'muted' }, d.device)),
          el('p', { class: 'muted' }, [d.location, d.holder].filter(Boolean).join(' · ')),
          d.guidance && el('p', { class: 'guidance' }, d.guidance),
          // The slot is there before the signal, so a device turning green moves nothing on screen.
          ...(d.arrivals.length > 0 ? d.arrivals.map(arrivalTimes(zone)) : [el('div', { class: 'times muted' }, el('span', {}, 'no signal yet'))]),
          // Only a tab with an opener gets a copy of sessionStorage (the secret).
          el('a', { href: `/console/card/${encodeURIComponent(w.window.site)}/${encodeURIComponent(d.device)}`, target: '_blank', rel: 'opener', 'aria-label': `Printable card: ${d.name}` }, 'Printable card'),
        ),
      ),
    ),
    w.unexpected.length > 0 && el('div', { class: 'banner' }, 'Also arrived (no device under test): ', ...w.unexpected.map(arrivalTimes(zone))),
    w.realIncidents.length > 0 && el('div', { class: 'banner', role: 'alert' }, 'REAL incident during the walk (not a test): ', ...w.realIncidents.map(arrivalTimes(zone))),
    open && me.may.testWindows && el('button', { type: 'button', id: `close-${w.window.id}`, click: () => act(`/console/api/walks/${w.window.id}`, 'DELETE', undefined, 'Window closed.', `Close the test window at ${w.siteName} now? Devices not pressed yet count as not exercised.`) }, 'Close window and show result'),
  );
}

/** `question`: asked first, so a stray tap on a wall screen or phone changes nothing. */
async function act(path: string, method: string, body: unknown, done: string, question?: string): Promise<void> {
  if (question && !confirm(question)) return;
  try {
    await api(path, method, body);
    say(done);
  } catch (error) {
    say(`Refused: ${(error as Error).message}`);
  }
  await refresh('user');
}

async function renderWalk(): Promise<void> {
  const [{ walks }, overview] = await Promise.all([api('/console/api/walks'), overviewData()]);
  const open = walks.filter((w: Json) => w.window.closedAt === null);
  const last = walks.find((w: Json) => w.window.closedAt !== null);
  const parts: Child[] = [el('h2', {}, 'Guided test walk'), ...open.map(walkView)];
  if (me.may.testWindows) parts.push(await walkForm(overview.sites));
  else parts.push(el('p', { class: 'muted' }, 'Only an installer can start a test window.'));
  if (last) parts.push(walkView(last));
  show(...parts);
}

async function walkForm(sites: Json[]): Promise<HTMLElement> {
  const chosen = (document.getElementById('walk-site') as HTMLSelectElement | null)?.value ?? sites[0]?.id;
  const select = el('select', { id: 'walk-site', change: () => void refresh('user') }, ...sites.map((s: Json) => el('option', { value: s.id, selected: s.id === chosen }, s.name))) as HTMLSelectElement;
  const { devices } = chosen ? await api(`/console/api/sites/${encodeURIComponent(chosen)}/devices`) : { devices: [] };
  const minutes = el('input', { id: 'walk-minutes', type: 'number', min: '1', max: '1440', value: '15' }) as HTMLInputElement;
  const boxes = devices.map((d: Json) => el('label', {}, el('input', { type: 'checkbox', name: 'device', value: d.device }), ` ${d.name} (${d.device})`));
  return el(
    'form',
    {
      class: 'card',
      submit: (e) => {
        e.preventDefault();
        const picked = [...main.querySelectorAll<HTMLInputElement>('input[name=device]:checked')].map((b) => b.value);
        void act(
          '/console/api/walks',
          'POST',
          { site: select.value, minutes: Number(minutes.value), ...(picked.length ? { devices: picked } : {}) },
          'Test window open: press each device now.',
          `Open a ${minutes.value}-minute test window at ${select.selectedOptions[0]?.text}? Until it closes, a press of ${picked.length ? 'a ticked device' : 'any of its devices'} is a test, not a real alarm.`,
        );
      },
    },
    el('h3', {}, 'Start a test window'),
    el('label', { for: 'walk-site' }, 'Site'),
    select,
    el('fieldset', {}, el('legend', {}, 'Devices (none ticked: all)'), ...boxes),
    el('label', { for: 'walk-minutes' }, 'Minutes'),
    el('div', { class: 'row' }, minutes, el('button', { type: 'submit', id: 'walk-start' }, 'Start test window')),
  );
}

async function renderIncidents(): Promise<void> {
  const all = (document.getElementById('show-acked') as HTMLInputElement | null)?.checked ?? false;
  const { incidents, moreAcknowledged } = await api(`/console/api/incidents${all ? '?all=1' : ''}`);
  alarm(incidents.filter((i: Json) => !i.acknowledged).map((i: Json) => ({ ...i, where: where(i.context.site, i.account), calls: i.calls.length })));
  const toggle = el('label', {}, el('input', { type: 'checkbox', id: 'show-acked', checked: all, change: () => void refresh('user') }), ' Show acknowledged');
  show(
    el('h2', {}, 'Incidents'),
    toggle,
    incidents.length === 0 ? el('p', {}, pill('none open', 'ok')) : el('div', { class: 'grid' }, ...incidents.map(incidentView)),
    moreAcknowledged > 0 && el('p', { class: 'muted' }, `${moreAcknowledged} more acknowledged (see the reports)`),
  );
}

/** "Teller 2 hold-up button · Counter 2 · Anna" */
const device = (d: Json): string => [d.name, d.location, d.holder].filter(Boolean).join(' · ');

/** "Zone 7 · Back office" */
function numbered(term: string, item: Json): HTMLElement[] {
  return item ? [el('dt', {}, term), el('dd', {}, [`${term} ${item.number}`, item.name, item.location].filter(Boolean).join(' · '))] : [];
}

function incidentView(i: Json): HTMLElement {
  const c = i.context;
  const zone = siteZone(c.site?.timeZone);
  const note = el('textarea', { id: `note-${i.id}`, rows: '2', required: true, maxlength: '2000' }) as HTMLTextAreaElement;
  return el(
    'section',
    { class: `card ${i.acknowledged ? '' : 'alarm'}`, 'aria-labelledby': `inc-${i.id}`, 'data-incident': i.id },
    el('h3', { id: `inc-${i.id}` }, pill(i.acknowledged ? 'acknowledged' : 'OPEN', i.acknowledged ? 'ok' : 'bad'), ` ${i.category.toUpperCase()} · ${where(c.site, i.account)}`),
    c.verified === false && el('p', { class: 'banner' }, `UNVERIFIED SOURCE (${c.unverifiedReason}): sender not proven; treat as real.`),
    el(
      'dl',
      {},
      c.site?.address && el('dt', {}, 'Address'),
      c.site?.address && el('dd', {}, c.site.address),
      ...c.devices.flatMap((d: Json) => [el('dt', {}, 'Device'), el('dd', {}, device(d))]),
      // No device configured: show the numbers sent.
      ...(c.devices.length > 0 ? [] : [numbered('Zone', c.zone), numbered('User', c.user)].flat()),
      c.door && el('dt', {}, 'Door'),
      c.door && el('dd', {}, [c.door.name ?? c.door.id, c.door.location, c.door.credential && `credential ${c.door.credential}`, c.door.holder].filter(Boolean).join(' · ')),
      // Later callers: acknowledging closes their duress too.
      ...i.calls.flatMap((call: Json) => [
        el('dt', {}, 'Also called'),
        el('dd', {}, [`${call.category.toUpperCase()} ${when(call.receivedAt, zone)}`, call.named.map(device).join(', ') || [call.zone !== null && `zone ${call.zone}`, call.user !== null && `user ${call.user}`, call.door].filter(Boolean).join(' · ')].filter(Boolean).join(' · ')),
      ]),
      c.site?.response && el('dt', {}, 'Response'),
      c.site?.response && el('dd', { class: 'guidance' }, c.site.response),
    ),
    el('h4', {}, `Timeline (times in ${zone})`),
    table(['Step', 'Time', ''], i.timeline.map((t: Json) => [t.step, when(t.at, zone), t.by ? `${t.by}: ${t.note ?? ''}` : ''])),
    i.later.length > 0 && el('details', { id: `later-${i.id}` }, el('summary', {}, `${i.later.length} later event(s) from the site`), ...i.later.map(arrivalTimes(zone))),
    !i.acknowledged &&
      me.may.acknowledge &&
      el(
        'form',
        {
          submit: (e) => {
            e.preventDefault();
            void act(`/console/api/incidents/${i.id}/ack`, 'POST', { note: note.value }, 'Incident acknowledged.', `Acknowledge ${i.category} at ${where(c.site, i.account)}? It closes for every screen.`);
          },
        },
        el('label', { for: `note-${i.id}` }, 'Note (what was done)'),
        note,
        el('div', {}, el('button', { type: 'submit', id: `ack-${i.id}` }, 'Acknowledge')),
      ),
  );
}

async function renderReport(): Promise<void> {
  const { sites } = await overviewData();
  const from = el('input', { id: 'report-from', type: 'date' }) as HTMLInputElement;
  const to = el('input', { id: 'report-to', type: 'date' }) as HTMLInputElement;
  // Each site's own last 30 days, as the gateway counts them in the site's time zone.
  const showPeriodOf = (id: string) => {
    const period = sites.find((s: Json) => s.id === id)?.reportPeriod;
    if (period === undefined) return;
    from.value = period.from;
    to.value = period.to;
  };
  const site = el('select', { id: 'report-site', change: () => showPeriodOf(site.value) }, ...sites.map((s: Json) => el('option', { value: s.id }, s.name))) as HTMLSelectElement;
  showPeriodOf(site.value);
  const query = () => `/report?site=${encodeURIComponent(site.value)}&from=${from.value}&to=${to.value}`;
  const open = (csv: boolean) => async (e: Event) => {
    e.preventDefault();
    if (!csv) return void window.open(`/console${query()}`, '_blank'); // with an opener: sessionStorage copied
    // A navigation cannot send the secret.
    try {
      const response = await send(`/console/api${query()}&format=csv`);
      const link = el('a', { href: URL.createObjectURL(await response.blob()), download: response.headers.get('content-disposition')!.split('"')[1]! }) as HTMLAnchorElement;
      link.click();
      setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
    } catch (error) {
      say(`Refused: ${(error as Error).message}`);
    }
  };
  show(
    el('h2', {}, 'Assurance report'),
    el(
      'form',
      { class: 'card', submit: open(false) },
      el('label', { for: 'report-site' }, 'Site'),
      site,
      el('div', { class: 'row' }, el('div', {}, el('label', { for: 'report-from' }, 'From'), from), el('div', {}, el('label', { for: 'report-to' }, 'To'), to)),
      el('p', { class: 'row' }, el('button', { type: 'submit', id: 'report-open' }, 'Open print-ready report'), el('button', { type: 'button', class: 'secondary', id: 'report-csv', click: open(true) }, 'Download CSV')),
    ),
  );
}

addEventListener('hashchange', () => void refresh('navigate'));
setInterval(() => stream && void refresh('live'), BACKSTOP_MS);
start().catch(() => signIn());
