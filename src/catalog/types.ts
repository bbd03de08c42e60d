import type { Category } from '../model/event.js';

/** One row of a code table (src/catalog/*.json). */
export interface CodeEntry {
  description: string;
  /** Category of a new (non-restore) event with this code. */
  category: Category;
  /** What the message's address (Contact ID CCC, SIA address) names for this code. */
  address: 'zone' | 'user' | 'none';
  /** SIA only: the qualifier the two-letter code implies (HR, BR… are restores). Absent means new. */
  qualifier?: 'new' | 'restore' | 'status';
  /** Contact ID open/close codes: qualifier 1 is an opening (disarm), 3 a closing (arm). */
  openClose?: boolean;
  /** Signals that must not sound locally (hold-up, duress, silent alarms). */
  silent?: boolean;
}

export type CodeTable = Readonly<Record<string, CodeEntry>>;
