import { describe, expect, test } from 'vitest';
import { decodeAdemco685 } from '../../../src/codecs/ademco-685.js';
import { decodeContactId } from '../../../src/codecs/contact-id.js';
import { decodeSurgard } from '../../../src/codecs/surgard.js';
import type { DecodeResult } from '../../../src/codecs/result.js';
import { expectCitedCases, readGolden } from '../../helpers/golden-file.js';

/** One golden line: a cited input and either the expected (partial) value or the expected error code. */
interface GoldenCase {
  name: string;
  source: string;
  input: string;
  options?: { strict?: boolean };
  expect?: Record<string, unknown>;
  expectError?: string;
  note?: string;
}

const suites: Array<{ file: string; decode: (c: GoldenCase) => DecodeResult<unknown> }> = [
  { file: './contact-id.jsonl', decode: (c) => decodeContactId(c.input, c.options) },
  // Sur-Gard packets arrive as bytes from the serial framer.
  { file: './surgard.jsonl', decode: (c) => decodeSurgard(Buffer.from(c.input, 'latin1'), c.options) },
  // The Ademco 685 receiver's Contact ID line, as a one-way serial line hands it over (LF and CR cut).
  { file: './ademco-685.jsonl', decode: (c) => decodeAdemco685(c.input) },
];

for (const { file, decode } of suites) {
  const cases = readGolden<GoldenCase>(new URL(file, import.meta.url));

  describe(file, () => {
    test('every line names its source and exactly one expectation', () => expectCitedCases(cases));

    test.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
      const result = decode(c);
      if (c.expectError !== undefined) {
        expect(result.ok).toBe(false);
        if (!result.ok) expect(result.error.code).toBe(c.expectError);
      } else {
        if (!result.ok) expect.unreachable(`${result.error.code}: ${result.error.message}`);
        expect(result.value).toMatchObject(c.expect ?? {});
      }
    });
  });
}
