import type { Category } from '../model/event.js';

/**
 * What the number after a code names (SIA DC-03's "address field" column, as pysiaalarm's `sia_codes.py`
 * `concerns` copies it; Contact ID's Z/U column). zone, user, partition and door have event fields of their own;
 * the other kinds are published as `number: {kind, value}`. `none`: the table says the code carries no number.
 */
export const ADDRESS_KINDS = [
  'zone', 'user', 'partition', 'door', 'condition', 'custom-function', 'device', 'line', 'message', 'network', 'output',
  'relay', 'printer', 'receiver', 'line-card', 'dealer', 'manufacturer', 'downloader', 'none',
] as const;
export type AddressKind = (typeof ADDRESS_KINDS)[number];

/** One row of a code table (src/catalog/*.json). */
export interface CodeEntry {
  description: string;
  /** Category of a new (non-restore) event with this code. */
  category: Category;
  /** What the message's address (Contact ID CCC, SIA address) names for this code. */
  address: AddressKind;
  /**
   * The qualifier the code implies whatever was sent (SIA HR, BR…; Contact ID 465 "panic alarm reset", which
   * reports that a panic was reset, never a new one). Absent: the qualifier as sent, else new.
   */
  qualifier?: 'new' | 'restore' | 'status';
  /** Contact ID open/close codes: qualifier 1 is an opening (disarm), 3 a closing (arm). */
  openClose?: boolean;
  /** Signals that must not sound locally (hold-up, duress, silent alarms). */
  silent?: boolean;
  /**
   * Reports that someone is acting on an alarm (a listen-in session): withheld from `local` outputs, since it often
   * follows a silent hold-up and would tell the site that help was called (security.md rule 3).
   */
  covert?: boolean;
}

export type CodeTable = Readonly<Record<string, CodeEntry>>;
