import { readFileSync } from 'node:fs';
import { expect } from 'vitest';

/** The cases of a golden JSONL file (beside its test): one JSON object a line, blank lines skipped. */
export function readGolden<T>(file: URL): T[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as T);
}

/** A golden file has cases, and each cites its source and expects exactly one thing: a value or an error. */
export function expectCitedCases(cases: ReadonlyArray<{ name: string; source: string; expect?: unknown; expectError?: unknown }>): void {
  expect(cases.length).toBeGreaterThan(0);
  for (const c of cases) {
    expect(c.source, c.name).toMatch(/\S/);
    expect((c.expect === undefined) !== (c.expectError === undefined), c.name).toBe(true);
  }
}
