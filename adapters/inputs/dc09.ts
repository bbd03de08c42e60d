import dgram from 'node:dgram';
import { once } from 'node:events';
import net from 'node:net';
import { Worker } from 'node:worker_threads';
import type { Dc09Receiver } from '../../src/pipeline/dc09-receiver.js';
import type { AdapterHealth, Logger } from '../../src/ports.js';
import type { Counters } from '../../src/observability/counters.js';
import { BatchBuilder, forEachEntry, type Discard, type FromTcpWorker, type TcpWorkerSettings, type ToTcpWorker } from './dc09-tcp-protocol.js';

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

/** A TCP worker that exits on its own is started again after this long. */
const TCP_WORKER_RESTART_MS = 1_000;

/**
 * The worker's young generation. It only holds socket state and short-lived read buffers; at V8's default
 * (16 MB semi-spaces on a 64-bit server) a burst of 10,000 connections grew it by about 30 MB of RSS.
 * This limit is ignored when `--max-semi-space-size` is given to the process, which is why the systemd unit sets none.
 */
const TCP_WORKER_YOUNG_GENERATION_MB = 4;

/**
 * The compiled worker beside this module. The test runner loads the TypeScript sources, which cannot run as a
 * worker; it gets the compiled copy in dist/ (`npm test` builds first).
 */
function tcpWorkerEntry(): URL {
  const here = import.meta.url;
  return here.endsWith('.ts') ? new URL('../../dist/adapters/inputs/dc09-tcp-worker.js', here) : new URL('./dc09-tcp-worker.js', here);
}

/**
 * DC-09 over TCP and UDP on one port. It carries bytes only: the receiver decides every answer. TCP sockets live
 * on a worker thread (dc09-tcp-worker.ts), which sends frames over in batches; this thread decodes, stores and
 * answers them. A connection's frames are handled in arrival order so answers go back in order.
 */
export class Dc09Listener {
  private worker: Worker | undefined;
  private tcpAddress: net.AddressInfo | undefined;
  /** Open TCP connections of the current worker, by id, with their peer address. */
  private readonly peers = new Map<number, string>();
  private answers = new BatchBuilder();
  private answersScheduled = false;
  private workerDown: string | undefined;
  private udpSocket: dgram.Socket | undefined;
  private readonly inFlight = new Set<Promise<unknown>>();
  private stopping = false;

  constructor(private readonly options: Dc09ListenerOptions) {}

  get address(): { tcp?: net.AddressInfo; udp?: net.AddressInfo } {
    const udp = this.udpSocket?.address();
    return {
      ...(this.tcpAddress === undefined ? {} : { tcp: this.tcpAddress }),
      ...(udp === undefined ? {} : { udp }),
    };
  }

  async start(): Promise<void> {
    const { host, port } = this.options;
    if (this.options.tcp) this.tcpAddress = await this.startWorker(port);
    if (this.options.udp) {
      const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
      socket.on('message', (msg, rinfo) => this.datagram(socket, msg, rinfo));
      socket.on('error', (error) => this.options.logger.error({ err: error }, 'udp socket error'));
      // Same port as TCP so panels need one setting; with port 0 (tests) take the port TCP got.
      socket.bind(port === 0 && this.tcpAddress !== undefined ? this.tcpAddress.port : port, host);
      await once(socket, 'listening');
      this.udpSocket = socket;
    }
    this.options.logger.info({ host, port, tcp: this.options.tcp, udp: this.options.udp }, 'dc09 input listening');
  }

  /** Stops accepting, lets in-flight frames finish (their answers are written), then closes connections. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const worker = this.worker;
    this.post({ kind: 'stop-accepting' });
    await Promise.allSettled([...this.inFlight]);
    this.sendAnswers();
    if (worker !== undefined) {
      const exited = once(worker, 'exit');
      this.post({ kind: 'close-connections' });
      await exited;
    }
    this.udpSocket?.close();
  }

  health(): AdapterHealth {
    if (this.stopping) return { state: 'down', detail: 'stopped' };
    if (this.workerDown !== undefined) return { state: 'down', detail: this.workerDown };
    return { state: 'up', detail: `${this.peers.size} connections` };
  }

  /** Resolves with the address the worker listens on; rejects as `listen` would (EADDRINUSE, …). */
  private startWorker(port: number): Promise<net.AddressInfo> {
    const settings: TcpWorkerSettings = {
      host: this.options.host,
      port,
      maxFrameBytes: this.options.maxFrameBytes,
      idleTimeoutMs: this.options.idleTimeoutMs,
      maxConnections: this.options.maxConnections,
    };
    const worker = new Worker(tcpWorkerEntry(), {
      workerData: settings,
      resourceLimits: { maxYoungGenerationSizeMb: TCP_WORKER_YOUNG_GENERATION_MB },
    });
    this.worker = worker;
    return new Promise((resolve, reject) => {
      worker.on('message', (message: FromTcpWorker) => {
        if (message.kind === 'listening') resolve({ port: message.port, address: message.address, family: message.family });
        else if (message.kind === 'listen-failed') {
          reject(Object.assign(new Error(message.message), { code: message.code }));
          void worker.terminate();
        } else if (message.kind === 'batch') this.received(worker, message);
      });
      worker.on('error', (error) => {
        this.options.logger.error({ err: error }, 'dc09 tcp worker failed');
        reject(error);
      });
      worker.on('exit', (code) => this.workerExited(worker, code));
    });
  }

  /** An exit not asked for by stop(): the TCP side is down until a new worker listens again. */
  private workerExited(worker: Worker, code: number): void {
    if (this.worker !== worker || this.stopping || this.tcpAddress === undefined) return;
    this.worker = undefined;
    this.peers.clear();
    this.answers = new BatchBuilder();
    this.workerDown = `tcp worker exited (${code}); restarting`;
    this.options.logger.error({ code }, 'dc09 tcp worker exited; restarting it');
    const port = this.tcpAddress.port;
    setTimeout(() => {
      if (this.stopping) return;
      this.startWorker(port).then(
        () => (this.workerDown = undefined),
        (error: unknown) => {
          this.workerDown = `tcp listener failed: ${String(error)}`;
          this.options.logger.error({ err: error }, 'dc09 tcp worker could not listen again');
        },
      );
    }, TCP_WORKER_RESTART_MS);
  }

  private received(worker: Worker, batch: Extract<FromTcpWorker, { kind: 'batch' }>): void {
    const { counters, name } = this.options;
    for (const [id, peer] of batch.opened) {
      this.peers.set(id, peer);
      counters.inc('connections_total', { input: name });
    }
    for (const discard of batch.discarded) this.discarded(discard);
    forEachEntry(batch.frames, (id, frame) => {
      void this.handle(frame, 'tcp', this.peers.get(id) ?? 'unknown').then((answer) => this.queueAnswer(worker, id, answer));
    });
    for (const id of batch.closed) this.peers.delete(id);
    // The worker may send the next batch now: it queues behind this one. This batch is committed here, not at
    // the end of the loop's turn, so its answers go out before the next batch is read: batches that come in
    // while one is stored form the next group commit, and no connection waits for a commit it was not in.
    this.post({ kind: 'ready' });
    this.options.receiver.commitQueued();
  }

  /**
   * Answers go back in one message per burst: after the microtasks that settled them, so every frame a group
   * commit stored is answered in the same batch.
   */
  private queueAnswer(worker: Worker, id: number, answer: Uint8Array | null): void {
    if (worker !== this.worker) return; // an earlier worker's connection: it is gone
    this.answers.add(id, answer);
    if (this.answersScheduled) return;
    this.answersScheduled = true;
    process.nextTick(() => this.sendAnswers());
  }

  private sendAnswers(): void {
    this.answersScheduled = false;
    if (this.answers.size === 0) return;
    const { batch, transfer } = this.answers.take();
    this.post({ kind: 'answers', answers: batch }, transfer);
  }

  private post(message: ToTcpWorker, transfer: ArrayBuffer[] = []): void {
    this.worker?.postMessage(message, transfer);
  }

  private datagram(socket: dgram.Socket, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const peer = `${rinfo.address}:${rinfo.port}`;
    if (this.stopping) return;
    void this.handle(msg, 'udp', peer).then((answer) => {
      if (answer !== null) socket.send(answer, rinfo.port, rinfo.address);
    });
  }

  /** The frame's answer (null: none); a failure is logged and counted and gets no answer. Never rejects. */
  private handle(frame: Uint8Array, transport: 'tcp' | 'udp', peer: string): Promise<Uint8Array | null> {
    const work = this.options.receiver.handleFrame(frame, transport, peer).then(
      (outcome) => {
        this.inFlight.delete(work);
        return outcome.reply;
      },
      (error: unknown) => {
        this.inFlight.delete(work);
        // A bug must not take the listener down; the panel gets no answer and retries.
        this.options.counters.inc('input_errors_total', { input: this.options.name });
        this.options.logger.error({ err: error, peer }, 'frame handling failed');
        return null;
      },
    );
    this.inFlight.add(work);
    return work;
  }

  private discarded(discard: Discard): void {
    this.options.counters.inc('frames_discarded_total', { input: this.options.name, reason: discard.reason });
    this.options.logger.warn({ reason: discard.reason, bytes: discard.bytes, peer: this.peers.get(discard.connection) }, 'frame discarded');
  }
}
