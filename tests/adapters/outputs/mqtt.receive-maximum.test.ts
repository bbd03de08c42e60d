import { afterEach, describe, expect, it } from 'vitest';
import { MqttOutput } from '../../../adapters/outputs/mqtt.js';
import type { NormalizedEvent } from '../../../src/model/event.js';
import { silentLogger, systemClock } from '../../../src/ports.js';
import { mqttOutputBehindDispatcher } from '../../helpers/mqtt-output.js';
import { testEvent } from '../../helpers/output-events.js';
import { scriptedMqttBroker } from '../../helpers/scripted-mqtt-broker.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * MQTT 5 §4.9: the server's CONNACK carries Receive Maximum, and the client "MUST NOT send more than Receive Maximum
 * QoS 1 and QoS 2 PUBLISH packets for which it has not received PUBACK" [MQTT-4.9.0-1/2]; a server may disconnect
 * with 0x93 Receive Maximum exceeded (Moquette does). The dispatcher hands the output up to 512 events at once: a
 * burst used to go out whole, the broker cut the connection, the retries went out whole again, and a duress in the
 * burst was never delivered.
 */
describe('MQTT output and the broker-advertised Receive Maximum', () => {
  const cleanups: Array<() => Promise<unknown> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** The output, behind a dispatcher, on a broker that announces Receive Maximum 5 and enforces it. */
  async function enforcingBroker({ pubackDelayMs = 5, publishTimeoutMs = 30_000 } = {}) {
    const received: string[] = [];
    const broker = { disconnects: 0 };
    const port = await scriptedMqttBroker(() => 0, cleanups, {
      receiveMaximum: 5,
      pubackDelayMs,
      onPublish: (topic, payload) => {
        if (topic.startsWith('pbrecvmax/events/')) received.push((JSON.parse(payload.toString()) as NormalizedEvent).id);
      },
      onReceiveMaximumExceeded: () => (broker.disconnects += 1),
    });
    const { output, outbox, dispatcher } = await mqttOutputBehindDispatcher(`mqtt://127.0.0.1:${port}`, 'pbrecvmax', cleanups, { connectTimeoutMs: 2_000, publishTimeoutMs });
    const drained = async (): Promise<void> => {
      const deadline = Date.now() + 5_000;
      while (outbox.backlog('central') > 0 && Date.now() < deadline) await sleep(20);
    };
    return { output, outbox, dispatcher, received, broker, drained };
  }

  /** 200 accounts, so the dispatcher hands the output every event at once. */
  const burst = (count: number) => Array.from({ length: count }, (_, i) => testEvent({ account: `${1000 + i}` }));

  it('keeps at most Receive Maximum publishes unacknowledged, so a burst with a duress is delivered whole', async () => {
    const { output, outbox, dispatcher, received, broker, drained } = await enforcingBroker();
    const events = burst(200);
    const duress = testEvent({ account: '1150', category: 'duress' });
    events[150] = duress;
    await outbox.append(events);

    await drained();
    const stats = dispatcher.stats()['central']!;
    expect(
      { disconnects: broker.disconnects, duressDelivered: received.includes(duress.id), delivered: new Set(received).size, backlog: outbox.backlog('central') },
      `${stats.failed} failed attempts, health ${JSON.stringify(output.health())}`,
    ).toEqual({ disconnects: 0, duressDelivered: true, delivered: 200, backlog: 0 });
  }, 20_000);

  it('sends a duress that comes while ordinary events wait for a send slot before them', async () => {
    const { outbox, received, broker, drained } = await enforcingBroker();
    await outbox.append(burst(200));
    while (received.length < 10) await sleep(1);
    const duress = testEvent({ account: '9999', category: 'duress' });
    await outbox.append([duress]);

    await drained();
    expect({ disconnects: broker.disconnects, delivered: new Set(received).size }).toEqual({ disconnects: 0, delivered: 201 });
    // Sent with the next free slot (the in-flight window is 5): the ordinary events waiting wait behind it.
    expect(received.indexOf(duress.id), 'the duress waited behind ordinary events').toBeLessThan(received.length / 2);
  }, 20_000);

  it('times a publish out from when it is sent, not while it waits for a send slot on a slow broker', async () => {
    // Each PUBACK takes 150 ms: 50 events through 5 slots take 1.5 s, five times the publish timeout.
    const { outbox, dispatcher, received, drained } = await enforcingBroker({ pubackDelayMs: 150, publishTimeoutMs: 300 });
    await outbox.append(burst(50));

    await drained();
    expect({ delivered: new Set(received).size, failed: dispatcher.stats()['central']!.failed }).toEqual({ delivered: 50, failed: 0 });
  }, 20_000);

  it('fails the publishes waiting for a slot when the connection drops, and starts the next connection with a full quota', async () => {
    let acknowledging = false;
    const connections: Array<{ destroy(): void }> = [];
    let published = 0;
    const port = await scriptedMqttBroker(() => (acknowledging ? 0 : undefined), cleanups, {
      receiveMaximum: 5,
      onPublish: (topic) => {
        if (topic.startsWith('pbrecvmax/events/')) published += 1;
      },
      onConnection: (socket) => connections.push(socket),
    });
    const output = new MqttOutput(
      { name: 'central', url: `mqtt://127.0.0.1:${port}`, topicPrefix: 'pbrecvmax', audience: 'central', embeddedPort: 1884 },
      { clock: systemClock, logger: silentLogger, gateway: { id: 'gw', version: '0' }, reconnectPeriodMs: 50, reconnectMaxMs: 100, connectTimeoutMs: 2_000 },
    );
    await output.start();
    cleanups.push(() => output.stop());

    // The retained online status holds one slot, unacknowledged like the rest: four events go out, four wait.
    const waiting = burst(8).map((event) => output.deliver(event));
    while (published < 4) await sleep(10);
    await sleep(100);
    expect(published, 'publishes sent beyond the Receive Maximum').toBe(4);

    connections.at(-1)!.destroy();
    const outcomes = await Promise.all(waiting);
    expect(outcomes.every((outcome) => !outcome.ok && outcome.retryable)).toBe(true);

    acknowledging = true;
    while (!output.connected) await sleep(10);
    // Had the lost connection's slots been kept, none of these could go out.
    expect(await Promise.all(burst(10).map((event) => output.deliver(event)))).toEqual(Array.from({ length: 10 }, () => ({ ok: true })));
  }, 20_000);
});
