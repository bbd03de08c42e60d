import { describe, expect, it } from 'vitest';
import { parseSettings } from '../../../src/settings/settings.js';
import { lintSettings } from '../../../src/settings/lint.js';

// README: `check` reports as an error "an access-xml input beyond loopback without secret/secretFile or
// tls.requestCert" because "anyone on the network can post events". tls.requestCert with rejectUnauthorized: false
// asks for a certificate but lets every client in without one, so anyone on the network can still post events.
describe('check: an access-xml input open to the network', () => {
  it('is an error when requestCert is set but rejectUnauthorized: false lets clients in without a certificate', () => {
    const parsed = parseSettings(`
inputs:
  - type: access-xml
    name: doors
    host: 0.0.0.0
    port: 8443
    tls: { cert: s.pem, key: s.key, ca: ca.pem, requestCert: true, rejectUnauthorized: false }
outputs:
  - { type: stdout, name: out }
`);
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    const errors = lintSettings(parsed.settings, { fileIsWorldReadable: false }).filter((f) => f.severity === 'error');
    expect(errors.map((f) => f.path)).toContain('inputs[0].host');
  });
});
