import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import net from 'node:net';
import type { IClientOptions, IClientPublishOptions, MqttClient } from 'mqtt';
import type { NormalizedEvent } from '../../src/model/event.js';
import { eventJson } from '../../src/model/event-json.js';
import type { AdapterHealth, Audience, Clock, DeliveryResult, Logger, OutputAdapter } from '../../src/ports.js';
import { DEFAULT_JSON_PAD_BYTES, DEFAULT_MQTT_MAX_ATTEMPTS, padBucket, type MqttOutputSettings } from '../../src/settings/settings.js';
import { bucketSize, padJson } from '../../src/model/padding.js';
import { errorText, GatewayError } from '../../src/errors.js';
import type { EmbeddedBroker } from './embedded-broker.js';
import { readSecret } from '../system/secrets.js';
import { redactUrlCredentials } from '../system/redact.js';
import { withTimeout } from '../../src/timeout.js';
import { RateLimitedLog } from '../../src/observability/rate-limited-log.js';
import { backoffDelay, type BackoffPolicy } from '../../src/backoff.js';
import { DEFAULT_RECEIVE_MAXIMUM, SendQuota } from './mqtt-send-quota.js';

// Required, not imported: an ESM import of this CommonJS package makes Node scan its entry and every file it
// re-exports (the client among them) for export names, which grew the gateway's resident memory by about 8 MB.
const { connect } = createRequire(import.meta.url)('mqtt') as typeof import('mqtt');

export type MqttOutputOptions = Omit<MqttOutputSettings, 'type' | 'incidentAcks' | 'maxAttempts'> &
  Partial<Pick<MqttOutputSettings, 'incidentAcks' | 'maxAttempts'>>;

export interface MqttOutputDeps {
  clock: Clock;
  logger: Logger;
  gateway: { id: string; version: string };
  /** Delay before the first reconnect attempt (default 1 s); it doubles, with jitter, up to `reconnectMaxMs`. */
  reconnectPeriodMs?: number;
  /** The longest delay between reconnect attempts (default 60 s); the client retries forever. */
  reconnectMaxMs?: number;
  /** How long a publish waits for its PUBACK before it counts as failed (default 30 s). */
  publishTimeoutMs?: number;
  /** How long start() waits for the first connection before carrying on (the client keeps trying). */
  connectTimeoutMs?: number;
  /** url `embedded`: the password subscribers present to its broker, asked for when it starts (none: only the gateway connects). */
  embeddedSubscriberPassword?: () => string;
}

/**
 * Refused topics the health detail remembers at most. A topic level is the account when it belongs to no site, so a
 * sender on an input that trusts any account makes a new topic per frame; the events are dead letters all the same.
 */
export const MAX_REFUSED_TOPICS = 1_000;

/**
 * Events whose broker refusals are counted at most, the oldest forgotten first (its next refusal counts from one): an
 * event refused once may never be offered again (a local output past its maxBacklog sheds it), and nothing else would
 * forget its count.
 */
export const MAX_COUNTED_REFUSALS = 1_000;

/** In dataDir: the password a subscriber presents to the embedded broker (any user name but the gateway's). */
export const EMBEDDED_BROKER_PASSWORD_FILE = 'mqtt-password';

/** `retained`: the broker sent a message it kept for the topic (at a subscription), not one published just now. */
export type MessageHandler = (topic: string, payload: Buffer, retained: boolean) => void;

/**
 * What a topic level taken from panel data must not carry: `+`, `#` and `/` would change the topic's meaning; NUL,
 * the other controls (C0, DEL, C1), lone surrogates and noncharacters make a broker refuse the topic as malformed
 * UTF-8 (MQTT 5.0 §1.5.4) by dropping the connection, every publish in flight with it.
 */
const UNSAFE_IN_TOPIC = /[+#/\p{Cc}\p{Cs}\p{Noncharacter_Code_Point}]/gu;

/** A longer level is cut to this many characters and a hash of the whole value, so distinct values stay distinct. */
const MAX_SEGMENT_CHARS = 64;

/** A topic level from untrusted text: unsafe characters become `_`, and its length is bounded (a topic holds 64 KiB). */
export function topicSegment(value: string): string {
  const cleaned = value.replace(UNSAFE_IN_TOPIC, '_');
  if (cleaned === '') return 'unknown';
  if (cleaned.length <= MAX_SEGMENT_CHARS) return cleaned;
  // Cut by code point, so a surrogate pair is not split into a lone (unsafe) half.
  const kept = Array.from(cleaned).slice(0, MAX_SEGMENT_CHARS).join('');
  return `${kept}~${valueHash(value)}`;
}

/** 12 hex digits of a value's SHA-256: what keeps a shortened or cleaned name distinct from the others. */
export function valueHash(value: string): string {
  return createHash('sha256').update(value).digest('hex').slice(0, 12);
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

/**
 * mqtt-packet writes each PUBLISH as ten small chunks (header, length, topic, id, properties, payload), so a burst of
 * publishes reaches the socket as one writev of thousands of buffers. One system call takes at most IOV_MAX (1,024) of
 * them and libuv waits for the socket to be writable again before the next, a turn of the event loop each: under
 * ingest load a burst of 500 publishes took five turns to leave. Joined into one buffer, a burst is one write.
 */
export function joinWrites(socket: net.Socket): void {
  socket._writev = (chunks, callback) => {
    let length = 0;
    for (const { chunk, encoding } of chunks) length += typeof chunk === 'string' ? Buffer.byteLength(chunk, encoding) : (chunk as Uint8Array).length;
    const joined = Buffer.allocUnsafe(length);
    let offset = 0;
    for (const { chunk, encoding } of chunks) {
      if (typeof chunk === 'string') offset += joined.write(chunk, offset, encoding);
      else {
        joined.set(chunk as Uint8Array, offset);
        offset += (chunk as Uint8Array).length;
      }
    }
    // 'buffer' is what Writable itself passes with a Buffer chunk (the typings know only string encodings).
    socket._write(joined, 'buffer' as BufferEncoding, callback);
  };
}

const STOP_STEP_TIMEOUT_MS = 2_000;

/** How often the deadlines of publishes waiting for a PUBACK are checked (so a timeout ends up to this late). */
const DEADLINE_SWEEP_MS = 250;

/** MQTT 5 reason codes from this one up mean the broker did not take the message (MQTT 5.0 §2.4). */
const FIRST_FAILURE_REASON = 0x80;

/**
 * The protocol spoken unless `protocolVersion` says otherwise: MQTT 5, whose PUBACK says when the broker
 * refused a message (3.1.1 acknowledges a publish its ACL dropped). The embedded broker speaks 3.1.1 only.
 */
export function effectiveProtocolVersion(options: Pick<MqttOutputOptions, 'url' | 'protocolVersion'>): 4 | 5 {
  return options.protocolVersion ?? (options.url === 'embedded' ? 4 : 5);
}

type PublishOutcome = { ok: true } | { ok: false; error: string; reasonCode?: number };

/** Bytes of a variable byte integer (MQTT 5.0 §1.5.5) holding `value`. */
function variableIntegerBytes(value: number): number {
  return value < 128 ? 1 : value < 16_384 ? 2 : value < 2_097_152 ? 3 : 4;
}

/** The properties of a JSON publish on MQTT 5: their length (one byte), then Content Type (0x03) 'application/json'. */
const JSON_PROPERTIES_BYTES = 1 + 1 + 2 + Buffer.byteLength('application/json');

/**
 * Bytes of a QoS 1 PUBLISH carrying `payloadBytes` to `topic` (MQTT 5.0 §3.3 / 3.1.1 §3.3): fixed header, topic,
 * packet identifier, the JSON properties (MQTT 5), payload. What a broker's Maximum Packet Size is compared with.
 */
export function publishPacketBytes(topic: string, payloadBytes: number, protocolVersion: 4 | 5): number {
  const remaining = 2 + Buffer.byteLength(topic) + 2 + (protocolVersion === 5 ? JSON_PROPERTIES_BYTES : 0) + payloadBytes;
  return 1 + variableIntegerBytes(remaining) + remaining;
}

function reasonCodeOf(error: unknown): number | undefined {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

/** A publish's outcome taken as it is (retained and status messages). */
const asIs = (outcome: PublishOutcome): PublishOutcome => outcome;

/** Shared by every successful publish: nothing reads an outcome but to branch on it. */
const PUBLISHED: PublishOutcome = Object.freeze({ ok: true });

function refusal(error: Error): PublishOutcome {
  const reasonCode = reasonCodeOf(error);
  return { ok: false, error: errorText(error), ...(reasonCode === undefined ? {} : { reasonCode }) };
}

/**
 * A publish waiting for its PUBACK, in the output's `awaitingAck` until it ends: by the PUBACK, the connection's
 * loss or its deadline, whichever comes first (the others then do nothing). Its end gives its send slot back.
 */
class AwaitedAck {
  constructor(
    private readonly awaiting: Set<AwaitedAck>,
    private readonly quota: SendQuota,
    private readonly settle: (outcome: PublishOutcome) => void,
    readonly deadline: number,
    readonly timeoutMs: number,
  ) {}

  end(outcome: PublishOutcome): void {
    if (!this.awaiting.delete(this)) return;
    this.quota.release();
    this.settle(outcome);
  }

  giveUp(error: string): void {
    this.end({ ok: false, error });
  }
}

/**
 * Publishes each event once, QoS 1, to `{prefix}/events/{where}/{category}`; delivered means PUBACKed with
 * success (MQTT 5: a reason code below 0x80). Keeps a retained `{prefix}/status` (online while connected,
 * offline on clean stop and as the last will). Never queues in mqtt.js memory: while disconnected deliver()
 * fails fast and the outbox keeps the event. Reconnects forever, refusals included, with backoff; every
 * publish it waits for ends, with a PUBACK, a timeout or the connection's loss.
 */
export class MqttOutput implements OutputAdapter<NormalizedEvent> {
  readonly kind = 'mqtt';
  /**
   * QoS 1 publishes pipeline on one connection and the broker acknowledges them in order; beyond the broker's Receive
   * Maximum they wait in the output's send quota.
   */
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
  /** Told after every (re)connect, when retained states may need publishing again. */
  private readonly connectListeners = new Set<() => void>();
  /** Told at the first PUBACK since the output last failed (OutputAdapter.onRecovered). */
  private readonly recoveredListeners = new Set<() => void>();
  /** Whether the output failed (a connection lost, a PUBACK timeout; or the start) since a publish was last acknowledged. */
  private awaitingRecovery = true;
  private client: MqttClient | undefined;
  private embedded: EmbeddedBroker | undefined;
  /**
   * The publishes waiting for a PUBACK, each with its deadline. One sweep checks the deadlines, rather than a
   * timer per publish on the event path.
   */
  private readonly awaitingAck = new Set<AwaitedAck>();
  private deadlineSweep: ReturnType<typeof setInterval> | undefined;
  private lastError: string | undefined;
  private readonly protocolVersion: 4 | 5;
  /** Every JSON publish is padded to a PUBLISH packet of a multiple of this many bytes (0: not padded). */
  private readonly padBytes: number;
  private readonly backoff: BackoffPolicy;
  /** Connection attempts that failed since the last successful one. */
  private failedAttempts = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  /** Broker refusals (MQTT 5 reason codes) per event id, until it is delivered or a dead letter (MAX_COUNTED_REFUSALS). */
  private readonly refusals = new Map<string, number>();
  /** Topics whose events the broker refused for good (dead letters), with why; cleared by a later success. */
  private readonly refusedTopics = new Map<string, string>();
  /** Refused topics forgotten at MAX_REFUSED_TOPICS since refusedTopics was last empty. */
  private untrackedRefusedTopics = 0;
  /**
   * Set when a publish got no PUBACK in time, cleared when the broker acknowledges one: a broker that keeps the
   * connection alive (PINGRESP) but never acknowledges delivers nothing, and must not look up.
   */
  private unacknowledged: string | undefined;
  /** Refusals repeat for every event on a denied topic: logged once per topic per 10 s. */
  private readonly warnings: RateLimitedLog;
  /** Every event's publish options, built once (mqtt.js copies them and only reads the properties). */
  private readonly eventOptions: IClientPublishOptions;
  /**
   * The Maximum Packet Size the broker announced in its CONNACK (MQTT 5.0 §3.2.2.3.6), or undefined (none, or 3.1.1,
   * which has no way to say it). A larger packet would make it disconnect (0x95 Packet too large) under every
   * publish in flight, and again at every retry.
   */
  private brokerMaxPacketBytes: number | undefined;
  /**
   * The current connection's send quota: the broker's Receive Maximum on MQTT 5, none on 3.1.1 (which has no way to
   * say it). Replaced at every connect, so the publishes of a lost connection free no slot of the new one.
   */
  private sendQuota = new SendQuota(Infinity);

  constructor(options: MqttOutputOptions, deps: MqttOutputDeps) {
    this.options = options;
    this.deps = deps;
    this.name = options.name;
    this.audience = options.audience;
    this.topicPrefix = options.topicPrefix;
    this.incidentAcks = options.incidentAcks === true && options.audience === 'central';
    this.logger = deps.logger.child({ component: 'output', kind: 'mqtt', name: options.name });
    this.protocolVersion = effectiveProtocolVersion(options);
    this.padBytes = padBucket(options, DEFAULT_JSON_PAD_BYTES);
    this.warnings = new RateLimitedLog({ logger: this.logger, clock: deps.clock });
    this.backoff = { initialMs: deps.reconnectPeriodMs ?? 1_000, maxMs: deps.reconnectMaxMs ?? 60_000, factor: 2, jitter: 0.2 };
    this.eventOptions = { qos: 1, ...this.jsonProperties() };
  }

  get statusTopic(): string {
    return `${this.topicPrefix}/status`;
  }

  async start(): Promise<void> {
    if (this.client !== undefined) return;
    const url = await this.brokerUrl();
    const client = connect(url, {
      ...(await this.connectionOptions()),
      will: { topic: this.statusTopic, payload: Buffer.from(this.willPayload()), qos: 1, retain: true, ...this.jsonProperties() },
    });
    this.client = client;
    client.on('connect', (connack) => this.onConnect(client, connack.properties?.maximumPacketSize, connack.properties?.receiveMaximum));
    client.on('close', () => this.onClose(client));
    client.on('error', (error) => this.onError(error));
    client.on('message', (topic, payload, packet) => this.dispatchMessage(topic, payload, packet.retain));
    const firstAttempt = await withTimeout(firstConnectAttempt(client), this.deps.connectTimeoutMs ?? 5_000);
    if (firstAttempt !== 'connected') {
      // Events stay in the outbox until the broker is reachable; a down broker must not stop the gateway.
      this.logger.warn({ url: redactUrlCredentials(url), err: firstAttempt }, 'MQTT broker not reachable yet; retrying in the background');
    }
  }

  deliver(event: NormalizedEvent): Promise<DeliveryResult> {
    const topic = eventTopic(this.topicPrefix, event);
    const payload = this.payloadWithin(event, topic);
    if (payload === undefined) return Promise.resolve(this.tooLarge(event, topic));
    return this.publish(topic, payload, this.eventOptions, (outcome) => this.resultOf(event, topic, outcome), event.duress);
  }

  /**
   * The event's JSON, or, when that would not fit the broker's Maximum Packet Size, the event without its `raw`
   * frame and with `rawOmitted` (an access-control document can be 64 KiB; the decoded fields carry the duress), or
   * undefined when even that does not fit.
   */
  private payloadWithin(event: NormalizedEvent, topic: string): string | undefined {
    const json = eventJson(event);
    const limit = this.brokerMaxPacketBytes;
    // A UTF-16 unit is at most 3 UTF-8 bytes: most events are known to fit without counting their bytes.
    if (limit === undefined || publishPacketBytes(topic, 3 * json.length, this.protocolVersion) <= limit) return json;
    if (publishPacketBytes(topic, Buffer.byteLength(json), this.protocolVersion) <= limit) return json;
    const rawBytes = Buffer.byteLength(event.raw);
    const withoutRaw = eventJson({ ...event, raw: '', rawOmitted: rawBytes });
    if (rawBytes === 0 || publishPacketBytes(topic, Buffer.byteLength(withoutRaw), this.protocolVersion) > limit) return undefined;
    this.warnings.warn('raw-omitted', topic, { topic, eventId: event.id, rawBytes, maxPacketSize: limit }, 'event larger than the MQTT broker\'s Maximum Packet Size: published without its raw frame (rawOmitted)');
    return withoutRaw;
  }

  /** An event the broker's Maximum Packet Size refuses for good: a dead letter at once, as retrying cannot help. */
  private tooLarge(event: NormalizedEvent, topic: string): DeliveryResult {
    const error = `event ${event.id} does not fit the MQTT broker's Maximum Packet Size of ${this.brokerMaxPacketBytes} bytes, even without its raw frame`;
    this.refusedForGood(topic, error);
    this.deadLetterLogged(event, 'too-large', { topic, eventId: event.id, category: event.category, maxPacketSize: this.brokerMaxPacketBytes }, `${error}; it is kept as a dead letter: raise the broker's max_packet_size`);
    return { ok: false, retryable: false, error };
  }

  /**
   * A duress or hold-up made a dead letter is a line of its own; other events a line per kind and window, since a
   * broker refusing a flood of made-up accounts' topics would otherwise write one each (the dispatcher counts them).
   */
  private deadLetterLogged(event: NormalizedEvent, kind: string, fields: Record<string, unknown>, message: string): void {
    if (event.duress) this.logger.error(fields, message);
    else this.warnings.error(kind, undefined, fields, message);
  }

  /** The topic's events are dead letters: remembered for health(), the oldest forgotten (counted) at the bound. */
  private refusedForGood(topic: string, error: string): void {
    if (!this.refusedTopics.has(topic) && this.refusedTopics.size >= MAX_REFUSED_TOPICS) {
      this.refusedTopics.delete(this.refusedTopics.keys().next().value!);
      this.untrackedRefusedTopics += 1;
    }
    this.refusedTopics.set(topic, error);
  }

  /** What a publish outcome means for the event: delivered, retried, or a dead letter after maxAttempts refusals. */
  private resultOf(event: NormalizedEvent, topic: string, outcome: PublishOutcome): DeliveryResult {
    if (outcome.ok) {
      // Nearly always both are empty: then neither the id nor the topic (a string just concatenated) is hashed.
      if (this.refusals.size > 0) this.refusals.delete(event.id);
      if (this.refusedTopics.size > 0 && this.refusedTopics.delete(topic) && this.refusedTopics.size === 0) this.untrackedRefusedTopics = 0;
      return { ok: true };
    }
    if (outcome.reasonCode === undefined || outcome.reasonCode < FIRST_FAILURE_REASON) return { ok: false, retryable: true, error: outcome.error };
    // The broker answered and refused (0x87 not authorized, 0x97 quota exceeded, …): not delivered. Retried with
    // the dispatcher's backoff, as an ACL or quota may be fixed; after maxAttempts the event is a dead letter.
    const attempts = (this.refusals.get(event.id) ?? 0) + 1;
    const error = `broker refused the publish to ${topic}: ${outcome.error} (reason code 0x${outcome.reasonCode.toString(16)})`;
    if (attempts < (this.options.maxAttempts ?? DEFAULT_MQTT_MAX_ATTEMPTS)) {
      if (attempts === 1 && this.refusals.size >= MAX_COUNTED_REFUSALS) this.refusals.delete(this.refusals.keys().next().value!);
      this.refusals.set(event.id, attempts);
      this.warnings.warn('publish-refused', topic, { topic, eventId: event.id, reasonCode: outcome.reasonCode, attempts }, 'MQTT broker refused the publish; will retry');
      return { ok: false, retryable: true, error };
    }
    this.refusals.delete(event.id);
    this.refusedForGood(topic, error);
    this.deadLetterLogged(
      event,
      'refused-for-good',
      { topic, eventId: event.id, category: event.category, reasonCode: outcome.reasonCode, attempts },
      `MQTT broker refused the publish to ${topic} ${attempts} times; the event is kept as a dead letter: check the broker's ACL and quotas for this client`,
    );
    return { ok: false, retryable: false, error: `${error}, ${attempts} times` };
  }

  /** Publishes a retained message under the prefix (`{prefix}/{subtopic}`), QoS 1; rejects when not acknowledged. */
  async publishRetained(subtopic: string, payload: string | object): Promise<void> {
    await this.publishRetainedTo(`${this.topicPrefix}/${subtopic}`, payload);
  }

  /** Publishes a retained message to a topic outside the prefix (Home Assistant discovery), QoS 1. */
  async publishRetainedTo(topic: string, payload: string | object): Promise<void> {
    await this.publishTo(topic, payload, true);
  }

  /** Publishes an answer (not retained: it is for whoever asks now) to a full topic, QoS 1; rejects when not acknowledged. */
  async publishAnswerTo(topic: string, payload: unknown): Promise<void> {
    await this.publishTo(topic, JSON.stringify(payload), false);
  }

  private async publishTo(topic: string, payload: string | object, retain: boolean): Promise<void> {
    const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
    const outcome = await this.publish(topic, body, { qos: 1, retain, ...(body === '' ? {} : this.jsonProperties()) }, asIs);
    if (!outcome.ok) throw new GatewayError('OUTPUT_DELIVERY_FAILED', `cannot publish ${topic}: ${outcome.error}`);
  }

  onRecovered(listener: () => void): () => void {
    this.recoveredListeners.add(listener);
    return () => this.recoveredListeners.delete(listener);
  }

  /** The broker acknowledges again after a failure: what waits out a retry backoff may go now (a duress first). */
  private recoveredNow(): void {
    this.awaitingRecovery = false;
    for (const listener of this.recoveredListeners) {
      try {
        listener();
      } catch (error) {
        this.logger.error({ err: errorText(error) }, 'MQTT recovery listener threw');
      }
    }
  }

  /** Calls `listener` after every connect and reconnect; returns a function that removes it. */
  onConnected(listener: () => void): () => void {
    this.connectListeners.add(listener);
    return () => this.connectListeners.delete(listener);
  }

  /**
   * Calls `handler` for messages on `{prefix}/{filter}` (wildcards allowed). The subscription is renewed on
   * every reconnect. Returns an unsubscribe function.
   */
  async subscribe(filter: string, handler: MessageHandler): Promise<() => Promise<void>> {
    return this.subscribeTo(`${this.topicPrefix}/${filter}`, handler);
  }

  /** As subscribe(), for a filter outside the prefix (Home Assistant's `homeassistant/status`). */
  async subscribeTo(fullFilter: string, handler: MessageHandler): Promise<() => Promise<void>> {
    const handlers = this.subscriptions.get(fullFilter) ?? new Set();
    handlers.add(handler);
    this.subscriptions.set(fullFilter, handlers);
    // Bounded like every publish: a stalled connection must not hold up start or stop. A subscription that
    // timed out is renewed on the next connect.
    if (this.client?.connected === true) await this.settleWithin(this.client.subscribeAsync(fullFilter, { qos: 1 }), `subscribe ${fullFilter}`);
    return async () => {
      handlers.delete(handler);
      if (handlers.size > 0) return;
      this.subscriptions.delete(fullFilter);
      if (this.client?.connected === true) await this.settleWithin(this.client.unsubscribeAsync(fullFilter), `unsubscribe ${fullFilter}`);
    };
  }

  async stop(): Promise<void> {
    const client = this.client;
    if (client === undefined) return;
    this.client = undefined;
    clearTimeout(this.reconnectTimer);
    if (client.connected) {
      // Bounded as a whole: it may wait for a send slot before its own PUBACK timeout starts.
      const outcome = await withTimeout(
        this.publishOn(client, this.statusTopic, this.statusPayload('offline', this.deps.clock.now()), { qos: 1, retain: true, ...this.jsonProperties() }, STOP_STEP_TIMEOUT_MS, asIs),
        STOP_STEP_TIMEOUT_MS,
      );
      if (outcome === 'timeout' || !outcome.ok) this.logger.warn({ err: outcome === 'timeout' ? 'no send slot in time' : outcome.error }, 'offline status not acknowledged');
    }
    // A clean DISCONNECT, so the broker discards the will: the offline status above is the last word.
    if ((await withTimeout(client.endAsync(), STOP_STEP_TIMEOUT_MS)) === 'timeout') await withTimeout(client.endAsync(true), STOP_STEP_TIMEOUT_MS);
    await this.embedded?.close();
    this.embedded = undefined;
  }

  get connected(): boolean {
    return this.client?.connected === true;
  }

  health(): AdapterHealth {
    if (this.client?.connected !== true) return this.lastError === undefined ? { state: 'down', linkState: 'down' } : { state: 'down', detail: this.lastError, linkState: 'down' };
    if (this.unacknowledged !== undefined) return { state: 'degraded', detail: `${this.unacknowledged}: the broker acknowledges no publish`, linkState: 'up' };
    const [refused] = this.refusedTopics.values();
    if (refused !== undefined) {
      const untracked = this.untrackedRefusedTopics === 0 ? '' : ` (and ${this.untrackedRefusedTopics} more no longer tracked)`;
      return { state: 'degraded', detail: `${refused}; ${this.refusedTopics.size} topic(s) refused${untracked}, events kept as dead letters`, linkState: 'up' };
    }
    return { state: 'up', linkState: 'up' };
  }

  /** Waits for `work` at most STOP_STEP_TIMEOUT_MS; rejects as it does, logs a timeout and carries on. */
  private async settleWithin(work: Promise<unknown>, what: string): Promise<void> {
    if ((await withTimeout(work, STOP_STEP_TIMEOUT_MS)) === 'timeout') this.logger.warn({ what, timeoutMs: STOP_STEP_TIMEOUT_MS }, 'MQTT broker did not answer in time');
  }

  /**
   * One publish on the current connection, ended by its PUBACK, the connection's loss or `timeoutMs`; resolves
   * with what `meaning` makes of the outcome. An `urgent` one (a duress) waiting for a send slot goes before the rest.
   */
  private publish<T>(topic: string, payload: string, options: IClientPublishOptions, meaning: (outcome: PublishOutcome) => T, urgent = false): Promise<T> {
    const client = this.client;
    if (client === undefined || !client.connected) {
      return Promise.resolve(meaning({ ok: false, error: `not connected to the MQTT broker${this.lastError ? `: ${this.lastError}` : ''}` }));
    }
    return this.publishOn(client, topic, payload, options, this.deps.publishTimeoutMs ?? 30_000, meaning, urgent);
  }

  private publishOn<T>(
    client: MqttClient,
    topic: string,
    payload: string,
    options: IClientPublishOptions,
    timeoutMs: number,
    meaning: (outcome: PublishOutcome) => T,
    urgent = false,
  ): Promise<T> {
    payload = this.padded(topic, payload);
    // The callback form, and the outcome's meaning taken in the same step: one delivery is one promise, at every event.
    return new Promise((resolve, reject) => {
      const settle = (outcome: PublishOutcome): void => {
        try {
          resolve(meaning(outcome));
        } catch (error) {
          reject(error);
        }
      };
      const quota = this.sendQuota;
      if (quota.tryTake()) this.send(client, quota, topic, payload, options, timeoutMs, settle);
      else quota.wait({ send: () => this.send(client, quota, topic, payload, options, timeoutMs, settle), drop: (error) => settle({ ok: false, error }) }, urgent);
    });
  }

  /**
   * Writes a publish holding a slot of `quota`, and waits for its PUBACK: `timeoutMs` counts from now, not from when
   * it began waiting for the slot, so a slow broker's queue does not time publishes out before they are sent.
   */
  private send(client: MqttClient, quota: SendQuota, topic: string, payload: string, options: IClientPublishOptions, timeoutMs: number, settle: (outcome: PublishOutcome) => void): void {
    this.sweepDeadlines();
    const awaited = new AwaitedAck(this.awaitingAck, quota, settle, performance.now() + timeoutMs, timeoutMs);
    this.awaitingAck.add(awaited);
    // A slot can free between the connection's loss and its close event: mqtt.js would queue the publish meanwhile.
    if (!client.connected) {
      awaited.giveUp('connection lost before the publish was sent');
      return;
    }
    try {
      client.publish(topic, payload, options, (error) => {
        const outcome = error === undefined || error === null ? PUBLISHED : refusal(error);
        // A PUBACK, with success or a reason code, even one past its deadline: the broker acknowledges again.
        if (outcome.ok || outcome.reasonCode !== undefined) this.unacknowledged = undefined;
        if (outcome.ok && this.awaitingRecovery) this.recoveredNow();
        awaited.end(outcome);
      });
    } catch (error) {
      // mqtt-packet throws mid-write (a topic over 65,535 bytes): part of the packet is on the wire and the broker
      // would wait for the rest for good. A new connection is clean; this publish has failed.
      this.endConnection(client);
      awaited.giveUp(`publish not written: ${errorText(error)}`);
    }
  }

  /**
   * `payload` followed by the spaces that make its PUBLISH to `topic` a multiple of the pad bucket, as large as the
   * broker's Maximum Packet Size allows: the topic is inside the packet too, and `…/duress` is shorter than
   * `…/burglary`. An empty payload (clearing a retained topic) stays empty.
   */
  private padded(topic: string, payload: string): string {
    if (this.padBytes === 0 || payload === '') return payload;
    const bytes = Buffer.byteLength(payload);
    const packet = publishPacketBytes(topic, bytes, this.protocolVersion);
    const target = Math.min(bucketSize(packet, this.padBytes), this.brokerMaxPacketBytes ?? Infinity);
    // Padding may lengthen the Remaining Length field by a byte: taken off the spaces.
    const extra = target - packet;
    return padJson(payload, extra - (publishPacketBytes(topic, bytes + extra, this.protocolVersion) - target));
  }

  /**
   * Ends the connection its publishes can no longer be trusted on; the close event fails those still awaited and
   * reconnects. The quota closes first, so the slots they free go to no publish on this connection.
   */
  private endConnection(client: MqttClient): void {
    this.sendQuota.close();
    client.stream.destroy();
  }

  /**
   * Ends publishes past their deadline, checked every DEADLINE_SWEEP_MS while any are waiting. A publish past its
   * deadline is still in flight for the broker, which counts it against its Receive Maximum until it acknowledges
   * it, and MQTT resends an unacknowledged publish only on a new connection (MQTT 5.0 §4.4, §4.9): so the
   * connection ends, and the outbox retries on the next one, which starts with a full quota.
   */
  private sweepDeadlines(): void {
    if (this.deadlineSweep !== undefined) return;
    this.deadlineSweep = setInterval(() => {
      const now = performance.now();
      const expired = [...this.awaitingAck].filter((awaited) => now >= awaited.deadline);
      if (expired.length > 0) {
        const error = `no PUBACK within ${expired[0]!.timeoutMs} ms`;
        if (this.unacknowledged === undefined) this.logger.warn({ timeoutMs: expired[0]!.timeoutMs }, 'MQTT broker did not acknowledge a publish in time; reconnecting');
        this.unacknowledged = error;
        this.lastError = error;
        this.awaitingRecovery = true;
        // The quota closes first, so the slots the expired free go to no publish on this connection; they end with
        // their own reason before the connection's loss fails those still within their time.
        this.sendQuota.close();
        for (const awaited of expired) awaited.giveUp(`no PUBACK within ${awaited.timeoutMs} ms`);
        if (this.client !== undefined) this.endConnection(this.client);
      }
      if (this.awaitingAck.size > 0) return;
      clearInterval(this.deadlineSweep);
      this.deadlineSweep = undefined;
    }, DEADLINE_SWEEP_MS);
    this.deadlineSweep.unref();
  }

  /** MQTT 5 publish properties of a JSON payload (3.1.1 has none). */
  private jsonProperties(): Pick<IClientPublishOptions, 'properties'> {
    return this.protocolVersion === 5 ? { properties: { contentType: 'application/json' } } : {};
  }

  private async brokerUrl(): Promise<string> {
    if (this.options.url !== 'embedded') return this.options.url;
    // Loaded only here: the broker (aedes) costs memory a gateway pointed at an external broker should not pay.
    const { startEmbeddedBroker } = await import('./embedded-broker.js');
    let subscriberPassword: string | undefined;
    try {
      subscriberPassword = this.deps.embeddedSubscriberPassword?.();
    } catch (error) {
      throw new GatewayError('OUTPUT_BROKER_START_FAILED', `embedded MQTT broker of output "${this.name}": cannot read or create the subscriber password ${errorText(error)}`, { cause: error });
    }
    this.embedded = await startEmbeddedBroker({
      port: this.options.embeddedPort,
      configKey: `embeddedPort of output "${this.name}"`,
      logger: this.logger,
      ...(subscriberPassword === undefined ? {} : { subscriberPassword }),
      onRefused: (refused) => this.warnings.warn('embedded-broker-refused', undefined, refused, 'embedded MQTT broker refused a client'),
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
      // A PINGREQ every keepalive period even while PUBACKs flow, rather than re-arming the keepalive timer on each
      // PUBACK (a clearTimeout and a setTimeout per event).
      reschedulePings: false,
      protocolVersion: this.protocolVersion,
      // Reconnects are this output's own (onClose), with backoff; mqtt.js would retry at a fixed period.
      reconnectPeriod: 0,
      // mqtt.js gives up for good after a CONNACK refusal (bad credentials) unless told otherwise; a fixed broker
      // must find the gateway trying again.
      reconnectOnConnackError: true,
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

  /** The retained status: `since` is when this state began (the connection was made, or the clean stop). */
  private statusPayload(state: 'online' | 'offline', since: number): string {
    const { id, version } = this.deps.gateway;
    return JSON.stringify({ state, gateway: id, version, since: new Date(since).toISOString() });
  }

  /**
   * The last will, set anew before every connection attempt. The broker publishes it when the connection
   * drops, a moment nobody can write down in advance: `since` is null and `connectedAt` says when the
   * connection that was lost began (or was attempted).
   */
  private willPayload(): string {
    const { id, version } = this.deps.gateway;
    return JSON.stringify({ state: 'offline', gateway: id, version, since: null, connectedAt: new Date(this.deps.clock.now()).toISOString() });
  }

  private onConnect(client: MqttClient, maxPacketBytes: number | undefined, receiveMaximum: number | undefined): void {
    this.brokerMaxPacketBytes = maxPacketBytes;
    this.sendQuota.close();
    // 0 is a protocol error (MQTT 5.0 §3.2.2.3.3): taken as absent rather than as a quota nothing could ever use.
    this.sendQuota = new SendQuota(this.protocolVersion === 4 ? Infinity : receiveMaximum !== undefined && receiveMaximum >= 1 ? receiveMaximum : DEFAULT_RECEIVE_MAXIMUM);
    // Without this, Nagle's algorithm holds each PUBLISH back until the previous segment is acknowledged.
    if (client.stream instanceof net.Socket) {
      client.stream.setNoDelay(true);
      joinWrites(client.stream);
    }
    this.logger.info({ reconnected: this.lastError !== undefined, protocolVersion: this.protocolVersion, receiveMaximum }, 'connected to MQTT broker');
    this.lastError = undefined;
    this.failedAttempts = 0;
    void this.publish(this.statusTopic, this.statusPayload('online', this.deps.clock.now()), { qos: 1, retain: true, ...this.jsonProperties() }, asIs).then((outcome) => {
      if (!outcome.ok) this.logger.warn({ err: outcome.error }, 'online status not published');
    });
    for (const filter of this.subscriptions.keys()) {
      client.subscribeAsync(filter, { qos: 1 }).catch((error: unknown) => {
        this.logger.warn({ filter, err: errorText(error) }, 'subscription not renewed');
      });
    }
    for (const listener of this.connectListeners) {
      try {
        listener();
      } catch (error) {
        this.logger.error({ err: errorText(error) }, 'MQTT connect listener threw');
      }
    }
  }

  private onClose(client: MqttClient): void {
    // The dispatcher retries unacknowledged events from the outbox; reconnect() starts with empty stores, so
    // mqtt.js does not resend them too after the reconnect (a duplicate on the wire for every event in flight).
    // The quota first, so the slots these free go to no publish waiting for one.
    this.sendQuota.close();
    for (const awaited of [...this.awaitingAck]) awaited.giveUp('connection lost before PUBACK');
    if (this.client !== client) return; // stopped
    this.awaitingRecovery = true;
    if (this.lastError === undefined) {
      this.lastError = 'connection closed';
      this.logger.warn({}, 'MQTT connection lost; reconnecting');
    }
    if (this.reconnectTimer !== undefined) return;
    this.failedAttempts += 1;
    const delayMs = backoffDelay(this.backoff, this.failedAttempts, Math.random);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.client !== client) return;
      if (client.options.will !== undefined) client.options.will.payload = Buffer.from(this.willPayload());
      client.reconnect();
    }, delayMs);
  }

  private onError(error: Error): void {
    // Each reconnect attempt fails the same way while the broker is down: log the change, not the repetition.
    const message = redactUrlCredentials(error.message);
    if (message !== this.lastError) this.logger.warn({ err: message }, 'MQTT client error');
    this.lastError = message;
  }

  private dispatchMessage(topic: string, payload: Buffer, retained: boolean): void {
    for (const [filter, handlers] of this.subscriptions) {
      if (!topicMatches(filter, topic)) continue;
      for (const handler of handlers) {
        try {
          handler(topic, payload, retained);
        } catch (error) {
          this.logger.error({ topic, err: errorText(error) }, 'MQTT message handler threw');
        }
      }
    }
  }
}
