import type { Clock, Logger } from '../../src/ports.js';
import type { MqttOutput } from './mqtt.js';

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
  private lastBody = '';
  private lastPublishedAt = Number.NEGATIVE_INFINITY;
  private publishing: Promise<void> | undefined;
  private readonly removeConnectListeners: Array<() => void>;

  constructor(
    private readonly outputs: readonly MqttOutput[],
    private readonly deps: HealthStatePublisherDeps,
  ) {
    for (const output of outputs)
      if (output.audience !== 'central') throw new Error(`health state is for central outputs; "${output.name}" is local`);
    // A reconnect may follow a broker restart that lost retained messages: publish again at once.
    this.removeConnectListeners = outputs.map((o) =>
      o.onConnected(() => void this.publishOn(o, healthState(this.deps.report(), this.deps.clock.now()))),
    );
  }

  start(): void {
    this.timer = setInterval(() => void this.publish(false), this.deps.intervalMs ?? 5_000);
    this.timer.unref();
    void this.publish(true);
  }

  /** Publishes on every output now when `force`, else only when the state changed or the heartbeat is due. */
  async publish(force: boolean): Promise<void> {
    if (this.publishing !== undefined) return this.publishing;
    const now = this.deps.clock.now();
    const state = healthState(this.deps.report(), now);
    const { updatedAt: _updatedAt, ...body } = state;
    const bodyText = JSON.stringify(body);
    const due = now - this.lastPublishedAt >= (this.deps.heartbeatMs ?? 60_000);
    if (!force && !due && bodyText === this.lastBody) return;
    this.publishing = this.publishAll(state).then((ok) => {
      if (!ok) return;
      this.lastBody = bodyText;
      this.lastPublishedAt = now;
    });
    try {
      await this.publishing;
    } finally {
      this.publishing = undefined;
    }
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    for (const remove of this.removeConnectListeners) remove();
    await this.publishing;
  }

  private async publishAll(state: HealthState): Promise<boolean> {
    const results = await Promise.all(this.outputs.filter((o) => o.health().state === 'up').map((o) => this.publishOn(o, state)));
    return results.length > 0 && results.every(Boolean);
  }

  private publishOn(output: MqttOutput, state: HealthState): Promise<boolean> {
    return output.publishRetained('health', state).then(
      () => true,
      (error: unknown) => {
        this.deps.logger.warn({ output: output.name, err: (error as Error).message }, 'health state not published');
        return false;
      },
    );
  }
}
