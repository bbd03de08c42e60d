/** Time source; injected everywhere so tests and replays are deterministic. */
export interface Clock {
  now(): number;
  /**
   * Milliseconds on a clock nobody steps (performance.now): tells when `now` was stepped, as NTP steps a clock that
   * ran fast. Absent where `now` is the only time there is (a replay follows recorded times, backwards too).
   */
  monotonic?(): number;
}

export const systemClock: Clock = { now: () => Date.now(), monotonic: () => performance.now() };

/** Minimal structured logger shape (pino-compatible); the instance is injected by the adapters. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger;
  },
};

/** Result of one delivery attempt by an output. */
export type DeliveryResult = { ok: true } | { ok: false; retryable: boolean; error: string };

export type Audience = 'central' | 'local';

export interface AdapterHealth {
  state: 'up' | 'degraded' | 'down';
  detail?: string;
  /**
   * What the output's connection shows whatever it delivers, where it has one (MQTT: connected to the broker; the
   * automation output: an automation connected). `state` also moves when a delivery fails, and a central output's
   * delivery may be a covert duress: a caller without a token is told this one only (security.md rule 3).
   */
  linkState?: 'up' | 'down';
}

/**
 * An output endpoint (stdout, MQTT, webhook). The dispatcher feeds it from the durable outbox. Generic in the event
 * it delivers so that the ports stay below the model (the dispatcher fixes it to the normalized event).
 */
export interface OutputAdapter<Event = unknown> {
  readonly name: string;
  readonly kind: string;
  /** `local` outputs (siren bridge, keypad, owner's phone) never receive duress or hold-up events. */
  readonly audience: Audience;
  /** Deliveries it takes at once (MQTT pipelines cheaply, HTTP does not); the dispatcher's default otherwise. */
  readonly maxInFlight?: number;
  start(): Promise<void>;
  deliver(event: Event): Promise<DeliveryResult>;
  /**
   * Calls `listener` when the output works again after failing (MQTT: a new connection's first PUBACK), before any
   * delivery proves it: what waits out a retry backoff then goes at once, a duress first. Returns its removal.
   */
  onRecovered?(listener: () => void): () => void;
  stop(): Promise<void>;
  health(): AdapterHealth;
}
