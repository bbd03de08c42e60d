import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { eventJsonSchema } from '../../../src/model/event.js';

describe('config/event.schema.json', () => {
  it('is the JSON Schema the code generates (regenerate with `node dist/adapters/cli/main.js schema event > config/event.schema.json`)', () => {
    const file = JSON.parse(readFileSync(new URL('../../../config/event.schema.json', import.meta.url), 'utf8'));
    expect(file).toEqual(eventJsonSchema());
  });
});
