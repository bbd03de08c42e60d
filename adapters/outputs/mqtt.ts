import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { connect, Store, type IClientOptions, type MqttClient } from 'mqtt';
import type { NormalizedEvent } from '../../src/model/event.js';
import { eventJson } from '../../src/model/event-json.js';
import type { AdapterHealth, Audience, Clock, DeliveryResult, Logger, OutputAdapter } from '../../src/ports.js';
import type { MqttOutputSettings } from '../../src/settings/settings.js';
import { GatewayError } from '../../src/errors.js';
import type { EmbeddedBroker } from './embedded-broker.js';
import { readSecret } from '../system/secrets.js';

export type MqttOutputOptions = Omit<MqttOutputSettings, 'type' | 'incidentAcks'> & { incidentAcks?: boolean };

export interface MqttOutputDeps {
  clock: Clock;
  logger: Logger;
  gateway: { id: string; version: string };
  /** Delay between reconnect attempts; the client retries forever. */
  reconnectPeriodMs?: number;
  /** How long start() waits for the first connection before carrying on (the client keeps trying). */
  connectTimeoutMs?: number;
}

export type MessageHandler = (topic: string, payload: Buffer) => void;

/** `+`, `#` and `/` would change a topic's meaning when they come from panel data; NUL is illegal in topics. */
export function topicSegment(value: string): string {
  const cleaned = value.replace(/[+#/\u0000]/g, '_');
  return cleaned === '' ? 'unknown' : cleaned;
}

/** `{prefix}/events/{site id, else account, else 'unknown'}/{category}`. */
export function eventTopic(prefix: string, event: NormalizedEvent): string {
  const where = event.site?.id ?? event.account ?? 'unknown';
  return `${prefix}/events/${topicSegment(where)}/${topicSegment(event.category)}`;
}

/** MQTT topic-filter match (`+` one level, `#` the rest). */
export function topicMatches(filter: string, topic: string): boolean {
  const filterLevels = filter.split('/');
  const topicLevels = topic.split('/');
  for (const [i, level] of filterLevels.entries()) {
    if (level === '#') return true;
    if (i >= topicLevels.length || (level !== '+' && level !== topicLevels[i])) return false;
  }
  return filterLevels.length === topicLevels.length;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function bounded<T>(work: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves with 'connected', or with the error text of the first failed attempt. */
function firstConnectAttempt(client: MqttClient): Promise<string> {
  return new Promise((resolve) => {
    const settle = (outcome: string): void => {
      client.off('connect', onConnect);
      client.off('error', onError);
      resolve(outcome);
    };
    const onConnect = (): void => settle('connected');
    const onError = (error: Error): void => settle(error.message);
    client.on('connect', onConnect);
    client.on('error', onError);
  });
}

const STOP_STEP_TIMEOUT_MS = 2_000;

/**
 * Publishes each event once, QoS 1, to `{prefix}/events/{where}/{category}`; delivered means PUBACKed.
 * Keeps a retained `{prefix}/status` (online while connected, offline on clean stop and as the last will).
 * Never queues in mqtt.js memory: while disconnected deliver() fails fast and the outbox keeps the event.
 */
export class MqttOutput implements OutputAdapter {
  readonly kind = 'mqtt';
  /** QoS 1 publishes pipeline on one connection and the broker acknowledges them in order. */
  readonly maxInFlight = 512;
  readonly name: string;
  readonly audience: Audience;
  readonly topicPrefix: string;
  /** Takes incident acknowledgements on `{prefix}/incidents/{id}/ack` (off unless configured). */
  readonly incidentAcks: boolean;
  private readonly options: MqttOutputOptions;
  private readonly deps: MqttOutputDeps;
  private readonly logger: Logger;
  private readonly subscriptions = new Map<string, Set<MessageHandler>>();
  private client: MqttClient | undefined;
  private embedded: EmbeddedBroker | undefined;
  /** Gives up on the publishes waiting for a PUBACK when their connection closes. */
  private readonly awaitingAck = new Set<() => void>();
  private lastError: string | undefined;

  constructor(options: MqttOutputOptions, deps: MqttOutputDeps) {
    this.options = options;
    this.deps = deps;
    this.name = options.name;
    this.audience = options.audience;
    this.topicPrefix = options.topicPrefix;
    this.incidentAcks = options.incidentAcks === true && options.audience === 'central';
    this.logger = deps.logger.child({ component: 'output', kind: 'mqtt', name: options.name });
  }

  get statusTopic(): string {
    return `${this.topicPrefix}/status`;
  }

  async start(): Promise<void> {
    if (this.client !== undefined) return;
    const url = await this.brokerUrl();
    // The will cannot know when the connection will drop; its `since` is when this run started.
    const will = this.statusPayload('offline');
    const client = connect(url, {
      ...(await this.connectionOptions()),
      will: { topic: this.statusTopic, payload: Buffer.from(will), qos: 1, retain: true },
    });
    this.client = client;
    client.on('connect', () => this.onConnect(client));
    client.on('close', () => this.onClose(client));
    client.on('error', (error) => this.onError(error));
    client.on('message', (topic, payload) => this.dispatchMessage(topic, payload));
    const firstAttempt = await bounded(firstConnectAttempt(client), this.deps.connectTimeoutMs ?? 5_000);
    if (firstAttempt !== 'connected') {
      // Events stay in the outbox until the broker is reachable; a down broker must not stop the gateway.
      this.logger.warn({ url, err: firstAttempt }, 'MQTT broker not reachable yet; retrying in the background');
    }
  }

  async deliver(event: NormalizedEvent): Promise<DeliveryResult> {
    const client = this.client;
    if (client === undefined || !client.connected) {
      return { ok: false, retryable: true, error: `not connected to the MQTT broker${this.lastError ? `: ${this.lastError}` : ''}` };
    }
    return new Promise((resolve) => {
      const giveUp = (): void => resolve({ ok: false, retryable: true, error: 'connection lost before PUBACK' });
      this.awaitingAck.add(giveUp);
      // The callback form: one delivery is one promise, not four (publishAsync, then, finally), at every event.
      client.publish(eventTopic(this.topicPrefix, event), eventJson(event), { qos: 1 }, (error) => {
        this.awaitingAck.delete(giveUp);
        resolve(error === undefined || error === null ? { ok: true } : { ok: false, retryable: true, error: errorText(error) });
      });
    });
  }

  /** Publishes a retained message under the prefix (`{prefix}/{subtopic}`), QoS 1; rejects when disconnected. */
  async publishRetained(subtopic: string, payload: string | object): Promise<void> {
    const client = this.client;
    if (client === undefined || !client.connected) {
      throw new GatewayError('OUTPUT_DELIVERY_FAILED', `cannot publish ${subtopic}: not connected to the MQTT broker`);
    }
    const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
    await client.publishAsync(`${this.topicPrefix}/${subtopic}`, body, { qos: 1, retain: true });
  }

  /**
   * Calls `handler` for messages on `{prefix}/{filter}` (wildcards allowed). The subscription is renewed on
   * every reconnect. Returns an unsubscribe function.
   */
  async subscribe(filter: string, handler: MessageHandler): Promise<() => Promise<void>> {
    const fullFilter = `${this.topicPrefix}/${filter}`;
    const handlers = this.subscriptions.get(fullFilter) ?? new Set();
    handlers.add(handler);
    this.subscriptions.set(fullFilter, handlers);
    if (this.client?.connected === true) await this.client.subscribeAsync(fullFilter, { qos: 1 });
    return async () => {
      handlers.delete(handler);
      if (handlers.size > 0) return;
      this.subscriptions.delete(fullFilter);
      if (this.client?.connected === true) await this.client.unsubscribeAsync(fullFilter);
    };
  }

  async stop(): Promise<void> {
    const client = this.client;
    if (client === undefined) return;
    this.client = undefined;
    if (client.connected) {
      const published = client.publishAsync(this.statusTopic, this.statusPayload('offline'), { qos: 1, retain: true }).then(
        () => 'acked',
        (error: unknown) => errorText(error),
      );
      const outcome = await bounded(published, STOP_STEP_TIMEOUT_MS);
      if (outcome !== 'acked') this.logger.warn({ err: outcome }, 'offline status not acknowledged');
    }
    // A clean DISCONNECT, so the broker discards the will: the offline status above is the last word.
    if ((await bounded(client.endAsync(), STOP_STEP_TIMEOUT_MS)) === 'timeout') await client.endAsync(true);
    await this.embedded?.close();
    this.embedded = undefined;
  }

  health(): AdapterHealth {
    if (this.client?.connected === true) return { state: 'up' };
    return this.lastError === undefined ? { state: 'down' } : { state: 'down', detail: this.lastError };
  }

  private async brokerUrl(): Promise<string> {
    if (this.options.url !== 'embedded') return this.options.url;
    // Loaded only here: the broker (aedes) costs memory a gateway pointed at an external broker should not pay.
    const { startEmbeddedBroker } = await import('./embedded-broker.js');
    this.embedded = await startEmbeddedBroker({
      port: this.options.embeddedPort,
      configKey: `embeddedPort of output "${this.name}"`,
    });
    this.logger.info({ url: this.embedded.url }, 'embedded MQTT broker listening');
    return this.embedded.url;
  }

  private async connectionOptions(): Promise<IClientOptions> {
    const { ca, cert, key, clientId } = this.options;
    // The embedded broker knows the gateway by credentials generated at its start; an external one by the settings'.
    const embedded = this.embedded?.gateway;
    const username = embedded?.username ?? this.options.username;
    const secret = embedded?.password ?? readSecret({ value: this.options.password, file: this.options.passwordFile });
    return {
      // Unguessable: a client that reused the gateway's id would take over its session and cut it off the broker.
      clientId: embedded?.clientId ?? clientId ?? `panelbridge-${this.deps.gateway.id}-${this.name}-${randomBytes(8).toString('hex')}`,
      clean: true,
      keepalive: 30,
      reconnectPeriod: this.deps.reconnectPeriodMs ?? 1_000,
      connectTimeout: this.deps.connectTimeoutMs ?? 5_000,
      queueQoSZero: false,
      // mqtt.js logs through `debug` a dozen times per publish, and each call allocates even when disabled (about
      // 1.5 kB per event, measured); DEBUG=mqttjs* still turns its own logging on.
      ...(process.env['DEBUG'] === undefined ? { log: () => {} } : {}),
      // mqtt-packet would otherwise build a 65,536-entry cache of packet-id buffers (~6 MB of heap) at connect.
      writeCache: false,
      // Subscriptions are renewed in onConnect, so ones made while offline are not lost.
      resubscribe: false,
      ...(username === undefined ? {} : { username }),
      ...(secret === undefined ? {} : { password: secret }),
      ...(ca === undefined ? {} : { ca: await readFile(ca) }),
      ...(cert === undefined ? {} : { cert: await readFile(cert) }),
      ...(key === undefined ? {} : { key: await readFile(key) }),
    };
  }

  private statusPayload(state: 'online' | 'offline'): string {
    const { id, version } = this.deps.gateway;
    return JSON.stringify({ state, gateway: id, version, since: new Date(this.deps.clock.now()).toISOString() });
  }

  private onConnect(client: MqttClient): void {
    // Without this, Nagle's algorithm holds each PUBLISH back until the previous segment is acknowledged.
    if (client.stream instanceof net.Socket) client.stream.setNoDelay(true);
    this.logger.info({ reconnected: this.lastError !== undefined }, 'connected to MQTT broker');
    this.lastError = undefined;
    client
      .publishAsync(this.statusTopic, this.statusPayload('online'), { qos: 1, retain: true })
      .catch((error: unknown) => this.logger.warn({ err: errorText(error) }, 'online status not published'));
    for (const filter of this.subscriptions.keys()) {
      client.subscribeAsync(filter, { qos: 1 }).catch((error: unknown) => {
        this.logger.warn({ filter, err: errorText(error) }, 'subscription not renewed');
      });
    }
  }

  private onClose(client: MqttClient): void {
    // The dispatcher retries unacknowledged events from the outbox; an emptied store stops mqtt.js from
    // resending them too after the reconnect (a duplicate on the wire for every event in flight).
    for (const giveUp of this.awaitingAck) giveUp();
    this.awaitingAck.clear();
    client.outgoingStore = new Store();
    if (this.client !== undefined && this.lastError === undefined) {
      this.lastError = 'connection closed';
      this.logger.warn({}, 'MQTT connection lost; reconnecting');
    }
  }

  private onError(error: Error): void {
    // Each reconnect attempt fails the same way while the broker is down: log the change, not the repetition.
    if (error.message !== this.lastError) this.logger.warn({ err: error.message }, 'MQTT client error');
    this.lastError = error.message;
  }

  private dispatchMessage(topic: string, payload: Buffer): void {
    for (const [filter, handlers] of this.subscriptions) {
      if (!topicMatches(filter, topic)) continue;
      for (const handler of handlers) {
        try {
          handler(topic, payload);
        } catch (error) {
          this.logger.error({ topic, err: errorText(error) }, 'MQTT message handler threw');
        }
      }
    }
  }
}
