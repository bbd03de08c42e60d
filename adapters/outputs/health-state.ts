import type { Clock, Logger } from '../../src/ports.js';
import type { MqttOutput } from './mqtt.js';
import { RetainedStatePublisher } from './mqtt-retained.js';

/** The retained `{topicPrefix}/health` message (the agreed shape; Home Assistant's health sensors read it). */
export interface HealthState {
  status: 'ok' | 'degraded' | 'down';
  /** Events waiting for delivery, summed over the outputs. */
  backlog: number;
  /** Age of the oldest event still waiting for any output, or null when nothing waits. */
  oldestPendingAgeSeconds: number | null;
  deadLetters: number;
  updatedAt: string;
}

/** What the gateway's health report gives per output and input (the `/healthz` body). */
export interface HealthReport {
  status: 'ok' | 'degraded';
  outputs: ReadonlyArray<{ state: string; backlog: number; deadLetters: number; oldestPendingAgeMs: number | null }>;
  inputs: ReadonlyArray<{ state: string }>;
}

/** Down when nothing can arrive (every input down) or nothing can leave (every output down). */
export function healthState(report: HealthReport, now: number): HealthState {
  const allDown = (parts: ReadonlyArray<{ state: string }>): boolean => parts.length > 0 && parts.every((p) => p.state === 'down');
  const ages = report.outputs.map((o) => o.oldestPendingAgeMs).filter((age): age is number => age !== null);
  return {
    status: allDown(report.inputs) || allDown(report.outputs) ? 'down' : report.status,
    backlog: report.outputs.reduce((sum, o) => sum + o.backlog, 0),
    oldestPendingAgeSeconds: ages.length === 0 ? null : Math.floor(Math.max(...ages) / 1000),
    deadLetters: report.outputs.reduce((sum, o) => sum + o.deadLetters, 0),
    updatedAt: new Date(now).toISOString(),
  };
}

export interface HealthStatePublisherDeps {
  report: () => HealthReport;
  clock: Clock;
  logger: Logger;
  /** How often the state is looked at; it is published when it changed, and at least every `heartbeatMs`. */
  intervalMs?: number;
  heartbeatMs?: number;
}

/**
 * Keeps `{prefix}/health` retained on `central` MQTT outputs. Never on a `local` one: the backlog and the oldest
 * pending age move when a duress is stored and delivered to central, which a local audience must not see.
 */
export class HealthStatePublisher {
  private timer: ReturnType<typeof setInterval> | undefined;
  private syncing: Promise<void> | undefined;
  /** Asked for while a sync ran (a reconnect): one more after it. */
  private again = false;
  private readonly publishers: RetainedStatePublisher[];

  constructor(
    outputs: readonly MqttOutput[],
    private readonly deps: HealthStatePublisherDeps,
  ) {
    for (const output of outputs)
      if (output.audience !== 'central') throw new Error(`health state is for central outputs; "${output.name}" is local`);
    // A reconnected broker may have lost the retained state (restarted without persistence): it goes again at once.
    this.publishers = outputs.map((o) => new RetainedStatePublisher(o, deps.logger, 'health state', () => void this.sync()));
  }

  start(): void {
    this.timer = setInterval(() => void this.sync(), this.deps.intervalMs ?? 5_000);
    this.timer.unref();
    void this.sync();
  }

  /** Publishes where the state changed, its heartbeat is due, or the output reconnected; one sync at a time. */
  sync(): Promise<void> {
    if (this.syncing !== undefined) {
      this.again = true;
      return this.syncing;
    }
    this.syncing = (async () => {
      do {
        this.again = false;
        await this.syncAll();
      } while (this.again);
    })().finally(() => (this.syncing = undefined));
    return this.syncing;
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    for (const publisher of this.publishers) publisher.close();
    await this.syncing;
  }

  private async syncAll(): Promise<void> {
    const now = this.deps.clock.now();
    const state = healthState(this.deps.report(), now);
    const { updatedAt: _updatedAt, ...body } = state;
    // The heartbeat slot in the fingerprint republishes an unchanged state once per heartbeat.
    const slot = Math.floor(now / (this.deps.heartbeatMs ?? 60_000));
    const wanted = new Map([['health', { fingerprint: `${slot} ${JSON.stringify(body)}`, payload: () => JSON.stringify(state) }]]);
    await Promise.all(this.publishers.map((p) => p.sync(wanted)));
  }
}
