import net from 'node:net';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { Dc09Framer } from '../../src/codecs/dc09/framer.js';
import type { FramerOutput } from '../../src/codecs/framing.js';
import type { Dc09Receiver } from '../../src/pipeline/dc09-receiver.js';
import type { AdapterHealth, Logger } from '../../src/ports.js';
import type { Counters } from '../../src/observability/counters.js';

export interface Dc09ListenerOptions {
  name: string;
  host: string;
  port: number;
  tcp: boolean;
  udp: boolean;
  maxFrameBytes: number;
  idleTimeoutMs: number;
  maxConnections: number;
  receiver: Dc09Receiver;
  logger: Logger;
  counters: Counters;
}

/**
 * DC-09 over TCP and UDP on one port. It carries bytes only: the receiver decides every answer. On TCP, frames of
 * one connection are handled in arrival order so answers go back in order.
 */
export class Dc09Listener {
  private tcpServer: net.Server | undefined;
  private udpSocket: dgram.Socket | undefined;
  private readonly sockets = new Set<net.Socket>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private stopping = false;

  constructor(private readonly options: Dc09ListenerOptions) {}

  get address(): { tcp?: net.AddressInfo; udp?: net.AddressInfo } {
    const tcp = this.tcpServer?.address();
    const udp = this.udpSocket?.address();
    return {
      ...(tcp !== null && typeof tcp === 'object' ? { tcp } : {}),
      ...(udp === undefined ? {} : { udp }),
    };
  }

  async start(): Promise<void> {
    const { host, port } = this.options;
    if (this.options.tcp) {
      const server = net.createServer((socket) => this.accept(socket));
      server.maxConnections = this.options.maxConnections;
      server.listen({ host, port, backlog: 4096 });
      await once(server, 'listening');
      this.tcpServer = server;
    }
    if (this.options.udp) {
      const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
      socket.on('message', (msg, rinfo) => this.datagram(socket, msg, rinfo));
      socket.on('error', (error) => this.options.logger.error({ err: error }, 'udp socket error'));
      // Same port as TCP so panels need one setting; with port 0 (tests) take the port TCP got.
      const udpPort = port === 0 && this.tcpServer !== undefined ? (this.tcpServer.address() as net.AddressInfo).port : port;
      socket.bind(udpPort, host);
      await once(socket, 'listening');
      this.udpSocket = socket;
    }
    this.options.logger.info({ host, port, tcp: this.options.tcp, udp: this.options.udp }, 'dc09 input listening');
  }

  /** Stops accepting, lets in-flight frames finish (their answers are written), then closes connections. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const closed = this.tcpServer === undefined ? Promise.resolve() : new Promise<void>((r) => this.tcpServer!.close(() => r()));
    await Promise.allSettled([...this.inFlight]);
    for (const socket of this.sockets) socket.end();
    for (const socket of this.sockets) socket.destroy();
    this.udpSocket?.close();
    await closed;
  }

  health(): AdapterHealth {
    return this.stopping ? { state: 'down', detail: 'stopped' } : { state: 'up', detail: `${this.sockets.size} connections` };
  }

  private accept(socket: net.Socket): void {
    const { counters, logger, name, idleTimeoutMs } = this.options;
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    this.sockets.add(socket);
    counters.inc('connections_total', { input: name });
    const framer = new Dc09Framer({ maxFrameBytes: this.options.maxFrameBytes });
    const write = (reply: Uint8Array): unknown => socket.writable && socket.write(reply);
    // Frames of one connection are handled one after another: the next starts when the previous is answered.
    const queued: Uint8Array[] = [];
    let handling = false;
    const next = (): void => {
      const frame = queued.shift();
      handling = frame !== undefined;
      if (frame !== undefined) void this.handle(frame, 'tcp', peer, write).then(next);
    };
    socket.setNoDelay(true);
    socket.setTimeout(idleTimeoutMs);
    socket.on('timeout', () => {
      this.discarded(framer.flush(), peer);
      socket.end();
    });
    socket.on('data', (chunk) => {
      for (const out of framer.push(chunk)) {
        if (out.kind === 'discarded') this.discarded([out], peer);
        else queued.push(out.bytes);
      }
      if (!handling) next();
    });
    socket.on('error', (error) => logger.debug({ err: error, peer }, 'tcp connection error'));
    socket.on('close', () => this.sockets.delete(socket));
  }

  private datagram(socket: dgram.Socket, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const peer = `${rinfo.address}:${rinfo.port}`;
    if (this.stopping) return;
    void this.handle(msg, 'udp', peer, (reply) => socket.send(reply, rinfo.port, rinfo.address));
  }

  /** Settles once the frame's answer is written (or its handling failed, which is logged); never rejects. */
  private handle(frame: Uint8Array, transport: 'tcp' | 'udp', peer: string, write: (reply: Uint8Array) => unknown): Promise<void> {
    const work = this.options.receiver.handleFrame(frame, transport, peer).then(
      (outcome) => {
        this.inFlight.delete(work);
        if (outcome.reply !== null) write(outcome.reply);
      },
      (error: unknown) => {
        this.inFlight.delete(work);
        // A bug must not take the listener down; the panel gets no answer and retries.
        this.options.counters.inc('input_errors_total', { input: this.options.name });
        this.options.logger.error({ err: error, peer }, 'frame handling failed');
      },
    );
    this.inFlight.add(work);
    return work;
  }

  private discarded(outputs: FramerOutput[], peer: string): void {
    for (const out of outputs) {
      if (out.kind !== 'discarded') continue;
      this.options.counters.inc('frames_discarded_total', { input: this.options.name, reason: out.reason });
      this.options.logger.warn({ reason: out.reason, bytes: out.bytes.length, peer }, 'frame discarded');
    }
  }
}
