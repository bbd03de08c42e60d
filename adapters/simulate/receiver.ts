import net from 'node:net';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { Dc09Framer } from '../../src/codecs/dc09/framer.js';
import { decodeDc09Frame } from '../../src/codecs/dc09/frame.js';
import type { Transport } from '../../src/model/event.js';
import { createIdSource } from '../../src/model/ids.js';
import { Counters } from '../../src/observability/counters.js';
import { MemoryOutbox } from '../../src/outbox/memory-outbox.js';
import { Dc09Receiver } from '../../src/pipeline/dc09-receiver.js';
import { Recorder } from '../../src/pipeline/recorder.js';
import { silentLogger, systemClock } from '../../src/ports.js';
import type { ReceivedRecord } from '../../src/simulate/received-record.js';

export interface ReceiveOptions {
  host: string;
  port: number;
  /** Accepted account and its key; without it every account is taken, unencrypted only. */
  account?: { account: string; key?: Uint8Array };
  onListening(address: { host: string; port: number }): void;
  onFrame(record: ReceivedRecord): void;
}

export interface RunningReceiver {
  port: number;
  close(): Promise<void>;
}

/**
 * A DC-09 receiver for installers (`panelbridge simulate --receive`): it answers exactly as the gateway's DC-09 input
 * does (same receiver code: ACK, NAK with time, DUH, nothing on a bad CRC) and prints every frame, so a forwarding
 * set-up (the `dc09` output, or a panel) can be tried without a monitoring centre.
 */
export async function startReceiver(options: ReceiveOptions): Promise<RunningReceiver> {
  const outbox = new MemoryOutbox();
  const counters = new Counters();
  const accounts = options.account === undefined ? null : [options.account];
  const receiver = new Dc09Receiver({
    input: 'simulate-receive',
    accounts,
    window: { past: 40_000, future: 20_000 },
    strict: false,
    clock: systemClock,
    random: randomBytes,
    recorder: new Recorder({ outbox, counters, logger: silentLogger, backlogLimit: Number.MAX_SAFE_INTEGER }),
    // Its printout shows what a retransmit's ACK stands for.
    retransmitEvents: true,
    builder: { ids: createIdSource(systemClock), sites: () => [] },
    counters,
    logger: silentLogger,
  });
  const keyFor = () => options.account?.key;

  const handle = async (frame: Uint8Array, transport: 'tcp' | 'udp', peer: string): Promise<Uint8Array | null> => {
    const receivedAt = new Date().toISOString();
    const outcome = await receiver.handleFrame(frame, transport as Transport, peer);
    const decoded = decodeDc09Frame(frame, { keyFor });
    const msg = decoded.ok ? decoded.value : undefined;
    options.onFrame({
      receivedAt,
      transport,
      peer,
      token: msg === undefined ? null : `${msg.encrypted ? '*' : ''}${msg.token}`,
      account: msg === undefined ? null : (msg.account ?? msg.dataAccount),
      seq: msg?.seq ?? null,
      answer: outcome.answer,
      events: outcome.events.map(({ category, duress, qualifier, code, partition, zone, user, occurredAt, extended, verified, unverifiedReason }) => ({
        category, duress, qualifier, code, partition, zone, user, occurredAt, extended, verified,
        ...(unverifiedReason === undefined ? {} : { unverifiedReason }),
      })),
      ...(outcome.error === undefined ? {} : { error: `${outcome.error.code}: ${outcome.error.message}` }),
    });
    return outcome.reply;
  };

  const sockets = new Set<net.Socket>();
  const tcp = net.createServer((socket) => {
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const framer = new Dc09Framer();
    // One frame at a time per connection, so answers go back in order.
    let chain = Promise.resolve();
    socket.on('data', (chunk) => {
      for (const out of framer.push(chunk)) {
        if (out.kind !== 'frame') continue;
        chain = chain.then(async () => {
          const reply = await handle(out.bytes, 'tcp', peer);
          if (reply !== null && !socket.destroyed) socket.write(reply);
        });
      }
    });
  });
  tcp.listen(options.port, options.host);
  await once(tcp, 'listening');
  const port = (tcp.address() as net.AddressInfo).port;
  const udp = dgram.createSocket(net.isIPv6(options.host) ? 'udp6' : 'udp4');
  udp.on('message', (message, rinfo) => {
    void handle(message, 'udp', `${rinfo.address}:${rinfo.port}`).then((reply) => {
      if (reply !== null) udp.send(reply, rinfo.port, rinfo.address);
    });
  });
  udp.on('error', () => undefined);
  udp.bind(port, options.host);
  await once(udp, 'listening');
  options.onListening({ host: options.host, port });
  return {
    port,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => tcp.close(resolve));
      await new Promise<void>((resolve) => udp.close(() => resolve()));
    },
  };
}
