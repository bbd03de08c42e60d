import { describe, expect, it, vi } from 'vitest';
import { MqttAssuranceStates } from '../../../adapters/outputs/mqtt-assurance.js';
import { HealthStatePublisher } from '../../../adapters/outputs/health-state.js';
import { MqttOutput } from '../../../adapters/outputs/mqtt.js';
import type { Assurance } from '../../../src/assurance/assurance.js';
import { AssuranceStore } from '../../../src/assurance/store.js';
import { GROUPED_ACCOUNTS_KEY } from '../../../src/assurance/incidents.js';
import { silentLogger, systemClock } from '../../../src/ports.js';
import { seededRandom } from '../../../src/model/ids.js';
import { sitesSchema } from '../../../src/settings/sites.js';
import { cid, DAY, harness, openIncidentBehind, operator, SITES } from '../../helpers/assurance-harness.js';
import { testEvent } from '../../helpers/output-events.js';
import { freePort, retainedUnder, startOpenBroker, uniquePrefix } from '../../helpers/broker.js';

/** Just what the retained-state publisher uses of an MQTT output. */
function fakeOutput(retained: Map<string, string>, published: string[] = []): MqttOutput {
  return {
    name: 'cms',
    audience: 'central',
    connected: true,
    onConnected: () => () => {},
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

/** An open incident stored as the latch would store it. */
function openIncident(store: AssuranceStore, id: string, at: number, where: { key: string; site: string | null; account: string | null }): void {
  store.putIncident({
    id, ...where, category: 'duress', openedAt: at, openingEventId: `event-${id}`,
    lastEventAt: at, eventCount: 1, ackedAt: null, ackedBy: null, note: null, deliveredAt: null, opening: null, calls: [],
  });
}

describe('retained incident state of incidents that belong to no site', () => {
  it('publishes the incident grouping the accounts on no site under its own name, not merged with an account-less one', async () => {
    const store = AssuranceStore.open(':memory:');
    openIncident(store, 'grouping', 1_000, { key: GROUPED_ACCOUNTS_KEY, site: null, account: null });
    // An access-control event names no account: its incident is keyed by the empty account.
    openIncident(store, 'no-account', 2_000, { key: 'account:', site: null, account: null });
    const h = harness({ store });
    const retained = new Map<string, string>();
    await new MqttAssuranceStates([fakeOutput(retained)], { assurance: h.assurance, sites: () => SITES, clock: h.clock, logger: silentLogger }).publish();

    const state = (topic: string) => JSON.parse(retained.get(topic) ?? '{}') as { site?: string; grouped?: boolean; open?: number; incidents?: Array<{ id: string }> };
    const grouping = state('incidents/accounts-on-no-site');
    expect({ site: grouping.site, grouped: grouping.grouped, ids: grouping.incidents?.map((i) => i.id) }).toEqual({ site: 'accounts-on-no-site', grouped: true, ids: ['grouping'] });
    expect(state('incidents/unknown').incidents?.map((i) => i.id)).toEqual(['no-account']);
    expect(state('incidents/unknown').grouped).toBeUndefined();
  });

  it('keeps a site\'s open incident in its state when an account on no site has a name that makes the same topic level', async () => {
    // `+` cannot stand in a topic level and becomes `_`: a sender naming account `bank+1` lands on site bank_1's topic.
    const sites = [{ ...SITES[0]!, id: 'bank_1' }];
    const store = AssuranceStore.open(':memory:');
    openIncident(store, 'real-duress', 1_000, { key: 'site:bank_1', site: 'bank_1', account: '1234' });
    let states: MqttAssuranceStates | undefined;
    const h = harness({ store, sites, onIncidentsChanged: (incident) => states?.incidentsChanged(incident) });
    openIncident(store, 'forged', 2_000, { key: 'account:BANK+1', site: null, account: 'bank+1' });
    const retained = new Map<string, string>();
    states = new MqttAssuranceStates([fakeOutput(retained)], { assurance: h.assurance, sites: () => sites, clock: h.clock, logger: silentLogger });
    await states.publish();
    const listed = () => (JSON.parse(retained.get('incidents/bank_1') ?? '{}') as { incidents?: Array<{ id: string }> }).incidents?.map((i) => i.id).sort();
    expect(listed(), 'both open incidents shown on the topic they share').toEqual(['forged', 'real-duress']);

    // Acknowledging the forged one must not show the site's real duress as closed.
    expect(h.assurance.acknowledge('forged', operator('desk'), null).ok).toBe(true);
    await states.publish();
    expect(listed()).toEqual(['real-duress']);
    expect(JSON.parse(retained.get('incidents/bank_1')!)).toMatchObject({ site: 'bank_1', open: 1 });
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

describe('states published again after every event of a site (an observer of the link counts messages)', () => {
  const sites = [...SITES, ...sitesSchema.parse([{ id: 'kiosk-3', accounts: ['9999'] }])];

  it('publishes the incident state and one device state of the event\'s site, only the incident state of a site without devices or of a verified account of no site, nothing for an unverified one', async () => {
    const h = harness({ sites });
    const retained = new Map<string, string>();
    const published: string[] = [];
    const states = new MqttAssuranceStates([fakeOutput(retained, published)], { assurance: h.assurance, sites: () => sites, clock: h.clock, logger: silentLogger });
    await states.publish();
    const publishedFor = async (site: string | null): Promise<string[]> => {
      published.length = 0;
      states.eventsStored([testEvent({ ...(site === null ? { account: '4321' } : { siteId: site }) })]);
      await states.publish();
      return published.map((topic) => topic.replace(/\/[^/]+$/, '/…'));
    };
    expect(await publishedFor('bank-1')).toEqual(['devices/bank-1/…', 'incidents/…']);
    expect(await publishedFor('shop-2')).toEqual(['devices/shop-2/…', 'incidents/…']);
    expect(await publishedFor('kiosk-3')).toEqual(['incidents/…']);
    // An allowlisted account of no site has an incident state too (`open: 0` until one opens); a made-up one none.
    expect(await publishedFor(null)).toEqual(['incidents/…']);
    expect(JSON.parse(retained.get('incidents/4321')!)).toMatchObject({ site: '4321', open: 0 });
    published.length = 0;
    states.eventsStored([testEvent({ account: 'F00D', verified: false, unverifiedReason: 'unknown-account' })]);
    await states.publish();
    expect(published).toEqual([]);
    await states.stop();
  });

  it('runs a publication every 250 ms at most under a flood of a site\'s events, not one per event', async () => {
    const h = harness({ sites });
    const retained = new Map<string, string>();
    const published: string[] = [];
    const states = new MqttAssuranceStates([fakeOutput(retained, published)], { assurance: h.assurance, sites: () => sites, clock: h.clock, logger: silentLogger });
    await states.publish();
    published.length = 0;
    const started = performance.now();
    for (let i = 0; i < 100; i++) {
      states.eventsStored([testEvent({ siteId: 'bank-1' })]);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    const passes = published.filter((topic) => topic === 'incidents/bank-1').length;
    expect(passes).toBeGreaterThanOrEqual(2);
    expect(passes).toBeLessThanOrEqual(Math.ceil((performance.now() - started) / 250) + 1);
    await states.stop();
  });
});

describe('retained states after the broker lost them (restarted without persistence)', () => {
  it('publishes every incident, device and health state again once the output has reconnected, before anything changes', async () => {
    const port = await freePort();
    let broker = await startOpenBroker(port);
    const prefix = uniquePrefix('reconnect');
    const output = new MqttOutput(
      { name: 'cms', url: broker.url, topicPrefix: prefix, audience: 'central', embeddedPort: 1884, protocolVersion: 4 },
      { clock: systemClock, logger: silentLogger, gateway: { id: 'gw', version: '0' }, reconnectPeriodMs: 50 },
    );
    let states: MqttAssuranceStates | undefined;
    const h = harness({ onIncidentsChanged: (incident) => states?.incidentsChanged(incident) });
    states = new MqttAssuranceStates([output], { assurance: h.assurance, sites: () => SITES, clock: h.clock, logger: silentLogger });
    const health = new HealthStatePublisher([output], {
      report: () => ({ status: 'ok', outputs: [], inputs: [] }),
      clock: systemClock,
      logger: silentLogger,
      intervalMs: 60_000,
    });
    try {
      await output.start();
      for (const deadline = Date.now() + 3_000; !output.connected && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 20));
      const duress = await h.receive(cid('122', 5));
      expect(duress.incident).toBeDefined();
      await states.publish();
      health.start();
      await health.sync();
      const before = await retainedUnder(broker.url, `${prefix}/#`);
      expect([...before.keys()]).toEqual(expect.arrayContaining([`${prefix}/incidents/bank-1`, `${prefix}/health`]));
      expect([...before.keys()].some((topic) => topic.startsWith(`${prefix}/devices/bank-1/`))).toBe(true);
      expect(JSON.parse(before.get(`${prefix}/incidents/bank-1`)!)).toMatchObject({ open: 1 });

      // A restart faster than the assurance tick: no publication sees the output down. Nothing is published here
      // after it: the reconnect alone must bring the states back.
      const reconnected = new Promise<void>((resolve) => output.onConnected(resolve));
      await broker.close();
      broker = await startOpenBroker(port);
      await reconnected;

      let after = new Map<string, string>();
      for (const deadline = Date.now() + 5_000; Date.now() < deadline; ) {
        after = await retainedUnder(broker.url, `${prefix}/#`, 200);
        if ([...before.keys()].every((topic) => after.has(topic))) break;
      }
      expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
      expect(JSON.parse(after.get(`${prefix}/incidents/bank-1`)!)).toMatchObject({ open: 1, incidents: [{ id: duress.incident }] });
    } finally {
      await health.stop();
      await states.stop();
      await output.stop();
      await broker.close();
    }
  });
});

describe('retained `open: 0` states of accounts on no site', () => {
  it('clears the state of an account on no site a week after its last incident was acknowledged, never one with an open incident nor a configured site\'s, in a run and at a start', async () => {
    let states: MqttAssuranceStates | undefined;
    const h = harness({ onIncidentsChanged: (incident) => states?.incidentsChanged(incident) });
    const retained = new Map<string, string>();
    const build = () => new MqttAssuranceStates([fakeOutput(retained)], { assurance: h.assurance, sites: () => SITES, clock: h.clock, logger: silentLogger });
    states = build();
    await states.publish();
    const quiet = await h.receive(cid('122', 1, { account: '7001' }));
    expect(h.assurance.acknowledge(quiet.incident!, operator('desk'), 'false alarm').ok).toBe(true);
    const stillOpen = await h.receive(cid('122', 1, { account: '7002' }));
    const later = await h.receive(cid('122', 1, { account: '7003' }));
    await states.publish();
    expect(JSON.parse(retained.get('incidents/7001')!)).toMatchObject({ open: 0 });
    expect(JSON.parse(retained.get('incidents/7002')!)).toMatchObject({ open: 1, incidents: [{ id: stillOpen.incident }] });

    h.clock.advance(6 * DAY);
    expect(h.assurance.acknowledge(later.incident!, operator('desk'), 'test').ok).toBe(true);
    await states.publish();
    expect(retained.has('incidents/7001'), 'six days after its acknowledgement').toBe(true);

    h.clock.advance(2 * DAY);
    await states.publish();
    expect(retained.has('incidents/7001'), 'eight days after its acknowledgement').toBe(false);
    expect(JSON.parse(retained.get('incidents/7002')!), 'an incident open for eight days').toMatchObject({ open: 1 });
    expect(JSON.parse(retained.get('incidents/7003')!), 'acknowledged two days ago').toMatchObject({ open: 0 });
    expect(JSON.parse(retained.get('incidents/bank-1')!), 'a configured site').toMatchObject({ open: 0 });
    await states.stop();

    // A start after a week more: the state left from the run before is cleared at the first publication.
    retained.set('incidents/7001', JSON.stringify({ site: '7001', open: 0, incidents: [] }));
    h.clock.advance(7 * DAY);
    states = build();
    await states.publish();
    expect([...retained.keys()].filter((topic) => topic.startsWith('incidents/')).sort()).toEqual(['incidents/7002', 'incidents/bank-1', 'incidents/shop-2']);

    // A verified event of the account again gives it a state (`open: 0`) from then on.
    states.eventsStored([testEvent({ account: '7003' })]);
    await states.publish();
    expect(JSON.parse(retained.get('incidents/7003')!)).toMatchObject({ site: '7003', open: 0 });
    await states.stop();
  });
});
