import type { Assurance } from '../../../src/assurance/assurance.js';
import { deviceForPeople, isDuress, provesDevice, type DuressDevice } from '../../../src/assurance/devices.js';
import { periodOf } from '../../../src/assurance/report.js';
import type { NormalizedEvent } from '../../../src/model/event.js';
import type { Site } from '../../../src/settings/sites.js';
import type { ConsoleFeed, TracedEvent } from './feed.js';
import type { IncidentRecord } from '../../../src/assurance/store.js';
import { incidentView, incidentViews, windowViews, type WindowView } from '../assurance-views.js';

/** What the console reads from the running gateway. */
export interface ConsoleSource {
  assurance: Assurance;
  feed: ConsoleFeed;
  sites(): readonly Site[];
  /** The `/healthz` body: inputs, outputs with backlog and dead letters. */
  health(): { status: string; body: Record<string, unknown> };
  /** Names of the `central` outputs, whose deliveries a walk shows. */
  centralOutputs: readonly string[];
}

/** Acknowledged incidents the incident page lists at most; it says how many more there are. */
export const ACKNOWLEDGED_SHOWN = 50;

const iso = (ms: number | null | undefined): string | null => (ms == null ? null : new Date(ms).toISOString());

/** A device as people know it, with what to do after pressing it. */
export function deviceCard(device: DuressDevice) {
  return { ...deviceForPeople(device), guidance: device.guidance ?? null };
}

/** What arrived, in words a person checks against the device: category, zone or user or door, when. */
function arrival(trace: TracedEvent, outputs: readonly string[]) {
  const { event } = trace;
  return {
    eventId: event.id,
    category: event.category,
    qualifier: event.qualifier,
    zone: event.zone?.number ?? null,
    user: event.user?.number ?? null,
    door: event.door?.id ?? null,
    test: event.test,
    incident: event.incident ?? null,
    pressedAt: event.occurredAt,
    receivedAt: event.receivedAt,
    storedAt: iso(trace.storedAt),
    delivered: outputs.map((output) => ({ output, at: iso(trace.delivered[output]) })),
  };
}

export function overview(source: ConsoleSource, now: number) {
  const { assurance } = source;
  const health = source.health().body as { status: string; inputs?: unknown[]; outputs?: unknown[]; version?: string };
  const devices = assurance.deviceReport().devices;
  const incidents = incidentViews(assurance);
  const windows = windowViews(assurance);
  const sites = source.sites();
  const configured = new Set(sites.map((site) => site.id));
  return {
    gateway: { status: health.status, version: health.version ?? null, inputs: health.inputs ?? [], outputs: health.outputs ?? [] },
    // An account of no site (or of a site since removed) opens incidents too; no site card would show them.
    withoutSite: incidents
      .filter((i) => i.site === null || !configured.has(i.site))
      .map((i) => ({ id: i.id, category: i.category, account: i.account, site: i.site, openedAt: i.openedAt, calls: i.calls.length })),
    sites: sites.map((site) => {
      const own = devices.filter((d) => d.site === site.id);
      return {
        id: site.id,
        name: site.name ?? site.id,
        address: site.address ?? null,
        devices: own.length,
        // `calls`: how many more callers joined it, so a screen tells of each.
        openIncidents: incidents.filter((i) => i.site === site.id).map((i) => ({ id: i.id, category: i.category, openedAt: i.openedAt, calls: i.calls.length })),
        overdue: own.filter((d) => d.overdue).map((d) => ({ device: d.device, name: d.name, dueAt: d.dueAt })),
        neverTested: own.filter((d) => d.neverTested).map((d) => ({ device: d.device, name: d.name })),
        links: site.accounts.map((account) => {
          const link = assurance.supervision.linkOf(account);
          const state = link.lostAt !== null ? 'lost' : link.intervalMs === undefined ? 'unsupervised' : 'up';
          return { account, state, lastSeenAt: iso(link.lastSeenAt), lostAt: iso(link.lostAt) };
        }),
        testWindow: windows.find((w) => w.site === site.id)?.id ?? null,
        // The report form starts from this: the days are the site's, which a browser elsewhere cannot know.
        reportPeriod: periodOf(site, {}, now),
      };
    }),
  };
}

/** Each duress device of a site, with what people need to press it. */
export function siteDevices(source: ConsoleSource, siteId: string) {
  const site = source.assurance.directory.site(siteId);
  if (site === undefined) return undefined;
  return { site: { id: site.id, name: site.name ?? site.id }, devices: source.assurance.directory.devicesOf(siteId).map(deviceCard) };
}

/** Closed windows the walk page gets besides every open one: the latest results, newest first. */
export const CLOSED_WALKS_SHOWN = 10;

/** Every open test window's walk (an open window is never cut off), then the most recently closed ones. */
export function walks(source: ConsoleSource) {
  const closed = windowViews(source.assurance, true).filter((w) => w.closedAt !== null).slice(0, CLOSED_WALKS_SHOWN);
  return [...windowViews(source.assurance), ...closed].map((w) => walk(source, w));
}

type DeviceState = 'waiting' | 'exercised' | 'wrong' | 'not-exercised';

/**
 * A test walk: the window with each device under test, what arrived from it and when (pressed, stored,
 * delivered to each central output), and anything else the site sent meanwhile. A device is green once the
 * assurance counted it; a device that only sent something else (another category) is red; events naming no
 * device under test are listed as unexpected; a real (not test) duress or hold-up during the walk is listed as a
 * real incident.
 */
export function walk(source: ConsoleSource, window: WindowView) {
  const { assurance, feed, centralOutputs } = source;
  const start = Date.parse(window.startedAt);
  const end = Date.parse(window.closedAt ?? window.endsAt);
  const underTest = new Set(window.devices);
  const during = feed.select(
    (e) => e.site?.id === window.site && e.source.input !== 'assurance' && inWindow(e, start, end),
  );
  const byDevice = new Map<string, TracedEvent[]>();
  const unexpected: TracedEvent[] = [];
  for (const trace of during) {
    const named = assurance.directory.namedBy(trace.event).filter((d) => underTest.has(d.device));
    if (named.length === 0) unexpected.push(trace);
    for (const device of named) byDevice.set(device.device, [...(byDevice.get(device.device) ?? []), trace]);
  }
  const closed = window.closedAt !== null;
  const devices = assurance.directory.devicesOf(window.site).filter((d) => underTest.has(d.device)).map((device) => {
    const arrivals = byDevice.get(device.device) ?? [];
    const exercised = window.exercised.includes(device.device);
    const wrong = !exercised && arrivals.some((t) => !provesDevice(t.event));
    const state: DeviceState = exercised ? 'exercised' : wrong ? 'wrong' : closed ? 'not-exercised' : 'waiting';
    return { ...deviceCard(device), state, arrivals: arrivals.map((t) => arrival(t, centralOutputs)) };
  });
  return {
    window,
    // People know the site by its name; the window names its id. Its times read in the site's zone.
    siteName: assurance.directory.site(window.site)?.name ?? window.site,
    timeZone: assurance.directory.site(window.site)?.timeZone ?? null,
    devices,
    unexpected: unexpected.map((t) => arrival(t, centralOutputs)),
    // Not every event of an incident already open: a door closing behind the installer is no call for help.
    realIncidents: during.filter((t) => isRealDuress(t.event)).map((t) => arrival(t, centralOutputs)),
    result: closed
      ? {
          exercised: devices.filter((d) => d.state === 'exercised').map((d) => d.device),
          notExercised: devices.filter((d) => d.state === 'not-exercised').map((d) => d.device),
          wrong: devices.filter((d) => d.state === 'wrong').map((d) => d.device),
        }
      : null,
  };
}

/** A duress or hold-up that is no test: it opens an incident, or belongs to the one open. */
function isRealDuress(event: NormalizedEvent): boolean {
  return !event.test && event.qualifier === 'new' && isDuress(event);
}

function inWindow(event: NormalizedEvent, start: number, end: number): boolean {
  const at = Date.parse(event.receivedAt);
  return at >= start && at <= end;
}

/**
 * Open (and recently acknowledged) incidents with what a responder needs: the site's address and response
 * instructions, what the opening event named (device or door with its location and holder, zone, user, whether
 * its source was verified; kept with the incident), the timeline of the opening event (pressed, received, stored,
 * delivered per output, acknowledged by whom) and the site's later events. Every open incident is listed, newest
 * first (a cut would hide the latest duress); acknowledged ones follow, at most ACKNOWLEDGED_SHOWN of them.
 */
export function incidents(source: ConsoleSource, includeAcknowledged: boolean) {
  const open = source.assurance.incidentRecords().sort((a, b) => b.openedAt - a.openedAt);
  const acknowledged = includeAcknowledged ? source.assurance.acknowledgedIncidents(ACKNOWLEDGED_SHOWN) : { incidents: [], total: 0 };
  // One pass over the trace for all of them: every open incident is listed, however many.
  const traced = new Map<string, TracedEvent[]>();
  for (const trace of source.feed.select((e) => e.incident != null)) {
    const events = traced.get(trace.event.incident!);
    if (events === undefined) traced.set(trace.event.incident!, [trace]);
    else events.push(trace);
  }
  return {
    incidents: [...open, ...acknowledged.incidents].map((record) => incidentPage(source, record, traced.get(record.id) ?? [])),
    moreAcknowledged: acknowledged.total - acknowledged.incidents.length,
  };
}

/** One incident with its responder context and timeline; `incidentEvents` are its traced events, oldest first. */
function incidentPage(source: ConsoleSource, record: IncidentRecord, incidentEvents: readonly TracedEvent[]) {
  const { assurance, feed } = source;
  const outputs = source.centralOutputs;
  const incident = incidentView(record);
  const site = incident.site === null ? undefined : assurance.directory.site(incident.site);
  const { opening } = record;
  const siteDevices = site === undefined ? [] : assurance.directory.devicesOf(site.id);
  const named = (ids: readonly string[]) => siteDevices.filter((d) => ids.includes(d.device)).map(deviceCard);
  const openingTrace = feed.trace(incident.openingEventId);
  const later = incidentEvents.filter((t) => t.event.id !== incident.openingEventId).slice(-20);
  return {
    ...incident,
    // Each later caller's devices also as people know them (name, location, holder).
    calls: incident.calls.map((call) => ({ ...call, named: named(call.devices) })),
    context: {
      // Its times read in the site's zone: a central station's screens are often elsewhere.
      site: site === undefined ? null : { id: site.id, name: site.name ?? site.id, address: site.address ?? null, response: site.response ?? null, timeZone: site.timeZone },
      devices: opening === null ? [] : named(opening.devices),
      zone: opening?.zone ?? null,
      door: opening?.door ?? null,
      user: opening?.user ?? null,
      // null: opened before the gateway kept this.
      verified: opening?.verified ?? null,
      unverifiedReason: opening?.unverifiedReason ?? null,
    },
    timeline: [
      { step: 'pressed', at: opening?.occurredAt ?? null },
      { step: 'received', at: incident.openedAt },
      { step: 'stored', at: iso(openingTrace?.storedAt) },
      // Per output while the opening event is still traced; the first central delivery is kept for good.
      ...(openingTrace === undefined
        ? [{ step: 'delivered to central', at: incident.deliveredAt }]
        : outputs.map((output) => ({ step: `delivered to ${output}`, at: iso(openingTrace.delivered[output]) }))),
      { step: 'acknowledged', at: incident.ackedAt, by: incident.ackedBy, note: incident.note },
    ],
    later: later.map((t) => arrival(t, outputs)),
  };
}
