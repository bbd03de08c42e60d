import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { Gateway } from '../../adapters/cli/gateway.js';
import { createRootLogger } from '../../adapters/system/logger.js';
import { systemClock } from '../../src/ports.js';
import { parseSettings } from '../../src/settings/settings.js';
import { getTestBroker, retainedUnder, uniquePrefix, type TestBroker } from '../helpers/broker.js';
import { testEvent } from '../helpers/output-events.js';
import { eventEntityReading, renderTemplates } from '../helpers/home-assistant.js';
import { topicMatches } from '../../adapters/outputs/mqtt.js';

/**
 * Required keys of Home Assistant's MQTT discovery schema (device-based payload, and per platform): the device
 * needs identifiers, the origin a name, every component a platform and a unique id; event, binary_sensor and
 * sensor need a state topic, an event entity its event types.
 */
function schemaProblems(payload: any): string[] {
  const problems: string[] = [];
  if (!Array.isArray(payload.dev?.ids) || payload.dev.ids.length === 0) problems.push('dev.ids');
  if (typeof payload.o?.name !== 'string') problems.push('o.name');
  if (!Array.isArray(payload.avty) || payload.avty.some((a: any) => typeof a.t !== 'string')) problems.push('avty[].t');
  if (typeof payload.cmps !== 'object' || Object.keys(payload.cmps).length === 0) problems.push('cmps');
  const uniqueIds = new Set<string>();
  for (const [id, c] of Object.entries<any>(payload.cmps ?? {})) {
    if (!/^[A-Za-z0-9_-]+$/.test(id)) problems.push(`${id}: component id`);
    if (!['event', 'binary_sensor', 'sensor'].includes(c.p)) problems.push(`${id}.p`);
    if (typeof c.unique_id !== 'string' || uniqueIds.has(c.unique_id)) problems.push(`${id}.unique_id`);
    uniqueIds.add(c.unique_id);
    if (typeof c.state_topic !== 'string') problems.push(`${id}.state_topic`);
    if (c.p === 'event' && (!Array.isArray(c.event_types) || c.event_types.length === 0)) problems.push(`${id}.event_types`);
  }
  return problems;
}

async function until(condition: () => Promise<boolean> | boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const SITES = [
  {
    id: 'bank-1',
    name: 'Bank one',
    accounts: ['1234'],
    zones: [
      { number: 5, name: 'Teller hold-up', type: 'holdup', testEvery: '7d' },
      { number: 9, name: 'Front door', type: 'burglary' },
    ],
    users: [{ number: 12, name: 'Manager duress code', duress: true, testEvery: '30d' }],
  },
];

describe('Home Assistant discovery against the broker', () => {
  let broker: TestBroker;
  let dir: string;
  beforeAll(async () => {
    broker = await getTestBroker();
  });
  afterAll(() => broker.close());
  // Run after the test, last registered first (vitest's default order for after-hooks).
  const cleanups = { push: (cleanup: () => Promise<unknown> | void) => onTestFinished(async () => void (await cleanup())) };

  /** Gateways a test stopped itself: a gateway stops once. */
  const stoppedByTest = new Set<Gateway>();

  /** Starts a gateway; after the test it is stopped, then whatever it left retained under `topicRoots` is cleared. */
  async function startGateway(outputs: unknown[], topicRoots: string[]): Promise<Gateway> {
    dir = mkdtempSync(path.join(os.tmpdir(), 'pb-ha-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    cleanups.push(async () => {
      for (const root of topicRoots) await clearRetained((await retainedUnder(broker.url, `${root}/#`, 200)).keys());
    });
    const parsed = parseSettings(
      JSON.stringify({ gateway: { id: 'gw/ha test' }, dataDir: path.join(dir, 'var'), inputs: [], outputs, sites: SITES }),
    );
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    const discard = new Writable({ write: (_chunk, _encoding, done) => done() });
    const started = await Gateway.start({ settings: parsed.settings, logger: createRootLogger({ level: 'warn', destination: discard }), clock: systemClock });
    if (!('gateway' in started)) throw new Error(JSON.stringify(started.issues));
    cleanups.push(() => (stoppedByTest.has(started.gateway) ? undefined : started.gateway.stop()));
    return started.gateway;
  }

  async function clearRetained(topics: Iterable<string>): Promise<void> {
    const client: MqttClient = await connectAsync(broker.url, { reconnectPeriod: 0 });
    for (const topic of topics) await client.publishAsync(topic, '', { qos: 1, retain: true });
    await client.endAsync();
  }

  it('publishes a retained device discovery whose entities read states the gateway keeps retained', async () => {
    const discovery = uniquePrefix('ha');
    const prefix = uniquePrefix('hacentral');
    await startGateway([{ type: 'mqtt', name: 'central', url: broker.url, topicPrefix: prefix, homeAssistant: { discoveryPrefix: discovery } }], [discovery, prefix]);

    let configs = new Map<string, string>();
    let states = new Map<string, string>();
    await until(async () => {
      configs = await retainedUnder(broker.url, `${discovery}/#`);
      states = await retainedUnder(broker.url, `${prefix}/#`);
      return (
        configs.size > 0 &&
        states.has(`${prefix}/health`) &&
        states.has(`${prefix}/devices/bank-1/zone-5`) &&
        states.has(`${prefix}/incidents/bank-1`)
      );
    }, 'discovery and states retained');

    expect([...configs.keys()]).toEqual([`${discovery}/device/panelbridge_gw_ha_test_central/config`]);
    const payload = JSON.parse([...configs.values()][0]!);
    expect(schemaProblems(payload)).toEqual([]);
    expect(payload.o).toMatchObject({ name: 'panelbridge' });
    expect(payload.avty[0].t).toBe(`${prefix}/status`);
    expect(JSON.parse(states.get(`${prefix}/status`)!).state).toBe('online');

    const components = Object.values<any>(payload.cmps);
    const byPlatform = (p: string) => components.filter((c) => c.p === p);
    const [siteEvents] = byPlatform('event');
    expect(siteEvents.state_topic).toBe(`${prefix}/events/bank-1/+`);
    expect(siteEvents.event_types).toEqual(expect.arrayContaining(['duress', 'holdup', 'burglary', 'test']));
    // One "test overdue" per duress device (hold-up zone 5, duress user 12), none for the burglary zone.
    const overdue = byPlatform('binary_sensor').filter((c) => c.name.endsWith('test overdue'));
    expect(overdue.map((c) => c.state_topic).sort()).toEqual([`${prefix}/devices/bank-1/user-12`, `${prefix}/devices/bank-1/zone-5`]);
    expect(byPlatform('binary_sensor').some((c) => c.state_topic === `${prefix}/incidents/bank-1`)).toBe(true);
    expect(byPlatform('sensor').map((c) => c.name).sort()).toEqual(['Backlog', 'Dead letters', 'Oldest pending age']);

    const health = JSON.parse(states.get(`${prefix}/health`)!);
    expect(health).toMatchObject({ status: expect.stringMatching(/^(ok|degraded|down)$/), backlog: 0, oldestPendingAgeSeconds: null, deadLetters: 0 });
    expect(Date.parse(health.updatedAt)).not.toBeNaN();
    expect(JSON.parse(states.get(`${prefix}/devices/bank-1/zone-5`)!)).toHaveProperty('overdue');
    expect(JSON.parse(states.get(`${prefix}/incidents/bank-1`)!)).toMatchObject({ site: 'bank-1', open: 0 });
  });

  it('shows a duress or hold-up from an account no site claims on an entity, with the account, and a site\'s only on the site\'s', async () => {
    const discovery = uniquePrefix('ha');
    const prefix = uniquePrefix('haunassigned');
    const gateway = await startGateway([{ type: 'mqtt', name: 'central', url: broker.url, topicPrefix: prefix, homeAssistant: { discoveryPrefix: discovery } }], [discovery, prefix]);
    let configs = new Map<string, string>();
    await until(async () => (configs = await retainedUnder(broker.url, `${discovery}/#`, 150)).size > 0, 'discovery');
    const entities = Object.entries<any>(JSON.parse([...configs.values()][0]!).cmps).filter(([, c]) => c.p === 'event');

    // Home Assistant subscribes to every event entity's state topic.
    const ha = await connectAsync(broker.url, { reconnectPeriod: 0 });
    cleanups.push(() => ha.endAsync());
    const received: Array<{ topic: string; payload: string }> = [];
    ha.on('message', (topic, payload) => received.push({ topic, payload: payload.toString() }));
    for (const filter of new Set(entities.map(([, c]) => c.state_topic as string))) await ha.subscribeAsync(filter, { qos: 1 });
    // A witness of every event the output publishes, to know when all are out.
    const witness = await connectAsync(broker.url, { reconnectPeriod: 0 });
    cleanups.push(() => witness.endAsync());
    const published: string[] = [];
    witness.on('message', (_topic, payload) => published.push(payload.toString()));
    await witness.subscribeAsync(`${prefix}/events/#`, { qos: 1 });

    const strangerDuress = testEvent({ category: 'duress', account: '9999', user: { number: 3 } as never });
    const strangerHoldup = testEvent({ category: 'holdup', account: '9999', verified: false, unverifiedReason: 'unknown-account' });
    const siteDuress = testEvent({ category: 'duress', account: '1234', siteId: 'bank-1', user: { number: 12 } as never });
    const events = [strangerDuress, strangerHoldup, siteDuress];
    expect((await gateway.recorder.record(events)).ok).toBe(true);
    await until(() => events.every((e) => published.some((payload) => payload.includes(e.id))), 'the events on the broker');
    await new Promise((resolve) => setTimeout(resolve, 200));

    // What each entity makes of each message its state topic delivered.
    const jobs = received.flatMap((message) =>
      entities.filter(([, c]) => topicMatches(c.state_topic, message.topic)).map(([id, c]) => ({ id, c, message, template: c.value_template as string, payload: message.payload })),
    );
    const rendered = renderTemplates(jobs);
    const shownBy = (eventId: string) =>
      jobs.flatMap((job, i) => {
        const reading = eventEntityReading(rendered[i]!, job.c.event_types);
        return reading !== undefined && JSON.parse(job.message.payload).id === eventId ? [{ entity: job.id, reading }] : [];
      });

    for (const event of [strangerDuress, strangerHoldup]) {
      const shown = shownBy(event.id);
      expect(shown, `${event.category} from account 9999`).toHaveLength(1);
      expect(shown[0]!.reading).toMatchObject({ event_type: event.category, account: '9999', event_id: event.id, verified: event.verified });
    }
    expect(shownBy(siteDuress.id).map((s) => s.entity)).toEqual(['bank-1_event']);
  });

  it('publishes the discovery again when Home Assistant announces online on its status topic', async () => {
    const discovery = uniquePrefix('ha');
    const prefix = uniquePrefix('habirth');
    await startGateway([{ type: 'mqtt', name: 'central', url: broker.url, topicPrefix: prefix, homeAssistant: { discoveryPrefix: discovery } }], [discovery, prefix]);
    const topic = `${discovery}/device/panelbridge_gw_ha_test_central/config`;
    await until(async () => (await retainedUnder(broker.url, topic, 150)).has(topic), 'first discovery');

    // Home Assistant lost its registry (the retained config is gone) and comes back.
    await clearRetained([topic]);
    expect((await retainedUnder(broker.url, topic, 150)).has(topic)).toBe(false);
    const ha = await connectAsync(broker.url, { reconnectPeriod: 0 });
    cleanups.push(() => ha.endAsync());
    await ha.publishAsync(`${discovery}/status`, 'offline', { qos: 1 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await retainedUnder(broker.url, topic, 150)).has(topic)).toBe(false);
    await ha.publishAsync(`${discovery}/status`, 'online', { qos: 1 });
    await until(async () => (await retainedUnder(broker.url, topic, 150)).has(topic), 'discovery after the birth message');
  });

  it('clears the incident, device and health states a central output left retained when it comes back local', async () => {
    const prefix = uniquePrefix('tolocal');
    const output = { type: 'mqtt', name: 'home', url: broker.url, topicPrefix: prefix };
    const central = await startGateway([output], [prefix]);
    expect((await central.recorder.record([testEvent({ category: 'holdup', account: '1234', siteId: 'bank-1', zone: { number: 5 } as never })])).ok).toBe(true);
    const centralStates = [`${prefix}/health`, `${prefix}/incidents/bank-1`, `${prefix}/devices/bank-1/zone-5`];
    await until(async () => {
      const states = await retainedUnder(broker.url, `${prefix}/#`, 150);
      return centralStates.every((topic) => states.has(topic)) && (states.get(`${prefix}/incidents/bank-1`) ?? '').includes('"open":1');
    }, 'central states');
    await central.stop();
    stoppedByTest.add(central);

    // The same broker and prefix, now for a local audience (the owner's phone): no trace of the incident is left.
    await startGateway([{ ...output, audience: 'local' }], [prefix]);
    expect([...(await retainedUnder(broker.url, `${prefix}/#`)).keys()]).toEqual([`${prefix}/status`]);
  });

  it('offers a local output nothing a duress changes, and keeps what it retains there identical after one', async () => {
    const discovery = uniquePrefix('ha');
    const localPrefix = uniquePrefix('halocal');
    const centralPrefix = uniquePrefix('hacentral');
    const gateway = await startGateway([
      { type: 'mqtt', name: 'central', url: broker.url, topicPrefix: centralPrefix },
      { type: 'mqtt', name: 'keypad', url: broker.url, topicPrefix: localPrefix, audience: 'local', homeAssistant: { discoveryPrefix: discovery } },
    ], [discovery, localPrefix, centralPrefix]);
    const snapshot = async () => {
      const states = await retainedUnder(broker.url, `${localPrefix}/#`);
      // The status message carries the connection's start time, which a duress does not change.
      return { configs: await retainedUnder(broker.url, `${discovery}/#`), states: [...states.keys()].sort() };
    };
    let before = await snapshot();
    await until(async () => (before = await snapshot()).configs.size > 0, 'local discovery');

    const payload = JSON.parse([...before.configs.values()][0]!);
    expect(schemaProblems(payload)).toEqual([]);
    const text = JSON.stringify(payload);
    for (const leak of ['duress', 'holdup', 'incidents', 'devices/', 'health', 'overdue']) expect(text).not.toContain(leak);
    expect(before.states).toEqual([`${localPrefix}/status`]);

    const outcome = await gateway.recorder.record([testEvent({ category: 'holdup', siteId: 'bank-1', account: '1234' })]);
    expect(outcome.ok).toBe(true);
    // The central output gets it, and its health moves; the local one learns nothing.
    await until(async () => (await retainedUnder(broker.url, `${centralPrefix}/#`, 150)).has(`${centralPrefix}/health`), 'central health');
    const ha = await connectAsync(broker.url, { reconnectPeriod: 0 });
    cleanups.push(() => ha.endAsync());
    await ha.publishAsync(`${discovery}/status`, 'online', { qos: 1 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const after = await snapshot();
    expect(after.states).toEqual(before.states);
    expect(after.configs).toEqual(before.configs);
  });
});
