import type { Site } from '../../../src/settings/sites.js';
import { createHash } from 'node:crypto';
import { escapeHtml, REPORT_CSS } from '../report/report-html.js';
import type { deviceCard } from './views.js';

/**
 * Readable at arm's length on a phone and across the room on a wall screen: large type, strong contrast
 * (WCAG AA or better on every pair), fixed-size status slots so arriving events never move what is on screen.
 */
export const CONSOLE_CSS = `
:root { --ink: #111; --paper: #fff; --muted: #4a4a4a; --line: #c8c8c8; --ok: #0b6b2f; --ok-bg: #e3f4e8; --bad: #a4121b; --bad-bg: #fde7e8; --warn: #7a4b00; --warn-bg: #fff2d6; --focus: #1a56db; }
* { box-sizing: border-box; }
html { font: 18px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: var(--paper); scrollbar-gutter: stable; }
body { margin: 0; }
a { color: var(--focus); }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
.skip { position: absolute; left: -999px; } .skip:focus { left: 1rem; top: 1rem; background: var(--paper); padding: .5rem; z-index: 2; }
header { display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; align-items: center; padding: .6rem 1rem; background: #1d2733; color: #fff; }
header h1 { font-size: 1.15rem; margin: 0; } header a { color: #fff; font-weight: 600; text-decoration: none; padding: .3rem .2rem; border-bottom: 3px solid transparent; }
header a[aria-current="page"] { border-bottom-color: #fff; } header :focus-visible { outline-color: #fff; } header .who { margin-left: auto; font-size: .9rem; }
main { padding: 1rem; max-width: 1400px; margin: 0 auto; overflow-wrap: break-word; } main:focus-visible { outline: none; } .scroll { overflow-x: auto; }
@media (max-width: 480px) { html { font-size: 17px; } main, main .card { padding: .6rem; } th, td { padding: .3rem .25rem; } }
h2 { font-size: 1.35rem; margin: .2rem 0 .8rem; } h3, h4 { font-size: 1.1rem; margin: 0 0 .4rem; }
.grid { display: grid; gap: 1rem; grid-template-columns: repeat(auto-fill, minmax(min(100%, 22rem), 1fr)); }
.card { border: 2px solid var(--line); border-radius: .5rem; padding: .8rem 1rem; background: var(--paper); }
.card.wide { grid-column: 1 / -1; } .card.alarm { border-color: var(--bad); background: var(--bad-bg); } .card.ok { border-color: var(--ok); }
.pill { display: inline-block; min-width: 4.5em; text-align: center; padding: .05rem .5rem; border-radius: 1rem; font-weight: 700; font-size: .85rem; }
.pill.ok, .state-exercised .pill { background: var(--ok); color: #fff; } .pill.bad, .state-wrong .pill, .state-not-exercised .pill { background: var(--bad); color: #fff; }
.pill.warn { background: var(--warn-bg); color: var(--warn); border: 1px solid var(--warn); } .pill.idle, .state-waiting .pill { background: #e6e6e6; color: #222; }
.state-exercised { background: var(--ok-bg); } .state-wrong, .state-not-exercised { background: var(--bad-bg); }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; } th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
dl { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: .2rem .8rem; margin: .4rem 0; } dt { color: var(--muted); } dd { margin: 0; }
.muted { color: var(--muted); } .guidance { font-size: 1.05rem; border-left: 4px solid var(--focus); padding-left: .6rem; margin: .4rem 0; }
button, input, select, textarea { font: inherit; } button { padding: .45rem 1rem; border-radius: .35rem; border: 2px solid #1d2733; background: #1d2733; color: #fff; font-weight: 600; cursor: pointer; min-height: 2.75rem; }
button.secondary { background: var(--paper); color: #1d2733; } input, select, textarea { padding: .4rem .5rem; border: 2px solid #666; border-radius: .3rem; min-height: 2.75rem; max-width: 100%; }
label { display: block; font-weight: 600; margin: .5rem 0 .2rem; } label:has(> input[type=checkbox]) { display: flex; gap: .6rem; align-items: center; font-weight: 400; }
input[type=checkbox] { width: 1.4rem; height: 1.4rem; min-height: 0; margin: 0; } .row { display: flex; flex-wrap: wrap; gap: .6rem; align-items: end; }
ul.devices { list-style: none; padding: 0; display: grid; grid-template-columns: minmax(0, 1fr); gap: .6rem; } .status { min-height: 1.6rem; padding: 0 1rem; } .times { font-size: .9rem; } .times span { display: inline-block; min-width: 11em; }
.banner { padding: .6rem 1rem; border: 2px solid var(--bad); background: var(--bad-bg); border-radius: .4rem; margin: 0 0 1rem; font-weight: 600; } #offline, #alarm { margin: 1rem 1rem 0; }
#alarm { font-size: 1.15rem; }
@media (min-width: 1800px) { html { font-size: 22px; } }
@media print { header, .noprint { display: none; } .card { break-inside: avoid; } }
`;

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
} as const;

/** Headers of every console page; `inlineStyle` is a style block the page carries (allowed by its hash only). */
export function pageHeaders(inlineStyle?: string): Record<string, string> {
  if (inlineStyle === undefined) return { ...SECURITY_HEADERS };
  const hash = createHash('sha256').update(inlineStyle, 'utf8').digest('base64');
  return { ...SECURITY_HEADERS, 'content-security-policy': SECURITY_HEADERS['content-security-policy'].replace("style-src 'self'", `style-src 'self' 'sha256-${hash}'`) };
}

/** Headers of the report page, whose style sheet is inline so it prints and saves on its own. */
export const reportPageHeaders = (): Record<string, string> => pageHeaders(REPORT_CSS);

/** The console's one page: the script fills `main` from the console API. */
export function consoleShell(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>panelbridge duress console</title><link rel="stylesheet" href="/console/console.css">
<script type="module" src="/console/console.js"></script></head>
<body><a class="skip" href="#main">Skip to content</a>
<header><h1>Duress console</h1><nav aria-label="Console" id="nav" hidden>
<a href="#overview">Overview</a> <a href="#walk">Test walk</a> <a href="#incidents">Incidents</a> <a href="#report">Report</a></nav>
<span class="who" id="who"></span></header>
<p class="banner" role="alert" id="alarm" hidden></p><p class="banner" role="alert" id="offline" hidden></p>
<main id="main" tabindex="-1"><p class="muted">Loading…</p></main>
<div class="status" role="status" aria-live="polite" id="live"></div>
</body></html>
`;
}

type Card = ReturnType<typeof deviceCard>;

const KIND_WORDS: Record<Card['kind'], string> = { zone: 'Hold-up / panic button', user: 'Duress code', door: 'Door duress PIN' };

/** A printable one-page card for training: what it is, where, what happens after pressing, what to do next. */
export function deviceCardPage(site: Site, card: Card): string {
  const field = (term: string, value: string | null) => (value === null ? '' : `<dt>${escapeHtml(term)}</dt><dd>${escapeHtml(value)}</dd>`);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(`${card.name}: what to do`)}</title><link rel="stylesheet" href="/console/console.css"></head>
<body><main class="printcard">
<h2>${escapeHtml(card.name)}</h2>
<dl>${field('What it is', KIND_WORDS[card.kind])}${field('Device', card.device)}${field('Site', site.name ?? site.id)}${field('Address', site.address ?? null)}${field('Where', card.location)}${field('Carried by', card.holder)}</dl>
<h3>What happens after you press</h3>
<p>Your call for help is sent at once to the people who respond to ${escapeHtml(site.name ?? site.id)}.</p>
<h3>What you do next</h3>
<p class="guidance">${escapeHtml(card.guidance ?? 'Stay calm, do as you are told, and do not tell anyone that you pressed. Help is on its way.')}</p>
<p class="muted">Testing: only press it in a test window your installer opened; outside one it is a real alarm.</p>
</main></body></html>
`;
}
