/** Accounts a summary names, the most frequent first. */
export const UNLISTED_NAMES_SHOWN = 5;

/**
 * Accounts counted by name between two summaries. Past this a new one takes the place of the account seen least
 * long ago that sent one frame only, so a flood of made-up accounts holds no more memory than this, and a panel that
 * retries (two frames or more) keeps its place in it.
 */
export const MAX_UNLISTED_ACCOUNTS = 1_000;

/** Encrypted frames the input could not read from accounts off its allowlist, since the last summary. */
export interface UnlistedSummary {
  since: number;
  frames: number;
  /** Distinct accounts; `accountsCapped`: more were named than MAX_UNLISTED_ACCOUNTS, so at least this many. */
  accounts: number;
  accountsCapped: boolean;
  /** The accounts with the most frames (at most UNLISTED_NAMES_SHOWN), with their frames; a retrying panel leads. */
  names: Array<[string, number]>;
}

/**
 * Encrypted frames from accounts the input has no entry for (or from any account, without an allowlist): a panel that
 * encrypts but was never added cannot get through, yet anybody can name any number of accounts. So they are
 * summarised for the whole input, at most once per `intervalMs`: the first at once, then the next frame after the
 * interval reports everything counted since.
 */
export class UnlistedUnreadable {
  private since = 0;
  private frames = 0;
  private readonly byAccount = new Map<string, number>();
  /** The accounts of byAccount with one frame, oldest first: those that make room. */
  private readonly once = new Set<string>();
  private accountsCapped = false;
  private reportedAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly intervalMs: number) {}

  /** Counts a frame of `account` (`(none)` when its header names none); the summary to report now, if it is time. */
  note(account: string | undefined, now: number): UnlistedSummary | undefined {
    if (this.frames === 0) this.since = now;
    this.frames += 1;
    const name = account?.toUpperCase() ?? '(none)';
    this.count(name);
    if (now - this.reportedAt < this.intervalMs) return undefined;
    this.reportedAt = now;
    // Stable: among equal counts, the account named first.
    const names = [...this.byAccount].sort((a, b) => b[1] - a[1]).slice(0, UNLISTED_NAMES_SHOWN);
    const summary = { since: this.since, frames: this.frames, accounts: this.byAccount.size, accountsCapped: this.accountsCapped, names };
    this.frames = 0;
    this.byAccount.clear();
    this.once.clear();
    this.accountsCapped = false;
    return summary;
  }

  private count(name: string): void {
    const counted = this.byAccount.get(name);
    if (counted !== undefined) {
      this.byAccount.set(name, counted + 1);
      this.once.delete(name);
      return;
    }
    if (this.byAccount.size >= MAX_UNLISTED_ACCOUNTS) {
      this.accountsCapped = true;
      const oldest = this.once.values().next();
      if (oldest.done === true) return; // every place holds a retrying account: this one counts as a frame only
      this.once.delete(oldest.value);
      this.byAccount.delete(oldest.value);
    }
    this.byAccount.set(name, 1);
    this.once.add(name);
  }

  /** The summary was not stored: the next frame reports (what came since; the lost summary's counts are in the log). */
  failed(): void {
    this.reportedAt = Number.NEGATIVE_INFINITY;
  }
}
