import type { Assurance } from '../../src/assurance/assurance.js';
import type { DuressDevice } from '../../src/assurance/devices.js';
import type { IncidentRecord, WindowRecord } from '../../src/assurance/store.js';

// How the API (and the console and CLI that read it) shows the assurance's test windows and incidents: times as
// ISO text, devices by name. The rules that make these records live in src/assurance/.

export interface WindowView {
  id: string;
  site: string;
  startedAt: string;
  endsAt: string;
  /** The devices under test. */
  devices: string[];
  exercised: string[];
  notExercised: string[];
  closedAt: string | null;
  closeReason: 'expired' | 'stopped' | null;
  /** Who stopped it (the token's name, `gateway`); null while open or when it expired. */
  stoppedBy: string | null;
  /** Opened by the site's testSchedule (its devices not exercised are missed tests). */
  scheduled: boolean;
}

export interface IncidentView {
  id: string;
  site: string | null;
  account: string | null;
  category: string;
  openedAt: string;
  openingEventId: string;
  lastEventAt: string;
  eventCount: number;
  acknowledged: boolean;
  ackedAt: string | null;
  ackedBy: string | null;
  note: string | null;
  /** When a central output first confirmed the opening event. */
  deliveredAt: string | null;
  /** Real calls for help that joined it from another device, user or door than its opening: each caller's first. */
  calls: IncidentCallView[];
}

export interface IncidentCallView {
  eventId: string;
  receivedAt: string;
  category: string;
  /** The configured duress devices it named. */
  devices: string[];
  zone: number | null;
  user: number | null;
  door: string | null;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export function windowView(assurance: Assurance, window: WindowRecord): WindowView {
  const { covered, exercised, notExercised } = assurance.windows.statusOf(window);
  const names = (devices: DuressDevice[]) => devices.map((d) => d.device);
  return {
    id: window.id,
    site: window.site,
    startedAt: iso(window.startedAt),
    endsAt: iso(window.endsAt),
    devices: names(covered),
    exercised: names(exercised),
    notExercised: names(notExercised),
    closedAt: window.closedAt === null ? null : iso(window.closedAt),
    closeReason: window.closeReason,
    stoppedBy: window.stoppedBy,
    scheduled: window.scheduleSlot !== null,
  };
}

/** Open windows; with `all`, recently closed ones too (newest first). */
export function windowViews(assurance: Assurance, all = false): WindowView[] {
  return assurance.windowRecords(all).map((w) => windowView(assurance, w));
}

export function incidentView(incident: IncidentRecord): IncidentView {
  return {
    id: incident.id,
    site: incident.site,
    account: incident.account,
    category: incident.category,
    openedAt: iso(incident.openedAt),
    openingEventId: incident.openingEventId,
    lastEventAt: iso(incident.lastEventAt),
    eventCount: incident.eventCount,
    acknowledged: incident.ackedAt !== null,
    ackedAt: incident.ackedAt === null ? null : iso(incident.ackedAt),
    ackedBy: incident.ackedBy,
    note: incident.note,
    deliveredAt: incident.deliveredAt === null ? null : iso(incident.deliveredAt),
    calls: incident.calls.map((call) => ({
      eventId: call.eventId,
      receivedAt: iso(call.receivedAt),
      category: call.category,
      devices: call.devices,
      zone: call.zone?.number ?? null,
      user: call.user?.number ?? null,
      door: call.door?.id ?? null,
    })),
  };
}

/** Open incidents; with `all`, acknowledged ones too (newest first). */
export function incidentViews(assurance: Assurance, all = false): IncidentView[] {
  return assurance.incidentRecords(all).map(incidentView);
}
