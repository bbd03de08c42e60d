import http from 'node:http';
import https from 'node:https';
import { readFile } from 'node:fs/promises';

/** What one HTTP request is answered with: a status and a JSON body. */
export interface JsonAnswer {
  status: number;
  body: unknown;
}

/** The `{"error":{"code","message"}}` shape every listener answers a refusal with. */
export function errorAnswer(status: number, code: string, message: string): JsonAnswer {
  return { status, body: { error: { code, message } } };
}

/** Headers on every answer: nothing is cached, nothing is sniffed into something else. */
const COMMON_HEADERS = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' } as const;

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

/** Up to `limit` bytes of the body; whatever follows is read and thrown away (an oversized post costs no memory). */
export async function readBounded(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let kept = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    if (kept >= limit) continue;
    const part = chunk.subarray(0, limit - kept);
    chunks.push(part);
    kept += part.length;
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
  /** Connections open at once; Node refuses (closes) the ones past it. */
  maxConnections: number;
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
 * An HTTP(S) server with the caps every listener (API, access-xml input) puts on slow or numerous clients: the
 * connection count, the time to send headers and the whole request (checked every second, not Node's default 30 s),
 * and idle keep-alive connections.
 */
export async function createLimitedServer(
  handler: http.RequestListener,
  limits: ListenerLimits,
  tls: ListenerTls | undefined,
): Promise<http.Server | https.Server> {
  const options: http.ServerOptions = {
    requestTimeout: limits.requestTimeoutMs,
    // Node requires headersTimeout ≤ requestTimeout.
    headersTimeout: Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs),
    keepAliveTimeout: 5_000,
    connectionsCheckingInterval: Math.min(1_000, limits.headersTimeoutMs),
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
  server.maxConnections = limits.maxConnections;
  return server;
}
