/** Why a connection was refused or closed to make room: the listener's `maxConnections`, or its address's `maxConnectionsPerPeer`. */
export type SlotLimit = 'max-connections' | 'peer-limit';

/** What the slots need of a connection: its remote address (without the port), which maxConnectionsPerPeer counts. */
export interface SlotHolder {
  readonly host: string;
}

/**
 * The connection places of a TCP input (DC-09, SIA over IP), in all and per remote address. A connection is
 * unproven until its sender sent something valid (a frame or block the input acknowledged). At either limit the
 * oldest unproven connection (of that address, or of all) makes room for the new one, so idle or junk-sending
 * connections cannot lock a panel out; only when every one has proven itself is the new one refused.
 * Unproven connections are kept apart, oldest first, so finding one does not walk thousands of proven ones.
 */
export class ConnectionSlots<C extends SlotHolder> {
  private readonly open = new Set<C>();
  private readonly perHost = new Map<string, number>();
  private readonly unproven = new Set<C>();
  private readonly unprovenByHost = new Map<string, Set<C>>();

  /**
   * `deciding`: the connection's first frame is being decided (a panel's first report, waiting for a store slowed by
   * load); it is passed over while any other unproven one is idle, since closing it would lose the panel its answer.
   */
  constructor(
    private readonly limits: { maxConnections: number; maxConnectionsPerPeer: number },
    private readonly deciding: (connection: C) => boolean = () => false,
  ) {}

  get size(): number {
    return this.open.size;
  }

  /**
   * Makes room for a new connection from `host`: each connection closed for it is forgotten here and handed to
   * `evict` (which closes it and reports it). Returns the limit that refuses the new one, or undefined: room made.
   */
  admit(host: string, evict: (connection: C, limit: SlotLimit) => void): SlotLimit | undefined {
    if (this.fullFor(host) && !this.evictOldest(this.unprovenByHost.get(host), 'peer-limit', evict)) return 'peer-limit';
    if (this.full() && !this.evictOldest(this.unproven, 'max-connections', evict)) return 'max-connections';
    return undefined;
  }

  /** The limit that would refuse a new connection from `host` now (no connection left to make room), or undefined. */
  refuses(host: string): SlotLimit | undefined {
    if (this.fullFor(host) && !this.unprovenByHost.has(host)) return 'peer-limit';
    if (this.full() && this.unproven.size === 0) return 'max-connections';
    return undefined;
  }

  /** Takes a connection `admit` made room for; it starts unproven. */
  add(connection: C): void {
    this.open.add(connection);
    this.perHost.set(connection.host, (this.perHost.get(connection.host) ?? 0) + 1);
    this.unproven.add(connection);
    const ofHost = this.unprovenByHost.get(connection.host) ?? new Set<C>();
    ofHost.add(connection);
    this.unprovenByHost.set(connection.host, ofHost);
  }

  /** Its sender sent something valid: it no longer makes room for others. */
  prove(connection: C): void {
    this.unproven.delete(connection);
    const ofHost = this.unprovenByHost.get(connection.host);
    ofHost?.delete(connection);
    if (ofHost?.size === 0) this.unprovenByHost.delete(connection.host);
  }

  /** Takes a connection out of the books (at its close); false when it already was (evicted). */
  forget(connection: C): boolean {
    if (!this.open.delete(connection)) return false;
    const left = (this.perHost.get(connection.host) ?? 1) - 1;
    if (left > 0) this.perHost.set(connection.host, left);
    else this.perHost.delete(connection.host);
    this.prove(connection);
    return true;
  }

  private full(): boolean {
    return this.open.size >= this.limits.maxConnections;
  }

  private fullFor(host: string): boolean {
    return (this.perHost.get(host) ?? 0) >= this.limits.maxConnectionsPerPeer;
  }

  private evictOldest(candidates: Set<C> | undefined, limit: SlotLimit, evict: (connection: C, limit: SlotLimit) => void): boolean {
    let oldest: C | undefined;
    for (const candidate of candidates ?? []) {
      oldest ??= candidate;
      if (!this.deciding(candidate)) {
        oldest = candidate;
        break;
      }
    }
    if (oldest === undefined) return false;
    this.forget(oldest);
    evict(oldest, limit);
    return true;
  }
}
