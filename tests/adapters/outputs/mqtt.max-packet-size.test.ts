import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { publishPacketBytes } from '../../../adapters/outputs/mqtt.js';
import { freePort } from '../../helpers/broker.js';
import { mqttOutputBehindDispatcher } from '../../helpers/mqtt-output.js';
import { testEvent } from '../../helpers/output-events.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const mqttPacket = createRequire(import.meta.url)('mqtt-packet') as { generate(packet: object, opts: { protocolVersion: number }): Buffer };

/**
 * MQTT 5 §3.2.2.3.6: the server's CONNACK carries Maximum Packet Size and "the Client MUST NOT send packets exceeding
 * Maximum Packet Size to the Server" [MQTT-3.2.2-15]; a server that gets one disconnects with 0x95 Packet too large
 * (§3.14.2.1). Mosquitto's `max_packet_size` does exactly that. An event larger than it (an access-xml event keeps the
 * whole posted document as `raw`, up to 64 KiB) used to be sent anyway: the broker dropped the connection, the publish
 * ended "connection lost before PUBACK", retryable, so it was retried forever, cutting the connection under every
 * other publish, and per-account order held the account's later duress behind it for good.
 */
describe('MQTT output and the broker-advertised Maximum Packet Size', () => {
  const cleanups: Array<() => Promise<unknown> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** A Mosquitto with max_packet_size 8192, a watcher on its event topics, and the output behind a dispatcher. */
  async function brokerWithLimit() {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'panelbridge-mps-'));
    const port = await freePort();
    const conf = path.join(dir, 'mosquitto.conf');
    writeFileSync(conf, [`user ${os.userInfo().username}`, `listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', 'max_packet_size 8192', 'log_dest stderr', 'log_type error'].join('\n') + '\n');
    const child = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    cleanups.push(async () => {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
    });
    for (let i = 0; i < 50; i++) {
      const up = await new Promise<boolean>((resolve) => net.connect(port, '127.0.0.1').once('connect', function (this: net.Socket) { this.destroy(); resolve(true); }).once('error', () => resolve(false)));
      if (up) break;
      await sleep(100);
    }
    const url = `mqtt://127.0.0.1:${port}`;
    const watcher: MqttClient = await connectAsync(url, { protocolVersion: 5 });
    cleanups.push(() => watcher.endAsync());
    const seen = new Map<string, { raw: string; rawOmitted?: number }>();
    watcher.on('message', (_topic, payload) => {
      const event = JSON.parse(payload.toString()) as { id: string; raw: string; rawOmitted?: number };
      seen.set(event.id, event);
    });
    await watcher.subscribeAsync('pbmps/events/#', { qos: 1 });

    const { output, outbox, dispatcher } = await mqttOutputBehindDispatcher(url, 'pbmps', cleanups);
    const arrival = async (id: string): Promise<void> => {
      const deadline = Date.now() + 8_000;
      while (!seen.has(id) && Date.now() < deadline) await sleep(50);
    };
    return { output, outbox, dispatcher, seen, arrival };
  }

  it('publishes an event too large with its raw frame without it, marked, and the account\'s duress after it', async () => {
    const { output, outbox, dispatcher, seen, arrival } = await brokerWithLimit();
    // An access-control event whose raw document is 20 kB, then, from the same account, a duress.
    const raw = `<Event>${'x'.repeat(20_000)}</Event>`;
    const big = testEvent({ account: '1234', category: 'access', raw });
    const duress = testEvent({ account: '1234', category: 'duress', duress: true });
    await outbox.append([big]);
    await outbox.append([duress]);

    await arrival(duress.id);
    const stats = dispatcher.stats()['central']!;
    expect(
      { duress: seen.has(duress.id), big: seen.get(big.id), deadLetters: outbox.deadLetterCount('central') },
      `after 8 s: ${stats.failed} failed attempts, health ${JSON.stringify(output.health())}`,
    ).toEqual({ duress: true, big: expect.objectContaining({ raw: '', rawOmitted: Buffer.byteLength(raw) }), deadLetters: 0 });
    expect(output.health().state).toBe('up');
  }, 30_000);

  it('makes an event that does not fit even without its raw frame a dead letter at once, and delivers the duress after it', async () => {
    const { output, outbox, seen, arrival } = await brokerWithLimit();
    const huge = testEvent({ account: '1234', category: 'access', text: 'y'.repeat(20_000) });
    const duress = testEvent({ account: '1234', category: 'duress', duress: true });
    await outbox.append([huge]);
    await outbox.append([duress]);

    await arrival(duress.id);
    expect({ duress: seen.has(duress.id), huge: seen.has(huge.id), deadLetters: outbox.deadLetters('central').map((letter) => letter.event.id) }).toEqual({
      duress: true,
      huge: false,
      deadLetters: [huge.id],
    });
    expect(output.health()).toMatchObject({ state: 'degraded', detail: expect.stringMatching(/Maximum Packet Size of 8192 bytes/) });
  }, 30_000);

  it('counts a PUBLISH packet\'s bytes as mqtt-packet writes them', () => {
    for (const protocolVersion of [4, 5] as const) {
      for (const [topic, payload] of [['a/b', ''], ['pb/events/site-ä/duress', 'x'.repeat(100)], ['t', 'é'.repeat(10_000)], ['t', 'x'.repeat(2_100_000)]] as const) {
        const packet = mqttPacket.generate(
          { cmd: 'publish', topic, payload, qos: 1, messageId: 1, ...(protocolVersion === 5 ? { properties: { contentType: 'application/json' } } : {}) },
          { protocolVersion },
        );
        expect(publishPacketBytes(topic, Buffer.byteLength(payload), protocolVersion), `${protocolVersion} ${topic}`).toBe(packet.length);
      }
    }
  });
});
