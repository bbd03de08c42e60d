import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import { API_HTTP_STATUS } from '../../src/errors.js';
import { readFile } from 'node:fs/promises';
import type { RateLimitedLog } from '../../src/observability/rate-limited-log.js';
import { notAccepted, onAcceptFailed } from '../system/listener.js';
import type { SlotLimit } from '../system/connection-slots.js';

/** What one HTTP request is answered with: a status and a JSON body. */
export interface JsonAnswer {
  status: number;
  body: unknown;
}

/**
 * The `{"error":{"code","message"}}` shape every listener answers a refusal with; `result`: what an action that
 * stands all the same answers (CONTROL_NOT_STORED), so a client knows what not to repeat.
 */
export function errorAnswer(status: number, code: string, message: string, result?: unknown): JsonAnswer {
  return { status, body: { error: { code, message }, ...(result === undefined ? {} : { result }) } };
}

/** Headers on every answer: nothing is cached, nothing is sniffed into something else. */
const COMMON_HEADERS = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' } as const;

/**
 * The bytes one request's headers may take: Node's default, set here so that NODE_OPTIONS=--max-http-header-size
 * cannot widen what every connection may make the parser hold.
 */
export const MAX_HEADER_BYTES = 16 * 1024;

export function sendJson(res: http.ServerResponse, answer: JsonAnswer, headers: http.OutgoingHttpHeaders = {}): void {
  res.writeHead(answer.status, { 'content-type': 'application/json', ...COMMON_HEADERS, ...headers });
  res.end(answer.body === undefined ? '' : JSON.stringify(answer.body));
}

export function sendText(res: http.ServerResponse, status: number, text: string, contentType: string, headers: http.OutgoingHttpHeaders = {}): void {
  res.writeHead(status, { 'content-type': contentType, ...COMMON_HEADERS, ...headers });
  res.end(text);
}

/** Answers before the body is read; the body is drained so the client still receives the answer. */
export function answerEarly(req: http.IncomingMessage, res: http.ServerResponse, answer: JsonAnswer, headers: http.OutgoingHttpHeaders = {}): void {
  req.resume();
  sendJson(res, answer, headers);
}

/**
 * The connection closed before the body ended: its client went away, or a connection cap closed it to make room.
 * Nobody is left to answer, and it is no fault of the gateway's: anyone can cause it, so it is not logged.
 */
export class BodyCutShort extends Error {}

/** Up to `limit` bytes of the body; whatever follows is read and thrown away (an oversized post costs no memory). */
export async function readBounded(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let kept = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      if (kept >= limit) continue;
      const part = chunk.subarray(0, limit - kept);
      chunks.push(part);
      kept += part.length;
    }
  } catch (error) {
    if (!req.complete) throw new BodyCutShort('the connection closed before the body ended', { cause: error });
    throw error;
  }
  return Buffer.concat(chunks);
}

/** True when the request announces a body (a length above 0, or chunked). */
export function hasBody(req: http.IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

export function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

export interface ListenerLimits {
  /** Connections open at once. */
  maxConnections: number;
  /** Connections one remote address may hold at once; default defaultMaxConnectionsPerPeer(maxConnections). */
  maxConnectionsPerPeer?: number | undefined;
  /** Time to receive a request's headers. */
  headersTimeoutMs: number;
  /** Time to receive a whole request. */
  requestTimeoutMs: number;
}

export interface ListenerTls {
  /** File paths (PEM). */
  cert: string;
  key: string;
  ca?: string | undefined;
  /** Ask the client for a certificate signed by `ca` (mutual TLS). */
  requestCert: boolean;
  rejectUnauthorized: boolean;
}

/**
 * A quarter of `maxConnections`, so one address cannot take the listener, but at least 8: a browser opens up to 6
 * connections to a host, and one it is closing still counts for a moment.
 */
export function defaultMaxConnectionsPerPeer(maxConnections: number): number {
  return Math.max(8, Math.floor(maxConnections / 4));
}

/**
 * Why a connection was closed at once: the listener's `maxConnections`, or its address's `maxConnectionsPerPeer`;
 * `accept-failed`: the system refused the connection before the listener saw it (EMFILE: out of file descriptors);
 * `headers-too-large`, `request-malformed`, `request-timeout`: its request could not be read (see UNREADABLE).
 */
export type ConnectionDropReason = SlotLimit | 'accept-failed' | UnreadableReason;

type UnreadableReason = 'headers-too-large' | 'request-malformed' | 'request-timeout';

/**
 * What a request the parser gave up on is answered, by the parser's error code (any other HPE_ code: malformed),
 * before its connection is closed: Node's own answer is an empty body, counted and logged nowhere.
 */
const UNREADABLE: Record<UnreadableReason, { code: 'HEADERS_TOO_LARGE' | 'REQUEST_MALFORMED' | 'REQUEST_TIMEOUT'; message: string }> = {
  'headers-too-large': { code: 'HEADERS_TOO_LARGE', message: `the request's headers, cookies included, exceed ${MAX_HEADER_BYTES} bytes` },
  'request-malformed': { code: 'REQUEST_MALFORMED', message: 'the request is not well-formed HTTP/1.1' },
  'request-timeout': { code: 'REQUEST_TIMEOUT', message: 'the request did not arrive in time (headersTimeout, requestTimeout)' },
};

function unreadableReason(error: NodeJS.ErrnoException): UnreadableReason | undefined {
  if (error.code === 'HPE_HEADER_OVERFLOW') return 'headers-too-large';
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') return 'request-timeout';
  return error.code?.startsWith('HPE_') === true ? 'request-malformed' : undefined;
}

/** The JSON refusal, written on the socket itself: the request never became one a handler could answer. */
function unreadableAnswer(reason: UnreadableReason): string {
  const { code, message } = UNREADABLE[reason];
  const status = API_HTTP_STATUS[code];
  const body = JSON.stringify(errorAnswer(status, code, message).body);
  const headers = { 'content-type': 'application/json', ...COMMON_HEADERS, 'content-length': Buffer.byteLength(body), connection: 'close' };
  return `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\n${Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('')}\r\n${body}`;
}

/**
 * Where a listener's closed and refused connections go: its counter, and its log (rate-limited per address); an
 * input also hears of each refusal at a cap, with whether that cap would still refuse `host` (asked later), and of
 * each accept that failed, to report itself degraded.
 */
export interface ConnectionDrops {
  count(reason: ConnectionDropReason): void;
  log: RateLimitedLog;
  refused?(limit: SlotLimit, host: string, stillRefused: () => boolean): void;
  acceptFailed?(code: string | undefined): void;
}

interface OpenConnection {
  socket: net.Socket;
  host: string;
  /** Its latest request, once its headers came. */
  latest?: { req: http.IncomingMessage; res: http.ServerResponse };
}

/**
 * `answering`: its request arrived whole and its answer is not finished (a handler at work, a live stream). A
 * connection still sending its headers or body, or idle between requests, is only holding a place (`idle`): a client
 * that drips its body for the whole requestTimeout, or sends one request every few seconds, must not keep a place.
 * Nor may one whose answer waits on a client that does not read it (`unread`: bytes its end would not take; an answer
 * has no timeout, and a dead-letter page or a report is megabytes), though it may be a large answer on a slow link:
 * it makes room only when no idle one is left.
 */
type Place = 'idle' | 'unread' | 'answering';

function placeOf(connection: OpenConnection): Place {
  const { latest } = connection;
  if (latest === undefined || !latest.req.complete || latest.res.writableFinished) return 'idle';
  return latest.res.writableLength > 0 ? 'unread' : 'answering';
}

/**
 * The connection caps of one listener, in all and per remote address. At either cap the oldest connection (of that
 * address, or of all) that is idle, else the oldest whose answer is unread (see Place), is closed to make room, so
 * idle, slow and unread connections cannot lock a client out (a door controller's duress post); only when every one
 * is being answered is the new one refused.
 */
class ConnectionCaps {
  /** By remote `address:port`, oldest first. */
  private readonly open = new Map<string, OpenConnection>();
  private readonly perHost = new Map<string, number>();
  private readonly maxPerPeer: number;

  constructor(
    private readonly max: number,
    maxPerPeer: number | undefined,
    private readonly drops: ConnectionDrops,
  ) {
    this.maxPerPeer = maxPerPeer ?? defaultMaxConnectionsPerPeer(max);
  }

  accept(socket: net.Socket): void {
    const host = socket.remoteAddress ?? 'unknown';
    const peer = `${host}:${socket.remotePort}`;
    if (this.fullFor(host) && !this.evictOldest('peer-limit', host)) return this.refuse(socket, host, peer, 'peer-limit');
    if (this.open.size >= this.max && !this.evictOldest('max-connections')) return this.refuse(socket, host, peer, 'max-connections');
    this.open.set(peer, { socket, host });
    this.perHost.set(host, (this.perHost.get(host) ?? 0) + 1);
    socket.once('close', () => this.forget(peer, socket));
  }

  /** A request's headers came (over TLS, on the socket wrapping the one accepted: same address and port). */
  requested(req: http.IncomingMessage, res: http.ServerResponse): void {
    const connection = this.open.get(`${req.socket.remoteAddress}:${req.socket.remotePort}`);
    if (connection !== undefined) connection.latest = { req, res };
  }

  /**
   * The parser gave up on this connection's request: answered (unless an answer is under way there, which it would
   * corrupt), counted, logged once per address in a while, closed. A socket error (a reset) is only closed; a
   * connection that sent nothing before its time ran out (a browser opens one ahead of need) is answered, not counted.
   */
  unreadable(error: NodeJS.ErrnoException, socket: net.Socket): void {
    const reason = unreadableReason(error);
    if (reason === undefined) return void socket.destroy();
    const connection = this.open.get(`${socket.remoteAddress}:${socket.remotePort}`);
    const answering = connection?.latest !== undefined && !connection.latest.res.writableFinished;
    if (socket.writable && !answering) socket.write(unreadableAnswer(reason));
    socket.destroy();
    if (socket.bytesRead === 0) return;
    this.drops.count(reason);
    this.drops.log.warn(`connection-${reason}`, `${socket.remoteAddress}:${socket.remotePort}`, { reason, code: error.code }, `request refused and connection closed: ${UNREADABLE[reason].message}`);
  }

  /** The cap that would refuse a new connection from `host` now, no connection making room; undefined: none. */
  refuses(host: string): SlotLimit | undefined {
    if (this.fullFor(host) && this.roomMaker(host) === undefined) return 'peer-limit';
    if (this.open.size >= this.max && this.roomMaker() === undefined) return 'max-connections';
    return undefined;
  }

  private fullFor(host: string): boolean {
    return (this.perHost.get(host) ?? 0) >= this.maxPerPeer;
  }

  /** The connection (of `host`, or of all) closed to make room: the oldest idle one, else the oldest unread one. */
  private roomMaker(host?: string): [string, OpenConnection] | undefined {
    for (const place of ['idle', 'unread'] satisfies Place[])
      for (const entry of this.open) {
        if (placeOf(entry[1]) === place && (host === undefined || entry[1].host === host)) return entry;
      }
    return undefined;
  }

  private evictOldest(reason: SlotLimit, host?: string): boolean {
    const found = this.roomMaker(host);
    if (found === undefined) return false;
    const [peer, connection] = found;
    this.forget(peer, connection.socket);
    connection.socket.destroy();
    this.dropped(reason, peer);
    return true;
  }

  private refuse(socket: net.Socket, host: string, peer: string, reason: SlotLimit): void {
    socket.destroy();
    this.dropped(reason, peer);
    this.drops.refused?.(reason, host, () => this.refuses(host) !== undefined);
  }

  private dropped(reason: SlotLimit, peer: string): void {
    this.drops.count(reason);
    const why = reason === 'peer-limit' ? `this address already holds maxConnectionsPerPeer (${this.maxPerPeer}) connections` : `maxConnections (${this.max}) reached`;
    this.drops.log.warn(`connection-${reason}`, peer, { reason, peer }, `connection closed: ${why}`);
  }

  private forget(peer: string, socket: net.Socket): void {
    const connection = this.open.get(peer);
    // Evicted already, or the address and port reused by a later connection.
    if (connection?.socket !== socket) return;
    this.open.delete(peer);
    const left = (this.perHost.get(connection.host) ?? 1) - 1;
    if (left > 0) this.perHost.set(connection.host, left);
    else this.perHost.delete(connection.host);
  }
}

/**
 * An HTTP(S) server with the caps every listener (API, access-xml input) puts on slow or numerous clients: the
 * connection count in all and per address (see ConnectionCaps; `drops` counts and logs what they close), the time
 * to send headers and the whole request (checked every second, not Node's default 30 s), and idle keep-alive
 * connections.
 */
export async function createLimitedServer(
  handler: http.RequestListener,
  limits: ListenerLimits,
  tls: ListenerTls | undefined,
  drops: ConnectionDrops,
): Promise<http.Server | https.Server> {
  const options: http.ServerOptions = {
    requestTimeout: limits.requestTimeoutMs,
    // Node requires headersTimeout ≤ requestTimeout.
    headersTimeout: Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs),
    keepAliveTimeout: 5_000,
    connectionsCheckingInterval: Math.min(1_000, limits.headersTimeoutMs),
    maxHeaderSize: MAX_HEADER_BYTES,
  };
  const server =
    tls === undefined
      ? http.createServer(options, handler)
      : https.createServer(
          {
            ...options,
            cert: await readFile(tls.cert),
            key: await readFile(tls.key),
            ...(tls.ca === undefined ? {} : { ca: await readFile(tls.ca) }),
            requestCert: tls.requestCert,
            rejectUnauthorized: tls.rejectUnauthorized,
          },
          handler,
        );
  const caps = new ConnectionCaps(limits.maxConnections, limits.maxConnectionsPerPeer, drops);
  server.on('connection', (socket: net.Socket) => caps.accept(socket));
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => caps.requested(req, res));
  server.on('clientError', (error: NodeJS.ErrnoException, socket: net.Socket) => caps.unreadable(error, socket));
  onAcceptFailed(server, (error) => {
    drops.count('accept-failed');
    drops.log.warn('accept-failed', undefined, { code: error.code }, `connection ${notAccepted(error.code ?? error.message)}`);
    drops.acceptFailed?.(error.code ?? error.message);
  });
  return server;
}
