/** Non-duress refused frames are stored at most once per origin in this span, with a count. */
export const UNVERIFIED_AGGREGATION_MS = 60_000;

/**
 * Non-duress refused events stored per peer host and span, whatever accounts its frames name: a peer that invents
 * a new account for every frame is bounded too.
 */
export const UNVERIFIED_EVENTS_PER_PEER = 10;

/**
 * Non-duress refused events stored per input and span, whatever peers send them: a UDP source address can be forged
 * (and an IPv6 sender holds a whole prefix), so the per-peer bound alone would let one sender store without limit.
 */
export const UNVERIFIED_EVENTS_PER_INPUT = 60;

/** Origins (and peers) remembered at once; past this, those quiet for a whole span are forgotten first. */
const MAX_TRACKED_ORIGINS = 10_000;

interface OriginState {
  /** When an event of this origin was last stored. */
  storedAt: number;
  /** Frames folded since then (not stored). */
  folded: number;
  /** When the event admitted last began to be stored; undefined once settled. */
  storingSince: number | undefined;
}

/** Events stored in a span, per peer host or for the whole input. */
interface SpanState {
  since: number;
  stored: number;
  /** Admitted events not settled yet: they count toward the limit, or frames arriving together all pass. */
  storing: number;
}

/**
 * Bounds what refused (unverified) frames cost: a flood of non-duress frames from one account (or, without an
 * account, one peer host) stores one event per minute, which carries the number of frames it stands for, one peer
 * host stores at most UNVERIFIED_EVENTS_PER_PEER such events a minute, and the input UNVERIFIED_EVENTS_PER_INPUT. Duress and hold-up content never
 * passes through here: it is always stored. An admitted event holds its origin's place until it is settled: the
 * frames that arrive while it is being stored (a whole group commit of them, in a flood) are folded too.
 */
export class UnverifiedFrames {
  private readonly origins = new Map<string, OriginState>();
  private readonly peers = new Map<string, SpanState>();
  private input: SpanState = { since: Number.NEGATIVE_INFINITY, stored: 0, storing: 0 };

  /**
   * Whether a non-duress refused frame from `origin`, sent by `peerHost`, should be stored now. When it should,
   * `count` is the number of frames the stored event stands for (itself and those folded since the last one), and
   * `settled` must follow once the store has an outcome.
   */
  admit(origin: string, peerHost: string, now: number): { store: true; count: number } | { store: false } {
    const state = this.origins.get(origin);
    if (state !== undefined && (within(state.storedAt, now) || (state.storingSince !== undefined && within(state.storingSince, now)))) {
      state.folded += 1;
      return { store: false };
    }
    const peer = this.peers.get(peerHost);
    const peerInSpan = peer !== undefined && within(peer.since, now);
    if (!within(this.input.since, now)) this.input = { since: now, stored: 0, storing: this.input.storing };
    const full = (span: SpanState, limit: number): boolean => span.stored + span.storing >= limit;
    if ((peerInSpan && full(peer, UNVERIFIED_EVENTS_PER_PEER)) || full(this.input, UNVERIFIED_EVENTS_PER_INPUT)) {
      // Counted for the origin, so its next stored event still says how many frames it stands for.
      if (state === undefined) this.remember(origin, { storedAt: Number.NEGATIVE_INFINITY, folded: 1, storingSince: undefined }, now);
      else state.folded += 1;
      return { store: false };
    }
    const count = (state?.folded ?? 0) + 1;
    this.remember(origin, { storedAt: state?.storedAt ?? Number.NEGATIVE_INFINITY, folded: 0, storingSince: now }, now);
    this.input.storing += 1;
    if (peerInSpan) peer.storing += 1;
    else {
      if (this.peers.size >= MAX_TRACKED_ORIGINS) this.peers.clear();
      this.peers.set(peerHost, { since: now, stored: 0, storing: 1 });
    }
    return { store: true, count };
  }

  /**
   * The event `admit` allowed has an outcome. Stored (not a retransmit of one already stored): a new span starts.
   * Not stored: the frame counts as folded, and the next frame may be stored.
   */
  settled(origin: string, peerHost: string, now: number, stored: boolean): void {
    const state = this.origins.get(origin);
    if (state !== undefined) {
      state.storingSince = undefined;
      if (stored) this.remember(origin, { ...state, storedAt: now }, now);
      else state.folded += 1;
    }
    for (const span of [this.input, this.peers.get(peerHost)]) {
      if (span === undefined) continue;
      span.storing = Math.max(0, span.storing - 1);
      if (stored) span.stored += 1;
    }
  }

  private remember(origin: string, state: OriginState, now: number): void {
    if (this.origins.size >= MAX_TRACKED_ORIGINS && !this.origins.has(origin)) this.forgetQuiet(now);
    this.origins.delete(origin); // re-inserted last: the map stays (roughly) in storedAt order
    this.origins.set(origin, state);
  }

  private forgetQuiet(now: number): void {
    for (const [origin, state] of this.origins) {
      if (now - state.storedAt < UNVERIFIED_AGGREGATION_MS && this.origins.size < MAX_TRACKED_ORIGINS) break;
      this.origins.delete(origin);
    }
  }
}

/** Whether `since` is less than one span before `now`. */
function within(since: number, now: number): boolean {
  return now - since < UNVERIFIED_AGGREGATION_MS;
}
