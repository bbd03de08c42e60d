import { describe, expect, it, vi } from 'vitest';
import { MqttAssuranceStates } from '../../../adapters/outputs/mqtt-assurance.js';
import type { MqttOutput } from '../../../adapters/outputs/mqtt.js';
import type { Assurance } from '../../../src/assurance/assurance.js';
import { AssuranceStore } from '../../../src/assurance/store.js';
import { silentLogger } from '../../../src/ports.js';
import { seededRandom } from '../../../src/model/ids.js';
import { cid, harness, openIncidentBehind, operator, SITES } from '../../helpers/assurance-harness.js';

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

  it('reads and publishes nothing on a quiet tick, however many incidents are open, and after a change reads, serialises and publishes only its incident state', async () => {
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
    let states: MqttAssuranceStates | undefined;
    const h = harness({ store, onIncidentsChanged: (incident) => states?.incidentsChanged(incident) });
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
    states = new MqttAssuranceStates([fakeOutput(retained, published)], { assurance, sites: () => SITES, clock: h.clock, logger: silentLogger });
    await states.publish();
    expect(retained.size).toBeGreaterThanOrEqual(N);

    const serialisationsDuring = async (work: () => Promise<void>) => {
      const serialise = vi.spyOn(JSON, 'stringify');
      try {
        await work();
        return serialise.mock.calls.length;
      } finally {
        serialise.mockRestore();
      }
    };
    reads = 0;
    published.length = 0;
    for (let tick = 0; tick < 3; tick++) await states.publish();
    expect({ reads, published }).toEqual({ reads: 0, published: [] });

    const serialised = await serialisationsDuring(async () => {
      expect(h.assurance.acknowledge('flood-7', operator('desk'), 'made-up account').ok).toBe(true);
      await h.receive(cid('122', 1)); // opens bank-1's incident
      await states.publish();
    });
    // The two changes' records and events, the duress devices' states, and the two incident states: not one per open incident.
    expect({ reads, published, boundedSerialisations: serialised < 100 }).toEqual({ reads: 0, published: ['incidents/F7', 'incidents/bank-1'], boundedSerialisations: true });
    expect(JSON.parse(retained.get('incidents/F7')!)).toMatchObject({ open: 0 });
    expect(JSON.parse(retained.get('incidents/bank-1')!)).toMatchObject({ open: 1 });
  });

  it('after any sequence of openings and acknowledgements, holds the states a full rebuild publishes', async () => {
    const bytes = seededRandom(11);
    const random = () => bytes(1)[0]! / 256;
    const accounts = ['1234', 'A1', 'A2', 'a2', 'B7', 'C9'];
    let states: MqttAssuranceStates | undefined;
    const h = harness({ onIncidentsChanged: (incident) => states?.incidentsChanged(incident) });
    const retained = new Map<string, string>();
    states = new MqttAssuranceStates([fakeOutput(retained)], { assurance: h.assurance, sites: () => SITES, clock: h.clock, logger: silentLogger });
    await states.publish();
    const withoutUpdatedAt = (topics: Map<string, string>) =>
      new Map([...topics].map(([topic, payload]) => [topic, { ...(JSON.parse(payload) as object), updatedAt: undefined }]));

    for (let step = 0; step < 200; step++) {
      h.clock.advance(Math.floor(random() * 3) * 1_000); // openings in the same second too
      const open = h.assurance.incidentRecords();
      if (open.length > 0 && random() < 0.4) {
        const incident = open[Math.floor(random() * open.length)]!;
        expect(h.assurance.acknowledge(incident.id, operator('desk'), null).ok).toBe(true);
      } else {
        const account = accounts[Math.floor(random() * accounts.length)]!;
        await h.receive(cid(random() < 0.5 ? '122' : '121', 1, { account }));
      }
      if (random() < 0.5) await states.publish();
    }
    await states.publish();

    const rebuilt = new Map<string, string>();
    await new MqttAssuranceStates([fakeOutput(rebuilt)], { assurance: h.assurance, sites: () => SITES, clock: h.clock, logger: silentLogger }).publish();
    expect(rebuilt.size).toBeGreaterThan(SITES.length);
    expect(withoutUpdatedAt(retained)).toEqual(withoutUpdatedAt(rebuilt));
  });
});

describe('retained incident state on a broker refusing a publish', () => {
  it('publishes a changed incident state at the next publication after its publish failed, and nothing else', async () => {
    let states: MqttAssuranceStates | undefined;
    const h = harness({ onIncidentsChanged: (incident) => states?.incidentsChanged(incident) });
    const retained = new Map<string, string>();
    const published: string[] = [];
    const output = fakeOutput(retained, published);
    const publishRetained = output.publishRetained.bind(output);
    let refuse = false;
    output.publishRetained = async (topic, payload) => {
      if (refuse) throw new Error('broker refused');
      await publishRetained(topic, payload);
    };
    states = new MqttAssuranceStates([output], { assurance: h.assurance, sites: () => SITES, clock: h.clock, logger: silentLogger });
    await states.publish();

    await h.receive(cid('122', 1));
    refuse = true;
    await states.publish();
    refuse = false;
    published.length = 0;
    await states.publish();
    expect(published).toEqual(['incidents/bank-1']);
    expect(JSON.parse(retained.get('incidents/bank-1')!)).toMatchObject({ open: 1 });
  });
});
