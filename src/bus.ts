import type { NormalizedEvent } from './model/event.js';
import type { Counters } from './observability/counters.js';
import type { Logger } from './ports.js';

/** What happens in the gateway that parts other than the pipeline want to hear about. */
export interface BusEvents {
  /** An output confirmed an event (duress delivery deadline, console). */
  eventDelivered: [output: string, event: NormalizedEvent];
  /** A frame from an account arrived, heartbeats included (link supervision). */
  trafficSeen: [account: string, at: number];
}

type BusListener<K extends keyof BusEvents> = (...args: BusEvents[K]) => void;

type Registrations = { [K in keyof BusEvents]: Array<{ owner: object; listener: BusListener<K> }> };

/**
 * The typed event bus: `onX(owner, listener)` to listen, `removeListeners(owner)` when the owner stops. Listeners are
 * isolated: one that throws is logged and counted (`bus_listener_errors_total`) and never breaks the pipeline
 * that emitted, nor the listeners after it.
 */
export class EventBus {
  private readonly registrations: Registrations = { eventDelivered: [], trafficSeen: [] };

  constructor(private readonly deps: { logger: Logger; counters?: Counters }) {}

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

  /** Every listener `owner` registered, on every event. */
  removeListeners(owner: object): void {
    this.registrations.eventDelivered = this.registrations.eventDelivered.filter((r) => r.owner !== owner);
    this.registrations.trafficSeen = this.registrations.trafficSeen.filter((r) => r.owner !== owner);
  }

  private on<K extends keyof BusEvents>(name: K, owner: object, listener: BusListener<K>): void {
    // A new array, so an emit in progress goes on over the listeners it started with.
    this.registrations[name] = [...this.registrations[name], { owner, listener }] as Registrations[K];
  }

  private emit<K extends keyof BusEvents>(name: K, ...args: BusEvents[K]): void {
    const registrations: ReadonlyArray<{ owner: object; listener: BusListener<K> }> = this.registrations[name];
    for (const { owner, listener } of registrations) {
      try {
        listener(...args);
      } catch (error) {
        const listenerName = owner.constructor.name;
        this.deps.counters?.inc('bus_listener_errors_total', { event: name, listener: listenerName });
        this.deps.logger.error({ err: error, event: name, listener: listenerName }, 'event bus listener failed');
      }
    }
  }
}
