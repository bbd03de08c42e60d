import type { NormalizedEvent } from './model/event.js';
import type { Counters } from './observability/counters.js';
import type { Logger } from './ports.js';

/** An output's own link to a monitoring centre went down (`new`) or came back (`restore`). */
export interface OutputStateChange {
  output: string;
  /** The account the output reports as at the centre; null when it has none. */
  account: string | null;
  qualifier: 'new' | 'restore';
  reasons: string[];
}

/** What happens in the gateway that parts other than the pipeline want to hear about. */
export interface BusEvents {
  /** The events of one frame are durable (not a retransmit): device ledger, supervision, console, replay output. */
  frameStored: [events: readonly NormalizedEvent[]];
  /** An output confirmed an event (duress delivery deadline, console). */
  eventDelivered: [output: string, event: NormalizedEvent];
  /** A frame from an account arrived, heartbeats included (link supervision). */
  trafficSeen: [account: string, at: number];
  /** An output's link to a monitoring centre changed (the gateway stores it as a `supervisory` event). */
  outputStateChanged: [change: OutputStateChange];
}

type BusListener<K extends keyof BusEvents> = (...args: BusEvents[K]) => void;

/** An event's second argument; undefined for the one-argument events. */
type Second<K extends keyof BusEvents> = BusEvents[K] extends [unknown, infer B] ? B : undefined;

type Registrations = { [K in keyof BusEvents]: Array<{ owner: object; listener: BusListener<K> }> };

/**
 * The typed event bus: `onX(owner, listener)` to listen, `removeListeners(owner)` when the owner stops. Listeners are
 * isolated: one that throws is logged and counted (`bus_listener_errors_total`) and never breaks the pipeline
 * that emitted, nor the listeners after it.
 */
export class EventBus {
  private registrations: Registrations = { frameStored: [], eventDelivered: [], trafficSeen: [], outputStateChanged: [] };

  constructor(private readonly deps: { logger: Logger; counters?: Counters }) {}

  onFrameStored(owner: object, listener: BusListener<'frameStored'>): void {
    this.on('frameStored', owner, listener);
  }

  emitFrameStored(events: readonly NormalizedEvent[]): void {
    this.emit('frameStored', events, undefined);
  }

  onEventDelivered(owner: object, listener: BusListener<'eventDelivered'>): void {
    this.on('eventDelivered', owner, listener);
  }

  emitEventDelivered(output: string, event: NormalizedEvent): void {
    this.emit('eventDelivered', output, event);
  }

  onTrafficSeen(owner: object, listener: BusListener<'trafficSeen'>): void {
    this.on('trafficSeen', owner, listener);
  }

  emitTrafficSeen(account: string, at: number): void {
    this.emit('trafficSeen', account, at);
  }

  onOutputStateChanged(owner: object, listener: BusListener<'outputStateChanged'>): void {
    this.on('outputStateChanged', owner, listener);
  }

  emitOutputStateChanged(change: OutputStateChange): void {
    this.emit('outputStateChanged', change, undefined);
  }

  /** Every listener `owner` registered, on every event. */
  removeListeners(owner: object): void {
    const kept = <K extends keyof BusEvents>(name: K) => this.registrations[name].filter((r) => r.owner !== owner) as Registrations[K];
    this.registrations = {
      frameStored: kept('frameStored'),
      eventDelivered: kept('eventDelivered'),
      trafficSeen: kept('trafficSeen'),
      outputStateChanged: kept('outputStateChanged'),
    };
  }

  private on<K extends keyof BusEvents>(name: K, owner: object, listener: BusListener<K>): void {
    // A new array, so an emit in progress goes on over the listeners it started with.
    this.registrations[name] = [...this.registrations[name], { owner, listener }] as Registrations[K];
  }

  /**
   * Every bus event has one or two arguments: passed as such rather than as a rest array spread into each
   * listener, which cost an array per emit (several a frame).
   */
  private emit<K extends keyof BusEvents>(name: K, first: BusEvents[K][0], second: Second<K>): void {
    const registrations = this.registrations[name] as ReadonlyArray<{ owner: object; listener: (a: BusEvents[K][0], b: Second<K>) => void }>;
    for (let i = 0; i < registrations.length; i++) {
      const { owner, listener } = registrations[i]!;
      try {
        listener(first, second);
      } catch (error) {
        const listenerName = owner.constructor.name;
        this.deps.counters?.inc('bus_listener_errors_total', { event: name, listener: listenerName });
        this.deps.logger.error({ err: error, event: name, listener: listenerName }, 'event bus listener failed');
      }
    }
  }
}
