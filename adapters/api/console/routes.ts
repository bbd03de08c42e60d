import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { periodOf, periodProblem } from '../../../src/assurance/report.js';
import { renderReportCsv } from '../report/report-csv.js';
import { renderReportHtml } from '../report/report-html.js';
import { ApiError, type ApiRequest, type ApiResponse, type ApiServer } from '../server.js';
import { CONSOLE_CSS, consoleShell, deviceCardPage, pageHeaders, reportPageHeaders } from './pages.js';
import { consoleMay, ConsoleSessions, type ConsoleAuth, type ConsoleIdentity, type ConsolePermission } from './sessions.js';
import { deviceCard, incidents, overview, siteDevices, walk, type ConsoleSource } from './views.js';

/**
 * The browser script's budget: what a phone on a weak link downloads before the console works. Checked by
 * tests/integration/console.test.ts against the file the gateway serves.
 */
export const SCRIPT_BUDGET_BYTES = 20 * 1024;
export const SCRIPT_BUDGET_GZIP_BYTES = 6 * 1024;

/** Failed sign-ins one peer may make per minute; more are refused without checking the token. */
const SIGN_IN_FAILURES_PER_MINUTE = 10;
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
  // The compiler's source-map comment points at a file the gateway does not serve.
  return readFileSync(scriptFile(), 'utf8').replace(/\n\/\/# sourceMappingURL=.*\n?$/, '\n');
}

export interface ConsoleOptions {
  source: ConsoleSource;
  auth: ConsoleAuth;
  now: () => number;
  /** The API is served over TLS: the session cookie gets `Secure`. */
  secure?: boolean;
  /** Control actions taken in the console, for the log and the audit trail. */
  onAction?: (action: { by: ConsoleIdentity; action: string; target: string; detail?: Record<string, unknown> }) => void;
}

function objectBody(req: ApiRequest): Record<string, unknown> {
  const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') throw new ApiError(415, 'send the body as application/json', 'UNSUPPORTED_MEDIA_TYPE');
  const body = req.json<unknown>();
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ApiError(400, 'body must be a JSON object');
  return body as Record<string, unknown>;
}

/**
 * A state change must come from the console's own page: the browser's Origin names the host the request was
 * sent to. With SameSite=Strict cookies this keeps other sites' pages (and pages on the gateway's host served
 * from another port) from acting with someone's session.
 */
function requireSameOrigin(req: ApiRequest): void {
  const origin = req.headers.origin;
  const host = req.headers.host;
  if (origin === undefined || host === undefined || (origin !== `http://${host}` && origin !== `https://${host}`))
    throw new ApiError(403, 'cross-origin request refused', 'FORBIDDEN_ORIGIN');
}

/** The console: its page and assets at `/` and `/console/…`, and the JSON it reads under `/console/api/…`. */
export function registerConsole(api: ApiServer, options: ConsoleOptions): ConsoleSessions {
  const { source, auth, now } = options;
  const sessions = new ConsoleSessions(now);
  const secure = options.secure ?? false;
  const failures = new Map<string, { count: number; since: number }>();
  const script = consoleScript();

  const gate = (req: ApiRequest, permission: ConsolePermission): ConsoleIdentity => {
    const identity = sessions.identify(req.headers.cookie);
    if (identity === undefined) throw new ApiError(401, 'sign in with an API token first', 'UNAUTHENTICATED');
    if (req.method !== 'GET') requireSameOrigin(req);
    if (!consoleMay(identity.role, permission)) throw new ApiError(403, `the ${identity.role} role may not do this`, 'FORBIDDEN');
    return identity;
  };
  const json = (body: unknown): ApiResponse => ({ status: 200, body, headers: { 'cache-control': 'no-store' } });
  const page = (text: string, contentType = 'text/html; charset=utf-8'): ApiResponse => ({ status: 200, text, contentType, headers: pageHeaders() });
  const act = (by: ConsoleIdentity, action: string, target: string, detail?: Record<string, unknown>) =>
    options.onAction?.({ by, action, target, ...(detail === undefined ? {} : { detail }) });

  api.route('GET', '/', () => page(consoleShell()));
  api.route('GET', '/console/console.js', () => page(script, 'text/javascript; charset=utf-8'));
  api.route('GET', '/console/console.css', () => page(CONSOLE_CSS, 'text/css; charset=utf-8'));
  // Browsers ask for it on every page; an empty answer keeps their consoles free of 404s.
  api.route('GET', '/favicon.ico', () => ({ status: 204, headers: { 'cache-control': 'max-age=86400' } }));

  api.route('POST', '/console/session', (req) => {
    requireSameOrigin(req);
    const recent = failures.get(req.peer);
    const minuteAgo = now() - 60_000;
    if (recent !== undefined && recent.since > minuteAgo && recent.count >= SIGN_IN_FAILURES_PER_MINUTE)
      throw new ApiError(429, 'too many failed sign-ins; wait a minute', 'TOO_MANY_REQUESTS');
    const { token } = objectBody(req);
    const identity = typeof token === 'string' && token.length <= 512 ? auth.authenticate(token.trim()) : undefined;
    if (identity === undefined) {
      const counted = recent === undefined || recent.since <= minuteAgo ? { count: 0, since: now() } : recent;
      failures.set(req.peer, { ...counted, count: counted.count + 1 });
      if (failures.size > 10_000) failures.clear();
      throw new ApiError(401, 'that token is not valid', 'UNAUTHENTICATED');
    }
    return { status: 200, body: identity, headers: { 'set-cookie': sessions.start(identity, secure), 'cache-control': 'no-store' } };
  });
  api.route('DELETE', '/console/session', (req) => {
    requireSameOrigin(req);
    return { status: 204, headers: { 'set-cookie': sessions.end(req.headers.cookie, secure) } };
  });
  api.route('GET', '/console/api/me', (req) => {
    const me = gate(req, 'read');
    return json({ ...me, may: { acknowledge: consoleMay(me.role, 'acknowledge'), testWindows: consoleMay(me.role, 'test-windows') } });
  });
  api.route('GET', '/console/api/overview', (req) => (gate(req, 'read'), json(overview(source))));
  api.route('GET', '/console/api/live', (req) => {
    gate(req, 'read');
    return {
      status: 200,
      contentType: 'text/event-stream',
      headers: { 'cache-control': 'no-store', 'x-accel-buffering': 'no' },
      stream: (res) => {
        if (!source.feed.subscribe(res)) res.end('event: busy\ndata: {}\n\n');
      },
    };
  });
  api.route('GET', '/console/api/sites/{site}/devices', (req) => {
    gate(req, 'read');
    const devices = siteDevices(source, req.params.site ?? '');
    if (devices === undefined) throw new ApiError(404, `no site ${req.params.site}`, 'SITE_NOT_FOUND');
    return json(devices);
  });

  api.route('GET', '/console/api/walks', (req) => {
    gate(req, 'read');
    return json({ walks: source.assurance.windowViews(true).slice(0, 20).map((w) => walk(source, w)) });
  });
  api.route('POST', '/console/api/walks', (req) => {
    const by = gate(req, 'test-windows');
    const { site, minutes, devices } = objectBody(req);
    if (typeof site !== 'string' || typeof minutes !== 'number') throw new ApiError(400, 'give site (an id) and minutes (a number)');
    if (devices !== undefined && (!Array.isArray(devices) || !devices.every((d) => typeof d === 'string')))
      throw new ApiError(400, 'devices must be a list of device names');
    const result = source.assurance.startWindow({ site, minutes, ...(devices === undefined ? {} : { devices: devices as string[] }) });
    if (!result.ok) throw result.reason === 'unknown-site' ? new ApiError(404, result.message, 'SITE_NOT_FOUND') : new ApiError(400, result.message);
    act(by, 'test-window.open', result.window.id, { site, minutes, devices: result.window.devices ?? 'all' });
    source.feed.changed();
    return { status: 201, body: walk(source, source.assurance.windowView(result.window)) };
  });
  api.route('DELETE', '/console/api/walks/{id}', (req) => {
    const by = gate(req, 'test-windows');
    const id = req.params.id ?? '';
    const closed = source.assurance.stopWindow(id);
    if (closed === undefined) throw new ApiError(404, `no open test window ${id}`, 'WINDOW_NOT_FOUND');
    act(by, 'test-window.close', id, { exercised: closed.exercised, notExercised: closed.notExercised });
    source.feed.changed();
    return json(walk(source, closed));
  });

  api.route('GET', '/console/api/incidents', (req) => (gate(req, 'read'), json({ incidents: incidents(source, req.query.get('all') === '1') })));
  api.route('POST', '/console/api/incidents/{id}/ack', (req) => {
    const by = gate(req, 'acknowledge');
    const id = req.params.id ?? '';
    const { note } = objectBody(req);
    if (typeof note !== 'string' || note.trim() === '' || note.length > NOTE_MAX)
      throw new ApiError(400, `a note is required (what was done, at most ${NOTE_MAX} characters)`);
    const outcome = source.assurance.acknowledge(id, by.name, note.trim());
    if (!outcome.ok)
      throw outcome.reason === 'unknown'
        ? new ApiError(404, `no incident ${id}`, 'INCIDENT_NOT_FOUND')
        : new ApiError(409, `incident ${id} was already acknowledged by ${outcome.incident?.ackedBy ?? 'someone'}`, 'ALREADY_ACKNOWLEDGED');
    act(by, 'incident.acknowledge', id, { note: note.trim() });
    source.feed.changed();
    return json({ incident: outcome.incident });
  });

  api.route('GET', '/console/card/{site}/{device}', (req) => {
    gate(req, 'read');
    const site = source.assurance.directory.site(req.params.site ?? '');
    const device = site === undefined ? undefined : source.assurance.directory.devicesOf(site.id).find((d) => d.device === req.params.device);
    if (site === undefined || device === undefined) throw new ApiError(404, 'no such device', 'DEVICE_NOT_FOUND');
    return page(deviceCardPage(site, deviceCard(device)));
  });
  api.route('GET', '/console/report', (req) => {
    gate(req, 'read');
    const siteId = req.query.get('site') ?? '';
    const site = source.assurance.directory.site(siteId);
    if (site === undefined) throw new ApiError(404, `no site ${siteId}`, 'SITE_NOT_FOUND');
    const asked = { from: req.query.get('from') || undefined, to: req.query.get('to') || undefined };
    const { from, to } = periodOf(site, Object.fromEntries(Object.entries(asked).filter(([, v]) => v !== undefined)), now());
    const problem = periodProblem({ from, to });
    if (problem !== undefined) throw new ApiError(400, problem);
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
