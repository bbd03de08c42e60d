import type { NormalizedEvent } from '../model/event.js';
import type { IdSource } from '../model/ids.js';
import type { Logger } from '../ports.js';
import { CLOCK_STEP_MS, type ClockStep } from '../clock-steps.js';
import { isDuress, type DeviceDirectory, type DuressDevice } from './devices.js';
import type { AssuranceStore, WindowRecord } from './store.js';
import type { ScheduledSlot } from './test-schedules.js';

/** Longest test window: a forgotten window must not mask real alarms for days. */
export const MAX_WINDOW_MINUTES = 24 * 60;

export interface WindowRequest {
  site: string;
  minutes: number;
  /** Device names (`zone-5`, `user-12`, `door-lobby-2`); absent: every duress device of the site. */
  devices?: readonly string[];
}

export type OpenWindowResult =
  /** `repeated`: the request repeats one whose window is still open, which is the window (see start). */
  | { ok: true; window: WindowRecord; repeated: boolean }
  | { ok: false; reason: 'unknown-site' | 'invalid-request'; message: string };

/** What a window found, reported once when it closes. */
export interface WindowOutcome {
  window: WindowRecord;
  /** The duress devices the window covered. */
  covered: DuressDevice[];
  exercised: DuressDevice[];
  notExercised: DuressDevice[];
}

/** Slots remembered before the memory is cleared (each costs one store read more afterwards). */
const KNOWN_SLOTS_LIMIT = 10_000;

function windowScope(window: WindowRecord, named: readonly DuressDevice[]): DuressDevice[] {
  return window.devices === null ? [...named] : named.filter((d) => window.devices!.includes(d.device));
}

/**
 * Time-boxed test windows per site. An event from the site inside a window is a test; with a device list, only
 * events naming a listed device are. A duress or hold-up is a test only when every duress device it names is under
 * test: a real duress from any other device (or from no configured device) is never mistaken for one.
 */
export class TestWindows {
  private readonly open = new Map<string, WindowRecord>();
  /** Schedule slots already looked up or opened, so a slot costs one store read. */
  private readonly knownSlots = new Set<string>();

  constructor(
    private readonly store: AssuranceStore,
    private readonly directory: DeviceDirectory,
    private readonly ids: IdSource,
    private readonly logger: Logger,
  ) {
    for (const window of store.openWindows()) this.open.set(window.id, window);
  }

  start(request: WindowRequest, now: number): OpenWindowResult {
    const { minutes, devices } = request;
    const site = this.directory.siteByIdOrName(request.site)?.id;
    if (site === undefined) return { ok: false, reason: 'unknown-site', message: `no site with id or name "${request.site}"` };
    if (!Number.isFinite(minutes) || minutes <= 0 || minutes > MAX_WINDOW_MINUTES)
      return { ok: false, reason: 'invalid-request', message: `minutes must be more than 0 and at most ${MAX_WINDOW_MINUTES}` };
    let listed: string[] | null = null;
    if (devices !== undefined) {
      const known = this.directory.devicesOf(site).map((d) => d.device);
      const unknown = devices.filter((d) => !known.includes(d));
      if (devices.length === 0 || unknown.length > 0)
        return {
          ok: false,
          reason: 'invalid-request',
          message: `${devices.length === 0 ? 'the device list is empty' : `not a duress device of site ${site}: ${unknown.join(', ')}`}; devices of ${site}: ${known.join(', ') || '(none)'}`,
        };
      listed = [...new Set(devices)];
    }
    const lengthMs = Math.round(minutes * 60_000);
    const same = this.openedAs(site, listed, lengthMs);
    if (same !== undefined) return { ok: true, window: same, repeated: true };
    const window: WindowRecord = {
      id: this.ids.next(),
      site,
      startedAt: now,
      endsAt: now + lengthMs,
      devices: listed,
      exercised: [],
      closedAt: null,
      closeReason: null,
      scheduleSlot: null,
      stoppedBy: null,
    };
    this.open.set(window.id, window);
    this.store.putWindow(window);
    return { ok: true, window, repeated: false };
  }

  /**
   * The open window a person opened for the same site, devices and length: a request like it is a client's retry
   * (after a 503 CONTROL_NOT_STORED, a lost answer, a double click), and a second window would be a copy of the
   * first that outlives it. Another length or another device list is another window; so is a schedule's.
   */
  private openedAs(site: string, devices: readonly string[] | null, lengthMs: number): WindowRecord | undefined {
    const key = devices === null ? null : [...devices].sort().join('\n');
    for (const window of this.open.values()) {
      if (window.scheduleSlot !== null || window.site !== site || window.endsAt - window.startedAt !== lengthMs) continue;
      if ((window.devices === null ? null : [...window.devices].sort().join('\n')) === key) return window;
    }
    return undefined;
  }

  /**
   * Opens the window of a schedule slot unless the slot already had one (open, stopped early, or from before a
   * restart). Returns the new window, or undefined.
   */
  startScheduled(slot: ScheduledSlot, now: number): WindowRecord | undefined {
    if (this.knownSlots.has(slot.key)) return undefined;
    if (this.knownSlots.size >= KNOWN_SLOTS_LIMIT) this.knownSlots.clear();
    this.knownSlots.add(slot.key);
    if (this.store.windowOfSlot(slot.key) !== undefined) return undefined;
    const known = new Set(this.directory.devicesOf(slot.site).map((d) => d.device));
    const window: WindowRecord = {
      id: this.ids.next(),
      site: slot.site,
      startedAt: now,
      // No longer than a window opened by hand: a slot's wall-clock hours run longer on the night the clocks go back.
      endsAt: Math.min(slot.endsAt, now + MAX_WINDOW_MINUTES * 60_000),
      devices: slot.devices === undefined ? null : slot.devices.filter((d) => known.has(d)),
      exercised: [],
      closedAt: null,
      closeReason: null,
      scheduleSlot: slot.key,
      stoppedBy: null,
    };
    this.open.set(window.id, window);
    this.store.putWindow(window);
    return window;
  }

  /**
   * Closes a window early for `by`. A window `by` stopped already is the outcome again, `repeated`: a client's retry
   * (after a 503 CONTROL_NOT_STORED, a lost answer). Undefined when no open window has this id and `by` stopped none.
   */
  stop(id: string, now: number, by: string): (WindowOutcome & { repeated: boolean }) | undefined {
    const window = this.open.get(id);
    if (window !== undefined) return { ...this.close(window, now, 'stopped', by), repeated: false };
    const closed = this.store.window(id);
    if (closed?.closeReason !== 'stopped' || closed.stoppedBy !== by) return undefined;
    return { window: closed, ...this.statusOf(closed), repeated: true };
  }

  /** Closes every window whose time is up. */
  expire(now: number): WindowOutcome[] {
    return [...this.open.values()].filter((w) => now >= w.endsAt).map((w) => this.close(w, w.endsAt, 'expired', null));
  }

  /**
   * Closes every window that starts ahead of the clock: the clock went back past its opening where the step could
   * not be followed (while the gateway was down, or on a clock without a monotonic reading), so when it really
   * opened is not known, and waiting for the clock would make it cover events long after.
   */
  stopAheadOfClock(now: number, by: string): WindowOutcome[] {
    return [...this.open.values()].filter((w) => w.startedAt > now + CLOCK_STEP_MS).map((w) => this.close(w, now, 'stopped', by));
  }

  list(): WindowRecord[] {
    return [...this.open.values()];
  }

  anyOpen(): boolean {
    return this.open.size > 0;
  }

  /**
   * The open windows the event falls in: same site, received inside the window, naming a device under test. A
   * duress or hold-up must have every duress device it names under test: one not under test may be calling for
   * help for real (a hold-up zone under test reported with a duress user's code).
   */
  covering(event: NormalizedEvent, named: readonly DuressDevice[], at: number): WindowRecord[] {
    const site = event.site?.id;
    if (site === undefined) return [];
    const duress = isDuress(event);
    return [...this.open.values()].filter((window) => {
      if (window.site !== site || at < window.startedAt || at >= window.endsAt) return false;
      const underTest = windowScope(window, named).length;
      // Naming no duress device, a duress is never a test (not even in a whole-site window).
      if (duress) return underTest > 0 && underTest === named.length;
      return underTest > 0 || window.devices === null;
    });
  }

  /**
   * Notes the devices a test event exercised in `windows`, those that covered it when it was marked a test (one may
   * have closed while the event was stored). Returns them: the named devices under test, which the event tested
   * (any other it names, it used for real).
   */
  recordExercise(windows: readonly WindowRecord[], named: readonly DuressDevice[]): DuressDevice[] {
    const exercised = new Set<DuressDevice>();
    for (const window of windows) {
      const underTest = windowScope(window, named);
      for (const device of underTest) exercised.add(device);
      // A window that closed since the event was marked keeps the record it closed with (the result its closing
      // event reported): writing this open copy back would reopen it in the store, and the next start with it.
      if (!this.open.has(window.id)) continue;
      const added = underTest.map((d) => d.device).filter((d) => !window.exercised.includes(d));
      if (added.length === 0) continue;
      window.exercised.push(...added);
      this.store.putWindow(window);
    }
    return named.filter((d) => exercised.has(d));
  }

  /** Every device a window covers, exercised or not. */
  statusOf(window: WindowRecord): Omit<WindowOutcome, 'window'> {
    const all = this.directory.devicesOf(window.site);
    const covered = window.devices === null ? all : all.filter((d) => window.devices!.includes(d.device));
    return {
      covered,
      exercised: covered.filter((d) => window.exercised.includes(d.device)),
      notExercised: covered.filter((d) => !window.exercised.includes(d.device)),
    };
  }

  /**
   * Moves the open windows back as far as the wall clock was stepped back (NTP correcting a clock that ran fast),
   * so a window covers the time it was opened for and not the step as well. A step forward, or a suspend (which
   * the monotonic clock does not count), leaves them to end by the wall clock: sooner.
   */
  clockStepped(step: ClockStep): void {
    if (step.by > 0 || this.open.size === 0) return;
    this.logger.warn({ steppedMs: step.by, windows: [...this.open.keys()] }, 'the host clock was stepped back; open test windows move back with it');
    for (const window of this.open.values()) {
      window.startedAt += step.by;
      window.endsAt += step.by;
      this.store.putWindow(window);
    }
  }

  private close(window: WindowRecord, at: number, reason: 'expired' | 'stopped', stoppedBy: string | null): WindowOutcome {
    const closed: WindowRecord = { ...window, closedAt: at, closeReason: reason, stoppedBy };
    this.open.delete(window.id);
    this.store.putWindow(closed);
    return { window: closed, ...this.statusOf(closed) };
  }
}
