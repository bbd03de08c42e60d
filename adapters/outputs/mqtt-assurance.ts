import { randomInt } from 'node:crypto';
import type { Assurance } from '../../src/assurance/assurance.js';
import type { NormalizedEvent } from '../../src/model/event.js';
import type { DeviceStatus } from '../../src/assurance/ledger.js';
import type { IncidentRecord } from '../../src/assurance/store.js';
import { GROUPED_ACCOUNTS_KEY } from '../../src/assurance/incidents.js';
import type { Clock, Logger } from '../../src/ports.js';
import type { Site } from '../../src/settings/sites.js';
import type { Counters } from '../../src/observability/counters.js';
import { RateLimitedLog } from '../../src/observability/rate-limited-log.js';
import { withTimeout } from '../../src/timeout.js';
import { incidentView } from '../api/assurance-views.js';
import { answerOnceStored } from '../api/routes/actor.js';
import { acknowledgementRefused, incidentAcknowledgedAction } from '../api/routes/incidents.js';
import { ApiError } from '../api/server.js';
import { topicSegment, type MqttOutput } from './mqtt.js';
import { CLEARED, RetainedStatePublisher, type RetainedState } from './mqtt-retained.js';

/**
 * A state publication still running after this long has overrun: the watchdog starts the next one anyway (each
 * publish ends by itself within the output's publish timeout, so overrun runs do not pile up).
 */
const PUBLISH_OVERRUN_MS = 10_000;

/** A publication asked for by an event or an incident change starts at least this long after the last one began. */
const SOON_GAP_MS = 250;

/**
 * The `open: 0` state of a name that is no configured site (an account on no site, the grouping, `unknown`) is cleared
 * after this long without an incident opened or acknowledged or an event of its own: a retained topic per account
 * that ever had an incident would otherwise stay on the broker for good.
 */
export const QUIET_STATE_RETENTION_MS = 7 * 86_400_000;

/** How often the incident states are looked through for quiet ones (a quiet tick must not walk them all). */
const QUIET_SWEEP_MS = 3_600_000;

/** stop() waits this long at most for a state publication in progress; the output's own stop ends it. */
const STOP_WAIT_MS = 2_000;

export interface MqttAssuranceDeps {
  assurance: Assurance;
  /** The configured sites (each gets an incident state, `open: 0` when quiet). */
  sites: () => readonly Site[];
  clock: Clock;
  logger: Logger;
  /** `mqtt_acks_refused_total{output, code}`. */
  counters?: Counters;
}

/**
 * What the duress assurance shows on the central MQTT outputs: retained device states
 * (`{prefix}/devices/{site}/{device}`) and incident states (`{prefix}/incidents/{site}`), and, on an output with
 * `incidentAcks: true`, acknowledgements taken from `{prefix}/incidents/{id}/ack`.
 */
export class MqttAssuranceStates {
  private readonly publishers: Array<{ devices: RetainedStatePublisher; incidents: RetainedStatePublisher }>;
  private readonly unsubscribes: Array<Promise<(() => Promise<void>) | undefined>>;
  // One publication at a time; a change while one runs asks for one more pass after it.
  private publishing: { run: Promise<void>; since: number } | undefined;
  private again = false;
  /** Sites whose states the next publication publishes again (eventsStored). */
  private readonly covered = new Set<string>();
  /** The publication soon() asked for, and when the last one began (performance.now()). */
  private soonTimer: ReturnType<typeof setTimeout> | undefined;
  private lastPassAt = Number.NEGATIVE_INFINITY;
  /**
   * The incident states, built in full at the first publication and after a reload of the sites (building them reads
   * every open incident), and kept up to date one incident at a time by incidentsChanged().
   */
  private incidents: IncidentStates | undefined;

  constructor(outputs: readonly MqttOutput[], private readonly deps: MqttAssuranceDeps) {
    const { assurance, logger, clock, counters } = deps;
    // Whoever may publish on the ack topic can send any number: each refusal is counted, not logged each time.
    const refusals = new RateLimitedLog({ logger, clock });
    const refused = (output: string, code: string, fields: Record<string, unknown>) => {
      counters?.inc('mqtt_acks_refused_total', { output, code });
      refusals.warn(`${output}\u0000${code}`, undefined, { output, code, ...fields }, 'incident acknowledgement over MQTT refused');
    };
    // A reconnected broker may have lost every retained state (restarted without persistence): all go again at once.
    const republish = () => void this.publish();
    this.publishers = outputs.map((output) => ({
      devices: new RetainedStatePublisher(output, logger, 'device state', republish),
      incidents: new RetainedStatePublisher(output, logger, 'incident state', republish),
    }));
    this.unsubscribes = outputs
      .filter((output) => output.incidentAcks)
      .map((output) =>
        output
          .subscribe('incidents/+/ack', (topic, payload) => void acknowledgeFromMqtt(assurance, output, topic, payload, logger, refused))
          .catch((error: unknown) => {
            logger.error({ output: output.name, err: error }, 'cannot subscribe to incident acknowledgements');
            return undefined;
          }),
      );
  }

  /** An incident opened or was acknowledged: the next publication publishes its site's state. */
  incidentsChanged(incident: IncidentRecord): void {
    this.soon();
    // Not built yet: the build reads it from the store.
    if (this.incidents === undefined) return;
    const topic = this.incidents.apply(incident);
    for (const publisher of this.publishers) publisher.incidents.changed(topic);
  }

  /**
   * Events were stored: the next publication publishes again the incident state of each configured site among theirs
   * (of the account, for a verified event of no site) and one of the site's device states, changed or not. A duress
   * changes both (its incident opens, its device was used), an ordinary alarm neither, and an observer of the
   * encrypted link who counts messages (and sees their padded sizes) must not tell them apart. Unverified events of no
   * site are left out: a flood of made-up accounts would make a retained topic each.
   */
  eventsStored(events: readonly NormalizedEvent[]): void {
    if (this.publishers.length === 0) return;
    const before = this.covered.size;
    for (const event of events) {
      const key = event.site?.id ?? (event.verified ? event.account : null);
      if (key != null) this.covered.add(key);
    }
    if (this.covered.size > before) this.soon();
  }

  /**
   * A publication soon: at once after a quiet spell, else SOON_GAP_MS after the last one began, so a flood of a
   * site's events does not run a pass (every device state serialised) per event. After the frame's own work either
   * way: a pass reads the ledger, which must not delay the duress's ACK. Incident changes and stored events both come
   * here, so when the states go does not tell them apart.
   */
  private soon(): void {
    if (this.soonTimer !== undefined || this.publishers.length === 0) return;
    const waitMs = Math.max(0, this.lastPassAt + SOON_GAP_MS - performance.now());
    this.soonTimer = setTimeout(() => {
      this.soonTimer = undefined;
      void this.publish();
    }, waitMs);
    this.soonTimer.unref();
  }

  /** Brings every retained state up to date; resolves when the publication (and any pass it was asked for) ends. */
  publish(): Promise<void> {
    const { assurance, logger } = this.deps;
    if (this.publishers.length === 0) return Promise.resolve();
    if (this.publishing !== undefined) {
      const runningMs = performance.now() - this.publishing.since;
      if (runningMs < PUBLISH_OVERRUN_MS) {
        this.again = true;
        return this.publishing.run;
      }
      logger.warn({ runningMs }, 'retained state publication overran; starting it again');
    }
    const run: Promise<void> = (async () => {
      do {
        this.again = false;
        const devices = deviceStates(assurance.deviceReport().devices);
        const incidents = this.incidentStates();
        this.cover(devices);
        await Promise.all(this.publishers.map((p) => Promise.all([p.devices.sync(devices), p.incidents.sync(incidents)])));
      } while (this.again);
    })()
      .catch((error: unknown) => logger.error({ err: error }, 'retained states not published'))
      .finally(() => {
        if (this.publishing?.run === run) this.publishing = undefined;
      });
    this.publishing = { run, since: performance.now() };
    this.lastPassAt = this.publishing.since;
    return run;
  }

  /**
   * Marks for this pass the states eventsStored() asked for: each site's incident state, and a device state of the
   * site drawn at random unless one of them is published anyway (the duress's own device).
   */
  private cover(devices: ReadonlyMap<string, RetainedState>): void {
    if (this.covered.size === 0 || this.incidents === undefined) return;
    const incidents = this.incidents;
    const sites = [...this.covered].map((site) => ({ incident: incidents.listed(site), devices: `devices/${topicSegment(site)}/` }));
    this.covered.clear();
    const deviceTopics = [...devices.keys()];
    for (const site of sites) {
      const own = deviceTopics.filter((topic) => topic.startsWith(site.devices));
      for (const publisher of this.publishers) {
        publisher.incidents.resend(site.incident);
        if (own.length > 0 && !own.some((topic) => publisher.devices.differs(devices, topic))) publisher.devices.resend(own[randomInt(own.length)]!);
      }
    }
  }

  private incidentStates(): ReadonlyMap<string, RetainedState> {
    const { assurance, sites, clock } = this.deps;
    const current = sites();
    if (this.incidents?.sites !== current) this.incidents = new IncidentStates(current, assurance.incidentRecords(true), clock);
    for (const topic of this.incidents.expire()) for (const publisher of this.publishers) publisher.incidents.changed(topic);
    return this.incidents.states;
  }

  /**
   * Waits for a publication in progress and ends the acknowledgement subscriptions side by side, each bounded: a
   * stalled broker costs stop a couple of seconds, not one per step.
   */
  async stop(): Promise<void> {
    clearTimeout(this.soonTimer);
    for (const publisher of this.publishers) {
      publisher.devices.close();
      publisher.incidents.close();
    }
    await Promise.all([
      this.publishing === undefined ? undefined : withTimeout(this.publishing.run, STOP_WAIT_MS),
      ...(await Promise.all(this.unsubscribes)).map((unsubscribe) => unsubscribe?.().catch(() => undefined)),
    ]);
  }
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

/** An open incident as its site's state lists it. */
interface ListedIncident {
  id: string;
  category: string;
  openedAt: string;
}

/** An open incident kept for its site's list: `openedAt` in ms orders the list. */
interface OpenIncident {
  openedAt: number;
  listed: ListedIncident;
}

/** The name the incident states know an incident by: its site, else its account, else the grouping's, else `unknown`. */
function stateName(incident: IncidentRecord): string {
  if (incident.site !== null) return incident.site;
  if (incident.account !== null) return incident.account;
  return incident.key === GROUPED_ACCOUNTS_KEY ? GROUPED_ACCOUNTS_KEY : 'unknown';
}

/** Where the state of the incidents known by `name` is retained. */
function incidentStateTopic(name: string): string {
  return `incidents/${topicSegment(name)}`;
}

/** The state of the one incident grouping the duress of accounts on no site past MAX_OPEN_ACCOUNT_INCIDENTS. */
const GROUPED_STATE_TOPIC = incidentStateTopic(GROUPED_ACCOUNTS_KEY);

/** The open incidents retained at one topic, the name its state gives (`site`), and when it last changed (ms). */
interface TopicIncidents {
  name: string;
  open: Map<string, OpenIncident>;
  changedAt: number;
}

/**
 * `incidents/{site}`: the site's open incidents, newest first, for every configured site and every site (or account
 * without one; `accounts-on-no-site` for the incident grouping those past MAX_OPEN_ACCOUNT_INCIDENTS) with an incident
 * read at the build or changed since, so an acknowledgement shows as `open: 0`. Names that make the same topic level
 * (an account `bank+1` on no site and a site `bank_1`) share one list: one state must never replace another's and
 * show a site's open duress closed. A change serialises its topic's list alone: a flood of duress frames must not
 * make each one walk every open incident.
 */
class IncidentStates {
  readonly states = new Map<string, RetainedState>();
  private readonly openByTopic = new Map<string, TopicIncidents>();
  /** Topics of the configured sites: their states stay, `open: 0` or not. */
  private readonly siteTopics: ReadonlySet<string>;
  /** Topics whose state is CLEARED since the last sweep: the next one forgets them. */
  private readonly cleared = new Set<string>();
  private sweptAt = Number.NEGATIVE_INFINITY;

  constructor(
    readonly sites: readonly Site[],
    incidents: readonly IncidentRecord[],
    private readonly clock: Clock,
  ) {
    this.siteTopics = new Set(sites.map((site) => incidentStateTopic(site.id)));
    // Configured sites first: a site's id names the state its topic shares with any account's.
    for (const site of sites) this.entry(site.id);
    for (const incident of incidents) this.take(incident);
    for (const topic of this.openByTopic.keys()) this.serialise(topic);
  }

  /** The topic of a site's (or an account's) state, which an account with no incident read gets now (`open: 0`). */
  listed(site: string): string {
    const topic = incidentStateTopic(site);
    const known = this.openByTopic.has(topic);
    this.entry(site)[1].changedAt = this.clock.now();
    return known ? topic : this.serialise(topic);
  }

  /**
   * At most once per QUIET_SWEEP_MS: clears the `open: 0` states of names that are no configured site and have been
   * quiet for QUIET_STATE_RETENTION_MS (a state with an open incident stays however old), and forgets the ones
   * cleared at the sweep before. Returns the topics whose state changed.
   */
  expire(): string[] {
    const now = this.clock.now();
    if (now - this.sweptAt < QUIET_SWEEP_MS) return [];
    this.sweptAt = now;
    for (const topic of this.cleared) if (this.states.get(topic) === CLEARED) this.states.delete(topic);
    this.cleared.clear();
    const expired: string[] = [];
    for (const [topic, entry] of this.openByTopic) {
      if (this.siteTopics.has(topic) || entry.open.size > 0 || now - entry.changedAt < QUIET_STATE_RETENTION_MS) continue;
      this.openByTopic.delete(topic);
      this.states.set(topic, CLEARED);
      this.cleared.add(topic);
      expired.push(topic);
    }
    return expired;
  }

  /** Takes in an incident as it now stands; returns the topic whose state it changed. */
  apply(incident: IncidentRecord): string {
    return this.serialise(this.take(incident));
  }

  private entry(name: string): [string, TopicIncidents] {
    const topic = incidentStateTopic(name);
    let entry = this.openByTopic.get(topic);
    if (entry === undefined) {
      entry = { name, open: new Map(), changedAt: Number.NEGATIVE_INFINITY };
      this.openByTopic.set(topic, entry);
    }
    return [topic, entry];
  }

  private take(incident: IncidentRecord): string {
    const [topic, entry] = this.entry(stateName(incident));
    const { open } = entry;
    entry.changedAt = Math.max(entry.changedAt, incident.ackedAt ?? incident.lastEventAt);
    if (incident.ackedAt === null)
      open.set(incident.id, { openedAt: incident.openedAt, listed: { id: incident.id, category: incident.category, openedAt: new Date(incident.openedAt).toISOString() } });
    else open.delete(incident.id);
    return topic;
  }

  private serialise(topic: string): string {
    const { name, open } = this.openByTopic.get(topic)!;
    const incidents = [...open.values()]
      .sort((a, b) => b.openedAt - a.openedAt || (a.listed.id < b.listed.id ? -1 : 1))
      .map((entry) => entry.listed);
    const fingerprint = JSON.stringify(incidents);
    const grouped = topic === GROUPED_STATE_TOPIC ? { grouped: true } : {};
    const payload = () => JSON.stringify({ site: name, ...grouped, open: incidents.length, incidents, updatedAt: new Date(this.clock.now()).toISOString() });
    this.states.set(topic, { fingerprint, payload });
    return topic;
  }
}

/**
 * `{prefix}/incidents/{id}/ack` on an output with `incidentAcks: true`: payload empty, a JSON `{by, note}`, or plain
 * text taken as the note. The broker's ACL decides who may publish there; the acknowledgement is recorded as the
 * output's, with the `by` the message claims. It is answered on `{topic}/result` as the API answers
 * `POST /incidents/{id}/ack`, and as late: once its event for central is stored, or with the same refusal.
 */
async function acknowledgeFromMqtt(
  assurance: Assurance,
  output: MqttOutput,
  topic: string,
  payload: Buffer,
  logger: Logger,
  refused: (output: string, code: string, fields: Record<string, unknown>) => void,
): Promise<void> {
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
  const name = claimed === undefined ? `mqtt:${output.name}` : `${claimed} (mqtt:${output.name})`;
  const outcome = assurance.acknowledge(id, { name, role: 'operator', channel: 'mqtt' }, note);
  let answer: unknown;
  try {
    if (!outcome.ok) throw acknowledgementRefused(id, outcome);
    answer = (await answerOnceStored(outcome.stored, incidentAcknowledgedAction(id), { body: { incident: incidentView(outcome.incident) } })).body;
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    refused(output.name, error.code, { incident: id, topic });
    answer = error.answer().body;
  }
  await output.publishAnswerTo(`${topic}/result`, answer).catch((error: unknown) => logger.warn({ topic, err: error }, 'acknowledgement answer not published'));
}
