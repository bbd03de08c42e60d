import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../src/ports.js';

export interface ApiRequest {
  method: string;
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  /** The client's address (per-peer limits). */
  peer: string;
  /** Raw body (bounded by `maxBodyBytes`). */
  body: Buffer;
  json<T = unknown>(): T;
}

export interface ApiResponse {
  status: number;
  body?: unknown;
  /** Sent as is instead of JSON (e.g. Prometheus text). */
  text?: string;
  contentType?: string;
  /** Extra response headers (cookies, caching, content security policy). */
  headers?: Record<string, string | string[]>;
  /** A long-lived answer (server-sent events): the head is written, then the response is handed over. */
  stream?: (res: http.ServerResponse) => void;
}

export type ApiHandler = (req: ApiRequest) => Promise<ApiResponse> | ApiResponse;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code = 'BAD_REQUEST',
  ) {
    super(message);
  }
}

interface Route {
  method: string;
  pattern: RegExp;
  names: string[];
  handler: ApiHandler;
}

/**
 * The gateway's small HTTP API (health, metrics, test windows, incidents, devices, access-control posts).
 * Routes are `METHOD /path/{param}`; answers are JSON unless a handler returns text.
 */
export class ApiServer {
  private readonly routes: Route[] = [];
  private server: http.Server | undefined;

  constructor(private readonly options: { host: string; port: number; logger: Logger; maxBodyBytes?: number }) {}

  route(method: string, path: string, handler: ApiHandler): this {
    const names: string[] = [];
    const pattern = new RegExp(
      '^' + path.replace(/\{(\w+)\}/g, (_m, name: string) => (names.push(name), '([^/]+)')) + '/?$',
    );
    this.routes.push({ method, pattern, names, handler });
    return this;
  }

  get address(): AddressInfo | undefined {
    const address = this.server?.address();
    return address !== null && typeof address === 'object' ? address : undefined;
  }

  async start(): Promise<void> {
    const server = http.createServer((req, res) => void this.handle(req, res));
    server.listen(this.options.port, this.options.host);
    await once(server, 'listening');
    this.server = server;
    this.options.logger.info({ host: this.options.host, port: this.address?.port }, 'api listening');
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = req.method ?? 'GET';
    const matches = this.routes.filter((r) => r.pattern.test(url.pathname));
    const route = matches.find((r) => r.method === method);
    let answer: ApiResponse;
    try {
      if (route === undefined) {
        throw matches.length > 0 ? new ApiError(405, `${method} not allowed`, 'METHOD_NOT_ALLOWED') : new ApiError(404, 'not found', 'NOT_FOUND');
      }
      const match = route.pattern.exec(url.pathname)!;
      const params = Object.fromEntries(route.names.map((name, i) => [name, decodeURIComponent(match[i + 1] ?? '')]));
      const body = await readBody(req, this.options.maxBodyBytes ?? 1_048_576);
      answer = await route.handler({
        method,
        path: url.pathname,
        params,
        query: url.searchParams,
        headers: req.headers,
        peer: req.socket.remoteAddress ?? '',
        body,
        json<T>() {
          try {
            return JSON.parse(body.toString('utf8') || '{}') as T;
          } catch {
            throw new ApiError(400, 'body is not JSON');
          }
        },
      });
    } catch (error) {
      if (error instanceof ApiError) answer = { status: error.status, body: { error: { code: error.code, message: error.message } } };
      else {
        this.options.logger.error({ err: error, path: url.pathname }, 'api handler failed');
        answer = { status: 500, body: { error: { code: 'INTERNAL', message: 'internal error' } } };
      }
    }
    const headers = answer.headers ?? {};
    if (answer.stream !== undefined) {
      res.writeHead(answer.status, { 'content-type': answer.contentType ?? 'text/event-stream', ...headers });
      answer.stream(res);
    } else if (answer.text !== undefined) {
      res.writeHead(answer.status, { 'content-type': answer.contentType ?? 'text/plain; charset=utf-8', ...headers });
      res.end(answer.text);
    } else {
      res.writeHead(answer.status, { 'content-type': 'application/json', ...headers });
      res.end(answer.body === undefined ? '' : JSON.stringify(answer.body));
    }
  }
}

function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new ApiError(413, `body larger than ${limit} bytes`, 'BODY_TOO_LARGE'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
