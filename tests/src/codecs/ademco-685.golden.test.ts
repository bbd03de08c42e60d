import { describe, expect, test } from 'vitest';
import { decodeAdemco685 } from '../../../src/codecs/ademco-685.js';
import { expectCitedCases, readGolden } from '../../helpers/golden-file.js';

interface GoldenCase {
  name: string;
  source: string;
  input: string;
  expect?: Record<string, unknown>;
  expectError?: string;
}

const cases = readGolden<GoldenCase>(new URL('./ademco-685.jsonl', import.meta.url));

describe('ademco-685.jsonl', () => {
  test('every line names its source and exactly one expectation', () => expectCitedCases(cases));

  test.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const result = decodeAdemco685(c.input);
    if (c.expectError !== undefined) {
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.error.code).toBe(c.expectError);
    } else {
      if (!result.ok) expect.unreachable(`${result.error.code}: ${result.error.message}`);
      expect(result.value).toMatchObject(c.expect ?? {});
    }
  });
});
