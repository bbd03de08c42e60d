import type { Logger } from '../../src/ports.js';
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
  private wasUp = false;

  constructor(
    private readonly output: MqttOutput,
    private readonly logger: Logger,
    private readonly what: string,
  ) {}

  async sync(wanted: ReadonlyMap<string, RetainedState>): Promise<void> {
    // Connected is enough: a degraded output (a topic its broker refuses) still takes retained states.
    const up = this.output.connected;
    if (up && !this.wasUp) this.published.clear();
    this.wasUp = up;
    if (!up) return;
    const cleared: RetainedState = { fingerprint: '', payload: () => '' };
    const topics = new Map(wanted);
    for (const topic of this.published.keys()) if (!topics.has(topic)) topics.set(topic, cleared);
    for (const [topic, state] of topics) {
      if (this.published.get(topic) === state.fingerprint) continue;
      try {
        await this.output.publishRetained(topic, state.payload());
        if (state.fingerprint === '') this.published.delete(topic);
        else this.published.set(topic, state.fingerprint);
      } catch (error) {
        this.logger.warn({ output: this.output.name, topic, err: (error as Error).message }, `${this.what} not published; will retry`);
        return;
      }
    }
  }
}
