import { once } from 'node:events';
import { createRequire } from 'node:module';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { MqttOutput } from '../../../adapters/outputs/mqtt.js';
import { silentLogger, systemClock } from '../../../src/ports.js';
import { testEvent } from '../../helpers/output-events.js';

const mqttPacket = createRequire(import.meta.url)('mqtt-packet') as {
  parser(opts: { protocolVersion: number }): { on(event: 'packet', cb: (p: { cmd: string; messageId?: number }) => void): void; parse(b: Buffer): void };
  generate(packet: object, opts: { protocolVersion: number }): Buffer;
};

/**
 * A broker that takes the connection (CONNACK, PINGRESP: the link looks alive) but never acknowledges a PUBLISH: a
 * stalled persistence/auth plugin, an overloaded cluster node. Every delivery times out, nothing is delivered, yet
 * the output reports `up`, so `/healthz` answers 200 "ok" and the retained `{prefix}/health` says ok while the backlog
 * grows (README "Health and metrics": 200 only when all are up). The output reports `degraded` from the first publish
 * that got no PUBACK until the broker acknowledges one again.
 */
describe('MQTT output against a broker that never PUBACKs', () => {
  const cleanups: Array<() => Promise<unknown> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('does not report up while every publish goes unacknowledged, and is up again once one is', async () => {
    let acknowledging = false;
    const server = net.createServer((socket) => {
      const parser = mqttPacket.parser({ protocolVersion: 5 });
      parser.on('packet', (packet) => {
        if (packet.cmd === 'connect') socket.write(mqttPacket.generate({ cmd: 'connack', returnCode: 0, reasonCode: 0, sessionPresent: false }, { protocolVersion: 5 }));
        else if (packet.cmd === 'pingreq') socket.write(mqttPacket.generate({ cmd: 'pingresp' }, { protocolVersion: 5 }));
        else if (packet.cmd === 'publish' && acknowledging) {
          socket.write(mqttPacket.generate({ cmd: 'puback', messageId: packet.messageId, reasonCode: 0 }, { protocolVersion: 5 }));
        }
        // otherwise a publish is swallowed: no PUBACK
      });
      socket.on('data', (chunk: Buffer) => parser.parse(chunk));
      socket.on('error', () => socket.destroy());
      cleanups.push(() => void socket.destroy());
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    const { port } = server.address() as net.AddressInfo;

    const output = new MqttOutput(
      { name: 'central', url: `mqtt://127.0.0.1:${port}`, topicPrefix: 'pbsilent', audience: 'central', embeddedPort: 1884 },
      { clock: systemClock, logger: silentLogger, gateway: { id: 'gw', version: '0' }, publishTimeoutMs: 300, connectTimeoutMs: 2_000 },
    );
    await output.start();
    cleanups.push(() => output.stop());
    expect(output.connected).toBe(true);

    for (let i = 0; i < 3; i++) {
      const result = await output.deliver(testEvent({ category: 'duress', duress: true, account: '1234' }));
      expect(result).toMatchObject({ ok: false, retryable: true, error: expect.stringMatching(/no PUBACK/) });
    }
    expect(output.health(), 'three deliveries in a row got no PUBACK').toMatchObject({ state: 'degraded', detail: expect.stringMatching(/no PUBACK/) });

    acknowledging = true;
    expect(await output.deliver(testEvent({ account: '1234' }))).toEqual({ ok: true });
    expect(output.health().state).toBe('up');
  }, 20_000);
});
