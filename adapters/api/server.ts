import type http from 'node:http';
import type https from 'node:https';
import os from 'node:os';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { z } from 'zod';
import { API_HTTP_STATUS, type ApiErrorCode } from '../../src/errors.js';
import type { Counters } from '../../src/observability/counters.js';
import { RateLimitedLog } from '../../src/observability/rate-limited-log.js';
import { systemClock, type Clock, type Logger } from '../../src/ports.js';
import { isLoopbackHost } from '../../src/settings/settings.js';
import { withTimeout } from '../../src/timeout.js';
import { answerEarly, BodyCutShort, createLimitedServer, errorAnswer, firstHeader, hasBody, readBounded, sendJson, sendText, type JsonAnswer, type ListenerLimits } from './http.js';
import { mayDo, type ApiIdentity, type Permission, type TokenRegistry } from './tokens.js';

export interface ApiRequest {
  method: string;
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  /** Who sent it; undefined only on public routes (GET /healthz) called without a valid token. */
  identity: ApiIdentity | undefined;
  /** The parsed JSON body; undefined when the request had none. */
  body: unknown;
  /** The client's address (per-peer limits). */
  peer: string;
  /** The Cookie header (the console's session). */
  cookie: string | undefined;
  /** The console session's secret (SESSION_SECRET_HEADER), which must come with its cookie. */
  sessionSecret: string | undefined;
  /**
   * Who the request's token or session belongs to now: undefined once the token is replaced or removed or the
   * session ended. A long-lived answer (the console's live stream) asks again before each write.
   */
  currentIdentity: () => ApiIdentity | undefined;
}

export interface ApiResponse {
  status: number;
  body?: unknown;
  /** Sent as is instead of JSON (e.g. Prometheus text). */
  text?: string;
  contentType?: string;
  /** Extra response headers (the console's cookie, content security policy, downloads). */
  headers?: Record<string, string>;
  /** A long-lived answer (server-sent events): the head is written, then the response is handed over. */
  stream?: (res: http.ServerResponse) => void;
}

/** The header in which a console page sends its session's secret with the session cookie. */
export const SESSION_SECRET_HEADER = 'x-panelbridge-session';

/**
 * Browser sessions (the console): who the session cookie of a request, with its secret, belongs to;
 * `wrong-secret` when the cookie names a live session but the secret is missing or wrong.
 */
export interface SessionSource {
  identify(cookieHeader: string | undefined, secret: string | undefined): ApiIdentity | 'wrong-secret' | undefined;
}

export type ApiHandler = (req: ApiRequest) => Promise<ApiResponse> | ApiResponse;

/** A refusal with a code from the error registry; its HTTP status comes from there too. */
export class ApiError extends Error {
  readonly status: number;
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    /** The answer body of an action that stands though the request is refused (CONTROL_NOT_STORED): `result`. */
    readonly result?: unknown,
  ) {
    super(message);
    this.status = API_HTTP_STATUS[code];
  }

  /** The answer this refusal is, on every channel that answers (the API, MQTT acknowledgements). */
  answer(): JsonAnswer {
    return errorAnswer(this.status, this.code, this.message, this.result);
  }
}

/** The request body checked against a zod schema (no body counts as `{}`); 400 naming the first bad field. */
export function parseBody<S extends z.ZodType>(schema: S, req: ApiRequest): z.infer<S> {
  const parsed = schema.safeParse(req.body ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const where = issue.path.length === 0 ? 'body' : issue.path.join('.');
  throw new ApiError('BAD_REQUEST', issue.message.startsWith(where) ? issue.message : `${where}: ${issue.message}`);
}

/** Who may call a route: anyone (only GET /healthz), or a token whose role has the permission. */
export type Access = 'public' | Permission;

interface Route {
  method: string;
  pattern: RegExp;
  names: string[];
  access: Access;
  handler: ApiHandler;
}

export interface ApiServerOptions {
  host: string;
  port: number;
  logger: Logger;
  tokens: TokenRegistry;
  counters?: Counters;
  /** Browser origins allowed to call; their host names are also accepted in Host. */
  allowedOrigins?: readonly string[];
  maxBodyBytes?: number;
  limits?: Partial<ListenerLimits>;
  tls?: { cert: string; key: string; ca?: string | undefined; requestCert: boolean } | undefined;
  /** Times the token-guessing lockout; the system clock unless given. */
  clock?: Clock;
  /**
   * Whether a client's address is this machine's, which the lockout spares: a loopback address unless given (a
   * test gives `() => false` to stand its loopback clients in for ones on the network).
   */
  isLoopbackPeer?: (address: string) => boolean;
}

/**
 * Refusals that say someone without the right token, or a foreign page, tried, or that the outbox cannot write:
 * logged (rate-limited).
 */
const REFUSALS_LOGGED: ReadonlySet<ApiErrorCode> = new Set(['UNAUTHORIZED', 'FORBIDDEN', 'ORIGIN_NOT_ALLOWED', 'HOST_NOT_ALLOWED', 'UNSUPPORTED_MEDIA_TYPE', 'TOO_MANY_REQUESTS', 'OUTBOX_WRITE_FAILED']);

/** Failed token checks (bearer tokens and console sign-ins together) one address may make per minute. */
export const TOKEN_FAILURES_PER_MINUTE = 10;
const TOKEN_FAILURE_WINDOW_MS = 60_000;
/**
 * stop() waits this long at most for the requests being handled: a control action waiting for its group commit is
 * answered rather than cut off (the client would take it for not done, and repeat it after the restart).
 */
const STOP_DRAIN_MS = 2_000;
/** Addresses whose failures are remembered; past it one is forgotten (see TokenGuessLimiter). */
export const TOKEN_FAILURE_ADDRESSES = 10_000;

/**
 * The lockout against guessing tokens: after TOKEN_FAILURES_PER_MINUTE failed checks from one address within a
 * minute, every token that address presents (bearer or sign-in, right or wrong) is refused unchecked until the
 * minute is over. Memory is bounded by forgetting one address at a time, never everyone's: the least recently
 * seen whose minute is over or that is not locked out, and only when every address is locked out, the least
 * recently seen. An attacker cycling addresses frees no locked-out one before it has locked out 10,000 of its own.
 *
 * Loopback clients are never locked out: the CLI, the console through an SSH tunnel and a reverse proxy on the host
 * all come from there, so any unprivileged local process could otherwise keep the operator from acknowledging a
 * duress by sending ten junk tokens a minute. Their failures are counted and logged; against guessing there, the
 * tokens' length stands (random ones from `token create`, configured ones at least MIN_TOKEN_LENGTH characters).
 */
class TokenGuessLimiter {
  /** Ordered by each address's latest failed or refused check, least recent first. */
  private readonly failures = new Map<string, { count: number; since: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly isLoopbackPeer: (address: string) => boolean,
    private readonly failed: (peer: 'loopback' | 'network') => void,
  ) {}

  check<T>(peer: string, authenticate: () => T | undefined): T | undefined {
    if (this.isLoopbackPeer(peer)) {
      const result = authenticate();
      if (result === undefined) this.failed('loopback');
      return result;
    }
    const now = this.clock.now();
    const recent = this.failures.get(peer);
    const current = recent !== undefined && recent.since > now - TOKEN_FAILURE_WINDOW_MS ? recent : undefined;
    if (current !== undefined && this.lockedOut(current, now)) {
      this.remember(peer, current);
      throw new ApiError('TOO_MANY_REQUESTS', 'too many failed token checks from this address; wait a minute');
    }
    const result = authenticate();
    if (result === undefined) {
      this.failed('network');
      this.remember(peer, { count: (current?.count ?? 0) + 1, since: current?.since ?? now });
    }
    return result;
  }

  private lockedOut(failures: { count: number; since: number }, now: number): boolean {
    return failures.since > now - TOKEN_FAILURE_WINDOW_MS && failures.count >= TOKEN_FAILURES_PER_MINUTE;
  }

  private remember(peer: string, failures: { count: number; since: number }): void {
    this.failures.delete(peer);
    this.failures.set(peer, failures);
    if (this.failures.size <= TOKEN_FAILURE_ADDRESSES) return;
    const now = this.clock.now();
    let forget = this.failures.keys().next().value!;
    for (const [address, entry] of this.failures)
      if (!this.lockedOut(entry, now)) {
        forget = address;
        break;
      }
    this.failures.delete(forget);
  }
}

const DEFAULT_LIMITS: ListenerLimits = { maxConnections: 64, headersTimeoutMs: 10_000, requestTimeoutMs: 30_000 };

function hostOf(hostHeader: string): string {
  // `[::1]:8780`, `example.org:8780`, `example.org`
  const match = /^(\[[^\]]*\]|[^:]*)(?::\d*)?$/.exec(hostHeader.trim());
  return (match?.[1] ?? hostHeader).replace(/^\[|\]$/g, '').toLowerCase();
}

function isIpLiteral(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(':');
}

/**
 * The gateway's HTTP API. One gate for every route: the Host and Origin headers (DNS rebinding, cross-site
 * requests), the bearer token and its role, and the body's content type and size; then the route's handler.
 * Answers are JSON `{"error":{"code","message"}}` on refusal, with codes and statuses from the error registry.
 */
export class ApiServer {
  private readonly routes: Route[] = [];
  private server: http.Server | https.Server | undefined;
  private readonly allowedOrigins: ReadonlySet<string>;
  private readonly allowedHosts: ReadonlySet<string>;
  private sessions: SessionSource | undefined;

  /** Refusals (of requests and connections) logged at most once per kind and peer host every 10 s (the counters have them all). */
  private readonly refusals: RateLimitedLog;
  private readonly guesses: TokenGuessLimiter;
  /** Requests being handled (until answered, or their stream started). */
  private readonly handling = new Set<Promise<void>>();

  constructor(private readonly options: ApiServerOptions) {
    this.refusals = new RateLimitedLog({ logger: options.logger, clock: systemClock });
    this.guesses = new TokenGuessLimiter(options.clock ?? systemClock, options.isLoopbackPeer ?? isLoopbackHost, (peer) =>
      options.counters?.inc('api_token_failures_total', { peer }),
    );
    const origins = (options.allowedOrigins ?? []).map((o) => o.replace(/\/+$/, '').toLowerCase());
    this.allowedOrigins = new Set(origins);
    const originHosts = origins.flatMap((o) => {
      try {
        return [new URL(o).hostname.replace(/^\[|\]$/g, '')];
      } catch {
        return [];
      }
    });
    this.allowedHosts = new Set([options.host.toLowerCase(), os.hostname().toLowerCase(), ...originHosts]);
  }

  route(method: string, path: string, access: Access, handler: ApiHandler): this {
    const names: string[] = [];
    const pattern = new RegExp('^' + path.replace(/\{(\w+)\}/g, (_m, name: string) => (names.push(name), '([^/]+)')) + '/?$');
    this.routes.push({ method, pattern, names, access, handler });
    return this;
  }

  /**
   * Checks a token presented by `peer` with `authenticate`, under the lockout against guessing: throws
   * TOO_MANY_REQUESTS while the address is locked out; a token `authenticate` does not know counts as a failure.
   */
  checkToken<T>(peer: string, authenticate: () => T | undefined): T | undefined {
    return this.guesses.check(peer, authenticate);
  }

  /** Also accept the console's session cookie, with its secret, in place of a bearer token. */
  acceptSessions(sessions: SessionSource): void {
    this.sessions = sessions;
  }

  get address(): AddressInfo | undefined {
    const address = this.server?.address();
    return address !== null && typeof address === 'object' ? address : undefined;
  }

  get protocol(): 'http' | 'https' {
    return this.options.tls === undefined ? 'http' : 'https';
  }

  async start(): Promise<void> {
    const { tls } = this.options;
    const server = await createLimitedServer(
      (req, res) => {
        const handling = this.handle(req, res).finally(() => this.handling.delete(handling));
        this.handling.add(handling);
      },
      { ...DEFAULT_LIMITS, ...this.options.limits },
      tls === undefined ? undefined : { ...tls, rejectUnauthorized: tls.requestCert },
      { count: (reason) => this.options.counters?.inc('api_connections_dropped_total', { reason }), log: this.refusals },
    );
    server.listen(this.options.port, this.options.host);
    await once(server, 'listening');
    this.server = server;
    this.options.logger.info({ host: this.options.host, port: this.address?.port, tls: tls !== undefined }, 'api listening');
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    if (this.handling.size > 0) await withTimeout(Promise.allSettled([...this.handling]), STOP_DRAIN_MS);
    // Live streams (the console's feed) and whatever is still at work end here.
    server.closeAllConnections();
    await closed;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    let path = '(unparsed)';
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      path = url.pathname;
      this.checkHostAndOrigin(req);
      const matches = this.routes.filter((r) => r.pattern.test(url.pathname));
      const route = matches.find((r) => r.method === method);
      const { identity, currentIdentity } = this.identify(req, route?.access === 'public');
      if (route === undefined) {
        if (matches.length > 0) throw new ApiError('METHOD_NOT_ALLOWED', `${method} not allowed on ${url.pathname}`);
        throw new ApiError('NOT_FOUND', `no route ${url.pathname}`);
      }
      if (route.access !== 'public' && !mayDo(identity!.role, route.access))
        throw new ApiError('FORBIDDEN', `role ${identity!.role} may not ${method} ${url.pathname}`);
      const params = this.params(route, url.pathname);
      const body = await this.readJson(req);
      const cookie = firstHeader(req.headers.cookie);
      const sessionSecret = firstHeader(req.headers[SESSION_SECRET_HEADER]);
      const request = { method, path: url.pathname, params, query: url.searchParams, identity, body, peer: req.socket.remoteAddress ?? '', cookie, sessionSecret, currentIdentity };
      const answer = await route.handler(request);
      if (answer.stream !== undefined) {
        res.writeHead(answer.status, { 'content-type': answer.contentType ?? 'text/event-stream', 'cache-control': 'no-store', ...answer.headers });
        answer.stream(res);
      } else if (answer.text !== undefined) sendText(res, answer.status, answer.text, answer.contentType ?? 'text/plain; charset=utf-8', answer.headers);
      else sendJson(res, { status: answer.status, body: answer.body }, answer.headers);
    } catch (error) {
      if (res.headersSent || error instanceof BodyCutShort) return;
      if (error instanceof ApiError) {
        this.options.counters?.inc('api_requests_refused_total', { code: error.code });
        // Who is knocking (no token, a wrong one, a foreign page) is worth a line; a flood of it is not.
        if (REFUSALS_LOGGED.has(error.code))
          this.refusals.warn(error.code, req.socket.remoteAddress, { method, path, code: error.code, peer: req.socket.remoteAddress }, 'api request refused');
        const headers = error.code === 'UNAUTHORIZED' ? { 'www-authenticate': 'Bearer realm="panelbridge"' } : {};
        answerEarly(req, res, error.answer(), headers);
        return;
      }
      this.options.logger.error({ err: error, method, path }, 'api handler failed');
      answerEarly(req, res, errorAnswer(500, 'INTERNAL', 'internal error'));
    }
  }

  /** DNS rebinding: a name that resolves to this host must still be one the API answers to. Cross-site: Origin. */
  private checkHostAndOrigin(req: http.IncomingMessage): void {
    const host = hostOf(req.headers.host ?? '');
    // An IP literal cannot be rebound; a wildcard listener is reached through any of the machine's addresses.
    const wildcard = this.options.host === '0.0.0.0' || this.options.host === '::';
    if (!isLoopbackHost(host) && !this.allowedHosts.has(host) && !(wildcard && isIpLiteral(host)))
      throw new ApiError('HOST_NOT_ALLOWED', `Host ${JSON.stringify(host)} is not an address of this API`);
    const origin = firstHeader(req.headers.origin)?.replace(/\/+$/, '').toLowerCase();
    // The gateway's own pages (the console) are same-origin: scheme, host and port of this very request.
    const ownOrigin = `${this.protocol}://${(req.headers.host ?? '').toLowerCase()}`;
    if (origin !== undefined && origin !== ownOrigin && !this.allowedOrigins.has(origin))
      throw new ApiError('ORIGIN_NOT_ALLOWED', `Origin ${JSON.stringify(origin)} is neither this API nor in api.allowedOrigins`);
  }

  private identify(req: http.IncomingMessage, isPublic: boolean): { identity: ApiIdentity | undefined; currentIdentity: () => ApiIdentity | undefined } {
    const header = req.headers.authorization;
    const token = header === undefined ? undefined : /^Bearer +(\S+) *$/i.exec(header)?.[1];
    const peer = req.socket.remoteAddress ?? '';
    if (token !== undefined) {
      const currentIdentity = () => this.options.tokens.authenticate(token);
      const identity = this.checkToken(peer, currentIdentity);
      if (identity === undefined && !isPublic) throw new ApiError('UNAUTHORIZED', 'unknown token');
      return { identity, currentIdentity };
    }
    if (header !== undefined) {
      if (!isPublic) throw new ApiError('UNAUTHORIZED', 'unknown token');
      return { identity: undefined, currentIdentity: () => undefined };
    }
    const cookie = firstHeader(req.headers.cookie);
    const secret = firstHeader(req.headers[SESSION_SECRET_HEADER]);
    // A browser sends the cookie with every page and asset it loads, never the secret: on a public route that
    // presents no session.
    if (secret === undefined && isPublic) return { identity: undefined, currentIdentity: () => undefined };
    const session = this.sessions?.identify(cookie, secret);
    const identity = typeof session === 'object' ? session : undefined;
    if (identity === undefined && !isPublic)
      throw new ApiError('UNAUTHORIZED', session === 'wrong-secret' ? `the console session's ${SESSION_SECRET_HEADER} header is missing or wrong` : 'send Authorization: Bearer <token>');
    return {
      identity,
      currentIdentity: () => {
        const now = this.sessions?.identify(cookie, secret);
        return typeof now === 'object' ? now : undefined;
      },
    };
  }

  private params(route: Route, pathname: string): Record<string, string> {
    const match = route.pattern.exec(pathname)!;
    try {
      return Object.fromEntries(route.names.map((name, i) => [name, decodeURIComponent(match[i + 1] ?? '')]));
    } catch {
      throw new ApiError('URL_MALFORMED', 'the path holds a malformed percent escape');
    }
  }

  private async readJson(req: http.IncomingMessage): Promise<unknown> {
    if (!hasBody(req)) return undefined;
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/json') throw new ApiError('UNSUPPORTED_MEDIA_TYPE', 'a request body must be application/json');
    const limit = this.options.maxBodyBytes ?? 65_536;
    const body = await readBounded(req, limit + 1);
    if (body.length > limit) throw new ApiError('BODY_TOO_LARGE', `body larger than ${limit} bytes`);
    if (body.length === 0) return undefined;
    try {
      return JSON.parse(body.toString('utf8')) as unknown;
    } catch {
      throw new ApiError('BAD_REQUEST', 'body is not JSON');
    }
  }
}
