import { describe, expect, it } from 'vitest';
import { decodeSiaLine, parseSiaData } from '../../../src/codecs/sia-dc03.js';
import type { SiaData, SiaOptions } from '../../../src/codecs/sia-dc03.js';
import { readGolden } from '../../helpers/golden-file.js';

/**
 * Golden SIA DC-03 data blocks: every SIA-DCS data block of the public vectors (DC-09 frames, decrypted
 * plaintexts, Sur-Gard protocol S) plus the DC-03 level examples. `via: "data"` runs parseSiaData (wire data as
 * DC-09 and Sur-Gard carry it), `via: "line"` runs decodeSiaLine (a panel serial line, rendered forms allowed).
 */
interface GoldenCase {
  name: string;
  source: string;
  via: 'data' | 'line';
  input: string;
  options?: SiaOptions;
  expect?: unknown;
  expectError?: string;
}

const cases = readGolden<GoldenCase>(new URL('./sia-dc03.jsonl', import.meta.url));

/** The fields a golden line pins down: what classification and publishing read. */
function project(data: SiaData): unknown {
  return {
    account: data.account,
    text: data.text,
    quirks: data.quirks,
    events: data.events.map((event) => ({
      code: event.code?.value ?? null,
      qualifier: event.qualifier,
      partition: event.partition,
      address: event.address,
      user: event.user,
      occurredAt: event.occurredAt,
      text: event.text,
      extended: event.extended,
    })),
  };
}

describe('SIA DC-03 golden data blocks', () => {
  it('has cases, each with a source and exactly one expectation', () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
    for (const c of cases) {
      expect(c.source, c.name).not.toBe('');
      expect((c.expect === undefined) !== (c.expectError === undefined), c.name).toBe(true);
    }
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const result = c.via === 'line' ? decodeSiaLine(c.input, c.options) : parseSiaData(c.input, c.options);
    if (c.expectError !== undefined) {
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.error.code).toBe(c.expectError);
      return;
    }
    expect(result.ok, result.ok ? '' : result.error.message).toBe(true);
    if (!result.ok) return;
    expect(project(result.value)).toEqual(c.expect);
    for (const event of result.value.events) {
      expect(event.protocol).toBe('sia-dc03');
      expect(event.code?.scheme).toBe('sia');
      expect(event.account).toBe(result.value.account);
      expect(event.quirks).toEqual(result.value.quirks);
    }
  });
});
