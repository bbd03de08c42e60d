import https from 'node:https';
import { readFileSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiServer } from '../../adapters/api/server.js';
import { TokenRegistry } from '../../adapters/api/tokens.js';
import { silentLogger } from '../../src/ports.js';
import { apiSchema } from '../../src/settings/settings.js';
import { hasOpenssl, makeTestCertificates } from '../helpers/test-certs.js';

const TOKEN = 'viewer-token-over-mutual-tls';

function get(port: number, tls: https.RequestOptions): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path: '/incidents', headers: { authorization: `Bearer ${TOKEN}` }, ...tls }, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe.skipIf(!hasOpenssl)('API over mutual TLS (needs openssl to make test certificates)', () => {
  let certs: ReturnType<typeof makeTestCertificates>;
  let api: ApiServer;

  beforeAll(async () => {
    certs = makeTestCertificates();
    const settings = apiSchema.parse({
      host: '127.0.0.1',
      port: 0,
      tokens: [{ name: 'wallboard', role: 'viewer', token: TOKEN }],
      tls: { cert: certs.file('server.pem'), key: certs.file('server.key'), ca: certs.file('ca.pem'), requestCert: true },
    });
    const tokens = TokenRegistry.load(settings, certs.dir);
    if (!tokens.ok) throw new Error('tokens');
    api = new ApiServer({ host: settings.host, port: 0, logger: silentLogger, tokens: tokens.registry, tls: settings.tls });
    api.route('GET', '/incidents', 'read', () => ({ status: 200, body: { incidents: [] } }));
    await api.start();
  });

  afterAll(async () => {
    await api?.stop();
    if (certs !== undefined) rmSync(certs.dir, { recursive: true, force: true });
  });

  it('serves a client with a certificate from the configured CA (and a token), and refuses one without', async () => {
    const port = api.address!.port;
    const ca = readFileSync(certs.file('ca.pem'));
    const answer = await get(port, { ca, cert: readFileSync(certs.file('client.pem')), key: readFileSync(certs.file('client.key')) });
    expect(answer).toEqual({ status: 200, body: '{"incidents":[]}' });
    await expect(get(port, { ca })).rejects.toThrow();
  });
});
