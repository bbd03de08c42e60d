import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { connectAsync } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { Gateway } from '../../adapters/cli/gateway.js';
import { createRootLogger } from '../../adapters/system/logger.js';
import { systemClock } from '../../src/ports.js';
import { parseSettings } from '../../src/settings/settings.js';
import { getTestBroker, retainedUnder, uniquePrefix, type TestBroker } from '../helpers/broker.js';
import { testEvent } from '../helpers/output-events.js';

async function until(condition: () => Promise<boolean>, what: string, timeoutMs = 8_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const SITES = [{ id: 'bank-1', name: 'Bank one', accounts: ['1234'], zones: [{ number: 5, name: 'Teller hold-up', type: 'holdup', testEvery: '7d' }] }];

/**
 * A central output's retained states (open incidents, duress devices, health) used to stay under its old prefix for
 * good when `topicPrefix` changed between runs: a subscriber still reading the old tree saw an incident open that
 * was long acknowledged, or a health "ok" from a gateway that no longer reported there. The gateway remembers each
 * MQTT output's prefix in dataDir and, after a change, clears the states left under the former one.
 */
describe('an MQTT output whose topicPrefix changed since the last run', () => {
  let broker: TestBroker;
  beforeAll(async () => {
    broker = await getTestBroker();
  });
  afterAll(() => broker.close());

  const dir = mkdtempSync(path.join(os.tmpdir(), 'pb-prefix-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function startGateway(topicPrefix: string): Promise<Gateway> {
    const outputs = [{ type: 'mqtt', name: 'central', url: broker.url, topicPrefix }];
    const parsed = parseSettings(JSON.stringify({ gateway: { id: 'gw-prefix' }, dataDir: path.join(dir, 'var'), inputs: [], outputs, sites: SITES }));
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    const discard = new Writable({ write: (_chunk, _encoding, done) => done() });
    const started = await Gateway.start({ settings: parsed.settings, logger: createRootLogger({ level: 'warn', destination: discard }), clock: systemClock });
    if (!('gateway' in started)) throw new Error(JSON.stringify(started.issues));
    return started.gateway;
  }

  async function clearAll(root: string): Promise<void> {
    const client = await connectAsync(broker.url, { reconnectPeriod: 0 });
    for (const topic of (await retainedUnder(broker.url, `${root}/#`)).keys()) await client.publishAsync(topic, '', { qos: 1, retain: true });
    await client.endAsync();
  }

  it('clears the incident, device and health states retained under the former prefix, and keeps the new ones', async () => {
    const before = uniquePrefix('oldtree');
    const after = uniquePrefix('newtree');
    onTestFinished(async () => {
      await clearAll(before);
      await clearAll(after);
    });
    const centralStates = (prefix: string) => [`${prefix}/health`, `${prefix}/incidents/bank-1`, `${prefix}/devices/bank-1/zone-5`];

    const first = await startGateway(before);
    expect((await first.recorder.record([testEvent({ category: 'holdup', account: '1234', siteId: 'bank-1', zone: { number: 5 } as never })])).ok).toBe(true);
    await until(async () => {
      const states = await retainedUnder(broker.url, `${before}/#`, 150);
      return centralStates(before).every((topic) => states.has(topic)) && (states.get(`${before}/incidents/bank-1`) ?? '').includes('"open":1');
    }, 'states under the first prefix');
    await first.stop();

    const second = await startGateway(after);
    try {
      await until(async () => {
        const states = await retainedUnder(broker.url, `${after}/#`, 150);
        return centralStates(after).every((topic) => states.has(topic));
      }, 'states under the new prefix');
      let left: string[] = [];
      await until(async () => {
        left = [...(await retainedUnder(broker.url, `${before}/#`, 150)).keys()];
        return !left.some((topic) => centralStates(before).includes(topic));
      }, 'the former prefix cleared').catch(() => undefined);
      expect(left.filter((topic) => centralStates(before).includes(topic)), 'states left under the former prefix').toEqual([]);
      // The status under the former prefix stays: "offline" there is true, and tells its readers the gateway left.
      expect(left).toEqual([`${before}/status`]);
      expect([...(await retainedUnder(broker.url, `${after}/#`)).keys()].sort()).toEqual([...centralStates(after), `${after}/status`].sort());
    } finally {
      await second.stop();
    }
  }, 40_000);
});
