import { earnsTrust, receivedAtMs, type ControlAction, type NormalizedEvent } from '../model/event.js';
import { GATEWAY_ACTOR, type Actor, type AuditEntry } from './audit-chain.js';
import type { Clock, Logger } from '../ports.js';
import type { Counters } from '../observability/counters.js';
import { RateLimitedLog } from '../observability/rate-limited-log.js';
import { errorText } from '../errors.js';
import type { RetriedDeadLetter } from '../outbox/outbox.js';
import type { Site } from '../settings/sites.js';
import { gatewayEvent, VERIFIED, type EventBuilderDeps, type FrameOrigin } from '../pipeline/event-builder.js';
import { afterAnswer, type EventAnnotator, type RecordOutcome } from '../pipeline/recorder.js';
import { DeliveryDeadline, type UndeliveredDuress } from './delivery-deadline.js';
import { DeviceDirectory, isGatewayRaised, isPanelTest, isPointTest, provesDevice, type DuressDevice } from './devices.js';
import { describeSpan, formatDuration } from '../settings/duration.js';
import { ClockSteps, type ClockStep } from '../clock-steps.js';
import { buildReport, type AssuranceReport, type ReportPeriod } from './report.js';
import { Incidents } from './incidents.js';
import { DeviceLedger, MAX_ACCOUNT_PANEL_TESTS, type DeviceStatus, type PanelTestStatus } from './ledger.js';
import type { AssuranceStore, IncidentRecord, WindowRecord } from './store.js';
import { MAX_LEARNED_LINKS, Supervision, type LinkChange, type SupervisionPolicy } from './supervision.js';
import { currentSlot } from './test-schedules.js';
import { changesAnything, deviceLabel, devicesBySite, listedChange, siteConfigsOf, sitesChange, sitesDigest, SITES_LISTED, type SiteConfigRecord } from './site-configs.js';
import { TestWindows, type OpenWindowResult, type WindowOutcome, type WindowRequest } from './test-windows.js';

export interface AssuranceOptions {
  store: AssuranceStore;
  sites: () => readonly Site[];
  clock: Clock;
  /** Ids for the events, windows and incidents this raises, and the sites for their responder context. */
  builder: EventBuilderDeps;
  /** Stores the supervisory events this raises (the gateway's Recorder.recordRaised: never refused for a backlog). */
  record: (events: NormalizedEvent[]) => Promise<RecordOutcome>;
  logger: Logger;
  duressDeadlineMs: number;
  supervision: SupervisionPolicy;
  /** Outputs of audience `central`: only their deliveries confirm a duress. */
  centralOutputs: ReadonlySet<string>;
  /** The hash-chained audit log: control actions and each duress event's lifecycle. */
  audit?: (entry: AuditEntry) => void;
  /** Told of an incident that opened or was acknowledged, as it now stands (retained incident states). */
  onIncidentsChanged?: (incident: IncidentRecord) => void;
  /**
   * Inputs that report every frame's traffic themselves (`traffic`, from the bus's trafficSeen) before its events
   * are stored, with the time the events carry: their stored events are not reported to supervision again.
   */
  trafficReportingInputs?: ReadonlySet<string>;
  /** Counts what a bound on input-derived records evicted (`assurance_records_evicted_total`, by kind). */
  counters?: Pick<Counters, 'inc'>;
  /** Raised events a previous run could not store (kept through onUnstoredChanged): stored at once. */
  carried?: readonly NormalizedEvent[];
  /**
   * Told the raised events not stored yet each time they change, to keep them across a restart: a control action
   * answered 503 CONTROL_NOT_STORED is promised to reach central.
   */
  onUnstoredChanged?: (events: readonly NormalizedEvent[]) => void;
}

export interface AssuranceHealth {
  state: 'up' | 'degraded';
  detail?: string;
  undeliveredDuress: Array<{ eventId: string; account: string | null; site: string | null; category: string; receivedAt: string; ageMs: number }>;
  lostLinks: Array<{ account: string; since: string }>;
  openIncidents: number;
  overdueDevices: number;
  neverTestedDevices: number;
  testWindows: number;
}

/**
 * Resolves once a control action's event for central is in the outbox (its group commit), or with the outbox's
 * error: the event is then kept and stored again at each check. Never rejects. The API answers only after it.
 */
export type ControlStored = Promise<{ ok: true } | { ok: false; error: unknown }>;

/** What a control action whose event for central was refused says (the API's 503, MQTT's refusal): `done` stands. */
export function notStoredMessage(done: string, error: unknown): string {
  const cause = error instanceof Error ? error.message : String(error);
  return `${done} and is in the audit log, but its event for central is not stored yet (${cause}); the gateway stores it again at each check, so it need not be repeated (a repeat is answered with what stands)`;
}

export type StartWindowOutcome = Extract<OpenWindowResult, { ok: false }> | (Extract<OpenWindowResult, { ok: true }> & { stored: ControlStored });

export type AcknowledgeOutcome =
  | { ok: true; incident: IncidentRecord; stored: ControlStored }
  | { ok: false; reason: 'unknown' | 'already-acknowledged'; incident?: IncidentRecord };

/** Where the events this raises say they come from (no panel frame behind them). */
export const ASSURANCE_INPUT = 'assurance';

const RECENT_LIMIT = 500;

/** Central hears that supervision forgets links at most this often while it goes on (see linkForgotten). */
const LINKS_FORGOTTEN_REPORT_EVERY_MS = 3_600_000;

const NO_DEVICES: readonly DuressDevice[] = [];
/** Device history (tests, uses, missed tests) is kept this long: a year's report and its 90-day chart. */
export const HISTORY_RETENTION_MS = 455 * 86_400_000;
const HISTORY_PRUNE_EVERY_MS = 86_400_000;

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** How a supervisory event names a device in its `devices` field. */
function deviceRef(device: DuressDevice | DeviceStatus): Record<string, unknown> {
  const { site, device: name, kind, number } = device;
  return {
    site,
    device: name,
    kind,
    number,
    name: device.name,
    ...(device.type === undefined ? {} : { type: device.type }),
    ...(device.door === undefined ? {} : { door: device.door }),
  };
}

function describeActor(actor: Actor): string {
  return actor.channel === 'gateway' ? 'the gateway' : `${actor.name} (${actor.role}, ${actor.channel})`;
}

/** What the audit log keeps of a duress event: enough to find it in the outbox and the outputs. */
function duressDetails(event: NormalizedEvent): Record<string, unknown> {
  return {
    eventId: event.id,
    category: event.category,
    account: event.account,
    site: event.site?.id ?? null,
    test: event.test,
    verified: event.verified,
    incident: event.incident ?? null,
  };
}

/** A control action and what it acted on (its window, incident or output). */
function controlKey(action: ControlAction, subject: string | undefined): string {
  return `${action}\u0000${subject}`;
}

function labelOf(device: DuressDevice): string {
  return `${device.device} "${device.name}"`;
}

/**
 * Duress assurance: the device test ledger, test windows, link supervision, the duress latch and the delivery
 * deadline. `annotate` (the recorder's annotator) marks tests and incident ids before an event is stored; `stored`
 * (on the bus's frameStored) updates the ledger, windows, supervision and deadlines once it is durable; `tick` does what time alone decides.
 * What it finds is published as `supervisory` events through the same recorder as every panel event.
 */
export class Assurance implements EventAnnotator {
  readonly directory: DeviceDirectory;
  readonly ledger: DeviceLedger;
  readonly windows: TestWindows;
  readonly incidents: Incidents;
  readonly supervision: Supervision;
  readonly deadline: DeliveryDeadline;
  private readonly inFlight = new Set<Promise<unknown>>();
  /**
   * The windows that made an event a test, from annotate() to stored(): which devices it tested is what was under
   * test when it was marked, even if a window closes while it is being stored.
   */
  private readonly coveredBy = new WeakMap<NormalizedEvent, readonly WindowRecord[]>();
  /** The incident an event opened, from annotate() to stored(), which logs it once the event's answer is out. */
  private readonly opening = new WeakMap<NormalizedEvent, IncidentRecord>();
  /** Raised events the outbox did not take (a failed write): stored again at each tick, so none is lost. */
  private readonly unstored: Set<NormalizedEvent>;
  /** Links forgotten at the bound since central was last told, and when it was (see linkForgotten). */
  private linksForgotten = 0;
  private linksForgottenToldAt = Number.NEGATIVE_INFINITY;
  /** Those of them being stored again now: a tick does not store one twice. */
  private readonly retrying = new Set<NormalizedEvent>();
  /**
   * The latest store of each control action's event not stored yet, by action and subject: a repeated opening, stop
   * or acknowledgement is answered as that event's store is (503 until it is stored, as the first was).
   */
  private readonly controlsStoring = new Map<string, ControlStored>();
  private historyPrunedAt = Number.NEGATIVE_INFINITY;
  /** Evictions at a bound come in floods: a line per kind every 10 s, with how many it stands for. */
  private readonly evictions: RateLimitedLog;
  private readonly clockSteps: ClockSteps;
  /** Steps central is told of at the next check (not at once: one may be noticed while an event is being stored). */
  private stepsToReport: ClockStep[] = [];
  /**
   * The sites as last loaded (read from the store once, at start, then kept here): a reload compares with them
   * without reading the store, which a full disk may refuse while the reload must still be told.
   */
  private loadedSites: SiteConfigRecord[];

  constructor(private readonly options: AssuranceOptions) {
    const { store, sites, clock, builder } = options;
    // Looked at before the first reading: every time read since lies in the range a step moves.
    this.clockSteps = new ClockSteps(clock);
    this.clockSteps.look();
    const now = clock.now();
    this.evictions = new RateLimitedLog({ logger: options.logger, clock });
    this.directory = new DeviceDirectory(sites);
    this.ledger = new DeviceLedger(store, this.directory, ({ account }) => {
      options.counters?.inc('assurance_records_evicted_total', { kind: 'panel-test' });
      this.evictions.warn('panel-test', undefined, { account, limit: MAX_ACCOUNT_PANEL_TESTS }, 'panel test record forgotten: test reports came from too many accounts on no site');
    });
    this.windows = new TestWindows(store, this.directory, builder.ids, options.logger);
    this.incidents = new Incidents(store, builder.ids, this.directory);
    this.supervision = new Supervision(store, options.supervision, now, (link) => this.linkForgotten(link));
    this.deadline = new DeliveryDeadline(options.duressDeadlineMs);
    this.unstored = new Set(options.carried);
    this.loadedSites = store.siteConfigs();
    // Now, not at the first check: a repeated opening of a window among them waits for its event (see startWindow).
    for (const event of this.unstored) this.store(event, 'again');
    this.ledger.enroll(now);
    this.sitesLoaded('start', now);
    // Once each way: a retry every second would log a line (and a stack) a second for as long as the fault lasts.
    store.onWriteError((error) =>
      options.logger.error({ code: error.code, cause: errorText(error.cause) }, `assurance ledger cannot be written (${errorText(error.cause)}); retrying every second`),
    );
    store.onWriteRecovered((failedForMs) => options.logger.warn({ failedForMs: Math.round(failedForMs) }, 'assurance ledger written again'));
  }

  annotate(event: NormalizedEvent): void {
    // A refused frame's content is published, but it opens no incident and counts as no test.
    if (!earnsTrust(event)) return;
    const at = receivedAtMs(event, this.now());
    if (!isGatewayRaised(event) && !event.test && this.windows.anyOpen()) {
      const windows = this.windows.covering(event, this.directory.namedBy(event), at);
      if (windows.length > 0) {
        this.coveredBy.set(event, windows);
        event.test = true;
        event.reasons.push(`test window ${windows.map((w) => w.id).join(', ')} is open for site ${windows[0]!.site}`);
      }
    }
    const { opened, grouped } = this.incidents.annotate(event, at);
    if (grouped) this.options.counters?.inc('assurance_incidents_grouped_total');
    if (opened !== undefined) {
      this.opening.set(event, opened);
      this.options.onIncidentsChanged?.(opened);
    }
  }

  stored(events: readonly NormalizedEvent[]): void {
    const now = this.now();
    const reportedBy = this.options.trafficReportingInputs;
    // A frame's events share their account and time: its traffic is reported once, not once per event.
    let reportedAccount: string | null = null;
    let reportedAt = Number.NaN;
    for (const event of events) {
      const at = receivedAtMs(event, now);
      // Its delivery is still watched: a duress nobody vouches for must reach central all the same.
      this.deadline.track(event, at, this.options.clock.monotonic?.());
      if (event.duress) this.audit('duress-stored', GATEWAY_ACTOR, duressDetails(event));
      const opened = this.opening.get(event);
      if (opened !== undefined) {
        afterAnswer(() =>
          this.options.logger.warn(
            { incident: opened.id, site: opened.site, account: opened.account, eventId: event.id, category: event.category },
            'duress incident opened; it stays open until acknowledged',
          ),
        );
      }
      if (!earnsTrust(event)) continue;
      const { account } = event;
      if (account !== null && !isGatewayRaised(event) && reportedBy?.has(event.source.input) !== true && (account !== reportedAccount || at !== reportedAt)) {
        this.traffic(account, at);
        reportedAccount = account;
        reportedAt = at;
      }
      // The devices named are looked up (a filter of the site's devices) only for an event that proves some.
      const named = provesDevice(event) ? this.directory.namedBy(event) : NO_DEVICES;
      if (named.length > 0) {
        const exercised = event.test ? this.windows.recordExercise(this.coveredBy.get(event) ?? [], named) : NO_DEVICES;
        // A walk-test report tests its point in or out of a window; a call for help tests only the devices under
        // test, and is a real use of any other it names.
        const tested = isPointTest(event) ? named : exercised;
        this.ledger.recordTest(tested, event, at);
        this.ledger.recordActivation(named.filter((d) => !tested.includes(d)), event, at);
      }
      if (isPanelTest(event)) this.ledger.recordPanelTest(event, at);
    }
  }

  /** Any message from an account, heartbeats included (Dc09Receiver's onTraffic, and every stored event). */
  traffic(account: string, at: number): void {
    this.followClockSteps();
    const restored = this.supervision.traffic(account, at);
    if (restored !== undefined) this.linkChanged(restored, at);
  }

  /** The dispatcher's onDelivered: a central output's delivery confirms a duress in time (or clears the alert). */
  delivered(output: string, event: NormalizedEvent): void {
    if (event.duress) this.audit('duress-delivered', GATEWAY_ACTOR, { ...duressDetails(event), output });
    if (!this.options.centralOutputs.has(output)) return;
    this.incidents.delivered(event, this.now());
    const late = this.deadline.confirm(event.id);
    if (late === undefined) return;
    const now = this.now();
    this.options.logger.info({ eventId: late.eventId, output, lateByMs: now - late.receivedAt }, 'undelivered duress now delivered');
    this.raise(
      {
        category: 'supervisory',
        qualifier: 'restore',
        account: late.account,
        reasons: [
          `${late.category} event ${late.eventId} was delivered to central output ${output} ${describeSpan(now - late.receivedAt)} after it was received`,
        ],
      },
      now,
      late.incident,
    );
  }

  /** What time alone decides: scheduled windows open, windows expire, devices fall overdue, links fall silent, deadlines pass. */
  tick(): void {
    const now = this.now();
    for (const step of this.stepsToReport.splice(0)) this.clockStepReported(step, now);
    for (const event of this.unstored) if (!this.retrying.has(event)) this.store(event, 'again');
    for (const site of this.options.sites()) {
      const slot = currentSlot(site, now);
      const window = slot === undefined ? undefined : this.windows.startScheduled(slot, now);
      if (window !== undefined) this.windowOpened(window, GATEWAY_ACTOR, `testSchedule of site ${window.site}, slot ${window.scheduleSlot}`, now);
    }
    for (const outcome of this.windows.expire(now)) this.windowClosed(outcome, now, GATEWAY_ACTOR);
    for (const outcome of this.windows.stopAheadOfClock(now, GATEWAY_ACTOR.name))
      this.windowClosed(outcome, now, GATEWAY_ACTOR, "the host clock went back past the window's opening");
    this.ledger.enroll(now);
    for (const status of this.ledger.newlyOverdue(now)) this.deviceOverdue(status, now);
    for (const change of this.supervision.check(now)) this.linkChanged(change, now);
    for (const missed of this.deadline.due(now, this.options.clock.monotonic?.())) this.deliveryMissed(missed, now);
    if (now - this.historyPrunedAt >= HISTORY_PRUNE_EVERY_MS) {
      this.options.store.pruneHistory(now - HISTORY_RETENTION_MS);
      this.historyPrunedAt = now;
    }
  }

  /** The wall clock, once the windows, supervision and ledger have followed any step of it since the last reading. */
  private now(): number {
    this.followClockSteps();
    return this.options.clock.now();
  }

  private followClockSteps(): void {
    const step = this.clockSteps.look();
    if (step === undefined) return;
    this.stepsToReport.push(step);
    this.options.logger.warn({ steppedMs: step.by }, 'the host clock was stepped; link supervision, the device ledger and delivery deadlines follow it');
    this.windows.clockStepped(step);
    this.supervision.clockStepped(step);
    this.ledger.clockStepped(step);
    this.deadline.clockStepped(step);
  }

  /**
   * Tells central that the events stored before a step carry receipt times off by the step: a Pi boots on the time
   * it shut down at (or in 1970), and what it received until NTP set it reads as days, or decades, old. Stored and
   * published events are not rewritten; the responder reading one needs to know.
   */
  private clockStepReported({ by, from, to }: ClockStep, now: number): void {
    const span = describeSpan(Math.abs(by));
    const stored = `events stored from ${iso(from)} to ${iso(to)} carry a receivedAt`;
    const reason =
      by > 0
        ? `the host clock moved forward by ${span} against the monotonic clock: NTP set it (${stored} that much earlier than when they arrived), or the host was suspended that long`
        : `the host clock was stepped back by ${span} (NTP correcting a clock that ran fast): ${stored} that much later than when they arrived`;
    this.raise({ category: 'supervisory', account: null, reasons: [reason] }, now);
  }

  /** The gateway replaced the sites (SIGHUP): what changed is chained in the audit log and told to central. */
  sitesReloaded(): void {
    this.sitesLoaded('reload', this.now());
  }

  /**
   * Compares the sites with those recorded at the last start or reload, and records them. Whoever may edit the
   * configuration can make a duress device an ordinary one, or remove its site: a change, made while running or
   * while stopped, is chained (`sites-changed`, with each site's digest) and told to central per site, naming the
   * duress devices it took away or added. Unchanged (or with nothing recorded yet), the digests are chained alone.
   */
  private sitesLoaded(how: 'start' | 'reload', now: number): void {
    const before = this.loadedSites;
    const after = siteConfigsOf(this.options.sites());
    this.loadedSites = after;
    this.options.store.replaceSiteConfigs(after);
    const loaded = { how, sites: after.length, digest: sitesDigest(after) };
    const change = sitesChange(before, after);
    if (before.length === 0 || !changesAnything(change)) {
      this.audit('sites-loaded', GATEWAY_ACTOR, loaded);
      return;
    }
    this.audit('sites-changed', GATEWAY_ACTOR, { ...loaded, ...listedChange(change) });
    const { added, removed, changed } = change;
    this.options.logger.warn(
      { how, added: added.length, removed: removed.length, changed: changed.length, duressDevicesRemoved: change.duressDevicesRemoved.length },
      'the configuration of sites changed; central is told',
    );
    const when = how === 'start' ? ' while the gateway was stopped' : ' on reload';
    const records = new Map([...before, ...after].map((record) => [record.site, record]));
    const devicesRemoved = devicesBySite(change.duressDevicesRemoved);
    const devicesAdded = devicesBySite(change.duressDevicesAdded);
    const told: Array<[string, string]> = [
      ...added.map((site): [string, string] => [site, `site ${site} was added to the configuration${when}`]),
      ...changed.map((site): [string, string] => [site, `configuration of site ${site} changed${when}`]),
      ...removed.map((site): [string, string] => [site, `site ${site} was removed from the configuration${when}`]),
    ];
    for (const [site, what] of told.slice(0, SITES_LISTED)) {
      const record = records.get(site)!;
      const lost = devicesRemoved.get(site) ?? [];
      const gained = devicesAdded.get(site) ?? [];
      const reasons = [
        `${what} (configuration digest ${record.digest.slice(0, 16)})`,
        ...(lost.length === 0 ? [] : [`no longer a duress device: ${lost.map(deviceLabel).join(', ')}`]),
        ...(gained.length === 0 ? [] : [`new duress device: ${gained.map(deviceLabel).join(', ')}`]),
      ];
      this.raise({ category: 'supervisory', account: record.accounts[0] ?? null, reasons }, now);
    }
    if (told.length > SITES_LISTED)
      this.raise({ category: 'supervisory', account: null, reasons: [`${told.length - SITES_LISTED} more sites were added, changed or removed${when}; the audit log's sites-changed record counts them`] }, now);
  }

  /** Opens a test window for `actor`; published to central and audited, with the actor's note. */
  startWindow(request: WindowRequest, actor: Actor, note: string | null = null): StartWindowOutcome {
    const now = this.now();
    const result = this.windows.start(request, now);
    if (!result.ok) return result;
    // A repeat changes nothing: it is answered as the opening is, once (and only if) its event is stored.
    if (result.repeated) return { ...result, stored: this.storing('test-window-opened', result.window.id) };
    return { ...result, stored: this.windowOpened(result.window, actor, note, now) };
  }

  /** A window opened (by a person, or by a site's testSchedule as the gateway): logged, published, audited. */
  private windowOpened(window: WindowRecord, actor: Actor, note: string | null, now: number): ControlStored {
    const { id, site, endsAt, devices } = window;
    this.options.logger.info({ window: id, site, endsAt: iso(endsAt), devices: devices ?? 'all', by: actor.name, role: actor.role, note }, 'test window opened');
    const covered = this.windows.statusOf(window).covered;
    return this.control('test-window-opened', actor, note, { window: id }, now, {
      account: this.directory.site(site)?.accounts[0] ?? null,
      devices: covered.map(deviceRef),
      reasons: [
        `test window ${id} for site ${site} opened by ${describeActor(actor)} until ${iso(endsAt)}: events from ${devices === null ? 'the site' : devices.join(', ')} are published as tests`,
      ],
    }, { site, endsAt: iso(endsAt), devices: devices ?? 'all' });
  }

  /** Closes a window now for `actor` and publishes its outcome; undefined when no open window has this id. */
  stopWindow(id: string, actor: Actor, note: string | null = null): { window: WindowRecord; stored: ControlStored } | undefined {
    const now = this.now();
    const outcome = this.windows.stop(id, now, actor.name);
    if (outcome === undefined) return undefined;
    if (outcome.repeated) return { window: outcome.window, stored: this.storing('test-window-stopped', id) };
    return { window: outcome.window, stored: this.windowClosed(outcome, now, actor, note) };
  }

  /** Open windows; with `all`, recently closed ones too (newest first). */
  windowRecords(all = false): WindowRecord[] {
    return all ? this.options.store.recentWindows(RECENT_LIMIT) : this.windows.list();
  }

  /** Closes an incident for `actor`: published to central as a control action and audited. */
  acknowledge(id: string, actor: Actor, note: string | null): AcknowledgeOutcome {
    const now = this.now();
    const result = this.incidents.acknowledge(id, actor.name, note, now);
    if (!result.ok) return result.incident === undefined ? { ok: false, reason: result.reason } : { ok: false, reason: result.reason, incident: result.incident };
    const { incident } = result;
    if (result.repeated) return { ok: true, incident, stored: this.storing('incident-acknowledged', id) };
    this.options.logger.info({ incident: id, by: actor.name, role: actor.role, channel: actor.channel, note }, 'duress incident acknowledged');
    const stored = this.control(
      'incident-acknowledged',
      actor,
      note,
      { incident: id },
      now,
      {
        account: incident.account,
        reasons: [
          `${incident.category} incident ${id}${incident.site === null ? '' : ` at site ${incident.site}`} (${incident.eventCount} event(s) since ${iso(incident.openedAt)}) acknowledged by ${describeActor(actor)}${note === null ? '' : `: ${note}`}`,
        ],
      },
      { site: incident.site, account: incident.account, category: incident.category, openingEventId: incident.openingEventId },
      id,
    );
    this.options.onIncidentsChanged?.(incident);
    return { ok: true, incident, stored };
  }

  /**
   * Dead letters of `output` put back in its queue for `actor` (Outbox.retryDeadLetters): published to central as a
   * control action and audited, naming the letters and their events.
   */
  deadLettersRetried(output: string, retried: readonly RetriedDeadLetter[], actor: Actor, note: string | null): ControlStored {
    const now = this.now();
    const duress = retried.filter(({ entry }) => entry.event.duress).length;
    this.options.logger.info({ output, count: retried.length, duress, by: actor.name, role: actor.role, channel: actor.channel, note }, 'dead letters retried');
    return this.control(
      'dead-letters-retried',
      actor,
      note,
      { output },
      now,
      {
        account: null,
        reasons: [
          `${retried.length} dead letter(s) of output ${output}${duress > 0 ? ` (${duress} duress or hold-up)` : ''} put back in its queue by ${describeActor(actor)}${note === null ? '' : `: ${note}`}`,
        ],
      },
      { count: retried.length, seqs: retried.map((r) => r.deadSeq), eventIds: retried.map((r) => r.entry.event.id) },
    );
  }

  /** Open incidents; with `all`, every open one and the most recent acknowledged ones (newest first). */
  incidentRecords(all = false): IncidentRecord[] {
    return all ? this.incidents.recent(RECENT_LIMIT) : this.incidents.open();
  }

  /** The most recently opened acknowledged incidents (newest first), and how many there are in all. */
  acknowledgedIncidents(limit: number): { incidents: IncidentRecord[]; total: number } {
    return this.options.store.acknowledgedIncidents(limit);
  }

  /** The assurance report of a site for a period of its local days; undefined for an unknown site. */
  report(siteId: string, period: ReportPeriod): AssuranceReport | undefined {
    const site = this.directory.site(siteId);
    return site === undefined ? undefined : buildReport(this.options.store, { site, period, now: this.now() });
  }

  deviceReport(): { devices: DeviceStatus[]; panels: PanelTestStatus[] } {
    return { devices: this.ledger.list(this.now()), panels: this.ledger.panelTests() };
  }

  health(): AssuranceHealth {
    const now = this.now();
    const undelivered = this.deadline.alerts();
    const devices = this.ledger.list(now);
    const problems = [
      ...(undelivered.length > 0 ? [`${undelivered.length} duress event(s) not confirmed by a central output`] : []),
      ...(this.unstored.size > 0 ? [`${this.unstored.size} supervisory event(s) not stored yet (the outbox refuses writes)`] : []),
    ];
    return {
      state: problems.length > 0 ? 'degraded' : 'up',
      ...(problems.length > 0 ? { detail: problems.join('; ') } : {}),
      undeliveredDuress: undelivered.map((u) => ({
        eventId: u.eventId,
        account: u.account,
        site: u.site,
        category: u.category,
        receivedAt: iso(u.receivedAt),
        ageMs: now - u.receivedAt,
      })),
      lostLinks: this.supervision.lost().map((l) => ({ account: l.account, since: iso(l.since) })),
      openIncidents: this.incidents.openCount(),
      overdueDevices: devices.filter((d) => d.overdue).length,
      neverTestedDevices: devices.filter((d) => d.neverTested).length,
      testWindows: this.windows.list().length,
    };
  }

  /** Resolves once every event raised so far has been recorded. */
  async flush(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private windowClosed(outcome: WindowOutcome, now: number, actor: Actor, note: string | null = null): ControlStored {
    const { window, covered, exercised, notExercised } = outcome;
    const site = this.directory.site(window.site);
    const expired = window.closeReason === 'expired';
    this.options.logger.info(
      { window: window.id, site: window.site, exercised: exercised.map((d) => d.device), notExercised: notExercised.map((d) => d.device), by: actor.name },
      'test window closed',
    );
    const stored = this.control(
      expired ? 'test-window-expired' : 'test-window-stopped',
      actor,
      note,
      { window: window.id },
      now,
      {
        account: site?.accounts[0] ?? null,
        devices: notExercised.map(deviceRef),
        reasons: [
          `test window ${window.id} for site ${window.site} ${expired ? 'expired' : `was stopped by ${describeActor(actor)}`}: ${exercised.length} of ${covered.length} duress device(s) reported`,
          notExercised.length === 0
            ? 'every device under test reported'
            : `not exercised: ${notExercised.map(labelOf).join(', ')}`,
        ],
      },
      { site: window.site, exercised: exercised.map((d) => d.device), notExercised: notExercised.map((d) => d.device) },
    );
    if (window.scheduleSlot !== null) for (const device of notExercised) this.testMissed(device, window, now);
    return stored;
  }

  /** A device a scheduled window did not see: one missed-test event per device, and a mark in the ledger. */
  private testMissed(device: DuressDevice, window: WindowRecord, now: number): void {
    this.ledger.recordMissed(device, window.id, now);
    this.options.logger.warn({ site: device.site, device: device.device, window: window.id }, 'duress device missed its scheduled test');
    this.raise(
      {
        category: 'supervisory',
        account: this.directory.site(device.site)?.accounts[0] ?? null,
        devices: [deviceRef(device)],
        reasons: [
          `missed scheduled test: duress device ${labelOf(device)} at site ${device.site} did not report in scheduled test window ${window.id} (${iso(window.startedAt)} to ${iso(window.endsAt)})`,
        ],
      },
      now,
    );
  }

  /** A control action: one supervisory event (central outputs only, see the dispatcher) and one audit record. */
  private control(
    action: ControlAction,
    actor: Actor,
    note: string | null,
    subject: { window?: string; incident?: string; output?: string },
    now: number,
    fields: Omit<Parameters<typeof gatewayEvent>[0], 'category'>,
    details: Record<string, unknown>,
    incident: string | null = null,
  ): ControlStored {
    this.audit(action, actor, { ...subject, ...details, note });
    const control = { action, by: actor.name, role: actor.role, channel: actor.channel, note, ...subject };
    return this.raise({ category: 'supervisory', ...fields }, now, incident, control);
  }

  private audit(action: AuditEntry['action'], actor: Actor, details: Record<string, unknown>): void {
    const audit = this.options.audit;
    if (audit === undefined) return;
    try {
      audit({ action, actor, details });
    } catch (error) {
      // The audit file failing (disk full) must never stop an event or an acknowledgement: log it loudly.
      this.options.logger.error({ err: error, action }, 'audit record not written');
    }
  }

  private deviceOverdue(status: DeviceStatus, now: number): void {
    this.options.logger.warn({ site: status.site, device: status.device, dueAt: status.dueAt }, 'duress device overdue for its test');
    const last = status.lastTestedAt === null ? 'never tested' : `last tested ${status.lastTestedAt}`;
    this.raise(
      {
        category: 'supervisory',
        account: this.directory.site(status.site)?.accounts[0] ?? null,
        devices: [deviceRef(status)],
        reasons: [
          `duress device ${status.device} "${status.name}" at site ${status.site} is overdue for its test: ${last}, due ${status.dueAt} (testEvery ${formatDuration(status.testEvery ?? 0)})`,
        ],
      },
      now,
    );
  }

  /**
   * Supervision forgot a learned link at its bound. A sender that cuts a panel's line and then names enough made-up
   * accounts within the interval has that silent link forgotten before it is reported lost, so central is told that
   * supervision is degraded: at the first eviction, then at most once an hour with the count since.
   */
  private linkForgotten({ account, lostAt }: { account: string; lostAt: number | null }): void {
    const { counters, clock } = this.options;
    counters?.inc('assurance_records_evicted_total', { kind: 'link' });
    this.evictions.warn(
      'link',
      undefined,
      { account, lost: lostAt !== null, limit: MAX_LEARNED_LINKS },
      'supervision forgot the link of an account nobody configured: too many accounts reported (configure the accounts to supervise)',
    );
    this.linksForgotten += 1;
    // The monotonic clock where there is one: a step of the wall clock neither silences nor repeats the report.
    const at = clock.monotonic?.() ?? clock.now();
    if (at - this.linksForgottenToldAt < LINKS_FORGOTTEN_REPORT_EVERY_MS) return;
    this.linksForgottenToldAt = at;
    const forgotten = this.linksForgotten;
    this.linksForgotten = 0;
    const state = lostAt === null ? 'not reported lost' : `lost since ${iso(lostAt)}`;
    this.raise(
      {
        category: 'supervisory',
        account: null,
        reasons: [
          `supervision degraded: more than ${MAX_LEARNED_LINKS} accounts that no site or DC-09 entry lists have reported, so the least recently reporting are forgotten (${forgotten === 1 ? '1 link' : `${forgotten} links`} forgotten since the last report, the latest account ${account}, ${state}): a line cut among them may never be reported as communication lost; configure the accounts whose line you rely on`,
        ],
      },
      clock.now(),
    );
  }

  private linkChanged(change: LinkChange, now: number): void {
    const { account, intervalMs, silentMs } = change;
    if (change.change === 'lost') this.options.logger.warn({ account, silentMs, intervalMs }, 'communication lost');
    else this.options.logger.info({ account, silentMs }, 'communication restored');
    this.raise(
      {
        category: 'supervisory',
        qualifier: change.change === 'lost' ? 'new' : 'restore',
        account,
        reasons: [
          change.change === 'lost'
            ? `communication lost: no message from account ${account} for ${describeSpan(silentMs)} (supervision ${formatDuration(intervalMs)})`
            : `communication restored: account ${account} reported again after ${describeSpan(silentMs)} of silence`,
        ],
      },
      now,
    );
  }

  private deliveryMissed(missed: UndeliveredDuress, now: number): void {
    const { eventId, category, account, incident } = missed;
    this.options.logger.error(
      { eventId, category, account, site: missed.site, ageMs: now - missed.receivedAt },
      'duress event not confirmed by any central output in time',
    );
    this.raise(
      {
        category: 'supervisory',
        account,
        reasons: [
          `${category}${missed.test ? ' test' : ''} event ${eventId} from account ${account ?? '(none)'} was not confirmed by any central output within ${formatDuration(this.options.duressDeadlineMs)}: responders may not know`,
        ],
      },
      now,
      incident,
    );
  }

  /**
   * Stores a supervisory event, `covert`: no `local` output receives it. Each may depend on a duress (device
   * results, delivery deadlines, a link restored by a duress frame, since a panel's traffic includes its duress
   * signals), and when and how those change would tell a local output that a duress happened.
   */
  private raise(
    fields: Parameters<typeof gatewayEvent>[0],
    now: number,
    incident: string | null = null,
    control?: NonNullable<NormalizedEvent['control']>,
  ): ControlStored {
    const origin: FrameOrigin = { input: ASSURANCE_INPUT, transport: 'cli', receivedAt: now, raw: new Uint8Array(), trust: VERIFIED };
    const event = gatewayEvent(fields, origin, this.options.builder);
    event.covert = true;
    if (incident !== null) event.incident = incident;
    if (control !== undefined) event.control = control;
    return this.store(event, 'first');
  }

  /**
   * Records a raised event. What it reports has happened (a window is open, a deadline passed) and must reach
   * central: when the outbox fails the event is kept and stored again at the next tick, logged at its first failure.
   */
  private store(event: NormalizedEvent, attempt: 'first' | 'again'): ControlStored {
    if (attempt === 'again') this.retrying.add(event);
    const { control } = event;
    const storingKey = control == null ? undefined : controlKey(control.action, control.window ?? control.incident ?? control.output);
    const recording: ControlStored = this.options
      .record([event])
      .then(
        (outcome) => (outcome.ok ? { ok: true as const } : { ok: false as const, error: outcome.error }),
        (error: unknown) => ({ ok: false as const, error }),
      )
      .then((outcome) => {
        this.retrying.delete(event);
        if (outcome.ok) {
          if (storingKey !== undefined && this.controlsStoring.get(storingKey) === recording) this.controlsStoring.delete(storingKey);
          if (this.unstored.delete(event)) this.options.onUnstoredChanged?.([...this.unstored]);
        } else if (attempt === 'first') {
          this.options.logger.error({ err: outcome.error, reasons: event.reasons }, 'supervisory event not stored yet; stored again at each check');
          this.unstored.add(event);
          this.options.onUnstoredChanged?.([...this.unstored]);
        }
        return outcome;
      })
      .finally(() => this.inFlight.delete(recording));
    this.inFlight.add(recording);
    if (storingKey !== undefined) this.controlsStoring.set(storingKey, recording);
    return recording;
  }

  /**
   * Stores a report for central the gateway itself raised (an API token created or found): like a control action's
   * event, kept and stored again at each check while the outbox refuses it.
   */
  reportToCentral(event: NormalizedEvent): ControlStored {
    return this.store(event, 'first');
  }

  /** How a repeated control action is answered: as its event's store is, or stored when it is no longer pending. */
  private storing(action: ControlAction, subject: string): ControlStored {
    return this.controlsStoring.get(controlKey(action, subject)) ?? Promise.resolve({ ok: true });
  }
}
