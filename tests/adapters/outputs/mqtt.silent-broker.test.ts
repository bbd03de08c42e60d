import { afterEach, describe, expect, it } from 'vitest';
import { MqttOutput } from '../../../adapters/outputs/mqtt.js';
import { silentLogger, systemClock } from '../../../src/ports.js';
import { testEvent } from '../../helpers/output-events.js';
import { scriptedMqttBroker } from '../../helpers/scripted-mqtt-broker.js';

/**
 * A broker that takes the connection (CONNACK, PINGRESP: the link looks alive) but never acknowledges a PUBLISH: a
 * stalled persistence/auth plugin, an overloaded cluster node. Every delivery times out, nothing is delivered, yet
 * the output reports `up`, so `/healthz` answers 200 "ok" and the retained `{prefix}/health` says ok while the backlog
 * grows (README "Health and metrics": 200 only when all are up). From the first publish that got no PUBACK the output
 * is not up (down while it reconnects, as a PUBACK timeout ends the connection; degraded once connected again) until
 * the broker acknowledges one again.
 */
describe('MQTT output against a broker that never PUBACKs', () => {
  const cleanups: Array<() => Promise<unknown> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('does not report up while every publish goes unacknowledged, and is up again once one is', async () => {
    let acknowledging = false;
    const port = await scriptedMqttBroker(() => (acknowledging ? 0 : undefined), cleanups);

    const output = new MqttOutput(
      { name: 'central', url: `mqtt://127.0.0.1:${port}`, topicPrefix: 'pbsilent', audience: 'central', embeddedPort: 1884 },
      { clock: systemClock, logger: silentLogger, gateway: { id: 'gw', version: '0' }, publishTimeoutMs: 300, connectTimeoutMs: 2_000 },
    );
    await output.start();
    cleanups.push(() => output.stop());
    expect(output.connected).toBe(true);

    expect(await output.deliver(testEvent({ category: 'duress', duress: true, account: '1234' }))).toMatchObject({ ok: false, retryable: true, error: expect.stringMatching(/no PUBACK/) });
    for (let i = 0; i < 2; i++) {
      expect(output.health(), 'deliveries got no PUBACK').toMatchObject({ state: expect.stringMatching(/^(down|degraded)$/), detail: expect.stringMatching(/no PUBACK/) });
      expect(await output.deliver(testEvent({ category: 'duress', duress: true, account: '1234' }))).toMatchObject({ ok: false, retryable: true });
    }
    expect(output.health(), 'three deliveries in a row got no PUBACK').toMatchObject({ state: expect.stringMatching(/^(down|degraded)$/), detail: expect.stringMatching(/no PUBACK/) });

    acknowledging = true;
    // The connection that was up then still ends with its own unacknowledged publishes; the next one delivers.
    const deadline = Date.now() + 5_000;
    let result = await output.deliver(testEvent({ account: '1234' }));
    while (!result.ok && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      result = await output.deliver(testEvent({ account: '1234' }));
    }
    expect(result).toEqual({ ok: true });
    expect(output.health().state).toBe('up');
  }, 20_000);
});
