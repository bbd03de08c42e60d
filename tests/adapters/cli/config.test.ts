import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { unusableFiles } from '../../../adapters/cli/config.js';
import { parseSettings } from '../../../src/settings/settings.js';
import { tempDir } from '../../helpers/gateway-process.js';
import { hasOpenssl, makeTestCertificates } from '../../helpers/test-certs.js';

function settingsWith(config: object) {
  const parsed = parseSettings(JSON.stringify({ inputs: [], outputs: [{ type: 'stdout', name: 'console' }], ...config }));
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return parsed.settings;
}

describe('unusableFiles', () => {
  it('names a missing file by its setting', () => {
    const settings = settingsWith({ api: { port: 8780, tls: { cert: '/nonexistent/api.crt', key: '/nonexistent/api.key' } } });
    expect(unusableFiles(settings).map((issue) => issue.path)).toEqual(['api.tls.key', 'api.tls.cert']);
  });

  it('names a TLS file that holds no PEM certificate or key, wherever TLS is configured', () => {
    const garbage = path.join(tempDir('tls-garbage'), 'garbage.pem');
    writeFileSync(garbage, 'not a certificate\n', { mode: 0o600 });
    const settings = settingsWith({
      api: { port: 8780, tls: { cert: garbage, key: garbage, ca: garbage } },
      inputs: [{ type: 'access-xml', name: 'doors', port: 8090, secret: 's', tls: { cert: garbage, key: garbage } }],
      outputs: [{ type: 'mqtt', name: 'broker', url: 'mqtts://broker.example', ca: garbage }],
    });
    expect(unusableFiles(settings)).toEqual([
      { path: 'api.tls.cert', message: `${garbage} holds no PEM certificate: give api.tls.cert a PEM file` },
      { path: 'api.tls.key', message: `${garbage} holds no unencrypted PEM private key: give api.tls.key a PEM file` },
      { path: 'api.tls.ca', message: `${garbage} holds no PEM certificate: give api.tls.ca a PEM file` },
      expect.objectContaining({ path: 'inputs[0].tls.cert' }),
      expect.objectContaining({ path: 'inputs[0].tls.key' }),
      expect.objectContaining({ path: 'outputs[0].ca' }),
    ]);
  });

  it.skipIf(!hasOpenssl)('takes a certificate with its own key, and names a key that belongs to another certificate', () => {
    const { file } = makeTestCertificates();
    const tls = (key: string) => settingsWith({ api: { port: 8780, tls: { cert: file('server.pem'), key, ca: file('ca.pem') } } });
    expect(unusableFiles(tls(file('server.key')))).toEqual([]);
    expect(unusableFiles(tls(file('client.key')))).toEqual([
      { path: 'api.tls.key', message: `${file('client.key')} is not the private key of ${file('server.pem')}: give api.tls.cert and api.tls.key a matching pair` },
    ]);
  });
});
