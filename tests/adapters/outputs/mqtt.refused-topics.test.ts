import { afterEach, describe, expect, it } from 'vitest';
import { MAX_COUNTED_REFUSALS, MAX_REFUSED_TOPICS, MqttOutput } from '../../../adapters/outputs/mqtt.js';
import { systemClock } from '../../../src/ports.js';
import { testEvent } from '../../helpers/output-events.js';
import { recordingLogger } from '../../helpers/recording-logger.js';
import { scriptedMqttBroker } from '../../helpers/scripted-mqtt-broker.js';

/**
 * A broker whose ACL refuses every event topic (PUBACK 0x87 not authorized). The topic level is the account when it
 * belongs to no site, and a sender on an input that trusts any account picks a new one per frame: each refused
 * topic is remembered for the output's health until a publish to it succeeds, which for a made-up account is never.
 */
describe('MQTT output against a broker that refuses every topic', () => {
  const cleanups: Array<() => Promise<unknown> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('remembers at most MAX_REFUSED_TOPICS refused topics, its health says how many more it no longer tracks, and its log has a few lines but one per duress', async () => {
    const { logger, lines } = recordingLogger();
    const port = await scriptedMqttBroker(() => 0x87, cleanups);

    const output = new MqttOutput(
      { name: 'central', url: `mqtt://127.0.0.1:${port}`, topicPrefix: 'pbrefused', audience: 'central', embeddedPort: 1884, maxAttempts: 1 },
      { clock: systemClock, logger, gateway: { id: 'gw', version: '0' }, publishTimeoutMs: 2_000, connectTimeoutMs: 2_000 },
    );
    await output.start();
    cleanups.push(() => output.stop());

    const flood = MAX_REFUSED_TOPICS + 1_500;
    for (let i = 0; i < flood; i++) {
      const result = await output.deliver(testEvent({ account: `F${i}` }));
      expect(result).toMatchObject({ ok: false, retryable: false });
    }
    const duress = testEvent({ account: 'D1', category: 'duress', duress: true });
    expect(await output.deliver(duress)).toMatchObject({ ok: false, retryable: false });
    const deadLetterLines = lines.filter((line) => line.level === 'error' && line.message?.includes('kept as a dead letter'));
    expect(deadLetterLines.length).toBeLessThan(5);
    expect(deadLetterLines.filter((line) => line.fields['eventId'] === duress.id)).toHaveLength(1);
    const health = output.health();
    expect(health.state).toBe('degraded');
    expect(health.detail).toContain(`pbrefused/events/F${flood + 1 - MAX_REFUSED_TOPICS}/burglary`); // the oldest still tracked
    expect(health.detail).toContain(`${MAX_REFUSED_TOPICS} topic(s) refused (and ${flood + 1 - MAX_REFUSED_TOPICS} more no longer tracked)`);
  }, 60_000);

  it('counts the refusals of at most MAX_COUNTED_REFUSALS events: one refused and then never offered again (a local output shed it) is forgotten in time', async () => {
    const port = await scriptedMqttBroker(() => 0x87, cleanups);
    const output = new MqttOutput(
      { name: 'keypad', url: `mqtt://127.0.0.1:${port}`, topicPrefix: 'pbrefused', audience: 'local', embeddedPort: 1884, maxAttempts: 3 },
      { clock: systemClock, logger: recordingLogger().logger, gateway: { id: 'gw', version: '0' }, publishTimeoutMs: 2_000, connectTimeoutMs: 2_000 },
    );
    await output.start();
    cleanups.push(() => output.stop());

    for (let i = 0; i < MAX_COUNTED_REFUSALS + 200; i++) expect(await output.deliver(testEvent({ account: 'F1' }))).toMatchObject({ ok: false, retryable: true });
    // Nothing public tells how many events it counts refusals for: the map itself is what must stay bounded.
    expect((output as unknown as { refusals: Map<string, number> }).refusals.size).toBeLessThanOrEqual(MAX_COUNTED_REFUSALS);
  }, 60_000);
});
