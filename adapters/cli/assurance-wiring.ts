import { Assurance, type AssuranceHealth } from '../../src/assurance/assurance.js';
import type { AuditEntry } from '../../src/assurance/audit-chain.js';
import type { DeviceStatus } from '../../src/assurance/ledger.js';
import { AssuranceStore } from '../../src/assurance/store.js';
import { supervisionPolicy } from '../../src/assurance/supervision.js';
import type { NormalizedEvent } from '../../src/model/event.js';
import type { Outbox } from '../../src/outbox/outbox.js';
import type { EventBuilderDeps } from '../../src/pipeline/event-builder.js';
import type { EventHook, Recorder } from '../../src/pipeline/recorder.js';
import type { Clock, Logger, OutputAdapter } from '../../src/ports.js';
import type { Settings } from '../../src/settings/settings.js';
import type { ApiServer } from '../api/server.js';
import { registerDeviceRoutes } from '../api/routes/devices.js';
import { registerIncidentRoutes } from '../api/routes/incidents.js';
import { registerTestWindowRoutes } from '../api/routes/test-windows.js';
import { MqttOutput, topicSegment } from '../outputs/mqtt.js';
import { RetainedStatePublisher, type RetainedState } from '../outputs/mqtt-retained.js';
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
  /** Appends to the hash-chained audit log (the gateway's `{dataDir}/audit.jsonl`). */
  audit?: (entry: AuditEntry) => void;
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
 * A state publication still running after this long has overrun: the watchdog starts the next one anyway (each
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

/**
 * Creates the duress assurance for a gateway: its store in dataDir, the event hook, the API routes, the
 * dispatcher and input listeners, the timer, retained device and incident states, and incident acknowledgements
 * over MQTT where a central output enables them (`incidentAcks`). Only `central` MQTT outputs get states and may
 * take acknowledgements: a state shows when a duress happened, which a local audience must never learn, and a
 * local keypad or phone must not clear a duress.
 */
export function wireAssurance(host: AssuranceHost, settings: Settings, options: AssuranceWiringOptions): AssuranceWiring {
  const { clock, logger } = options;
  const store = options.store ?? AssuranceStore.openIn(settings.dataDir);
  const central = host.outputs.filter((o) => o.audience === 'central');
  const dc09Accounts = settings.inputs.flatMap((input) => (input.type === 'dc09' ? (input.accounts ?? []) : []));
  // Retained states: one publication at a time; a change while one runs asks for one more pass after it.
  let publishing: { run: Promise<void>; since: number } | undefined;
  let again = false;
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
    ...(options.audit === undefined ? {} : { audit: options.audit }),
    // After the frame's own work: the publication reads the ledger, which must not delay the duress's ACK.
    onIncidentsChanged: () => void setImmediate(() => void publishStates()),
  });
  recoverUndelivered(assurance, host.outbox, central);

  const onDelivered = (output: string, event: NormalizedEvent) => assurance.delivered(output, event);
  const onTraffic = (account: string, at: number) => assurance.traffic(account, at);
  host.hooks.push(assurance);
  host.deliveryListeners.push(onDelivered);
  host.trafficListeners.push(onTraffic);
  if (host.api !== undefined) {
    registerTestWindowRoutes(host.api, assurance);
    registerIncidentRoutes(host.api, assurance);
    registerDeviceRoutes(host.api, assurance);
  }

  const mqtt = central.filter((o): o is MqttOutput => o instanceof MqttOutput);
  const publishers = mqtt.map((output) => ({
    devices: new RetainedStatePublisher(output, logger, 'device state'),
    incidents: new RetainedStatePublisher(output, logger, 'incident state'),
  }));
  const unsubscribes = mqtt
    .filter((output) => output.incidentAcks)
    .map((output) =>
      output
        .subscribe('incidents/+/ack', (topic, payload) => acknowledgeFromMqtt(assurance, output.name, topic, payload, logger))
        .catch((error: unknown) => {
          logger.error({ output: output.name, err: error }, 'cannot subscribe to incident acknowledgements');
          return undefined;
        }),
    );

  async function publishStates(): Promise<void> {
    if (publishers.length === 0) return;
    if (publishing !== undefined) {
      const runningMs = performance.now() - publishing.since;
      if (runningMs < PUBLISH_OVERRUN_MS) {
        again = true;
        return publishing.run;
      }
      logger.warn({ runningMs }, 'retained state publication overran; starting it again');
    }
    const run: Promise<void> = (async () => {
      do {
        again = false;
        const devices = deviceStates(assurance.deviceReport().devices);
        const incidents = incidentStates(assurance, host.builder, clock);
        await Promise.all(publishers.map((p) => Promise.all([p.devices.sync(devices), p.incidents.sync(incidents)])));
      } while (again);
    })()
      .catch((error: unknown) => logger.error({ err: error }, 'retained states not published'))
      .finally(() => {
        if (publishing?.run === run) publishing = undefined;
      });
    publishing = { run, since: performance.now() };
    return run;
  }

  const tickMs = options.tickMs ?? 1_000;
  // Wall-clock time, not `clock`: the watchdog watches the timer, which runs on real time even in a replay.
  let lastTickAt = performance.now();
  /** The checks: synchronous, so a stalled output cannot hold them up; the publication runs beside them. */
  const check = (): void => {
    assurance.tick();
    lastTickAt = performance.now();
  };
  const timer = setInterval(() => {
    try {
      check();
    } catch (error) {
      logger.error({ err: error }, 'assurance check failed');
    }
    void publishStates();
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

/** `devices/{site}/{device}`: the `GET /devices` entry of each duress device. */
function deviceStates(devices: readonly DeviceStatus[]): Map<string, RetainedState> {
  return new Map(
    devices.map((d) => {
      const payload = JSON.stringify(d);
      return [`devices/${topicSegment(d.site)}/${topicSegment(d.device)}`, { fingerprint: payload, payload: () => payload }];
    }),
  );
}

/**
 * `incidents/{site}`: the site's open incidents, for every configured site and every site (or account without
 * one) that had an incident since start, so an acknowledgement shows as `open: 0`.
 */
function incidentStates(assurance: Assurance, builder: EventBuilderDeps, clock: Clock): Map<string, RetainedState> {
  const bySite = new Map<string, Array<{ id: string; category: string; openedAt: string }>>();
  for (const site of builder.sites()) bySite.set(site.id, []);
  for (const incident of assurance.incidentViews(true)) {
    const site = incident.site ?? incident.account ?? 'unknown';
    const list = bySite.get(site) ?? [];
    if (!incident.acknowledged) list.push({ id: incident.id, category: incident.category, openedAt: incident.openedAt });
    bySite.set(site, list);
  }
  return new Map(
    [...bySite].map(([site, incidents]) => {
      const fingerprint = JSON.stringify(incidents);
      const payload = () => JSON.stringify({ site, open: incidents.length, incidents, updatedAt: new Date(clock.now()).toISOString() });
      return [`incidents/${topicSegment(site)}`, { fingerprint, payload }];
    }),
  );
}

/**
 * `{prefix}/incidents/{id}/ack` on an output with `incidentAcks: true`: payload empty, a JSON `{by, note}`, or plain
 * text taken as the note. The broker's ACL decides who may publish there; the acknowledgement is recorded as the
 * output's, with the `by` the message claims.
 */
function acknowledgeFromMqtt(assurance: Assurance, output: string, topic: string, payload: Buffer, logger: Logger): void {
  const id = topic.split('/').at(-2) ?? '';
  const text = payload.toString('utf8').trim();
  let claimed: string | undefined;
  let note: string | null = text === '' ? null : text;
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed === 'object' && parsed !== null) {
      const fields = parsed as Record<string, unknown>;
      if (typeof fields.by === 'string') claimed = fields.by.slice(0, 200);
      note = typeof fields.note === 'string' ? fields.note.slice(0, 2_000) : null;
    }
  } catch {
    // Not JSON: the text is the note.
  }
  const name = claimed === undefined ? `mqtt:${output}` : `${claimed} (mqtt:${output})`;
  const outcome = assurance.acknowledge(id, { name, role: 'operator', channel: 'mqtt' }, note);
  if (!outcome.ok) logger.warn({ incident: id, topic, reason: outcome.reason }, 'incident acknowledgement over MQTT refused');
}
