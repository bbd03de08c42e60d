/** The Receive Maximum a broker that announces none has (MQTT 5.0 §3.2.2.3.3). */
export const DEFAULT_RECEIVE_MAXIMUM = 65_535;

const CONNECTION_LOST = 'connection lost before the publish was sent';

/** A publish waiting for a send slot: `send` when it gets one, `drop` when the connection ends first. */
export interface QuotaWaiter {
  send(): void;
  drop(error: string): void;
}

/**
 * The send quota of one MQTT 5 connection (MQTT 5.0 §4.9): at most `limit` QoS 1 publishes unacknowledged, the
 * broker's Receive Maximum; one more and a broker may disconnect with 0x93, under every publish in flight. A publish
 * past the quota waits here, urgent ones (duress) before the others, each kind in the order it came.
 */
export class SendQuota {
  private inUse = 0;
  private readonly urgent: QuotaWaiter[] = [];
  private readonly ordinary: QuotaWaiter[] = [];
  private closed = false;

  constructor(readonly limit: number) {}

  /** Takes a slot if one is free; give it back with release(). */
  tryTake(): boolean {
    if (this.closed || this.inUse >= this.limit) return false;
    this.inUse += 1;
    return true;
  }

  /** After tryTake() failed: `waiter` is sent once a slot frees, or dropped when the connection ends first. */
  wait(waiter: QuotaWaiter, urgent: boolean): void {
    if (this.closed) waiter.drop(CONNECTION_LOST);
    else (urgent ? this.urgent : this.ordinary).push(waiter);
  }

  /**
   * A publish ended with its PUBACK (or was never sent): its slot goes to the next one waiting. Once closed (the connection ended, also by a
   * PUBACK timeout, as the broker still counts that publish in flight) a slot frees for no one.
   */
  release(): void {
    if (this.closed) return;
    const next = this.urgent.shift() ?? this.ordinary.shift();
    if (next === undefined) this.inUse -= 1;
    else next.send();
  }

  /** The connection ended: the publishes waiting fail (retryable), and a later one on it is not sent. */
  close(): void {
    this.closed = true;
    for (const waiter of this.urgent.splice(0).concat(this.ordinary.splice(0))) waiter.drop(CONNECTION_LOST);
  }
}
