import { once } from 'node:events';
import { createRequire } from 'node:module';
import net from 'node:net';

const mqttPacket = createRequire(import.meta.url)('mqtt-packet') as {
  parser(opts: { protocolVersion: number }): { on(event: 'packet', cb: (p: { cmd: string; messageId?: number }) => void): void; parse(b: Buffer): void };
  generate(packet: object, opts: { protocolVersion: number }): Buffer;
};

const V5 = { protocolVersion: 5 };

/**
 * An MQTT 5 broker on a free loopback port that accepts every connection and ping and answers each PUBLISH as
 * `pubackReason` says: a reason code (0 success, 0x87 not authorized, …) or undefined to swallow it (no PUBACK).
 * What to close goes to `cleanups`. Resolves with its port.
 */
export async function scriptedMqttBroker(pubackReason: () => number | undefined, cleanups: Array<() => Promise<unknown> | void>): Promise<number> {
  const server = net.createServer((socket) => {
    const parser = mqttPacket.parser(V5);
    parser.on('packet', (packet) => {
      if (packet.cmd === 'connect') socket.write(mqttPacket.generate({ cmd: 'connack', returnCode: 0, reasonCode: 0, sessionPresent: false }, V5));
      else if (packet.cmd === 'pingreq') socket.write(mqttPacket.generate({ cmd: 'pingresp' }, V5));
      else if (packet.cmd === 'publish') {
        const reasonCode = pubackReason();
        if (reasonCode !== undefined) socket.write(mqttPacket.generate({ cmd: 'puback', messageId: packet.messageId, reasonCode }, V5));
      }
    });
    socket.on('data', (chunk: Buffer) => parser.parse(chunk));
    socket.on('error', () => socket.destroy());
    cleanups.push(() => void socket.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return (server.address() as net.AddressInfo).port;
}
