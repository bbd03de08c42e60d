import type { Clock, Logger } from '../ports.js';

export interface RateLimitedLogOptions {
  logger: Logger;
  clock: Clock;
  /** One line per kind and peer per this long; default 10 s. */
  windowMs?: number;
  /**
   * Distinct (kind, peer) pairs tracked at most; past it, new peers share one entry per kind (for OVERFLOW_KINDS
   * kinds, then one for all), so a flood from many addresses, or of kinds made of input, cannot grow this map (or
   * the log) without bound.
   */
  maxKeys?: number;
}

interface Entry {
  kind: string;
  peer: string;
  /** When the window that the last logged line opened ends. */
  until: number;
  suppressed: number;
  level: 'warn' | 'error';
  message: string;
}

/** The peer's host: a flood from one machine uses a new source port per connection or datagram. */
export function peerHost(peer: string | undefined): string {
  if (peer === undefined || peer === '') return 'unknown';
  const bracketed = /^\[([^\]]+)\]:\d+$/.exec(peer);
  if (bracketed !== null) return bracketed[1]!;
  const colon = peer.lastIndexOf(':');
  // One colon: IPv4 or a name with a port; more: an IPv4-mapped or plain IPv6 address with the port last.
  return colon > 0 && /^\d+$/.test(peer.slice(colon + 1)) ? peer.slice(0, colon) : peer;
}

const OVERFLOW_PEER = '(many peers)';

/**
 * Kinds that get an overflow entry of their own past maxKeys. A kind may carry input (the account a refusal names), so
 * past these the rest share one entry, and one line per window.
 */
export const OVERFLOW_KINDS = 32;
const OVERFLOW_KIND = '(many kinds)';

/**
 * Repeated warnings (bad CRC, unknown account, rejected frame…) logged at most once per kind and peer host per
 * window. The next line logged for the pair carries `suppressed`: how many were left out since the last one; a
 * pair that falls quiet gets a closing line with its count. Counters are the exact record: callers count every
 * occurrence themselves, this only thins the log.
 */
export class RateLimitedLog {
  private readonly entries = new Map<string, Entry>();
  private readonly windowMs: number;
  private readonly maxKeys: number;
  private nextSweep = 0;

  constructor(private readonly options: RateLimitedLogOptions) {
    this.windowMs = options.windowMs ?? 10_000;
    this.maxKeys = options.maxKeys ?? 1_000;
  }

  warn(kind: string, peer: string | undefined, fields: Record<string, unknown>, message: string): void {
    this.log('warn', kind, peer, fields, message);
  }

  error(kind: string, peer: string | undefined, fields: Record<string, unknown>, message: string): void {
    this.log('error', kind, peer, fields, message);
  }

  private log(level: 'warn' | 'error', kind: string, peer: string | undefined, fields: Record<string, unknown>, message: string): void {
    // Windows are spans of time: the monotonic clock, where there is one, or a wall clock stepped back by NTP would
    // keep every kind quiet for as long as the step.
    const now = this.options.clock.monotonic?.() ?? this.options.clock.now();
    this.sweep(now);
    let host = peerHost(peer);
    let key = `${kind}\u0000${host}`;
    let entry = this.entries.get(key);
    if (entry === undefined && this.entries.size >= this.maxKeys) {
      host = OVERFLOW_PEER;
      key = `${kind}\u0000${host}`;
      entry = this.entries.get(key);
      if (entry === undefined && this.entries.size >= this.maxKeys + OVERFLOW_KINDS) {
        key = `${OVERFLOW_KIND}\u0000${host}`;
        entry = this.entries.get(key);
      }
    }
    if (entry !== undefined && now < entry.until) {
      entry.suppressed += 1;
      return;
    }
    const suppressed = entry?.suppressed ?? 0;
    this.entries.set(key, { kind, peer: host, until: now + this.windowMs, suppressed: 0, level, message });
    this.options.logger[level]({ ...fields, kind, ...(suppressed > 0 ? { suppressed } : {}) }, message);
  }

  /** Forgets quiet pairs, with a closing line for those that had lines left out. */
  private sweep(now: number): void {
    if (now < this.nextSweep) return;
    this.nextSweep = now + this.windowMs;
    for (const [key, entry] of this.entries) {
      if (now < entry.until) continue;
      this.entries.delete(key);
      if (entry.suppressed > 0)
        this.options.logger[entry.level]({ kind: entry.kind, peer: entry.peer, suppressed: entry.suppressed }, `${entry.message} (repeats suppressed)`);
    }
  }
}
