import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configJsonSchema } from '../../../../adapters/cli/commands/schema.js';

// Editors validate installers' files against the published copy: a key the gateway takes must be in it.
describe('config/panelbridge.schema.json', () => {
  it('is the JSON Schema the code generates (regenerate with `node dist/adapters/cli/main.js schema config > config/panelbridge.schema.json`)', () => {
    const file = JSON.parse(readFileSync(new URL('../../../../config/panelbridge.schema.json', import.meta.url), 'utf8'));
    expect(file).toEqual(configJsonSchema());
  });
});
