import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { periodOf, periodProblem } from '../../../src/assurance/report.js';
import { renderReportCsv } from '../report/report-csv.js';
import { renderReportHtml } from '../report/report-html.js';
import { z } from 'zod';
import { ApiError, parseBody, type ApiResponse, type ApiServer } from '../server.js';
import { actorOf, answerOnceStored } from '../routes/actor.js';
import { windowOpenedAction, windowStoppedAction } from '../routes/test-windows.js';
import { acknowledgementRefused, incidentAcknowledgedAction } from '../routes/incidents.js';
import { mayDo, type TokenRegistry } from '../tokens.js';
import { CONSOLE_CSS, consoleShell, deviceCardPage, pageHeaders, reportPageHeaders } from './pages.js';
import { ConsoleSessions } from './sessions.js';
import { deviceCard, incidents, overview, siteDevices, walk, walks, type ConsoleSource } from './views.js';
import { incidentView, windowView } from '../assurance-views.js';

/**
 * The browser script's budget: what a phone on a weak link downloads before the console works. Checked by
 * tests/integration/console-api.test.ts against the file the gateway serves.
 */
export const SCRIPT_BUDGET_BYTES = 21.5 * 1024;
export const SCRIPT_BUDGET_GZIP_BYTES = 7 * 1024;

const NOTE_MAX = 2_000;

/**
 * The compiled browser script beside this module. The test runner loads the TypeScript sources; it gets the
 * compiled copy in dist/ (`npm test` builds first), as the DC-09 TCP worker does.
 */
function scriptFile(): URL {
  const here = import.meta.url;
  return here.endsWith('.ts') ? new URL('../../../dist/adapters/api/console/client/console.js', here) : new URL('./client/console.js', here);
}

export function consoleScript(): string {
  // The compiler's source-map comment points at a file the gateway does not serve; the lines that are only comments
  // and the indentation (a sixth of the script) are for its readers, not for a phone on a weak link. The script has
  // no multi-line strings.
  return readFileSync(scriptFile(), 'utf8')
    .replace(/\n\/\/# sourceMappingURL=.*\n?$/, '\n')
    .replace(/^\s*\/\*\*[\s\S]*?\*\/\n/gm, '')
    .replace(/^\s*\/\/.*\n/gm, '')
    .replace(/^[ \t]+/gm, '');
}

export interface ConsoleOptions {
  source: ConsoleSource;
  /** The API's tokens: a console sign-in presents one of them, and its session lasts while the token does. */
  tokens: Pick<TokenRegistry, 'authenticateToken' | 'holderOf'>;
  now: () => number;
}

const signInBody = z.object({ token: z.string({ error: 'token must be text' }).min(1).max(512) }).strict();
const walkBody = z
  .object({
    site: z.string({ error: 'site must be a site id' }).min(1),
    minutes: z.number({ error: 'minutes must be a number' }),
    devices: z.array(z.string(), { error: 'devices must be a list of device names' }).min(1).optional(),
  })
  .strict();
const ackBody = z
  .object({ note: z.string({ error: 'a note is required' }).trim().min(1, 'a note is required: what was done').max(NOTE_MAX) })
  .strict();


/**
 * The console: its page and assets at `/` and `/console/…`, sign-in and sign-out, and the JSON it reads under
 * `/console/api/…`. Identity, roles, Host and Origin are the API server's (the session cookie with its secret stands
 * in for the bearer token); control actions go through the assurance like the API's, so they are published and audited.
 */
export function registerConsole(api: ApiServer, options: ConsoleOptions): ConsoleSessions {
  const { source, tokens, now } = options;
  const sessions = new ConsoleSessions(now, tokens);
  api.acceptSessions(sessions);
  const secure = api.protocol === 'https';
  const script = consoleScript();

  const json = (body: unknown): ApiResponse => ({ status: 200, body });
  const page = (text: string, contentType = 'text/html; charset=utf-8'): ApiResponse => ({ status: 200, text, contentType, headers: pageHeaders() });

  api.route('GET', '/', 'public', () => page(consoleShell()));
  api.route('GET', '/console/console.js', 'public', () => page(script, 'text/javascript; charset=utf-8'));
  api.route('GET', '/console/console.css', 'public', () => page(CONSOLE_CSS, 'text/css; charset=utf-8'));
  // Browsers ask for it on every page; an empty answer keeps their consoles free of 404s.
  api.route('GET', '/favicon.ico', 'public', () => ({ status: 204 }));

  api.route('POST', '/console/session', 'public', (req) => {
    const { token } = parseBody(signInBody, req);
    // The API's lockout against guessing: sign-ins and bearer tokens count together.
    const signedIn = api.checkToken(req.peer, () => tokens.authenticateToken(token.trim()));
    if (signedIn === undefined) throw new ApiError('UNAUTHORIZED', 'that token is not valid');
    const session = sessions.start(signedIn, secure, req.cookie);
    if (session === undefined) throw new ApiError('TOO_MANY_REQUESTS', 'every console session is taken; try again when some have ended');
    // `session`: the secret the page keeps and sends with every request, in SESSION_SECRET_HEADER.
    return { status: 200, body: { ...signedIn.identity, session: session.secret }, headers: { 'set-cookie': session.setCookie } };
  });
  api.route('DELETE', '/console/session', 'public', (req) => {
    const cleared = sessions.end(req.cookie, req.sessionSecret, secure);
    return { status: 204, ...(cleared === undefined ? {} : { headers: { 'set-cookie': cleared } }) };
  });
  api.route('GET', '/console/api/me', 'read', (req) => {
    const { name, role } = req.identity!;
    return json({ name, role, may: { acknowledge: mayDo(role, 'acknowledge'), testWindows: mayDo(role, 'test-windows') } });
  });
  api.route('GET', '/console/api/overview', 'read', () => json(overview(source, now())));
  api.route('GET', '/console/api/live', 'read', (req) => ({
    status: 200,
    contentType: 'text/event-stream',
    headers: { 'x-accel-buffering': 'no' },
    stream: (res) => {
      const { name } = req.identity!;
      if (!source.feed.subscribe(res, name, () => req.currentIdentity()?.name === name)) res.end('event: busy\ndata: {}\n\n');
    },
  }));
  api.route('GET', '/console/api/sites/{site}/devices', 'read', (req) => {
    const devices = siteDevices(source, req.params.site ?? '');
    if (devices === undefined) throw new ApiError('SITE_NOT_FOUND', `no site ${req.params.site}`);
    return json(devices);
  });

  api.route('GET', '/console/api/walks', 'read', () => json({ walks: walks(source) }));
  api.route('POST', '/console/api/walks', 'test-windows', (req) => {
    const { site, minutes, devices } = parseBody(walkBody, req);
    const result = source.assurance.startWindow({ site, minutes, ...(devices === undefined ? {} : { devices }) }, actorOf(req));
    if (!result.ok) throw new ApiError(result.reason === 'unknown-site' ? 'SITE_NOT_FOUND' : 'BAD_REQUEST', result.message);
    source.feed.changed();
    return answerOnceStored(result.stored, windowOpenedAction(result.window), { status: result.repeated ? 200 : 201, body: walk(source, windowView(source.assurance, result.window)) });
  });
  api.route('DELETE', '/console/api/walks/{id}', 'test-windows', (req) => {
    const id = req.params.id ?? '';
    const closed = source.assurance.stopWindow(id, actorOf(req));
    if (closed === undefined) throw new ApiError('WINDOW_NOT_FOUND', `no open test window ${id}`);
    source.feed.changed();
    return answerOnceStored(closed.stored, windowStoppedAction(closed.window), json(walk(source, windowView(source.assurance, closed.window))));
  });

  api.route('GET', '/console/api/incidents', 'read', (req) => json(incidents(source, req.query.get('all') === '1')));
  api.route('POST', '/console/api/incidents/{id}/ack', 'acknowledge', (req) => {
    const id = req.params.id ?? '';
    const { note } = parseBody(ackBody, req);
    const outcome = source.assurance.acknowledge(id, actorOf(req), note);
    if (!outcome.ok) throw acknowledgementRefused(id, outcome);
    source.feed.changed();
    return answerOnceStored(outcome.stored, incidentAcknowledgedAction(id), json({ incident: incidentView(outcome.incident) }));
  });

  // Pages opened by navigation carry the cookie but never the secret: each is the console's page, whose script
  // fetches what it shows from /console/api/… with the secret (the report's inline style allowed by its hash).
  api.route('GET', '/console/card/{site}/{device}', 'public', () => page(consoleShell()));
  api.route('GET', '/console/report', 'public', () => ({ ...page(consoleShell()), headers: reportPageHeaders() }));
  api.route('GET', '/console/api/card/{site}/{device}', 'read', (req) => {
    const site = source.assurance.directory.site(req.params.site ?? '');
    const device = site === undefined ? undefined : source.assurance.directory.devicesOf(site.id).find((d) => d.device === req.params.device);
    if (site === undefined || device === undefined) throw new ApiError('DEVICE_NOT_FOUND', 'no such duress device');
    return page(deviceCardPage(site, deviceCard(device)));
  });
  api.route('GET', '/console/api/report', 'read', (req) => {
    const siteId = req.query.get('site') ?? '';
    const site = source.assurance.directory.site(siteId);
    if (site === undefined) throw new ApiError('SITE_NOT_FOUND', `no site ${siteId}`);
    const asked = { from: req.query.get('from') || undefined, to: req.query.get('to') || undefined };
    const { from, to } = periodOf(site, Object.fromEntries(Object.entries(asked).filter(([, v]) => v !== undefined)), now());
    const problem = periodProblem({ from, to });
    if (problem !== undefined) throw new ApiError('BAD_REQUEST', problem);
    const report = source.assurance.report(siteId, { from, to })!;
    if (req.query.get('format') !== 'csv') return { ...page(renderReportHtml(report)), headers: reportPageHeaders() };
    return {
      status: 200,
      text: renderReportCsv(report),
      contentType: 'text/csv; charset=utf-8',
      headers: { ...pageHeaders(), 'content-disposition': `attachment; filename="assurance-${site.id.replace(/[^A-Za-z0-9_.-]/g, '_')}-${from}-${to}.csv"` },
    };
  });
  return sessions;
}

/** The compressed size of the console script (the budget's second figure). */
export function gzippedSize(text: string): number {
  return gzipSync(text).length;
}
