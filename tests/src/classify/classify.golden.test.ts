import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { classify } from '../../../src/classify/classify.js';
import { CATEGORIES, PROTOCOLS } from '../../../src/model/event.js';
import { emptySignal, type Signal } from '../../../src/model/signal.js';
import { PROFILE_NAMES } from '../../../src/catalog/profile-names.js';
import { siteSchema } from '../../../src/settings/sites.js';

/**
 * One JSONL file per vendor profile. A line: { name, source, signal (fields over an empty signal), site?, expect }.
 * `expect` names category, duress and qualifier, and optionally silent, test, zone, user, partition, door
 * (compared as subsets) and reasonsInclude (substrings that some reason must contain).
 */
const DIR = join(import.meta.dirname, 'classify.golden');

const qualifier = z.enum(['new', 'restore', 'status']);
const caseSchema = z.strictObject({
  name: z.string().min(1),
  source: z.string().min(1),
  signal: z.strictObject({
    protocol: z.enum(PROTOCOLS).nullable(),
    account: z.string().nullable().optional(),
    code: z.object({ scheme: z.enum(['contact-id', 'sia']), value: z.string() }).nullable(),
    qualifier: qualifier.nullable().optional(),
    partition: z.number().nullable().optional(),
    address: z.number().nullable().optional(),
    user: z.number().nullable().optional(),
    access: z.record(z.string(), z.string()).optional(),
  }),
  site: z.unknown().optional(),
  expect: z.strictObject({
    category: z.enum(CATEGORIES),
    duress: z.boolean(),
    qualifier,
    silent: z.boolean().optional(),
    test: z.boolean().optional(),
    zone: z.record(z.string(), z.unknown()).optional(),
    user: z.record(z.string(), z.unknown()).optional(),
    partition: z.record(z.string(), z.unknown()).optional(),
    door: z.record(z.string(), z.unknown()).optional(),
    reasonsInclude: z.array(z.string()).optional(),
  }),
});

const files = readdirSync(DIR).filter((f) => f.endsWith('.jsonl'));

it('has one vector file per vendor profile', () => {
  expect(files.map((f) => basename(f, '.jsonl')).sort()).toEqual([...PROFILE_NAMES].sort());
});

for (const file of files) {
  const profile = basename(file, '.jsonl');
  const lines = readFileSync(join(DIR, file), 'utf8').split('\n').filter((line) => line.trim() !== '');

  describe(`classify golden: ${profile}`, () => {
    lines.forEach((line, index) => {
      const vector = caseSchema.parse(JSON.parse(line));
      it(`${index + 1}: ${vector.name}`, () => {
        const site = vector.site === undefined ? undefined : siteSchema.parse(vector.site);
        expect(site?.profile ?? 'generic', 'vector belongs in the file of its profile').toBe(profile);
        const signal: Signal = { ...emptySignal(vector.signal.protocol), ...vector.signal };
        const result = classify(signal, site === undefined ? {} : { site });

        const { reasonsInclude = [], ...fields } = vector.expect;
        expect(result).toMatchObject(fields);
        expect(result.reasons.length).toBeGreaterThan(0);
        for (const text of reasonsInclude) expect(result.reasons.some((r) => r.includes(text)), `a reason containing "${text}" in ${JSON.stringify(result.reasons)}`).toBe(true);
      });
    });
  });
}
