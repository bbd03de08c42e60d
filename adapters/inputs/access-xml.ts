import type http from 'node:http';
import type https from 'node:https';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { AccessReceiver } from '../../src/pipeline/access-receiver.js';
import { refusesUncertifiedClients, type AccessXmlInputSettings } from '../../src/settings/settings.js';
import { systemClock, type AdapterHealth, type Logger } from '../../src/ports.js';
import { RateLimitedLog } from '../../src/observability/rate-limited-log.js';
import type { Counters } from '../../src/observability/counters.js';
import type { Transport } from '../../src/model/event.js';
import { readSecret } from '../system/secrets.js';
import type { Input, InputDeps } from './input.js';
import { answerEarly, BodyCutShort, createLimitedServer, defaultMaxConnectionsPerPeer, errorAnswer, firstHeader, readBounded, sendJson, type ListenerLimits, type ListenerTls } from '../api/http.js';
import { CapacityAlarm } from '../../src/pipeline/capacity-alarm.js';
import type { SlotLimit } from '../system/connection-slots.js';
import { acceptFailedAlarm, refusalAlarm, type HeldPlaces } from './capacity-alarms.js';

export type AccessXmlTls = ListenerTls;

export interface AccessXmlListenerOptions {
  name: string;
  host: string;
  port: number;
  /** The one path that takes POSTs, e.g. `/access`. */
  path: string;
  tls?: AccessXmlTls | undefined;
  /** Connections open at once (default 64) and per address (16), time for the headers (10 s) and the whole post (15 s). */
  limits?: Partial<ListenerLimits>;
  receiver: AccessReceiver;
  logger: Logger;
  counters: Counters;
  /** Called with every body before decoding (capture files). */
  onFrame?(body: Uint8Array, transport: 'http', peer: string): void;
}

/** Reads the shared secret from the settings (`secret`, or the first line of `secretFile`); null when neither is set. */
export async function readAccessSecret(settings: { secret?: string | undefined; secretFile?: string | undefined }): Promise<string | null> {
  return readSecret({ value: settings.secret, file: settings.secretFile }) ?? null;
}

/** Slow or stalled senders are cut off; a controller posts one small document at a time. */
const DEFAULT_LIMITS: ListenerLimits = { maxConnections: 64, headersTimeoutMs: 10_000, requestTimeoutMs: 15_000 };

/** The listener's limits that make it degraded when reached: its connection caps, and the process's file descriptors. */
type CapacityLimit = SlotLimit | 'descriptors';

/**
 * The access-control XML input: its own HTTP(S) listener that carries request bodies to the AccessReceiver and
 * writes back the status and JSON the receiver decided. Bodies are read up to one byte past the limit and the rest
 * is drained unread, so an oversized post costs no memory and still gets its answer.
 */
export class AccessXmlListener implements Input {
  /** Plain-log lines of XML are not routed here: a document without its input cannot be told from others. */
  readonly protocol = undefined;
  private server: http.Server | https.Server | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private stopping = false;
  private readonly limits: ListenerLimits;
  /** Its caps reached lately (controllers turned away past a burst, failed accepts), and their supervisory events. */
  private readonly capacity: CapacityAlarm<CapacityLimit>;
  private readonly places: HeldPlaces;

  constructor(private readonly options: AccessXmlListenerOptions) {
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    const { maxConnections } = this.limits;
    const maxConnectionsPerPeer = this.limits.maxConnectionsPerPeer ?? defaultMaxConnectionsPerPeer(maxConnections);
    this.places = { label: `access-xml input ${options.name}`, name: options.name, maxConnections, maxConnectionsPerPeer, transport: 'http' };
    this.capacity = new CapacityAlarm({ clock: systemClock, raise: (reason, transport) => options.receiver.capacityAlarm(reason, transport) });
  }

  get name(): string {
    return this.options.name;
  }

  /**
   * The receiver alone, no listener (replay). A body was captured only after the secret was checked; whether a
   * client certificate verified is not captured, so the sender counts as certified only when the listener refuses
   * every client without one (an optional certificate may have been missing live).
   */
  handleFrame = (body: Uint8Array, transport: Transport, peer?: string): Promise<unknown> =>
    this.options.receiver.handleBody(body, { peer, transport, certified: refusesUncertifiedClients(this.options.tls) });

  get address(): AddressInfo | undefined {
    const address = this.server?.address();
    return address !== null && typeof address === 'object' ? address : undefined;
  }

  async start(): Promise<void> {
    const { host, port, tls, logger, path } = this.options;
    const server = await createLimitedServer((req, res) => this.track(this.handle(req, res)), this.limits, tls, {
      count: (reason) => this.options.counters.inc('connections_dropped_total', { input: this.options.name, reason }),
      log: new RateLimitedLog({ logger, clock: systemClock }),
      refused: (limit, host, stillRefused) =>
        this.capacity.refused(limit, stillRefused, refusalAlarm(this.places, limit, host, 'every connection was being answered, so none made room')),
      acceptFailed: (code) => this.capacity.reached('descriptors', acceptFailedAlarm(this.places.label, code, 'http')),
    });
    server.listen(port, host);
    await once(server, 'listening');
    this.server = server;
    logger.info({ host, port: this.address?.port, path, tls: tls !== undefined }, 'access-xml input listening');
  }

  /** Stops accepting, lets in-flight posts finish (their answers are written), then closes connections. */
  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined || this.stopping) return;
    this.stopping = true;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    await Promise.allSettled([...this.inFlight]);
    await this.capacity.stop();
    server.closeAllConnections();
    await closed;
    this.server = undefined;
  }

  health(): AdapterHealth {
    if (this.server === undefined) return { state: 'down', detail: this.stopping ? 'stopped' : 'not started' };
    const listening = `listening on ${this.address?.port ?? '?'}`;
    const reached = this.capacity.lately('max-connections') ?? this.capacity.lately('peer-limit') ?? this.capacity.lately('descriptors');
    return reached === undefined ? { state: 'up', detail: listening } : { state: 'degraded', detail: `${listening}; ${reached.detail}` };
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const { path, receiver } = this.options;
    const peer = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.pathname !== path) return answerEarly(req, res, errorAnswer(404, 'NOT_FOUND', `only ${path} takes access events`));
      if (req.method !== 'POST') {
        return answerEarly(req, res, errorAnswer(405, 'METHOD_NOT_ALLOWED', `${req.method ?? '?'} not allowed; use POST`), { allow: 'POST' });
      }
      const denied = receiver.authorize({ authorization: req.headers.authorization, secretHeader: firstHeader(req.headers['x-panelbridge-secret']) });
      if (denied !== null) return answerEarly(req, res, denied);
      // One byte past the limit is enough for the receiver to answer XML_TOO_LARGE.
      const body = await readBounded(req, receiver.maxBytes + 1);
      this.options.onFrame?.(body, 'http', peer);
      // A client certificate checked against the configured CA authenticates the sender as the secret does.
      const certified = 'authorized' in req.socket && req.socket.authorized === true;
      sendJson(res, await receiver.handleBody(body, { peer, certified }));
    } catch (error) {
      // A bug or an aborted request must not take the listener down; the controller may retry.
      this.options.counters.inc('input_errors_total', { input: this.options.name });
      if (error instanceof BodyCutShort) return; // counted; nobody to answer, and anyone can cause it
      this.options.logger.error({ err: error, peer }, 'access request handling failed');
      if (!res.headersSent && !res.destroyed) sendJson(res, errorAnswer(500, 'INTERNAL', 'internal error'));
    }
  }

  private track(work: Promise<void>): void {
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }
}

/** A `type: access-xml` input from its settings (reads the secret file): the receiver core and its listener. */
export async function createAccessXmlInput(settings: AccessXmlInputSettings, deps: InputDeps): Promise<AccessXmlListener> {
  const { clock, recorder, builder, counters } = deps;
  const logger = deps.logger.child({ component: 'input', kind: 'access-xml', name: settings.name });
  const receiver = new AccessReceiver({
    input: settings.name,
    maxBytes: settings.maxBodyBytes,
    mappings: settings.mappings,
    defaults: { account: settings.account, site: settings.site },
    secret: await readAccessSecret(settings),
    clock,
    recorder,
    builder,
    counters,
    logger,
  });
  return new AccessXmlListener({
    name: settings.name,
    host: settings.host,
    port: settings.port,
    path: settings.path,
    tls: settings.tls,
    limits: { maxConnections: settings.maxConnections, maxConnectionsPerPeer: settings.maxConnectionsPerPeer },
    receiver,
    logger,
    counters,
    ...(deps.onFrame === undefined ? {} : { onFrame: deps.onFrame }),
  });
}
