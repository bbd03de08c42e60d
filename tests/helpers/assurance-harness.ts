import type { Actor } from '../../src/assurance/audit-chain.js';
import { Assurance, type AssuranceOptions } from '../../src/assurance/assurance.js';
import { AssuranceStore } from '../../src/assurance/store.js';
import { supervisionPolicy } from '../../src/assurance/supervision.js';
import { createIdSource, seededRandom } from '../../src/model/ids.js';
import type { NormalizedEvent } from '../../src/model/event.js';
import { emptySignal, type Signal } from '../../src/model/signal.js';
import { Counters } from '../../src/observability/counters.js';
import { MemoryOutbox } from '../../src/outbox/memory-outbox.js';
import { eventFromSignal, VERIFIED } from '../../src/pipeline/event-builder.js';
import { Recorder } from '../../src/pipeline/recorder.js';
import { EventBus } from '../../src/bus.js';
import { silentLogger, type Logger } from '../../src/ports.js';
import { sitesSchema, type Site } from '../../src/settings/sites.js';
import { SteppingClock } from './fake-clock.js';

/** Who opens and closes windows in these tests, and who acknowledges. */
export const INSTALLER: Actor = { name: 'installer-1', role: 'installer', channel: 'api' };
export function operator(name: string): Actor {
  return { name, role: 'operator', channel: 'api' };
}

export const MINUTE = 60_000;
export const DAY = 86_400_000;
export const WEEK = 7 * DAY;

/** The shared fake clock, starting on a Monday morning: weeks pass in a statement, and NTP may step it. */
export class FakeClock extends SteppingClock {
  constructor(start = Date.UTC(2024, 0, 1, 9, 0, 0)) {
    super(start);
  }
}

/** A bank branch with one device of each kind, plus a burglary zone that is not a duress device. */
export const SITES: readonly Site[] = sitesSchema.parse([
  {
    id: 'bank-1',
    name: 'Bank branch 1',
    accounts: ['1234'],
    zones: [
      { number: 3, name: 'Back door contact', type: 'burglary' },
      { number: 5, name: 'Teller 1 hold-up button', type: 'holdup', testEvery: '7d' },
      { number: 9, name: 'Manager pendant', type: 'panic', testEvery: '30d' },
    ],
    users: [
      { number: 4, name: 'Cleaner' },
      { number: 12, name: 'Manager duress code', duress: true, testEvery: '30d' },
    ],
    doors: [{ id: 'lobby-2', name: 'Lobby door 2', zone: 20, duress: true, testEvery: '90d' }],
  },
  { id: 'shop-2', accounts: ['5678'], zones: [{ number: 1, name: 'Till button', type: 'holdup', testEvery: '1d' }] },
]);

/**
 * A Contact ID report (DC-05 layout: event qualifier 1 new / 3 restore / 6 status, code, group, zone or user)
 * as the codec hands it to classification.
 */
export function cid(code: string, address: number, options: { qualifier?: Signal['qualifier']; account?: string } = {}): Signal {
  return {
    ...emptySignal('contact-id'),
    account: options.account ?? '1234',
    code: { scheme: 'contact-id', value: code },
    qualifier: options.qualifier ?? 'new',
    partition: 1,
    address,
  };
}

/** A SIA code (DC-03 / DC-09 SIA-DCS), e.g. `RP` automatic test with no address. */
export function sia(code: string, address: number | null, account = '1234'): Signal {
  return { ...emptySignal('sia-dcs'), account, code: { scheme: 'sia', value: code }, address };
}

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  obj: object;
  msg: string | undefined;
}

export function capturingLogger(lines: LogLine[]): Logger {
  const logger: Logger = {
    debug: (obj, msg) => void lines.push({ level: 'debug', obj, msg }),
    info: (obj, msg) => void lines.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => void lines.push({ level: 'warn', obj, msg }),
    error: (obj, msg) => void lines.push({ level: 'error', obj, msg }),
    child: () => logger,
  };
  return logger;
}

export interface HarnessOptions {
  store?: AssuranceStore;
  clock?: FakeClock;
  sites?: readonly Site[];
  supervision?: { global?: number; accounts?: Array<{ account: string; supervision?: number }> };
  duressDeadlineMs?: number;
  centralOutputs?: string[];
  /** Confirm every stored event as delivered by the `central` output at once (default true). */
  autoDeliver?: boolean;
  onIncidentsChanged?: AssuranceOptions['onIncidentsChanged'];
  audit?: AssuranceOptions['audit'];
}

/**
 * The assurance on the real Recorder and an in-memory outbox, as the gateway wires it: every stored event
 * (panel or gateway-raised) is kept in `events` in storage order and, unless `autoDeliver` is false, confirmed
 * by the central output straight away.
 */
export function harness(options: HarnessOptions = {}) {
  const clock = options.clock ?? new FakeClock();
  const store = options.store ?? AssuranceStore.open(':memory:');
  let sites = options.sites ?? SITES;
  const builder = { ids: createIdSource(clock, seededRandom(7)), sites: () => sites };
  const events: NormalizedEvent[] = [];
  const logs: LogLine[] = [];
  const outbox = new MemoryOutbox({ clock });
  const counters = new Counters();
  const assuranceOptions: Omit<AssuranceOptions, 'record'> = {
    store,
    sites: () => sites,
    clock,
    builder,
    logger: capturingLogger(logs),
    duressDeadlineMs: options.duressDeadlineMs ?? 10_000,
    supervision: supervisionPolicy(options.supervision?.global, options.supervision?.accounts ?? [], () => sites),
    centralOutputs: new Set(options.centralOutputs ?? ['central']),
    counters,
    ...(options.onIncidentsChanged === undefined ? {} : { onIncidentsChanged: options.onIncidentsChanged }),
    ...(options.audit === undefined ? {} : { audit: options.audit }),
  };
  const bus = new EventBus({ logger: silentLogger });
  const recorder = new Recorder({ outbox, counters: new Counters(), logger: silentLogger, backlogLimit: 1_000_000, bus });
  const assurance = new Assurance({ ...assuranceOptions, record: (batch) => recorder.recordRaised(batch) });
  const autoDeliver = options.autoDeliver ?? true;
  recorder.setAnnotator(assurance);
  bus.onFrameStored(assurance, (stored) => {
    assurance.stored(stored);
    events.push(...stored);
    if (autoDeliver) for (const event of stored) assurance.delivered('central', event);
  });

  /** A panel signal received now: classified against the sites, annotated, stored. Returns the stored event. */
  async function receive(signal: Signal): Promise<NormalizedEvent> {
    const event = eventFromSignal(signal, { input: 'panel', transport: 'tcp', receivedAt: clock.now(), raw: new Uint8Array([0x31]), trust: VERIFIED }, builder);
    const outcome = await recorder.record([event]);
    if (!outcome.ok) throw outcome.error;
    return outcome.events[0]!;
  }

  /** Runs the time-driven checks and waits until what they raised is stored. */
  async function tick(): Promise<void> {
    assurance.tick();
    await assurance.flush();
  }

  /** The sites are replaced, as a SIGHUP replaces them in the gateway, and the assurance is told. */
  async function reloadSites(next: readonly Site[]): Promise<void> {
    sites = next;
    assurance.sitesReloaded();
    await assurance.flush();
  }

  /** Gateway-raised supervisory events stored so far, but for the reports of a step of the host clock. */
  function supervisory(): NormalizedEvent[] {
    return events.filter((e) => e.category === 'supervisory' && e.source.input === 'assurance' && !isClockStepReport(e));
  }

  /** The reports of a step of the host clock stored so far. */
  function clockStepReports(): NormalizedEvent[] {
    return events.filter(isClockStepReport);
  }

  return { clock, store, assurance, events, logs, receive, tick, reloadSites, supervisory, clockStepReports, builder, recorder, outbox, counters };
}

function isClockStepReport(event: NormalizedEvent): boolean {
  return event.source.input === 'assurance' && event.reasons[0]?.startsWith('the host clock ') === true;
}

/** Reasons joined, for matching text without caring which reason line holds it. */
export function reasonText(event: NormalizedEvent): string {
  return event.reasons.join(' | ');
}

/**
 * A real hold-up at bank-1 left open while a busy centre opens and acknowledges `later` incidents at another site:
 * more than the recent-incidents limit buries the open one by age. Returns the open incident's id.
 */
export async function openIncidentBehind(h: ReturnType<typeof harness>, later: number): Promise<string> {
  const holdup = await h.receive(cid('122', 5));
  for (let i = 0; i < later; i++) {
    h.clock.advance(1_000);
    const event = await h.receive(cid('122', 1, { account: '5678' }));
    if (!h.assurance.acknowledge(event.incident!, operator('desk'), 'false alarm').ok) throw new Error(`incident ${event.incident} not acknowledged`);
  }
  return holdup.incident!;
}
