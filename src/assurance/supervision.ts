import { siteForAccount } from '../classify/classify.js';
import type { Site } from '../settings/sites.js';
import type { ClockStep } from '../clock-steps.js';
import type { AssuranceStore } from './store.js';

/** Which accounts are supervised and how long each may stay silent. */
export interface SupervisionPolicy {
  /** Accounts supervised from the start, whether or not they have reported yet. */
  accounts(): readonly string[];
  /** The account's interval in ms, or undefined when it is not supervised. */
  intervalFor(account: string): number | undefined;
}

export interface LinkChange {
  account: string;
  change: 'lost' | 'restored';
  intervalMs: number;
  /** Silence so far (lost) or in all (restored), measured from the last traffic or the gateway's start. */
  silentMs: number;
}

interface LinkState {
  account: string;
  lastSeenAt: number | undefined;
  lostAt: number | null;
  /** Made by traffic from an account the policy does not supervise from the start: it may be evicted. */
  learned: boolean;
  /** The last traffic when the link took its place in the eviction order: traffic since earns a second chance. */
  queuedSeenAt: number | undefined;
}

/**
 * Links learned from traffic (accounts supervised from the start are never evicted, nor counted here). A sender on an
 * input that trusts any account can name a new one in every frame: past this many, the learned link that reported
 * least recently (a second-chance queue) is forgotten, lost or not, and `onEvicted` is told.
 */
export const MAX_LEARNED_LINKS = 10_000;

/**
 * Per-account link supervision (DC-09 §5.5.2: every message restarts the timer). Silence past the interval is
 * reported once as lost; the first traffic after that is reported as restored. Only the lost state persists: after
 * a restart every account gets a full interval from the start before it can be reported lost again.
 */
export class Supervision {
  /** Every link, in eviction order for the learned ones (MAX_LEARNED_LINKS). */
  private readonly links = new Map<string, LinkState>();
  private learned = 0;

  constructor(
    private readonly store: AssuranceStore,
    private readonly policy: SupervisionPolicy,
    private startedAt: number,
    private readonly onEvicted: (link: { account: string; lostAt: number | null }) => void = () => undefined,
  ) {
    for (const { account, lostAt } of store.lostLinks()) this.add(account, undefined, lostAt);
    this.enrollConfigured();
  }

  /** Any message from the account (NULL, heartbeat, event). Returns the restore when the link was lost. */
  traffic(account: string, at: number): LinkChange | undefined {
    const key = account.toUpperCase();
    const link = this.links.get(key);
    if (link === undefined) {
      while (this.learned >= MAX_LEARNED_LINKS) this.evictOne();
      this.add(account, at, null);
      return undefined;
    }
    // Updated in place: this runs for every frame, and a fresh object per frame would only feed the GC.
    const silentMs = at - (link.lastSeenAt ?? this.startedAt);
    link.lastSeenAt = Math.max(at, link.lastSeenAt ?? at);
    if (link.lostAt === null) return undefined;
    link.lostAt = null;
    this.store.setLinkLost(link.account, null);
    return { account: link.account, change: 'restored', intervalMs: this.policy.intervalFor(link.account) ?? 0, silentMs };
  }

  /** Accounts whose silence passed their interval since the last check. */
  check(now: number): LinkChange[] {
    const changes: LinkChange[] = [];
    this.enrollConfigured();
    // A start or traffic ahead of the clock: the clock was stepped back since (NTP correcting a clock that ran fast).
    // Silence counts from now, or a cut line would go unreported until the clock caught up.
    this.startedAt = Math.min(this.startedAt, now);
    for (const link of this.links.values()) {
      const intervalMs = this.policy.intervalFor(link.account);
      if (intervalMs === undefined || link.lostAt !== null) continue;
      if (link.lastSeenAt !== undefined && link.lastSeenAt > now) link.lastSeenAt = now;
      const silentMs = now - (link.lastSeenAt ?? this.startedAt);
      if (silentMs <= intervalMs) continue;
      link.lostAt = now;
      this.store.setLinkLost(link.account, now);
      changes.push({ account: link.account, change: 'lost', intervalMs, silentMs });
    }
    return changes;
  }

  /**
   * Silence is time that passed, not how far the wall clock moved: a step (NTP setting a Pi that booted on a stale
   * clock, days behind) moves the start and every last traffic with it, or every link would be reported lost at
   * once. A suspend is not counted either: a link cut during one is reported within an interval after it.
   */
  clockStepped(step: ClockStep): void {
    this.startedAt += step.by;
    for (const link of this.links.values()) {
      if (link.lastSeenAt !== undefined) link.lastSeenAt += step.by;
      // The eviction queue's mark moves too: a link reported since it was queued only if the times still differ.
      if (link.queuedSeenAt !== undefined) link.queuedSeenAt += step.by;
    }
  }

  /** One account's link: its interval (undefined when not supervised), last traffic and when it was lost. */
  linkOf(account: string): { intervalMs: number | undefined; lastSeenAt: number | null; lostAt: number | null } {
    const link = this.links.get(account.toUpperCase());
    return { intervalMs: this.policy.intervalFor(account), lastSeenAt: link?.lastSeenAt ?? null, lostAt: link?.lostAt ?? null };
  }

  lost(): Array<{ account: string; since: number }> {
    return [...this.links.values()].filter((l) => l.lostAt !== null).map((l) => ({ account: l.account, since: l.lostAt! }));
  }

  /** A link per account supervised from the start (a reload may add some); one learned before is no longer evictable. */
  private enrollConfigured(): void {
    for (const account of this.policy.accounts()) {
      const link = this.links.get(account.toUpperCase());
      if (link === undefined) this.links.set(account.toUpperCase(), { account, lastSeenAt: undefined, lostAt: null, learned: false, queuedSeenAt: undefined });
      else if (link.learned) {
        link.learned = false;
        this.learned -= 1;
      }
    }
  }

  /** A learned link (enrollConfigured un-learns a configured one). */
  private add(account: string, lastSeenAt: number | undefined, lostAt: number | null): void {
    this.links.set(account.toUpperCase(), { account, lastSeenAt, lostAt, learned: true, queuedSeenAt: lastSeenAt });
    this.learned += 1;
  }

  /**
   * Forgets the first learned link in queue order with no traffic since it was queued; the others passed over go to
   * the back (a configured one, or one that reported since), so each eviction costs O(1) amortised.
   */
  private evictOne(): void {
    for (const [key, link] of this.links) {
      this.links.delete(key);
      if (!link.learned || link.lastSeenAt !== link.queuedSeenAt) {
        link.queuedSeenAt = link.lastSeenAt;
        this.links.set(key, link);
        continue;
      }
      this.learned -= 1;
      if (link.lostAt !== null) this.store.setLinkLost(link.account, null);
      this.onEvicted({ account: link.account, lostAt: link.lostAt });
      return;
    }
  }
}

/** The configured accounts that can carry a `supervision` interval of their own. */
export interface SupervisedAccountSettings {
  account: string;
  supervision?: number;
}

/**
 * Interval per account: its own (DC-09 account entry), else its site's, else the global `supervision`.
 * Accounts with an interval are supervised from the start; others that report are supervised once they do.
 */
export function supervisionPolicy(
  global: number | undefined,
  accounts: readonly SupervisedAccountSettings[],
  sites: () => readonly Site[],
): SupervisionPolicy {
  const own = new Map<string, number>();
  for (const a of accounts) if (a.supervision !== undefined) own.set(a.account.toUpperCase(), a.supervision);
  const intervalFor = (account: string): number | undefined =>
    own.get(account.toUpperCase()) ?? siteForAccount(sites(), account)?.supervision ?? global;
  return {
    intervalFor,
    accounts() {
      const all = new Map<string, string>();
      for (const account of [...accounts.map((a) => a.account), ...sites().flatMap((s) => s.accounts)])
        if (!all.has(account.toUpperCase()) && intervalFor(account) !== undefined) all.set(account.toUpperCase(), account);
      return [...all.values()];
    },
  };
}
