import { z } from 'zod';
import { CATEGORIES, DURESS_CATEGORIES } from '../model/event.js';
import { ADDRESS_KINDS, type CodeEntry, type CodeTable } from './types.js';
import contactIdCodes from './contact-id.json' with { type: 'json' };
import siaCodes from './sia.json' with { type: 'json' };

export type CodeScheme = 'contact-id' | 'sia';

const codeEntrySchema = z.object({
  description: z.string().min(1),
  category: z.enum(CATEGORIES),
  address: z.enum(ADDRESS_KINDS),
  qualifier: z.enum(['new', 'restore', 'status']).optional(),
  openClose: z.boolean().optional(),
  silent: z.boolean().optional(),
  covert: z.boolean().optional(),
}) satisfies z.ZodType<CodeEntry>;

const codeTableSchema = z.record(z.string(), codeEntrySchema);

// Validated once at load, so a bad edit to a table fails the first test rather than a live classification.
const TABLES: Readonly<Record<CodeScheme, CodeTable>> = {
  'contact-id': codeTableSchema.parse(contactIdCodes),
  sia: codeTableSchema.parse(siaCodes),
};

/** The code table row for a Contact ID event code (`121`) or SIA two-letter code (`HA`, any case). */
export function lookupCode(scheme: CodeScheme, value: string): CodeEntry | undefined {
  const table = TABLES[scheme];
  const key = scheme === 'sia' ? value.toUpperCase() : value;
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

/** Every catalogued code whose category is duress or hold-up (restores included). */
export function catalogedDuressCodes(): Array<{ scheme: CodeScheme; value: string }> {
  return (Object.keys(TABLES) as CodeScheme[]).flatMap((scheme) =>
    Object.entries(TABLES[scheme])
      .filter(([, entry]) => DURESS_CATEGORIES.has(entry.category))
      .map(([value]) => ({ scheme, value })),
  );
}
