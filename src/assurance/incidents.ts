import type { NormalizedEvent } from '../model/event.js';
import type { IdSource } from '../model/ids.js';
import { isDuress, type DeviceDirectory } from './devices.js';
import type { AssuranceStore, IncidentCall, IncidentOpening, IncidentRecord } from './store.js';

export type AcknowledgeResult =
  /** `repeated`: `by` acknowledged it already with this note, which is the acknowledgement (see acknowledge). */
  | { ok: true; incident: IncidentRecord; repeated: boolean }
  | { ok: false; reason: 'unknown' | 'already-acknowledged'; incident?: IncidentRecord };

/**
 * Later callers kept on an incident: enough for every duress device of a site, while a panel (or someone on its
 * network) repeating calls under ever new numbers cannot grow the record rewritten with each event of the site.
 */
export const INCIDENT_CALLS_KEPT = 32;

/**
 * Open incidents kept apart for accounts on no site. Each account a sender names in a duress frame opens one that
 * only a person closes, and a sender on the panel network can name any number: past this many, the duress of a
 * further account on no site joins one incident grouping them (GROUPED_ACCOUNTS_KEY), which a person still closes.
 * Every such event is stored and published as before, carrying that incident's id and a reason saying why.
 */
export const MAX_OPEN_ACCOUNT_INCIDENTS = 1_000;

/** The key of the one incident grouping the duress of accounts on no site past MAX_OPEN_ACCOUNT_INCIDENTS. */
export const GROUPED_ACCOUNTS_KEY = 'accounts-on-no-site';

const ACCOUNT_KEY_PREFIX = 'account:';

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
  return event.site == null ? `${ACCOUNT_KEY_PREFIX}${(event.account ?? '').toUpperCase()}` : `site:${event.site.id}`;
}

export interface Annotation {
  /** The incident the event opened. */
  readonly opened: IncidentRecord | undefined;
  /** Whether the event's account, on no site, joined the incident grouping such accounts (MAX_OPEN_ACCOUNT_INCIDENTS). */
  readonly grouped: boolean;
}

const UNCHANGED: Annotation = { opened: undefined, grouped: false };

/**
 * The duress latch. A real duress or hold-up opens an incident for its site; every later event from the site
 * carries the incident id; nothing the panel sends (an opening, a disarm, a restore) closes it: only a person's
 * acknowledgement does. A status report (Contact ID qualifier 6) or a restore never opens one.
 */
export class Incidents {
  private readonly openByKey: Map<string, IncidentRecord>;
  /** The key of each open incident, by id: a delivery names its incident by id, and a scan per delivery is quadratic. */
  private readonly openKeyById = new Map<string, string>();
  /** Open incidents of single accounts on no site (bounded by MAX_OPEN_ACCOUNT_INCIDENTS for new ones). */
  private openAccountIncidents = 0;

  constructor(
    private readonly store: AssuranceStore,
    private readonly ids: IdSource,
    private readonly directory: DeviceDirectory,
  ) {
    this.openByKey = new Map(store.openIncidents().map((incident) => [incident.key, incident]));
    for (const incident of this.openByKey.values()) {
      this.openKeyById.set(incident.id, incident.key);
      if (incident.key.startsWith(ACCOUNT_KEY_PREFIX)) this.openAccountIncidents++;
    }
  }

  /** Sets `event.incident`; says whether the event opened its incident, and whether it joined the grouped one. */
  annotate(event: NormalizedEvent, at: number): Annotation {
    if (event.incident != null) return UNCHANGED; // raised by the gateway about a given incident
    // The key is a new string: built only when an incident is open or this event may open one (rarely, per event).
    if (this.openByKey.size > 0) {
      const current = this.openByKey.get(incidentKey(event));
      if (current !== undefined) {
        this.join(current, event, at);
        return UNCHANGED;
      }
    }
    if (!isRealCall(event)) return UNCHANGED;
    if (event.site != null || this.openAccountIncidents < MAX_OPEN_ACCOUNT_INCIDENTS) {
      return { opened: this.openFor(incidentKey(event), event.account, event, at), grouped: false };
    }
    const group = this.openByKey.get(GROUPED_ACCOUNTS_KEY);
    let opened: IncidentRecord | undefined;
    if (group === undefined) opened = this.openFor(GROUPED_ACCOUNTS_KEY, null, event, at);
    else this.join(group, event, at);
    event.reasons.push(
      `${this.openAccountIncidents} incidents of accounts on no site are open: this duress joins incident ${event.incident}, which groups those of further accounts on no site until acknowledged`,
    );
    return { opened, grouped: true };
  }

  private join(incident: IncidentRecord, event: NormalizedEvent, at: number): void {
    event.incident = incident.id;
    this.save({ ...incident, lastEventAt: Math.max(incident.lastEventAt, at), eventCount: incident.eventCount + 1, calls: this.callsWith(incident, event, at) });
  }

  private openFor(key: string, account: string | null, event: NormalizedEvent, at: number): IncidentRecord {
    const opened: IncidentRecord = {
      id: this.ids.next(),
      key,
      site: event.site?.id ?? null,
      account,
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

  /**
   * Closes an incident for `by`. The same acknowledgement again (same person, same note) is a client's retry (after
   * a 503 CONTROL_NOT_STORED, a lost answer) and is answered with the one that stands; any other is refused.
   */
  acknowledge(id: string, by: string, note: string | null, now: number): AcknowledgeResult {
    const incident = this.store.incident(id);
    if (incident === undefined) return { ok: false, reason: 'unknown' };
    if (incident.ackedAt !== null)
      return incident.ackedBy === by && incident.note === note ? { ok: true, incident, repeated: true } : { ok: false, reason: 'already-acknowledged', incident };
    const acked: IncidentRecord = { ...incident, ackedAt: now, ackedBy: by, note };
    if (this.openByKey.delete(incident.key) && incident.key.startsWith(ACCOUNT_KEY_PREFIX)) this.openAccountIncidents--;
    this.openKeyById.delete(incident.id);
    this.store.putIncident(acked);
    return { ok: true, incident: acked, repeated: false };
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

  openCount(): number {
    return this.openByKey.size;
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
    if (!this.openByKey.has(incident.key) && incident.key.startsWith(ACCOUNT_KEY_PREFIX)) this.openAccountIncidents++;
    this.openByKey.set(incident.key, incident);
    this.openKeyById.set(incident.id, incident.key);
    this.store.putIncident(incident);
  }
}
