import { describe, expect, test } from 'vitest';
import { decodeAccessXml, type AccessMapping, type AccessXmlOptions } from '../../../src/codecs/access-xml.js';
import { eventFromSignal, VERIFIED } from '../../../src/pipeline/event-builder.js';
import { createIdSource } from '../../../src/model/ids.js';
import { siteSchema } from '../../../src/settings/sites.js';
import { expectCitedCases, readGolden } from '../../helpers/golden-file.js';

/** One golden line: a cited XML document, the expected (partial) signals and classified events, or an error code. */
interface GoldenCase {
  name: string;
  source: string;
  input: string;
  options?: { maxBytes?: number; mappings?: AccessMapping[]; defaults?: AccessXmlOptions['defaults'] };
  expect?: Record<string, unknown>[];
  expectEvents?: Record<string, unknown>[];
  expectError?: string;
  note?: string;
}

const cases = readGolden<GoldenCase>(new URL('./access-xml.jsonl', import.meta.url));

/** The site the vectors' account 4321 belongs to (door and user names come from here, not from the feed). */
const SITES = [
  siteSchema.parse({
    id: 'hq',
    accounts: ['4321'],
    doors: [{ id: 'door-vault', name: 'Vault door' }],
    users: [{ number: 417, name: 'J. Roe' }],
  }),
];
const builder = { ids: createIdSource({ now: () => 0 }), sites: () => SITES };
const origin = { input: 'access', transport: 'http' as const, receivedAt: 0, raw: new Uint8Array(0), trust: VERIFIED };

describe('access-xml.jsonl', () => {
  test('every line names its source and exactly one expectation', () => expectCitedCases(cases));

  test.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const result = decodeAccessXml(c.input, {
      maxBytes: c.options?.maxBytes ?? 65_536,
      mappings: c.options?.mappings ?? [],
      defaults: c.options?.defaults ?? {},
    });
    if (c.expectError !== undefined) {
      expect(result.ok ? result.value : result.error.code).toBe(c.expectError);
      return;
    }
    if (!result.ok) throw new Error(`${result.error.code}: ${result.error.message}`);
    expect(result.value).toHaveLength(c.expect!.length);
    c.expect!.forEach((partial, i) => expect(result.value[i]).toMatchObject(partial));
    if (c.expectEvents === undefined) return;
    // The whole path: the real catalogue and classifier label the signal.
    const events = result.value.map(({ site: _site, ...signal }) => eventFromSignal(signal, origin, builder));
    expect(events).toHaveLength(c.expectEvents.length);
    c.expectEvents.forEach((partial, i) => expect(events[i]).toMatchObject(partial));
  });
});
