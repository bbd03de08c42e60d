import { afterEach, describe, expect, it } from 'vitest';
import { registerTokenRoutes } from '../../../../adapters/api/routes/tokens.js';
import { ApiServer } from '../../../../adapters/api/server.js';
import { TokenRegistry } from '../../../../adapters/api/tokens.js';
import type { ControlStored } from '../../../../src/assurance/assurance.js';
import type { AuditEntry } from '../../../../src/assurance/audit-chain.js';
import { silentLogger } from '../../../../src/ports.js';
import { apiSchema } from '../../../../src/settings/settings.js';
import { tempDir } from '../../../helpers/gateway-process.js';

const ADMIN = 'admin-token-0123456789';

const servers: ApiServer[] = [];
afterEach(async () => {
  for (const api of servers.splice(0)) await api.stop();
});

/**
 * POST /tokens on the real ApiServer and TokenRegistry, whose creations are reported through `report` (the gateway
 * stores each as an event for central and hands back that store).
 */
async function tokenRoute(report: (entry: AuditEntry) => ControlStored) {
  const loaded = TokenRegistry.load(apiSchema.parse({ port: 0, tokens: [{ name: 'admin-1', role: 'admin', token: ADMIN }] }), tempDir('token-route'));
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
  loaded.registry.chainCreations(report, () => false);
  const api = new ApiServer({ host: '127.0.0.1', port: 0, logger: silentLogger, tokens: loaded.registry });
  registerTokenRoutes(api, loaded.registry);
  await api.start();
  servers.push(api);
  return async (body: unknown) => {
    const response = await fetch(`http://127.0.0.1:${api.address!.port}/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as { token?: string; error?: { code: string; message: string }; result?: unknown } };
  };
}

describe('POST /tokens', () => {
  it('answers only once the creation event for central is stored, like every other control action', async () => {
    let release!: () => void;
    const stored: ControlStored = new Promise((resolve) => (release = () => resolve({ ok: true })));
    const reported: AuditEntry[] = [];
    const post = await tokenRoute((entry) => {
      reported.push(entry);
      return stored;
    });
    let answered = false;
    const answer = post({ name: 'wallboard', role: 'viewer' }).then((a) => ((answered = true), a));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(reported.map((e) => [e.action, e.details.name])).toEqual([['token-created', 'wallboard']]);
    expect(answered).toBe(false);
    release();
    expect(await answer).toMatchObject({ status: 201, body: { token: expect.stringMatching(/^pbt_/) } });
  });

  it('answers 503 CONTROL_NOT_STORED when the outbox refuses the creation event, with the token that stands', async () => {
    const post = await tokenRoute(() => Promise.resolve({ ok: false, error: new Error('disk full') }));
    const answer = await post({ name: 'wallboard', role: 'viewer' });
    expect(answer.status).toBe(503);
    expect(answer.body.error?.code).toBe('CONTROL_NOT_STORED');
    expect(answer.body.error?.message).toMatch(/API token "wallboard" \(viewer\) was created.*disk full/);
    // The token is stored and accepted: the answer still shows it once, as a 201 would.
    expect(answer.body.result).toMatchObject({ name: 'wallboard', role: 'viewer', token: expect.stringMatching(/^pbt_/) });
  });
});
