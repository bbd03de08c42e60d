import { describe, expect, it } from 'vitest';
import { MqttAssuranceStates } from '../../../adapters/outputs/mqtt-assurance.js';
import type { MqttOutput } from '../../../adapters/outputs/mqtt.js';
import type { Assurance } from '../../../src/assurance/assurance.js';
import { AssuranceStore } from '../../../src/assurance/store.js';
import { silentLogger } from '../../../src/ports.js';
import { harness, openIncidentBehind, operator, SITES } from '../../helpers/assurance-harness.js';

/** Just what the retained-state publisher uses of an MQTT output. */
function fakeOutput(retained: Map<string, string>, published: string[] = []): MqttOutput {
  return {
    name: 'cms',
    audience: 'central',
    connected: true,
    incidentAcks: false,
    publishRetained: async (topic: string, payload: string) => {
      published.push(topic);
      if (payload === '') retained.delete(topic);
      else retained.set(topic, payload);
    },
  } as unknown as MqttOutput;
}

describe('retained incident state', () => {
  it('shows an open incident older than the 500 most recent ones (opened and acknowledged elsewhere)', async () => {
    const h = harness();
    const open = await openIncidentBehind(h, 500);

    const retained = new Map<string, string>();
    const states = new MqttAssuranceStates([fakeOutput(retained)], { assurance: h.assurance, sites: () => SITES, clock: h.clock, logger: silentLogger });
    await states.publish();
    const bank = JSON.parse(retained.get('incidents/bank-1') ?? '{}') as { open?: number; incidents?: Array<{ id: string }> };
    expect(bank.open, 'incidents/bank-1 retained state').toBe(1);
    expect(bank.incidents?.map((i) => i.id)).toEqual([open]);
  });

  it('reads and publishes nothing on a quiet tick, however many incidents are open, and only what changed after a change', async () => {
    // 20,000 open incidents of made-up accounts, as a database from before their bound holds them.
    const N = 20_000;
    const store = AssuranceStore.open(':memory:');
    for (let i = 0; i < N; i++) {
      const account = `F${i}`;
      store.putIncident({
        id: `flood-${i}`, key: `account:${account}`, site: null, account, category: 'duress', openedAt: i, openingEventId: `event-${i}`,
        lastEventAt: i, eventCount: 1, ackedAt: null, ackedBy: null, note: null, deliveredAt: null, opening: null, calls: [],
      });
    }
    const h = harness({ store });
    let reads = 0;
    const assurance = new Proxy(h.assurance, {
      get(target, property, receiver) {
        if (property === 'incidentRecords') reads++;
        const value: unknown = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as Assurance;
    const retained = new Map<string, string>();
    const published: string[] = [];
    const states = new MqttAssuranceStates([fakeOutput(retained, published)], { assurance, sites: () => SITES, clock: h.clock, logger: silentLogger });
    await states.publish();
    expect(retained.size).toBeGreaterThanOrEqual(N);

    reads = 0;
    published.length = 0;
    for (let tick = 0; tick < 3; tick++) await states.publish();
    expect({ reads, published }).toEqual({ reads: 0, published: [] });

    expect(h.assurance.acknowledge('flood-7', operator('desk'), 'made-up account').ok).toBe(true);
    states.incidentsChanged();
    await states.publish();
    expect(published).toEqual(['incidents/F7']);
    expect(JSON.parse(retained.get('incidents/F7')!)).toMatchObject({ open: 0 });
  });
});
