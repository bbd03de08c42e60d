import { describe, expect, it } from 'vitest';
import { parseSettings } from '../../../src/settings/settings.js';
import { lintSettings } from '../../../src/settings/lint.js';

// security.md: a network attacker on the panel side can send any bytes. A sia-ip input cannot authenticate its
// panels (SIA over IP has no key), so whoever reaches its port injects events; allowFrom is its only gate.
function warningsFor(input: string): Array<{ path: string; message: string }> {
  const parsed = parseSettings(`
inputs:
  - ${input}
outputs: [{ type: stdout, name: console }]
`);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return lintSettings(parsed.settings, { fileIsWorldReadable: false }).filter((f) => f.severity === 'warning');
}

describe('check: a sia-ip input open beyond this machine', () => {
  it.each(['0.0.0.0', '192.0.2.10', '::'])('warns when it listens on %s without allowFrom', (host) => {
    expect(warningsFor(`{ type: sia-ip, name: galaxy, host: "${host}", port: 10002 }`)).toEqual([
      { path: 'inputs[0].host', severity: 'warning', message: expect.stringMatching(/anyone.*allowFrom/) },
    ]);
  });

  it('warns with the default host, which is every interface', () => {
    expect(warningsFor('{ type: sia-ip, name: galaxy, port: 10002 }')).toEqual([{ path: 'inputs[0].host', severity: 'warning', message: expect.stringMatching(/allowFrom/) }]);
  });

  it.each([
    ['on loopback', '{ type: sia-ip, name: galaxy, host: 127.0.0.1, port: 10002 }'],
    ['with allowFrom', '{ type: sia-ip, name: galaxy, port: 10002, allowFrom: ["192.0.2.0/24", "2001:db8::7"] }'],
  ])('says nothing %s', (_what, input) => {
    expect(warningsFor(input)).toEqual([]);
  });
});
