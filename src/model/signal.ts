import type { Protocol } from './event.js';

/**
 * What a codec hands to classification: one alarm signal in protocol-neutral terms, before any category
 * is decided. A frame can carry several signals (a SIA block with two codes).
 */
export interface Signal {
  protocol: Protocol | null;
  account: string | null;
  receiver: string | null;
  line: string | null;
  /** Null only for link heartbeats (DC-09 NULL, receiver heartbeats). */
  code: { scheme: 'contact-id' | 'sia'; value: string } | null;
  /**
   * Qualifier as the protocol states it. Contact ID states it (1/3/6 or Sur-Gard E/R/P); a SIA two-letter
   * code implies it, so SIA signals leave it null and the code catalogue decides.
   */
  qualifier: 'new' | 'restore' | 'status' | null;
  partition: number | null;
  /** Contact ID CCC or SIA address: a zone or a user depending on the code (the catalogue says which). */
  address: number | null;
  /** A user stated explicitly (SIA `id` modifier), independent of the address. */
  user: number | null;
  /** ISO-8601 UTC panel time, when the message carries one. */
  occurredAt: string | null;
  /**
   * occurredAt is the panel's wall clock written as if it were UTC (SIA DC-03 da/ti name no zone): the event is
   * given it in its site's time zone.
   */
  occurredAtLocal?: true;
  text: string | null;
  extended: Record<string, string>;
  /** DC-09 extended letters sent more than once: every value in order (`extended` holds the first). */
  extendedRepeated?: Record<string, string[]>;
  quirks: string[];
  /** Access-control context (door, credential holder) for access events. */
  access?: { door?: string; doorName?: string; credential?: string; holder?: string; eventType?: string };
}

export function emptySignal(protocol: Protocol | null): Signal {
  return {
    protocol,
    account: null,
    receiver: null,
    line: null,
    code: null,
    qualifier: null,
    partition: null,
    address: null,
    user: null,
    occurredAt: null,
    text: null,
    extended: {},
    quirks: [],
  };
}
