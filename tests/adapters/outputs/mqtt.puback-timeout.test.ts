import { afterEach, describe, expect, it } from 'vitest';
import type { NormalizedEvent } from '../../../src/model/event.js';
import { mqttOutputBehindDispatcher } from '../../helpers/mqtt-output.js';
import { testEvent } from '../../helpers/output-events.js';
import { scriptedMqttBroker } from '../../helpers/scripted-mqtt-broker.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A publish whose PUBACK does not come in time is still in flight for the broker: it counts it against its Receive
 * Maximum (MQTT 5.0 §4.9) until it acknowledges it, and a client resends an unacknowledged QoS 1 publish only on a new
 * connection (§4.4). Freeing its send slot at the timeout and sending another publish in its place went past the
 * broker's quota: a broker enforcing it (Moquette) cut the connection with 0x93 under every publish in flight.
 * The output now ends the connection at a PUBACK timeout; the outbox retries on the next one, a duress first.
 */
describe('MQTT output when a PUBACK does not come in time', () => {
  const cleanups: Array<() => Promise<unknown> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('never sends past the Receive Maximum, and delivers a duress first once a connection acknowledges', async () => {
    let acknowledging = false;
    let connections = 0;
    const received: string[] = [];
    const broker = { overQuota: 0 };
    const port = await scriptedMqttBroker(() => (acknowledging ? 0 : undefined), cleanups, {
      receiveMaximum: 5,
      onPublish: (topic, payload) => {
        if (topic.startsWith('pbpubackto/events/') && acknowledging) received.push((JSON.parse(payload.toString()) as NormalizedEvent).id);
      },
      onReceiveMaximumExceeded: () => (broker.overQuota += 1),
      onConnection: () => (connections += 1),
    });
    const { output, outbox } = await mqttOutputBehindDispatcher(`mqtt://127.0.0.1:${port}`, 'pbpubackto', cleanups, { connectTimeoutMs: 2_000, publishTimeoutMs: 300 });

    // A broker that stalled: nothing it takes is acknowledged, for several publish timeouts.
    await outbox.append(Array.from({ length: 30 }, (_, i) => testEvent({ account: `${1000 + i}` })));
    await sleep(1_500);
    expect(broker.overQuota, 'publishes sent past the Receive Maximum after PUBACK timeouts').toBe(0);
    expect(connections, 'a PUBACK timeout ends the connection').toBeGreaterThan(1);
    expect(output.health().state).not.toBe('up');

    const duress = testEvent({ account: '9999', category: 'duress', duress: true });
    await outbox.append([duress]);
    acknowledging = true;
    const deadline = Date.now() + 10_000;
    while (outbox.backlog('central') > 0 && Date.now() < deadline) await sleep(20);
    expect({ backlog: outbox.backlog('central'), overQuota: broker.overQuota, duressDelivered: received.includes(duress.id) }).toEqual({ backlog: 0, overQuota: 0, duressDelivered: true });
    expect(received.indexOf(duress.id), `the duress waited behind ordinary events: ${received.indexOf(duress.id)} of ${received.length}`).toBeLessThan(5);
    expect(output.health().state).toBe('up');
  }, 30_000);

  it('delivers a duress waiting out a long retry backoff as soon as a new connection acknowledges, ahead of ordinary events', async () => {
    let acknowledging = false;
    const received: string[] = [];
    const port = await scriptedMqttBroker(() => (acknowledging ? 0 : undefined), cleanups, {
      onPublish: (topic, payload) => {
        if (topic.startsWith('pbpubackto/events/') && acknowledging) received.push((JSON.parse(payload.toString()) as NormalizedEvent).id);
      },
    });
    // The dispatcher's retries wait 5 s, far longer than the output takes to reconnect.
    const { outbox, dispatcher } = await mqttOutputBehindDispatcher(`mqtt://127.0.0.1:${port}`, 'pbpubackto', cleanups, { connectTimeoutMs: 2_000, publishTimeoutMs: 300 }, { initialMs: 5_000, maxMs: 5_000 });
    const ordinary = Array.from({ length: 20 }, (_, i) => testEvent({ account: `${2000 + i}` }));
    const duress = testEvent({ account: '9999', category: 'duress', duress: true });
    await outbox.append([...ordinary, duress]);
    while (dispatcher.stats()['central']!.failed < ordinary.length + 1) await sleep(20);

    acknowledging = true;
    const since = Date.now();
    while (!received.includes(duress.id) && Date.now() - since < 10_000) await sleep(20);
    expect(Date.now() - since, 'the duress waited out its retry backoff on a working connection').toBeLessThan(2_500);
    expect(received.indexOf(duress.id), `the duress waited behind ordinary events: ${received.join()}`).toBe(0);
  }, 30_000);
});
