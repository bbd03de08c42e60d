import { setTimeout as sleep } from 'node:timers/promises';
import { errorText } from '../../src/errors.js';
import type { Logger } from '../../src/ports.js';
import { withTimeout } from '../../src/timeout.js';
import type { MqttOutput } from './mqtt.js';

/** One retained message wanted under an output's prefix; `payload` is built only when `fingerprint` changed. */
export interface RetainedState {
  fingerprint: string;
  payload(): string;
}

/**
 * Keeps a set of retained topics on one MQTT output: publishes what changed since the last successful
 * publication, republishes everything after a reconnect (the broker may have lost its retained messages), and
 * clears (empty retained payload) the topics no longer wanted.
 */
export class RetainedStatePublisher {
  private readonly published = new Map<string, string>();
  /** The wanted states last published in full: the same map again has nothing new (a quiet tick is O(1)) but changedTopics. */
  private syncedAll: ReadonlyMap<string, RetainedState> | undefined;
  /** Topics whose state changed in place in the wanted map since its last sync: only they are compared again. */
  private readonly changedTopics = new Set<string>();
  /**
   * The output (re)connected since the last sync: everything goes again. Set by the connect itself, not by a sync
   * seeing the output down, as a broker restarted between two syncs is never seen down.
   */
  private reconnected = false;
  private readonly removeConnectListener: () => void;

  /** `onReconnected` runs a sync (the owner's, with its wanted states) as soon as the output has (re)connected. */
  constructor(
    private readonly output: MqttOutput,
    private readonly logger: Logger,
    private readonly what: string,
    onReconnected: () => void,
  ) {
    this.removeConnectListener = output.onConnected(() => {
      this.reconnected = true;
      onReconnected();
    });
  }

  /** Stops listening for reconnects. */
  close(): void {
    this.removeConnectListener();
  }

  /** `topic`'s state changed (or went) in the map last synced: the next sync of the same map looks at it alone. */
  changed(topic: string): void {
    this.changedTopics.add(topic);
  }

  /** `topic` is published again at the next sync, changed or not. */
  resend(topic: string): void {
    this.published.delete(topic);
    this.changedTopics.add(topic);
  }

  /** Whether the next sync of `wanted` publishes `topic` (its state differs from the one last published). */
  differs(wanted: ReadonlyMap<string, RetainedState>, topic: string): boolean {
    return this.published.get(topic) !== (wanted.get(topic) ?? CLEARED).fingerprint;
  }

  async sync(wanted: ReadonlyMap<string, RetainedState>): Promise<void> {
    // Connected is enough: a degraded output (a topic its broker refuses) still takes retained states.
    const up = this.output.connected;
    if (up && this.reconnected) {
      this.reconnected = false;
      this.published.clear();
      this.syncedAll = undefined;
    }
    if (!up || (wanted === this.syncedAll && this.changedTopics.size === 0)) return;
    const inFull = wanted !== this.syncedAll;
    // Taken now: a change while this sync awaits the broker is marked again for the next one.
    const topics = inFull ? [...new Set([...wanted.keys(), ...this.published.keys()])] : [...this.changedTopics];
    this.changedTopics.clear();
    if (inFull) this.syncedAll = undefined;
    for (const [index, topic] of topics.entries()) {
      const state = wanted.get(topic) ?? CLEARED;
      if (this.published.get(topic) === state.fingerprint) continue;
      try {
        await this.output.publishRetained(topic, state.payload());
        if (state.fingerprint === '') this.published.delete(topic);
        else this.published.set(topic, state.fingerprint);
      } catch (error) {
        this.logger.warn({ output: this.output.name, topic, err: (error as Error).message }, `${this.what} not published; will retry`);
        // A full sync is retried in full; changed topics are retried alone.
        if (!inFull) for (const unpublished of topics.slice(index)) this.changedTopics.add(unpublished);
        return;
      }
    }
    this.syncedAll = wanted;
  }
}

/** The state of a topic no longer wanted: an empty retained payload clears it. */
export const CLEARED: RetainedState = { fingerprint: '', payload: () => '' };

/** The retained states only a central output publishes: incidents, duress devices, health (README "Home Assistant"). */
const CENTRAL_STATE_FILTERS = ['incidents/+', 'devices/+/+', 'health'];

/** How long the broker has to send the retained messages of a new subscription. */
const RETAINED_ARRIVAL_MS = 1_000;

/** Retained topics cleared per connect at most (a site has one incident state, a device state per duress device). */
const MAX_CLEARED_PER_CONNECT = 2_000;

/** stop() waits this long at most for a clearing in progress. */
const STOP_WAIT_MS = 2_000;

/**
 * Clears (empty retained payload) the central-only states retained under a prefix of an output's broker, at every
 * connect until a clearing succeeds. Two uses:
 * - forLocal: on a `local` output, under its own prefix, at every connect. An output reconfigured from central to
 *   local on the same broker and prefix would otherwise leave its incidents (with their ids), device and health
 *   states for the local audience to read (security.md rule 3).
 * - forFormerPrefix: under a prefix the output used in an earlier run (MqttPrefixHistory), once. A subscriber still
 *   reading the old tree would otherwise see an incident open long after it was acknowledged, or a health `ok` from
 *   a gateway that no longer reports there. The status stays: `offline` there is true.
 */
export class CentralStatesCleaner {
  private removeConnectListener: (() => void) | undefined;
  private running: Promise<void> | undefined;
  private done = false;

  private constructor(
    private readonly output: MqttOutput,
    private readonly logger: Logger,
    private readonly prefix: string,
    /** Called after the first clearing that succeeded, which is then the last; undefined: clear at every connect. */
    private readonly onceCleared: (() => void) | undefined,
  ) {}

  static forLocal(output: MqttOutput, logger: Logger): CentralStatesCleaner {
    if (output.audience !== 'local') throw new Error(`central states are cleared from local outputs; "${output.name}" is central`);
    return new CentralStatesCleaner(output, logger, output.topicPrefix, undefined);
  }

  static forFormerPrefix(output: MqttOutput, logger: Logger, formerPrefix: string, onCleared: () => void): CentralStatesCleaner {
    return new CentralStatesCleaner(output, logger, formerPrefix, onCleared);
  }

  /** Clears now when connected, and after every connect from now on (until done, for a former prefix). */
  async start(): Promise<void> {
    this.removeConnectListener = this.output.onConnected(() => void this.clear());
    if (this.output.connected) await this.clear();
  }

  async stop(): Promise<void> {
    this.removeConnectListener?.();
    if (this.running !== undefined) await withTimeout(this.running, STOP_WAIT_MS);
  }

  /** One clearing at a time: a reconnect while one runs has nothing more to find. */
  private clear(): Promise<void> {
    if (this.done) return Promise.resolve();
    this.running ??= this.clearRetained()
      .then((found) => {
        // At the bound more may be left: the next connect looks again.
        if (this.onceCleared === undefined || found >= MAX_CLEARED_PER_CONNECT) return;
        this.done = true;
        this.removeConnectListener?.();
        this.onceCleared();
      })
      .catch((error: unknown) => this.logger.warn({ output: this.output.name, prefix: this.prefix, err: errorText(error) }, 'retained central states not cleared; will retry on reconnect'))
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }

  /** Resolves with how many states it found (and cleared). */
  private async clearRetained(): Promise<number> {
    const found = new Set<string>();
    const collect = (topic: string, payload: Buffer, retained: boolean): void => {
      if (retained && payload.length > 0 && found.size < MAX_CLEARED_PER_CONNECT) found.add(topic);
    };
    const unsubscribes = await Promise.all(CENTRAL_STATE_FILTERS.map((filter) => this.output.subscribeTo(`${this.prefix}/${filter}`, collect)));
    try {
      await sleep(RETAINED_ARRIVAL_MS);
    } finally {
      await Promise.all(unsubscribes.map((unsubscribe) => unsubscribe()));
    }
    // Side by side: each publish ends within the output's publish timeout, so the whole clearing does too.
    const outcomes = await Promise.allSettled([...found].map((topic) => this.output.publishRetainedTo(topic, '')));
    const failed = outcomes.filter((outcome) => outcome.status === 'rejected').length;
    if (found.size > 0) {
      const why = this.onceCleared === undefined ? 'a local audience could read' : 'left under the former topicPrefix';
      this.logger.warn({ output: this.output.name, prefix: this.prefix, cleared: found.size - failed, failed }, `cleared retained central states (incidents, devices, health) ${why}`);
    }
    if (failed > 0) throw new Error(`${failed} of ${found.size} retained central states not cleared`);
    return found.size;
  }
}
