import net from 'node:net';
import { randomUUID } from 'node:crypto';
import { connectAsync, type MqttClient } from 'mqtt';

export interface TestBroker {
  url: string;
  /** What the broker speaks: aedes only MQTT 3.1.1 (4); Mosquitto 5 as well. */
  protocolVersion: 4 | 5;
  close(): Promise<void>;
}

/**
 * The broker named by MQTT_URL (e.g. the machine's Mosquitto), else a Mosquitto of the test's own on a free
 * port when one is installed, else an in-process aedes on a free port.
 */
export async function getTestBroker(): Promise<TestBroker> {
  const external = process.env.MQTT_URL;
  if (external !== undefined && external !== '') return { url: external, protocolVersion: 5, close: async () => {} };
  const { mosquittoInstalled, startMosquitto } = await import('./mosquitto.js');
  if (mosquittoInstalled) {
    const mosquitto = await startMosquitto();
    return { url: mosquitto.url, protocolVersion: 5, close: () => mosquitto.close() };
  }
  return startOpenBroker(0);
}

/** A topic prefix no other test (or earlier run against a shared broker) uses. */
export function uniquePrefix(label: string): string {
  return `pbtest-${label}-${randomUUID().slice(0, 8)}`;
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface ReceivedMessage {
  topic: string;
  payload: string;
  retain: boolean;
}

/** A subscriber that keeps everything it receives, to assert on what reached the broker. */
export class MessageLog {
  readonly messages: ReceivedMessage[] = [];
  private readonly waiters = new Set<() => void>();

  private constructor(private readonly client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      this.messages.push({ topic, payload: payload.toString(), retain: packet.retain });
      for (const wake of this.waiters) wake();
    });
  }

  static async subscribe(url: string, filter: string, credentials: { username?: string; password?: string } = {}): Promise<MessageLog> {
    const client = await connectAsync(url, { reconnectPeriod: 0, clientId: `pbtest-sub-${randomUUID().slice(0, 8)}`, ...credentials });
    const log = new MessageLog(client);
    await client.subscribeAsync(filter, { qos: 1 });
    return log;
  }

  /** Resolves with the first message (received so far or later) that matches, or rejects after `timeoutMs`. */
  waitFor(match: (message: ReceivedMessage) => boolean, timeoutMs = 5_000): Promise<ReceivedMessage> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const found = this.messages.find(match);
        if (found === undefined) return;
        cleanup();
        resolve(found);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no matching message within ${timeoutMs} ms; got ${JSON.stringify(this.messages)}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  async close(): Promise<void> {
    await this.client.endAsync();
  }
}

/**
 * A TCP relay in front of a broker. Cutting its connections drops the client without an MQTT DISCONNECT,
 * as a crash or a pulled cable would, so the broker publishes the client's last will.
 */
export interface TcpProxy {
  url: string;
  /** Stops passing the client's bytes on (to the current connections), as a stalled network would. */
  holdUpstream(): void;
  /** Drops every current connection abruptly. */
  cut(): void;
  close(): Promise<void>;
}

/** `tap` sees every chunk a client sends towards the broker (what an observer of the link sees, in order). */
export async function startTcpProxy(targetUrl: string, tap?: (chunk: Buffer) => void): Promise<TcpProxy> {
  const target = new URL(targetUrl);
  const pairs = new Set<[net.Socket, net.Socket]>();
  const server = net.createServer((inbound) => {
    const outbound = net.connect(Number(target.port || 1883), target.hostname);
    const pair: [net.Socket, net.Socket] = [inbound, outbound];
    pairs.add(pair);
    if (tap !== undefined) inbound.on('data', tap);
    inbound.pipe(outbound).pipe(inbound);
    const drop = (): void => {
      inbound.destroy();
      outbound.destroy();
      pairs.delete(pair);
    };
    inbound.on('error', drop).on('close', drop);
    outbound.on('error', drop).on('close', drop);
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as net.AddressInfo;
  const cut = (): void => {
    for (const [inbound, outbound] of pairs) {
      inbound.destroy();
      outbound.destroy();
    }
    pairs.clear();
  };
  return {
    url: `mqtt://127.0.0.1:${port}`,
    holdUpstream() {
      for (const [inbound, outbound] of pairs) inbound.unpipe(outbound);
    },
    cut,
    async close() {
      cut();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** An aedes broker without the embedded broker's policy (anyone may publish), on a given port: outage tests. */
export async function startOpenBroker(port: number): Promise<TestBroker> {
  const { Aedes } = await import('aedes');
  const broker = await Aedes.createBroker();
  const server = net.createServer(broker.handle);
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket) => (sockets.add(socket), socket.once('close', () => sockets.delete(socket))));
  server.listen(port, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const bound = (server.address() as net.AddressInfo).port;
  return {
    url: `mqtt://127.0.0.1:${bound}`,
    protocolVersion: 4,
    async close() {
      const closed = new Promise((resolve) => server.close(resolve));
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

/** Everything retained (non-empty) under `filter`, read back by a fresh client as a subscriber of that tree would on start. */
export async function retainedUnder(url: string, filter: string, settleMs = 400): Promise<Map<string, string>> {
  const client = await connectAsync(url, { reconnectPeriod: 0 });
  const found = new Map<string, string>();
  client.on('message', (topic, payload, packet) => {
    if (packet.retain && payload.length > 0) found.set(topic, payload.toString());
  });
  await client.subscribeAsync(filter, { qos: 1 });
  await new Promise((resolve) => setTimeout(resolve, settleMs));
  await client.endAsync();
  return found;
}
