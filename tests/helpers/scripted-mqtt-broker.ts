import { once } from 'node:events';
import { createRequire } from 'node:module';
import net from 'node:net';

interface ParsedPacket {
  cmd: string;
  messageId?: number;
  qos?: number;
  topic?: string;
  payload?: Buffer;
}

const mqttPacket = createRequire(import.meta.url)('mqtt-packet') as {
  parser(opts: { protocolVersion: number }): { on(event: 'packet', cb: (p: ParsedPacket) => void): void; parse(b: Buffer): void };
  generate(packet: object, opts: { protocolVersion: number }): Buffer;
};

const V5 = { protocolVersion: 5 };

/** MQTT 5 DISCONNECT reason code 0x93 Receive Maximum exceeded (§3.14.2.1). */
export const RECEIVE_MAXIMUM_EXCEEDED = 0x93;

/** What the broker does beyond answering each PUBLISH as `pubackReason` says. */
export interface BrokerScript {
  /**
   * The Receive Maximum its CONNACK announces (MQTT 5 §3.2.2.3.3), enforced as Moquette does: one QoS 1 PUBLISH more
   * than that unacknowledged and it sends DISCONNECT 0x93 and closes the connection.
   */
  receiveMaximum?: number;
  /** Each PUBACK goes this long after its PUBLISH, so publishes pile up unacknowledged. */
  pubackDelayMs?: number;
  /** Each PUBLISH the broker took (within its Receive Maximum). */
  onPublish?: (topic: string, payload: Buffer) => void;
  /** Each DISCONNECT 0x93 it sent. */
  onReceiveMaximumExceeded?: () => void;
  /** Each client connection, as it is accepted (a test can cut it). */
  onConnection?: (socket: net.Socket) => void;
}

/**
 * An MQTT 5 broker on a free loopback port that accepts every connection and ping and answers each PUBLISH as
 * `pubackReason` says: a reason code (0 success, 0x87 not authorized, …) or undefined to swallow it (no PUBACK).
 * What to close goes to `cleanups`. Resolves with its port.
 */
export async function scriptedMqttBroker(pubackReason: () => number | undefined, cleanups: Array<() => Promise<unknown> | void>, script: BrokerScript = {}): Promise<number> {
  const { receiveMaximum, pubackDelayMs } = script;
  const server = net.createServer((socket) => {
    script.onConnection?.(socket);
    const parser = mqttPacket.parser(V5);
    let unacknowledged = 0;
    let disconnected = false;
    const puback = (messageId: number | undefined, reasonCode: number): void => {
      unacknowledged -= 1;
      if (!disconnected) socket.write(mqttPacket.generate({ cmd: 'puback', messageId, reasonCode }, V5));
    };
    parser.on('packet', (packet) => {
      if (disconnected) return;
      if (packet.cmd === 'connect') {
        const properties = receiveMaximum === undefined ? {} : { properties: { receiveMaximum } };
        socket.write(mqttPacket.generate({ cmd: 'connack', returnCode: 0, reasonCode: 0, sessionPresent: false, ...properties }, V5));
      } else if (packet.cmd === 'pingreq') socket.write(mqttPacket.generate({ cmd: 'pingresp' }, V5));
      else if (packet.cmd === 'publish') {
        if (packet.qos !== 0) unacknowledged += 1;
        if (receiveMaximum !== undefined && unacknowledged > receiveMaximum) {
          disconnected = true;
          script.onReceiveMaximumExceeded?.();
          socket.end(mqttPacket.generate({ cmd: 'disconnect', reasonCode: RECEIVE_MAXIMUM_EXCEEDED }, V5));
          return;
        }
        script.onPublish?.(packet.topic ?? '', packet.payload ?? Buffer.alloc(0));
        const reasonCode = pubackReason();
        if (reasonCode === undefined) return;
        if (pubackDelayMs === undefined) puback(packet.messageId, reasonCode);
        else setTimeout(() => puback(packet.messageId, reasonCode), pubackDelayMs);
      }
    });
    socket.on('data', (chunk: Buffer) => parser.parse(chunk));
    socket.on('close', () => {
      disconnected = true;
    });
    socket.on('error', () => socket.destroy());
    cleanups.push(() => void socket.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return (server.address() as net.AddressInfo).port;
}
