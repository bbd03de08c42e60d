import { describe, expect, it } from 'vitest';
import { discoveryPayload, discoveryPrefixOf, eventTypesFor, HomeAssistantDiscovery } from '../../../adapters/outputs/home-assistant.js';
import { healthState } from '../../../adapters/outputs/health-state.js';
import type { MqttOutput } from '../../../adapters/outputs/mqtt.js';
import { silentLogger } from '../../../src/ports.js';
import { sitesSchema, type Site } from '../../../src/settings/sites.js';
import { eventEntityReading, renderTemplates } from '../../helpers/home-assistant.js';
import { testEvent } from '../../helpers/output-events.js';

const gateway = { id: 'gw-1', version: '1.2.3' };
const sites = sitesSchema.parse([
  { id: 'shop', accounts: ['1111'], zones: [{ number: 3, name: 'Panic button', type: 'panic', testEvery: '7d' }] },
  { id: 'bank', accounts: ['2222'], users: [{ number: 7, name: 'Duress code', duress: true }] },
]);

describe('Home Assistant discovery payload', () => {
  it('takes true as the default prefix and false or nothing as no discovery', () => {
    expect(discoveryPrefixOf(true)).toBe('homeassistant');
    expect(discoveryPrefixOf({ discoveryPrefix: 'ha' })).toBe('ha');
    expect(discoveryPrefixOf(false)).toBeUndefined();
    expect(discoveryPrefixOf(undefined)).toBeUndefined();
  });

  it('never names a duress category as a local event type', () => {
    expect(eventTypesFor('central')).toContain('duress');
    expect(eventTypesFor('local')).not.toContain('duress');
    expect(eventTypesFor('local')).not.toContain('holdup');
    expect(eventTypesFor('local')).toContain('fire');
  });

  it('gives a local output one event entity per site and nothing else', () => {
    const payload = discoveryPayload({ gateway, output: { name: 'keypad', topicPrefix: 'pb', audience: 'local' }, sites });
    expect(Object.values(payload.cmps).map((c) => c.p)).toEqual(['event', 'event']);
  });

  it('gives a central output incident, overdue and health entities too, each with a unique id', () => {
    const payload = discoveryPayload({ gateway, output: { name: 'central', topicPrefix: 'pb', audience: 'central' }, sites });
    const ids = Object.keys(payload.cmps);
    expect(ids).toEqual(
      expect.arrayContaining(['shop_event', 'shop_open_incident', 'shop_zone-3_test_overdue', 'bank_user-7_test_overdue', 'backlog', 'dead_letters']),
    );
    const uniqueIds = Object.values(payload.cmps).map((c) => (c as { unique_id: string }).unique_id);
    expect(new Set(uniqueIds).size).toBe(uniqueIds.length);
  });
});

describe('Home Assistant entities of accounts no site claims', () => {
  const central = discoveryPayload({ gateway, output: { name: 'central', topicPrefix: 'pb', audience: 'central' }, sites });
  const unassigned = Object.entries(central.cmps).filter(([id]) => id.startsWith('unassigned_accounts_')) as Array<[string, any]>;

  it('has one event entity per duress category on a central output, reading only that category, and none on a local one', () => {
    expect(unassigned.map(([, c]) => [c.state_topic, c.event_types])).toEqual([
      ['pb/events/+/duress', ['duress']],
      ['pb/events/+/holdup', ['holdup']],
    ]);
    const local = discoveryPayload({ gateway, output: { name: 'keypad', topicPrefix: 'pb', audience: 'local' }, sites });
    expect(Object.keys(local.cmps).filter((id) => id.startsWith('unassigned'))).toEqual([]);
  });

  it('keeps an event without a site, also one stored before site and verified were always written, and ignores a site\'s', () => {
    const [, duressEntity] = unassigned[0]!;
    const { site: _site, verified: _verified, ...older } = testEvent({ category: 'duress', account: 'ab12' });
    const payloads = [older, testEvent({ category: 'duress', account: '1111', siteId: 'shop' })].map((e) => JSON.stringify(e));
    const [olderReading, siteReading] = renderTemplates(payloads.map((payload) => ({ template: duressEntity.value_template, payload })));
    expect(eventEntityReading(olderReading!, duressEntity.event_types)).toMatchObject({ event_type: 'duress', account: 'ab12', verified: true });
    expect(eventEntityReading(siteReading!, duressEntity.event_types)).toBeUndefined();
  });
});

describe('Home Assistant ids from configured names', () => {
  it('keeps two site ids apart that read the same once cleaned (shop.1, shop_1): one entity each', () => {
    const alike = sitesSchema.parse([
      { id: 'shop.1', accounts: ['1111'] },
      { id: 'shop_1', accounts: ['2222'] },
    ]);
    const payload = discoveryPayload({ gateway, output: { name: 'central', topicPrefix: 'pb', audience: 'central' }, sites: alike });
    const components = Object.values(payload.cmps) as Array<{ p: string; name?: string; state_topic?: string }>;
    const incidents = components.filter((c) => c.p === 'binary_sensor' && String(c.name).includes('open incident'));
    expect(incidents.map((c) => c.state_topic).sort()).toEqual(['pb/incidents/shop.1', 'pb/incidents/shop_1']);
    const uniqueIds = Object.values(payload.cmps).map((c) => (c as { unique_id: string }).unique_id);
    expect(new Set(uniqueIds).size).toBe(uniqueIds.length);
  });
});

describe('HomeAssistantDiscovery', () => {
  it('removes the entities of a site no longer configured by sending their platform alone', async () => {
    const published: Array<{ topic: string; payload: any }> = [];
    const output = {
      name: 'central',
      topicPrefix: 'pb',
      audience: 'central',
      health: () => ({ state: 'up' }),
      onConnected: () => () => undefined,
      subscribeTo: async () => async () => undefined,
      publishRetainedTo: async (topic: string, payload: unknown) => void published.push({ topic, payload }),
    } as unknown as MqttOutput;
    let current: readonly Site[] = sites;
    const discovery = new HomeAssistantDiscovery(output, { gateway, sites: () => current, logger: silentLogger, discoveryPrefix: 'ha' });
    await discovery.start();
    expect(published[0]!.topic).toBe('ha/device/panelbridge_gw-1_central/config');
    current = sites.filter((s) => s.id === 'shop');
    await discovery.publish();
    expect(published[1]!.payload.cmps['bank_event']).toEqual({ p: 'event' });
    expect(published[1]!.payload.cmps['bank_user-7_test_overdue']).toEqual({ p: 'binary_sensor' });
    await discovery.publish();
    expect(published[2]!.payload.cmps).not.toHaveProperty('bank_event');
  });
});

describe('health state', () => {
  it('sums backlog and dead letters, takes the oldest pending age, and is down when no input or no output is up', () => {
    const report = {
      status: 'degraded' as const,
      inputs: [{ state: 'up' }],
      outputs: [
        { state: 'up', backlog: 2, deadLetters: 1, oldestPendingAgeMs: 4_500 },
        { state: 'down', backlog: 3, deadLetters: 0, oldestPendingAgeMs: 61_000 },
      ],
    };
    expect(healthState(report, 0)).toEqual({ status: 'degraded', backlog: 5, oldestPendingAgeSeconds: 61, deadLetters: 1, updatedAt: '1970-01-01T00:00:00.000Z' });
    expect(healthState({ ...report, inputs: [{ state: 'down' }] }, 0).status).toBe('down');
    expect(healthState({ status: 'ok', inputs: [], outputs: [] }, 0)).toMatchObject({ status: 'ok', backlog: 0, oldestPendingAgeSeconds: null });
  });
});
