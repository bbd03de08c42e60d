import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseScenario } from '../../../src/simulate/scenario.js';

const EXAMPLE_SCENARIO = new URL('../../../config/scenario.example.yaml', import.meta.url).pathname;

describe('simulator building blocks', () => {
  it('parses the example scenario and names what is wrong in a bad one', () => {
    const example = parseScenario(readFileSync(EXAMPLE_SCENARIO, 'utf8'));
    expect(example.ok && example.scenario.devices.map((d) => [d.account, d.events.length])).toEqual([['1234', 4], ['4567', 2]]);
    const issuesOf = (text: string) => {
      const parsed = parseScenario(text);
      return parsed.ok ? '' : parsed.issues.join('\n');
    };
    const bad = issuesOf('devices:\n  - account: 1234\n    events: [{ event: fire, zone: 5 }]\n');
    expect(bad).toMatch(/^devices\.0\.account: /m);
    expect(bad).toMatch(/^devices\.0\.events\.0\.event: unknown event "fire"/m);
    expect(issuesOf('devices:\n  - account: "1234"\n    key: "00"\n    events: [{ event: test }]\n')).toMatch(/^devices\.0\.keyEncoding: /m);
  });

  it('names a YAML syntax error by its line, never quoting it: a scenario holds keys too', () => {
    const parsed = parseScenario('devices:\n  - { account: "1234", key: "SECRETKEYSECRETKEY", keyEncoding: ascii\n    events: [{ event: test }]\n');
    expect(parsed.ok ? [] : parsed.issues).toEqual([expect.stringMatching(/^not valid YAML \([A-Z_]+\) at line \d+, column \d+: /)]);
    expect(JSON.stringify(parsed)).not.toContain('SECRETKEY');
  });
});
