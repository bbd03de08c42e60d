import { Assurance, type AssuranceHealth, type AssuranceOptions } from '../../src/assurance/assurance.js';
import type { Counters } from '../../src/observability/counters.js';
import type { AuditEntry } from '../../src/assurance/audit-chain.js';
import { AssuranceStore } from '../../src/assurance/store.js';
import { supervisionPolicy } from '../../src/assurance/supervision.js';
import { EventBus } from '../../src/bus.js';
import type { Outbox } from '../../src/outbox/outbox.js';
import type { EventBuilderDeps } from '../../src/pipeline/event-builder.js';
import type { Recorder } from '../../src/pipeline/recorder.js';
import type { Clock, Logger, OutputAdapter } from '../../src/ports.js';
import type { Settings } from '../../src/settings/settings.js';
import type { ApiServer } from '../api/server.js';
import { registerDeadLetterRoutes } from '../api/routes/dead-letters.js';
import { registerDeviceRoutes } from '../api/routes/devices.js';
import { registerIncidentRoutes } from '../api/routes/incidents.js';
import { registerTestWindowRoutes } from '../api/routes/test-windows.js';
import { MqttOutput } from '../outputs/mqtt.js';
import { MqttAssuranceStates } from '../outputs/mqtt-assurance.js';

/** What the assurance needs from the running gateway (Gateway has all of it). */
export interface AssuranceHost {
  /** Stores the assurance's own events; the assurance annotates every event before it is stored. */
  recorder: Pick<Recorder, 'recordRaised' | 'setAnnotator'>;
  api: ApiServer | undefined;
  outputs: readonly OutputAdapter[];
  outbox: Pick<Outbox, 'pendingDuress' | 'deadDuress' | 'retryDeadLetters'>;
  builder: EventBuilderDeps;
  /** Frames stored (by the recorder), events delivered (by the dispatcher), traffic seen (by the inputs, heartbeats included). */
  bus: Pick<EventBus, 'onFrameStored' | 'onEventDelivered' | 'onTrafficSeen' | 'removeListeners'>;
  /** The gateway's counters (/metrics): what the assurance's bounds evicted, the acknowledgements over MQTT refused. */
  counters?: Counters;
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
  /** Raised events not stored yet, kept across a restart (Assurance's `carried` and `onUnstoredChanged`). */
  unstored?: Pick<AssuranceOptions, 'carried' | 'onUnstoredChanged'>;
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

/**
 * Undelivered duress events are recovered at start-up from the outbox up to this many per central output, pending
 * (the oldest: delivered first) and dead letters (the newest: the oldest are the nearest to being pruned) each.
 */
const RECOVERY_SCAN_LIMIT = 1_000;

/** The checks count as stalled, and /healthz answers 503, when their last run is this many intervals old. */
const STALLED_TICKS = 3;

/**
 * Creates the duress assurance for a gateway: its store in dataDir, the recorder's annotator, its bus listeners,
 * the API routes, the timer, retained device and incident states, and incident acknowledgements
 * over MQTT where a central output enables them (`incidentAcks`). Only `central` MQTT outputs get states and may
 * take acknowledgements: a state shows when a duress happened, which a local audience must never learn, and a
 * local keypad or phone must not clear a duress.
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
    record: (events) => host.recorder.recordRaised(events),
    logger,
    duressDeadlineMs: settings.duressDeadline,
    supervision: supervisionPolicy(settings.supervision, dc09Accounts, host.builder.sites),
    centralOutputs: new Set(central.map((o) => o.name)),
    ...(options.audit === undefined ? {} : { audit: options.audit }),
    ...(host.counters === undefined ? {} : { counters: host.counters }),
    ...options.unstored,
    // A DC-09 input's receiver reports each frame's traffic on the bus (trafficSeen) before storing its events.
    trafficReportingInputs: new Set(settings.inputs.flatMap((input) => (input.type === 'dc09' ? [input.name] : []))),
    // Published soon, as the states every stored event of a site republishes (eventsStored), and alike.
    onIncidentsChanged: (incident) => mqttStates.incidentsChanged(incident),
  });
  recoverUndelivered(assurance, host.outbox, central, clock);

  host.recorder.setAnnotator(assurance);
  host.bus.onFrameStored(assurance, (events) => {
    assurance.stored(events);
    mqttStates.eventsStored(events);
  });
  host.bus.onEventDelivered(assurance, (output, event) => assurance.delivered(output, event));
  host.bus.onTrafficSeen(assurance, (account, at) => assurance.traffic(account, at));
  if (host.api !== undefined) {
    registerTestWindowRoutes(host.api, assurance);
    registerIncidentRoutes(host.api, assurance);
    registerDeviceRoutes(host.api, assurance);
    registerDeadLetterRoutes(host.api, { outputs: host.outputs.map((o) => o.name), outbox: host.outbox, assurance });
  }

  const mqttStates = new MqttAssuranceStates(
    central.filter((o): o is MqttOutput => o instanceof MqttOutput),
    { assurance, sites: host.builder.sites, clock, logger, ...(host.counters === undefined ? {} : { counters: host.counters }) },
  );

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
    void mqttStates.publish();
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
      await mqttStates.publish();
    },
    async stop() {
      clearInterval(timer);
      host.recorder.setAnnotator(undefined);
      host.bus.removeListeners(assurance);
      await mqttStates.stop();
      await assurance.flush();
      store.close();
    },
  };
}

/**
 * Duress events stored before a restart and still unconfirmed: those no central output delivered, each still
 * pending or a dead letter on every one of them (a delivery to any one confirms). A dead letter stays unconfirmed
 * as it would have without the restart: until a central output delivers the event or the letter is pruned. Their
 * deadline counts from when they were received, or from start-up when the wall clock was stepped back since.
 */
function recoverUndelivered(assurance: Assurance, outbox: Pick<Outbox, 'pendingDuress' | 'deadDuress'>, central: readonly OutputAdapter[], clock: Clock): void {
  if (central.length === 0) return;
  const undeliveredPerOutput = central.map(
    (o) => new Map([...outbox.pendingDuress(o.name, RECOVERY_SCAN_LIMIT), ...outbox.deadDuress(o.name, RECOVERY_SCAN_LIMIT)].map((e) => [e.event.id, e.event])),
  );
  const [first, ...rest] = undeliveredPerOutput;
  // With the monotonic clock too: a wall clock stepped back since it was received must not put the deadline off.
  for (const [id, event] of first ?? [])
    if (rest.every((undelivered) => undelivered.has(id))) assurance.deadline.track(event, Date.parse(event.receivedAt), clock.monotonic?.());
}
