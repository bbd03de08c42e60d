import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { Aedes, type Client, type PublishPacket } from 'aedes';
import { afterEach, describe, expect, it } from 'vitest';
import { MqttOutput, type MqttOutputOptions } from '../../adapters/outputs/mqtt.js';
import { silentLogger, systemClock } from '../../src/ports.js';
import { testEvent } from '../helpers/output-events.js';

const TLS_DIR = new URL('./fixtures/tls/', import.meta.url).pathname;
const tlsFile = (name: string): string => path.join(TLS_DIR, name);
const USERNAME = 'gateway';
const PASSWORD = 's3cret-broker-pass';

interface AuthBroker {
  url: string;
  /** Events published by authenticated clients, by topic. */
  published: PublishPacket[];
  /** Usernames of rejected CONNECTs. */
  refused: string[];
  close(): Promise<void>;
}

/**
 * An aedes broker that accepts only USERNAME/PASSWORD, over plain TCP or over TLS (with `clientCa`, only
 * clients holding a certificate signed by it).
 */
async function startAuthBroker(transport: 'tcp' | 'tls', clientCa?: string): Promise<AuthBroker> {
  const broker = await Aedes.createBroker({
    authenticate: (_client: Client, username: Readonly<string | undefined>, password: Readonly<Buffer | undefined>, done) => {
      const ok = username === USERNAME && password?.toString() === PASSWORD;
      if (!ok) refused.push(username ?? '(none)');
      done(null, ok);
    },
  });
  const refused: string[] = [];
  const published: PublishPacket[] = [];
  broker.on('publish', (packet, client) => {
    if (client !== null) published.push(packet);
  });
  const server =
    transport === 'tcp'
      ? net.createServer(broker.handle)
      : tls.createServer(
          {
            key: readFileSync(tlsFile('server.key')),
            cert: readFileSync(tlsFile('server.crt')),
            ...(clientCa === undefined ? {} : { ca: readFileSync(clientCa), requestCert: true, rejectUnauthorized: true }),
          },
          broker.handle,
        );
  const sockets = new Set<net.Socket>();
  server.on(transport === 'tcp' ? 'connection' : 'secureConnection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `${transport === 'tcp' ? 'mqtt' : 'mqtts'}://127.0.0.1:${port}`,
    published,
    refused,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => broker.close(() => resolve()));
    },
  };
}

function output(url: string, extra: Partial<MqttOutputOptions>): MqttOutput {
  return new MqttOutput(
    // aedes speaks MQTT 3.1.1 only.
    { name: 'central', url, topicPrefix: 'pbauth', audience: 'central', embeddedPort: 1884, protocolVersion: 4, ...extra },
    { clock: systemClock, logger: silentLogger, gateway: { id: 'gw-auth', version: '0' }, reconnectPeriodMs: 200, connectTimeoutMs: 2_000 },
  );
}

describe('MQTT output with broker credentials and TLS', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function started(broker: AuthBroker, extra: Partial<MqttOutputOptions>): Promise<MqttOutput> {
    const mqtt = output(broker.url, extra);
    cleanups.push(() => broker.close());
    await mqtt.start();
    cleanups.push(() => mqtt.stop());
    return mqtt;
  }

  it('logs in with username and password and delivers', async () => {
    const broker = await startAuthBroker('tcp');
    const mqtt = await started(broker, { username: USERNAME, password: PASSWORD });
    const event = testEvent({ account: '1234', category: 'duress' });

    expect(await mqtt.deliver(event)).toEqual({ ok: true });
    const delivered = broker.published.find((p) => p.topic === 'pbauth/events/1234/duress');
    expect(JSON.parse(String(delivered?.payload))).toMatchObject({ id: event.id, duress: true });
    expect(broker.refused).toEqual([]);
  });

  it('reads the password from passwordFile', async () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'panelbridge-mqtt-secret-')), 'password');
    writeFileSync(file, `${PASSWORD}\n`, { mode: 0o600 });
    const broker = await startAuthBroker('tcp');
    const mqtt = await started(broker, { username: USERNAME, passwordFile: file });

    expect(await mqtt.deliver(testEvent({ account: '1234' }))).toEqual({ ok: true });
    expect(mqtt.health().state).toBe('up');
  });

  it('with a wrong password stays down, says why, and keeps events for a retry', async () => {
    const broker = await startAuthBroker('tcp');
    const mqtt = await started(broker, { username: USERNAME, password: 'wrong' });

    const result = await mqtt.deliver(testEvent({ account: '1234', category: 'duress' }));
    expect(result).toMatchObject({ ok: false, retryable: true });
    expect(mqtt.health()).toMatchObject({ state: 'down', detail: expect.stringMatching(/not authori[sz]ed|bad user/i) });
    expect(broker.refused).toContain(USERNAME);
    expect(broker.published).toEqual([]);
  });

  it('connects over TLS with a private CA and a client certificate (mutual TLS), and delivers', async () => {
    const broker = await startAuthBroker('tls', tlsFile('ca.crt'));
    const mqtt = await started(broker, {
      username: USERNAME,
      password: PASSWORD,
      ca: tlsFile('ca.crt'),
      cert: tlsFile('client.crt'),
      key: tlsFile('client.key'),
    });

    expect(await mqtt.deliver(testEvent({ account: '4567', category: 'holdup' }))).toEqual({ ok: true });
    expect(broker.published.some((p) => p.topic === 'pbauth/events/4567/holdup')).toBe(true);
  });

  it('does not deliver over TLS to a broker whose certificate the configured CA did not sign', async () => {
    const broker = await startAuthBroker('tls');
    // No `ca`: the system roots do not know the test CA, so the server certificate is refused.
    const mqtt = await started(broker, { username: USERNAME, password: PASSWORD });

    expect(await mqtt.deliver(testEvent({ account: '1234' }))).toMatchObject({ ok: false, retryable: true });
    expect(mqtt.health().state).toBe('down');
    expect(broker.published).toEqual([]);
  });

  it('does not connect to a mutual-TLS broker without a client certificate', async () => {
    const broker = await startAuthBroker('tls', tlsFile('ca.crt'));
    const mqtt = await started(broker, { username: USERNAME, password: PASSWORD, ca: tlsFile('ca.crt') });

    expect(await mqtt.deliver(testEvent({ account: '1234' }))).toMatchObject({ ok: false, retryable: true });
    expect(broker.published).toEqual([]);
  });
});
