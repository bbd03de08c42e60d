import type { NormalizedEvent } from '../model/event.js';
import type { IdSource } from '../model/ids.js';
import { isDuress, type DeviceDirectory } from './devices.js';
import type { AssuranceStore, IncidentCall, IncidentOpening, IncidentRecord } from './store.js';

export type AcknowledgeResult =
  | { ok: true; incident: IncidentRecord }
  | { ok: false; reason: 'unknown' | 'already-acknowledged'; incident?: IncidentRecord };

/**
 * Later callers kept on an incident: enough for every duress device of a site, while a panel (or someone on its
 * network) repeating calls under ever new numbers cannot grow the record rewritten with each event of the site.
 */
export const INCIDENT_CALLS_KEPT = 32;

/** A real (not test) new duress or hold-up: it opens an incident, or is kept on the one open. */
function isRealCall(event: NormalizedEvent): boolean {
  return isDuress(event) && !event.test && event.qualifier === 'new';
}

/** A real new call for help of any kind (a panic pendant too): kept on an open incident, though it opens none. */
function isRealCallForHelp(event: NormalizedEvent): boolean {
  return (isDuress(event) || event.category === 'panic') && !event.test && event.qualifier === 'new';
}

/** Whether two calls came from the same caller: the same devices, zone, user and door. */
function sameCaller(a: IncidentOpening, b: IncidentOpening): boolean {
  return (
    a.devices.join() === b.devices.join() &&
    a.zone?.number === b.zone?.number &&
    a.user?.number === b.user?.number &&
    a.door?.id === b.door?.id
  );
}

/** One open incident per site, or per account when the account belongs to no site. */
function incidentKey(event: NormalizedEvent): string {
  return event.site == null ? `account:${(event.account ?? '').toUpperCase()}` : `site:${event.site.id}`;
}

/**
 * The duress latch. A real duress or hold-up opens an incident for its site; every later event from the site
 * carries the incident id; nothing the panel sends (an opening, a disarm, a restore) closes it: only a person's
 * acknowledgement does. A status report (Contact ID qualifier 6) or a restore never opens one.
 */
export class Incidents {
  private readonly openByKey: Map<string, IncidentRecord>;
  /** The key of each open incident, by id: a delivery names its incident by id, and a scan per delivery is quadratic. */
  private readonly openKeyById = new Map<string, string>();

  constructor(
    private readonly store: AssuranceStore,
    private readonly ids: IdSource,
    private readonly directory: DeviceDirectory,
  ) {
    this.openByKey = new Map(store.openIncidents().map((incident) => [incident.key, incident]));
    for (const incident of this.openByKey.values()) this.openKeyById.set(incident.id, incident.key);
  }

  /** Sets `event.incident`; returns the incident when this event opened it. */
  annotate(event: NormalizedEvent, at: number): IncidentRecord | undefined {
    if (event.incident != null) return undefined; // raised by the gateway about a given incident
    // The key is a new string: built only when an incident is open or this event may open one (rarely, per event).
    if (this.openByKey.size > 0) {
      const current = this.openByKey.get(incidentKey(event));
      if (current !== undefined) {
        event.incident = current.id;
        this.save({ ...current, lastEventAt: Math.max(current.lastEventAt, at), eventCount: current.eventCount + 1, calls: this.callsWith(current, event, at) });
        return undefined;
      }
    }
    if (!isRealCall(event)) return undefined;
    const opened: IncidentRecord = {
      id: this.ids.next(),
      key: incidentKey(event),
      site: event.site?.id ?? null,
      account: event.account,
      category: event.category,
      openedAt: at,
      openingEventId: event.id,
      lastEventAt: at,
      eventCount: 1,
      ackedAt: null,
      ackedBy: null,
      note: null,
      deliveredAt: null,
      opening: this.openingOf(event),
      calls: [],
    };
    this.save(opened);
    event.incident = opened.id;
    return opened;
  }

  acknowledge(id: string, by: string, note: string | null, now: number): AcknowledgeResult {
    const incident = this.store.incident(id);
    if (incident === undefined) return { ok: false, reason: 'unknown' };
    if (incident.ackedAt !== null) return { ok: false, reason: 'already-acknowledged', incident };
    const acked: IncidentRecord = { ...incident, ackedAt: now, ackedBy: by, note };
    this.openByKey.delete(incident.key);
    this.openKeyById.delete(incident.id);
    this.store.putIncident(acked);
    return { ok: true, incident: acked };
  }

  /** A central output delivered this event: the first delivery of an incident's opening event is its time to delivery. */
  delivered(event: NormalizedEvent, at: number): void {
    if (event.incident == null) return;
    const key = this.openKeyById.get(event.incident);
    const incident = (key === undefined ? undefined : this.openByKey.get(key)) ?? this.store.incident(event.incident);
    if (incident === undefined || incident.openingEventId !== event.id || incident.deliveredAt !== null) return;
    const delivered = { ...incident, deliveredAt: at };
    if (delivered.ackedAt === null) this.openByKey.set(delivered.key, delivered);
    this.store.putIncident(delivered);
  }

  open(): IncidentRecord[] {
    return [...this.openByKey.values()];
  }

  /** Every open incident and the `limit` most recent acknowledged ones, newest first. */
  recent(limit: number): IncidentRecord[] {
    return this.store.recentIncidents(limit);
  }

  /** Kept with the incident: the console's trace of recent events forgets the opening event long before it closes. */
  private openingOf(event: NormalizedEvent): IncidentOpening {
    return {
      occurredAt: event.occurredAt,
      devices: this.directory.namedBy(event).map((d) => d.device),
      zone: event.zone,
      user: event.user,
      door: event.door ?? null,
      verified: event.verified,
      unverifiedReason: event.unverifiedReason ?? null,
    };
  }

  /**
   * The incident's later calls with `event` added when it is a real call for help from a caller not on the incident
   * yet: acknowledging the incident for its opening must not close a second person's duress unseen.
   */
  private callsWith(incident: IncidentRecord, event: NormalizedEvent, at: number): IncidentCall[] {
    if (!isRealCallForHelp(event) || incident.calls.length >= INCIDENT_CALLS_KEPT) return incident.calls;
    const call: IncidentCall = { ...this.openingOf(event), eventId: event.id, receivedAt: at, category: event.category };
    const known = incident.opening === null ? incident.calls : [incident.opening, ...incident.calls];
    return known.some((earlier) => sameCaller(earlier, call)) ? incident.calls : [...incident.calls, call];
  }

  private save(incident: IncidentRecord): void {
    this.openByKey.set(incident.key, incident);
    this.openKeyById.set(incident.id, incident.key);
    this.store.putIncident(incident);
  }
}
