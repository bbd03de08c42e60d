import { Assurance, type AssuranceHealth, type AcknowledgeOutcome } from '../../src/assurance/assurance.js';
import { filterDevices, type DeviceStatus } from '../../src/assurance/ledger.js';
import { AssuranceStore } from '../../src/assurance/store.js';
import { supervisionPolicy } from '../../src/assurance/supervision.js';
import type { NormalizedEvent } from '../../src/model/event.js';
import type { Outbox } from '../../src/outbox/outbox.js';
import type { EventBuilderDeps } from '../../src/pipeline/event-builder.js';
import type { EventHook, Recorder } from '../../src/pipeline/recorder.js';
import type { Clock, Logger, OutputAdapter } from '../../src/ports.js';
import type { Settings } from '../../src/settings/settings.js';
import { ApiError, type ApiRequest, type ApiServer } from '../api/server.js';
import { MqttOutput, topicSegment } from '../outputs/mqtt.js';
import { bounded } from '../system/bounded.js';

/** What the assurance needs from the running gateway (Gateway has all of it). */
export interface AssuranceHost {
  hooks: EventHook[];
  recorder: Pick<Recorder, 'record'>;
  api: ApiServer | undefined;
  outputs: readonly OutputAdapter[];
  outbox: Pick<Outbox, 'pending'>;
  builder: EventBuilderDeps;
  /** Called by the dispatcher after an output delivered an event. */
  deliveryListeners: Array<(output: string, event: NormalizedEvent) => void>;
  /** Called by the inputs for every frame from an account, heartbeats included. */
  trafficListeners: Array<(account: string, at: number) => void>;
}

export interface AssuranceWiringOptions {
  clock: Clock;
  logger: Logger;
  /** How often time-driven checks run (window expiry, overdue, supervision, deadline); default 1 s. */
  tickMs?: number;
  /** An already-open store (tests); default `dataDir/assurance.sqlite`. */
  store?: AssuranceStore;
}

/** The assurance's health plus its timer's: how long ago the time-driven checks last ran. */
export interface AssuranceWiringHealth extends AssuranceHealth {
  lastTickAgeMs: number;
}

export interface AssuranceWiring {
  readonly assurance: Assurance;
  health(): AssuranceWiringHealth;
  /** Runs the time-driven checks and the MQTT state publication now (the timer does this every tick). */
  tick(): Promise<void>;
  stop(): Promise<void>;
}

/** Duress events are recovered at start-up from the outbox up to this many per central output. */
const RECOVERY_SCAN_LIMIT = 1_000;

/**
 * State publishing still running after this long has overrun: the watchdog starts the next one anyway (each
 * publish ends by itself within the output's publish timeout, so overrun runs do not pile up).
 */
const PUBLISH_OVERRUN_MS = 10_000;

/** stop() waits this long at most for a state publication in progress; the output's own stop ends it. */
const STOP_WAIT_MS = 2_000;

/** The checks count as stalled, and /healthz answers 503, when their last run is this many intervals old. */
const STALLED_TICKS = 3;

function remove<T>(list: T[], item: T): void {
  const index = list.indexOf(item);
  if (index >= 0) list.splice(index, 1);
}

function flag(req: ApiRequest, name: string): boolean {
  const value = req.query.get(name);
  return value === '1' || value === 'true';
}

function optionalText(body: Record<string, unknown>, key: string, maxLength: number): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length > maxLength) throw new ApiError(400, `${key} must be text of at most ${maxLength} characters`);
  return value;
}

function objectBody(req: ApiRequest): Record<string, unknown> {
  const body = req.json<unknown>();
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ApiError(400, 'body must be a JSON object');
  return body as Record<string, unknown>;
}

function acknowledgement(outcome: AcknowledgeOutcome, id: string) {
  if (outcome.ok) return { status: 200, body: { incident: outcome.incident } };
  if (outcome.reason === 'unknown') throw new ApiError(404, `no incident ${id}`, 'INCIDENT_NOT_FOUND');
  throw new ApiError(409, `incident ${id} was already acknowledged by ${outcome.incident?.ackedBy ?? 'someone'}`, 'ALREADY_ACKNOWLEDGED');
}

/**
 * Creates the duress assurance for a gateway: its store in dataDir, the event hook, the API routes, the
 * dispatcher and input listeners, the timer, retained device states and incident acknowledgements over MQTT.
 * Only `central` MQTT outputs get device states and take acknowledgements: a device state shows when a duress
 * happened, which a local audience must never learn, and a local keypad or phone must not clear a duress.
 */
export function wireAssurance(host: AssuranceHost, settings: Settings, options: AssuranceWiringOptions): AssuranceWiring {
  const { clock, logger } = options;
  const store = options.store ?? AssuranceStore.openIn(settings.dataDir);
  const central = host.outputs.filter((o) => o.audience === 'central');
  const dc09Accounts = settings.inputs.flatMap((input) => (input.type === 'dc09' ? (input.accounts ?? []) : []));
  const assurance = new Assurance({
    store,
    sites: host.builder.sites,
    clock,
    builder: host.builder,
    record: (events) => host.recorder.record(events),
    logger,
    duressDeadlineMs: settings.duressDeadline,
    supervision: supervisionPolicy(settings.supervision, dc09Accounts, host.builder.sites),
    centralOutputs: new Set(central.map((o) => o.name)),
  });
  recoverUndelivered(assurance, host.outbox, central);

  const onDelivered = (output: string, event: NormalizedEvent) => assurance.delivered(output, event);
  const onTraffic = (account: string, at: number) => assurance.traffic(account, at);
  host.hooks.push(assurance);
  host.deliveryListeners.push(onDelivered);
  host.trafficListeners.push(onTraffic);
  if (host.api !== undefined) registerRoutes(host.api, assurance);

  const mqtt = central.filter((o): o is MqttOutput => o instanceof MqttOutput);
  const states = mqtt.map((output) => new DeviceStatePublisher(output, logger));
  const unsubscribes = mqtt.map((output) =>
    output
      .subscribe('incidents/+/ack', (topic, payload) => acknowledgeFromMqtt(assurance, output.name, topic, payload, logger))
      .catch((error: unknown) => {
        logger.error({ output: output.name, err: error }, 'cannot subscribe to incident acknowledgements');
        return undefined;
      }),
  );

  const tickMs = options.tickMs ?? 1_000;
  // Wall-clock time, not `clock`: the watchdog watches the timer, which runs on real time even in a replay.
  let lastTickAt = performance.now();
  /** The checks: synchronous, so a stalled output cannot hold them up. */
  const check = (): void => {
    assurance.tick();
    lastTickAt = performance.now();
  };
  const publishStates = async (): Promise<void> => {
    const devices = assurance.deviceReport().devices;
    await Promise.all(states.map((s) => s.sync(devices)));
  };
  let publishing: { run: Promise<void>; since: number } | undefined;
  const timer = setInterval(() => {
    try {
      check();
    } catch (error) {
      logger.error({ err: error }, 'assurance check failed');
    }
    if (publishing !== undefined) {
      const runningMs = performance.now() - publishing.since;
      if (runningMs < PUBLISH_OVERRUN_MS) return;
      logger.warn({ runningMs }, 'assurance state publishing overran; starting it again');
    }
    const run: Promise<void> = publishStates()
      .catch((error: unknown) => logger.error({ err: error }, 'assurance state publishing failed'))
      .finally(() => {
        if (publishing?.run === run) publishing = undefined;
      });
    publishing = { run, since: performance.now() };
  }, tickMs);
  timer.unref();

  return {
    assurance,
    health() {
      const lastTickAgeMs = Math.round(performance.now() - lastTickAt);
      const health = assurance.health();
      if (lastTickAgeMs <= STALLED_TICKS * tickMs) return { ...health, lastTickAgeMs };
      return { ...health, state: 'degraded', detail: `assurance checks have not run for ${lastTickAgeMs} ms (every ${tickMs} ms expected)`, lastTickAgeMs };
    },
    async tick() {
      check();
      await publishStates();
    },
    async stop() {
      clearInterval(timer);
      remove(host.hooks, assurance);
      remove(host.deliveryListeners, onDelivered);
      remove(host.trafficListeners, onTraffic);
      // Side by side, each bounded: a stalled broker costs stop a couple of seconds, not one per step.
      await Promise.all([
        publishing === undefined ? undefined : bounded(publishing.run, STOP_WAIT_MS),
        ...(await Promise.all(unsubscribes)).map((unsubscribe) => unsubscribe?.().catch(() => undefined)),
      ]);
      await assurance.flush();
      store.close();
    },
  };
}

/**
 * Duress events stored before a restart and still unconfirmed: those pending for every central output (a
 * delivery to any one of them confirms). Their deadline counts from when they were received.
 */
function recoverUndelivered(assurance: Assurance, outbox: Pick<Outbox, 'pending'>, central: readonly OutputAdapter[]): void {
  if (central.length === 0) return;
  const pendingPerOutput = central.map(
    (o) => new Map(outbox.pending(o.name, RECOVERY_SCAN_LIMIT).filter((e) => e.event.duress).map((e) => [e.event.id, e.event])),
  );
  const [first, ...rest] = pendingPerOutput;
  for (const [id, event] of first ?? [])
    if (rest.every((pending) => pending.has(id))) assurance.deadline.track(event, Date.parse(event.receivedAt));
}

function registerRoutes(api: ApiServer, assurance: Assurance): void {
  api.route('POST', '/test-windows', (req) => {
    const body = objectBody(req);
    const { site, minutes, devices } = body;
    if (typeof site !== 'string') throw new ApiError(400, 'site must be a site id');
    if (typeof minutes !== 'number') throw new ApiError(400, 'minutes must be a number');
    if (devices !== undefined && (!Array.isArray(devices) || !devices.every((d) => typeof d === 'string')))
      throw new ApiError(400, 'devices must be a list of device names such as "zone-5", "user-12", "door-lobby"');
    const result = assurance.startWindow({ site, minutes, ...(devices === undefined ? {} : { devices: devices as string[] }) });
    if (!result.ok) throw result.reason === 'unknown-site' ? new ApiError(404, result.message, 'SITE_NOT_FOUND') : new ApiError(400, result.message);
    return { status: 201, body: assurance.windowView(result.window) };
  });
  api.route('GET', '/test-windows', (req) => ({ status: 200, body: { windows: assurance.windowViews(flag(req, 'all')) } }));
  api.route('DELETE', '/test-windows/{id}', (req) => {
    const closed = assurance.stopWindow(req.params.id ?? '');
    if (closed === undefined) throw new ApiError(404, `no open test window ${req.params.id}`, 'WINDOW_NOT_FOUND');
    return { status: 200, body: closed };
  });
  api.route('GET', '/incidents', (req) => ({ status: 200, body: { incidents: assurance.incidentViews(flag(req, 'all')) } }));
  api.route('POST', '/incidents/{id}/ack', (req) => {
    const body = req.body.length === 0 ? {} : objectBody(req);
    const id = req.params.id ?? '';
    const by = optionalText(body, 'by', 200) ?? 'api';
    return acknowledgement(assurance.acknowledge(id, by, optionalText(body, 'note', 2_000) ?? null), id);
  });
  api.route('GET', '/devices', (req) => {
    const report = assurance.deviceReport();
    const site = req.query.get('site');
    const devices = filterDevices(report.devices, {
      ...(site === null ? {} : { site }),
      overdue: flag(req, 'overdue'),
      neverTested: flag(req, 'neverTested'),
    });
    return { status: 200, body: { devices, panels: report.panels } };
  });
}

/** `{prefix}/incidents/{id}/ack` with an empty payload, a JSON `{by, note}`, or plain text taken as the note. */
function acknowledgeFromMqtt(assurance: Assurance, output: string, topic: string, payload: Buffer, logger: Logger): void {
  const id = topic.split('/').at(-2) ?? '';
  const text = payload.toString('utf8').trim();
  let by = `mqtt:${output}`;
  let note: string | null = text === '' ? null : text;
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed === 'object' && parsed !== null) {
      const fields = parsed as Record<string, unknown>;
      if (typeof fields.by === 'string') by = fields.by;
      note = typeof fields.note === 'string' ? fields.note : null;
    }
  } catch {
    // Not JSON: the text is the note.
  }
  const outcome = assurance.acknowledge(id, by, note);
  if (!outcome.ok) logger.warn({ incident: id, topic, reason: outcome.reason }, 'incident acknowledgement over MQTT refused');
}

/**
 * Keeps `{prefix}/devices/{site}/{device}` retained on one MQTT output: publishes what changed since the last
 * successful publication, republishes everything after a reconnect, and clears devices no longer configured.
 */
class DeviceStatePublisher {
  private readonly published = new Map<string, string>();
  private wasUp = false;

  constructor(
    private readonly output: MqttOutput,
    private readonly logger: Logger,
  ) {}

  async sync(devices: readonly DeviceStatus[]): Promise<void> {
    const up = this.output.connected;
    if (up && !this.wasUp) this.published.clear(); // the broker may have lost its retained messages
    this.wasUp = up;
    if (!up) return;
    const wanted = new Map(devices.map((d) => [`devices/${topicSegment(d.site)}/${topicSegment(d.device)}`, JSON.stringify(d)]));
    for (const topic of this.published.keys()) if (!wanted.has(topic)) wanted.set(topic, '');
    for (const [topic, payload] of wanted) {
      if (this.published.get(topic) === payload) continue;
      try {
        await this.output.publishRetained(topic, payload);
        if (payload === '') this.published.delete(topic);
        else this.published.set(topic, payload);
      } catch (error) {
        this.logger.warn({ output: this.output.name, topic, err: (error as Error).message }, 'device state not published; will retry');
        return;
      }
    }
  }
}
