import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Gateway } from '../../../adapters/cli/gateway.js';
import { createRootLogger } from '../../../adapters/system/logger.js';
import { CREATED_TOKENS_FILE } from '../../../adapters/api/tokens.js';
import type { NormalizedEvent } from '../../../src/model/event.js';
import { MemoryOutbox } from '../../../src/outbox/memory-outbox.js';
import { systemClock } from '../../../src/ports.js';
import { parseSettings } from '../../../src/settings/settings.js';
import { tempDir } from '../../helpers/gateway-process.js';
import { gateAppends } from '../../helpers/gated-outbox.js';
import { createHash } from 'node:crypto';

/**
 * A rogue admin mints an operator token (POST /tokens), or someone with write access to dataDir adds one to
 * api-tokens.json by hand; with it, incidents can be acknowledged under a name nobody at central knows. Security
 * rule 4: every control action is published to central, not only chained in the audit log on the gateway's disk.
 */

const ADMIN = 'admin-secret-token-0004';
const running: Gateway[] = [];
afterEach(async () => {
  for (const gateway of running.splice(0)) await gateway.stop();
});

async function start(dataDir: string, stored: NormalizedEvent[]): Promise<{ gateway: Gateway; base: string }> {
  const parsed = parseSettings(
    JSON.stringify({ dataDir, inputs: [], outputs: [], api: { host: '127.0.0.1', port: 0, tokens: [{ name: 'root-admin', role: 'admin', token: ADMIN }] } }),
  );
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  const outbox = new MemoryOutbox();
  const append = outbox.append.bind(outbox);
  outbox.append = (events, options) => {
    stored.push(...events);
    return append(events, options);
  };
  const started = await Gateway.start({ settings: parsed.settings, logger: createRootLogger({ level: 'silent' }), clock: systemClock, outbox });
  if (!('gateway' in started)) throw new Error(JSON.stringify(started.issues));
  running.push(started.gateway);
  return { gateway: started.gateway, base: `http://127.0.0.1:${started.gateway.api!.address!.port}` };
}

const tokenReports = (stored: readonly NormalizedEvent[]) =>
  stored.filter((e) => e.category === 'supervisory' && e.reasons.some((reason) => reason.includes('API token')));

describe('an API token created', () => {
  it('by an admin through the API: central hears of it, covertly, naming the token, its role and who created it', async () => {
    const stored: NormalizedEvent[] = [];
    const { base } = await start(tempDir('token-created'), stored);
    const answer = await fetch(`${base}/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'night-desk', role: 'operator' }),
    });
    expect(answer.status).toBe(201);
    await expect.poll(() => tokenReports(stored)).toHaveLength(1);
    expect(tokenReports(stored)[0]).toMatchObject({ covert: true, account: null });
    expect(tokenReports(stored)[0]!.reasons.join(' ')).toMatch(/API token "night-desk" \(operator\) created by root-admin \(admin, api\)/);
  });

  it('through the API is answered only once its event for central is in the outbox, as every control action is', async () => {
    const stored: NormalizedEvent[] = [];
    const { gateway, base } = await start(tempDir('token-created-gated'), stored);
    const gate = gateAppends(gateway.outbox as MemoryOutbox);
    let answered = false;
    const answer = fetch(`${base}/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'night-desk', role: 'operator' }),
    }).then((response) => ((answered = true), response));
    await gate.appending;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(answered).toBe(false);
    gate.release();
    expect((await answer).status).toBe(201);
    expect(tokenReports(stored)).toHaveLength(1);
  });

  it('written into api-tokens.json by hand: central hears of it when the gateway first takes it', async () => {
    const dataDir = tempDir('token-found');
    const stored: NormalizedEvent[] = [];
    const { base } = await start(dataDir, stored);
    const token = 'pbt_handwritten-token-000000000000';
    const sha256 = createHash('sha256').update(token).digest('hex');
    writeFileSync(path.join(dataDir, CREATED_TOKENS_FILE), JSON.stringify({ tokens: [{ name: 'backdoor', role: 'operator', sha256 }] }), { mode: 0o600 });
    const answer = await fetch(`${base}/incidents`, { headers: { authorization: `Bearer ${token}` } });
    expect(answer.status).toBe(200);
    await expect.poll(() => tokenReports(stored)).toHaveLength(1);
    expect(tokenReports(stored)[0]!.reasons.join(' ')).toMatch(/API token "backdoor" \(operator\) found in api-tokens.json/);
  });
});
