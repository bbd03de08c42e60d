import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { API_HTTP_STATUS, ERROR_CODES } from '../../src/errors.js';

/** The README's error table and the registry must list the same codes (fastify's documentation test). */
describe('error registry ↔ README', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('## Error codes'));
  const documented = new Set([...section.matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1]));

  it('documents every registered code', () => {
    const missing = Object.keys(ERROR_CODES).filter((code) => !documented.has(code));
    expect(missing).toEqual([]);
  });

  it('documents no code that no longer exists', () => {
    const stale = [...documented].filter((code) => !(code! in ERROR_CODES));
    expect(stale).toEqual([]);
  });

  it('gives every API error code its HTTP status, in the registry and in the table', () => {
    for (const [code, status] of Object.entries(API_HTTP_STATUS)) {
      expect(code in ERROR_CODES, code).toBe(true);
      expect(section, code).toMatch(new RegExp(`^\\| \`${code}\` \\| ${status}: `, 'm'));
    }
  });
});
