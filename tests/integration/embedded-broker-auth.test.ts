import net from 'node:net';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { recordingLogger } from '../helpers/recording-logger.js';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../adapters/outputs/embedded-broker.js';
import { MessageLog, uniquePrefix } from '../helpers/broker.js';

const SUBSCRIBER_PASSWORD = 'subscriber-secret-0123456789';

/** The embedded broker: only the gateway publishes; only holders of the subscriber password subscribe; nobody takes the gateway's session. */
describe('embedded MQTT broker', () => {
  let broker: EmbeddedBroker | undefined;
  const clients: MqttClient[] = [];
  afterEach(async () => {
    for (const client of clients.splice(0)) await client.endAsync(true).catch(() => undefined);
    await broker?.close();
    broker = undefined;
  });

  async function gatewayClient(b: EmbeddedBroker): Promise<MqttClient> {
    const { clientId, username, password } = b.gateway;
    const client = await connectAsync(b.url, { clientId, username, password, reconnectPeriod: 0, clean: true });
    clients.push(client);
    return client;
  }

  it('gives the gateway an unguessable client id and a secret of its own at every start', async () => {
    broker = await startEmbeddedBroker({ port: 0 });
    const other = await startEmbeddedBroker({ port: 0 });
    try {
      expect(broker.gateway.clientId).toMatch(/^panelbridge-[0-9a-f]{24}$/);
      expect(broker.gateway.clientId).not.toBe(other.gateway.clientId);
      expect(broker.gateway.password).not.toBe(other.gateway.password);
    } finally {
      await other.close();
    }
  });

  it('logs an accept that failed (EMFILE: out of file descriptors) and keeps serving', async () => {
    // The broker's listener, caught as it listens.
    const listen = vi.spyOn(net.Server.prototype, 'listen');
    const { logger, lines } = recordingLogger();
    let server: net.Server;
    try {
      broker = await startEmbeddedBroker({ port: 0, logger });
      server = listen.mock.contexts[0] as net.Server;
    } finally {
      listen.mockRestore();
    }
    // Node emits it on the listening server; unheard, it was thrown and ended the gateway.
    server.emit('error', Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', syscall: 'accept' }));
    expect(lines.filter((line) => line.level === 'warn')).toMatchObject([{ fields: { code: 'EMFILE' } }]);
    await gatewayClient(broker);
  });

  it("refuses a client that reuses the gateway's client id, and the gateway stays connected", async () => {
    broker = await startEmbeddedBroker({ port: 0 });
    const gateway = await gatewayClient(broker);
    let kicked = false;
    gateway.on('close', () => (kicked = true));
    await expect(connectAsync(broker.url, { clientId: broker.gateway.clientId, reconnectPeriod: 0 })).rejects.toThrow(/Not authorized/i);
    // The predictable id of earlier versions (`panelbridge-{gateway}-{output}`) is refused as well.
    await expect(connectAsync(broker.url, { clientId: 'panelbridge-gw-1-broker', reconnectPeriod: 0 })).rejects.toThrow(/Not authorized/i);
    await expect(
      connectAsync(broker.url, { clientId: broker.gateway.clientId, username: broker.gateway.username, password: 'wrong', reconnectPeriod: 0 }),
    ).rejects.toThrow(/Not authorized/i);
    // The gateway's user name from any other client id is refused too.
    await expect(connectAsync(broker.url, { username: broker.gateway.username, password: broker.gateway.password, reconnectPeriod: 0 })).rejects.toThrow(
      /Not authorized/i,
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(kicked).toBe(false);
    expect(gateway.connected).toBe(true);
  });

  it('refuses a client without the subscriber password, so no local user reads the events', async () => {
    broker = await startEmbeddedBroker({ port: 0, subscriberPassword: SUBSCRIBER_PASSWORD });
    await expect(connectAsync(broker.url, { reconnectPeriod: 0 })).rejects.toThrow(/Not authorized/i);
    await expect(connectAsync(broker.url, { reconnectPeriod: 0, username: 'panelbridge', password: 'a-guess' })).rejects.toThrow(/Not authorized/i);
    // The gateway's own secret opens no other session: it is for the gateway's client id alone.
    await expect(connectAsync(broker.url, { reconnectPeriod: 0, username: 'panelbridge', password: broker.gateway.password })).rejects.toThrow(/Not authorized/i);
  });

  it('without a subscriber password takes nobody but the gateway', async () => {
    broker = await startEmbeddedBroker({ port: 0 });
    await expect(connectAsync(broker.url, { reconnectPeriod: 0 })).rejects.toThrow(/Not authorized/i);
    await gatewayClient(broker);
  });

  it('lets a client with the subscriber password subscribe, and only the gateway publish', async () => {
    broker = await startEmbeddedBroker({ port: 0, subscriberPassword: SUBSCRIBER_PASSWORD });
    const prefix = uniquePrefix('embedded-auth');
    const subscriber = { username: 'panelbridge', password: SUBSCRIBER_PASSWORD };
    const watcher = await MessageLog.subscribe(broker.url, `${prefix}/#`, subscriber);
    try {
      const intruder = await connectAsync(broker.url, { reconnectPeriod: 0, ...subscriber });
      clients.push(intruder);
      // A forged hold-up and a forged acknowledgement: refused (aedes drops the publisher).
      await Promise.race([
        intruder.publishAsync(`${prefix}/events/branch-12/holdup`, '{"forged":true}', { qos: 1 }).catch(() => undefined),
        new Promise((resolve) => setTimeout(resolve, 500)),
      ]);
      const second = await connectAsync(broker.url, { reconnectPeriod: 0, ...subscriber });
      clients.push(second);
      second.publish(`${prefix}/incidents/x/ack`, 'forged ack', { qos: 0 });
      const gateway = await gatewayClient(broker);
      await gateway.publishAsync(`${prefix}/events/branch-12/burglary`, '{"real":true}', { qos: 1 });
      await watcher.waitFor((m) => m.payload.includes('"real"'));
      expect(watcher.messages.map((m) => m.payload)).toEqual(['{"real":true}']);
    } finally {
      await watcher.close();
    }
  });
});
