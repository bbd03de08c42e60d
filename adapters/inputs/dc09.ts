import { once } from 'node:events';
import net from 'node:net';
import { Worker } from 'node:worker_threads';
import { Dc09Receiver, type Dc09Account } from '../../src/pipeline/dc09-receiver.js';
import type { Transport } from '../../src/model/event.js';
import type { Dc09InputSettings, SettingsIssue } from '../../src/settings/settings.js';
import { systemClock, type AdapterHealth, type Logger } from '../../src/ports.js';
import type { Counters } from '../../src/observability/counters.js';
import { RateLimitedLog } from '../../src/observability/rate-limited-log.js';
import {
  BatchBuilder,
  forEachEntry,
  type Discard,
  type Drop,
  type FromSocketWorker,
  type SocketWorkerSettings,
  type ToSocketWorker,
} from './dc09-socket-protocol.js';
import type { CaptureDiscard, Input, InputContext, InputCreated } from './input.js';
import { MAX_DISCARD_SAMPLE_BYTES } from '../../src/replay/capture.js';
import { resolveKey } from '../system/secrets.js';
import { notAccepted } from '../system/listener.js';
import { acceptFailedAlarm, refusalAlarm, type HeldPlaces } from './capacity-alarms.js';
import type { SlotLimit } from '../system/connection-slots.js';
import { CapacityAlarm } from '../../src/pipeline/capacity-alarm.js';

export interface Dc09ListenerOptions extends SocketWorkerSettings {
  name: string;
  receiver: Dc09Receiver;
  /**
   * Stores what the frames handed over so far have queued, now rather than at the end of the loop's turn
   * (Recorder.commitQueued): the listener gets frames in batches and commits at each batch's end.
   */
  commitQueued: () => void;
  logger: Logger;
  counters: Counters;
  /** `run --capture`: the runs the worker discarded (it then sends their first bytes along). */
  onDiscard?: CaptureDiscard;
}

/** A socket worker that exits on its own is started again after this long. */
const SOCKET_WORKER_RESTART_MS = 1_000;

/**
 * The worker's young generation. It only holds socket state and short-lived read buffers; at V8's default
 * (16 MB semi-spaces on a 64-bit server) a burst of 10,000 connections grew it by about 30 MB of RSS.
 * This limit is ignored when `--max-semi-space-size` is given to the process, which is why the systemd unit sets none.
 */
const SOCKET_WORKER_YOUNG_GENERATION_MB = 4;

/**
 * The compiled worker beside this module. The test runner loads the TypeScript sources, which cannot run as a
 * worker; it gets the compiled copy in dist/ (`npm test` builds first).
 */
function socketWorkerEntry(): URL {
  const here = import.meta.url;
  return here.endsWith('.ts') ? new URL('../../dist/adapters/inputs/dc09-socket-worker.js', here) : new URL('./dc09-socket-worker.js', here);
}

/**
 * The input's limits that make it degraded when reached: maxConnections and maxConnectionsPerPeer (a panel turned
 * away past a burst), the datagrams it holds, and the process's file descriptors (an accept that failed).
 */
type CapacityLimit = SlotLimit | 'datagrams' | 'descriptors';

/** Where the socket worker listens, and the UDP receive buffer the kernel granted it. */
type Listening = Omit<Extract<FromSocketWorker, { kind: 'listening' }>, 'kind'>;

/** Work under way, counted rather than kept: a set entry per frame lived until its group commit. */
class InFlight {
  size = 0;
  private whenDrained: (() => void) | undefined;

  add(): void {
    this.size += 1;
  }

  done(): void {
    this.size -= 1;
    if (this.size > 0) return;
    this.whenDrained?.();
    this.whenDrained = undefined;
  }

  /** Resolves once nothing is under way. */
  drained(): Promise<void> {
    return this.size === 0 ? Promise.resolve() : new Promise((resolve) => (this.whenDrained = resolve));
  }
}

/** The log line for discarded bytes; for a panel that speaks another protocol, what to set on it. */
function discardMessage(reason: string): string {
  if (reason === 'FRAME_SIA_BLOCK') {
    return 'SIA DC-03 blocks discarded unanswered: the panel reports SIA over IP (DC-03 blocks, no DC-09 framing), which this input does not read; set its IP reporting to SIA DC-09 (SIA-DCS or ADM-CID)';
  }
  return 'frame discarded';
}

/**
 * DC-09 over TCP and UDP on one port. It carries bytes only: the receiver decides every answer. The sockets live
 * on a worker thread (dc09-socket-worker.ts), which sends frames and datagrams over in batches; this thread
 * decodes, stores and answers them. A connection's frames are handled in arrival order so answers go back in order.
 */
export class Dc09Listener implements Input {
  readonly protocol = 'dc09';
  private worker: Worker | undefined;
  private bound: Listening = {};
  /** Open TCP connections of the current worker, by id, with their peer address. */
  private readonly peers = new Map<number, string>();
  private answers = new BatchBuilder();
  /** The connections among `answers` whose frame was ACKed. */
  private accepted: number[] = [];
  private answersScheduled = false;
  private workerDown: string | undefined;
  /** Frames being handled, which stop() lets finish. */
  private readonly inFlight = new InFlight();
  private stopping = false;
  /** The input's limits reached lately (maxConnections, datagrams, descriptors), and their supervisory events. */
  private readonly capacity: CapacityAlarm<CapacityLimit>;
  private readonly places: HeldPlaces;
  private readonly warnings: RateLimitedLog;
  /** Questions to the socket worker whether a limit still refuses (its slots live there), by query id. */
  private readonly refusesQueries = new Map<number, (refused: boolean) => void>();
  private lastQuery = 0;

  constructor(private readonly options: Dc09ListenerOptions) {
    this.warnings = new RateLimitedLog({ logger: options.logger, clock: systemClock });
    const { name, maxConnections, maxConnectionsPerPeer } = options;
    this.places = { label: `DC-09 input ${name}`, name, maxConnections, maxConnectionsPerPeer, transport: 'tcp' };
    this.capacity = new CapacityAlarm({ clock: systemClock, raise: (reason, transport) => options.receiver.capacityAlarm(reason, transport) });
  }

  get name(): string {
    return this.options.name;
  }

  /** The receiver alone, no socket (replay). */
  handleFrame = (frame: Uint8Array, transport: Transport, peer?: string): Promise<unknown> => this.options.receiver.handleFrame(frame, transport, peer);

  get address(): { tcp?: net.AddressInfo; udp?: net.AddressInfo } {
    const { tcp, udp } = this.bound;
    return { ...(tcp === undefined ? {} : { tcp }), ...(udp === undefined ? {} : { udp }) };
  }

  async start(): Promise<void> {
    const { host, port, tcp, udp } = this.options;
    if (tcp || udp) this.bound = await this.startWorker(port);
    const { udpReceiveBufferBytes } = this.bound;
    this.options.logger.info({ host, port, tcp, udp, ...(udpReceiveBufferBytes === undefined ? {} : { udpReceiveBufferBytes }) }, 'dc09 input listening');
  }

  /** Stops accepting, lets in-flight frames finish (their answers are written), then closes connections. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const worker = this.worker;
    this.post({ kind: 'stop-accepting' });
    await this.inFlight.drained();
    await this.capacity.stop();
    this.sendAnswers();
    if (worker !== undefined) {
      const exited = once(worker, 'exit');
      this.post({ kind: 'close-connections' });
      await exited;
    }
    this.answerRefusesQueries();
  }

  health(): AdapterHealth {
    if (this.stopping) return { state: 'down', detail: 'stopped' };
    if (this.workerDown !== undefined) return { state: 'down', detail: this.workerDown };
    const { maxConnections } = this.options;
    if (this.peers.size >= maxConnections && this.capacity.lately('max-connections') === undefined) {
      return { state: 'degraded', detail: `${this.peers.size} connections; maxConnections (${maxConnections}) reached` };
    }
    const { capacity } = this;
    const reached = capacity.lately('max-connections') ?? capacity.lately('peer-limit') ?? capacity.lately('datagrams') ?? capacity.lately('descriptors');
    if (reached !== undefined) return { state: 'degraded', detail: `${this.peers.size} connections; ${reached.detail}` };
    return { state: 'up', detail: `${this.peers.size} connections` };
  }

  /** Resolves with the addresses the worker listens on; rejects as `listen` or `bind` would (EADDRINUSE, …). */
  private startWorker(port: number): Promise<Listening> {
    // The worker's settings are the options without what lives on this thread (the options extend them).
    const { name: _name, receiver: _receiver, commitQueued: _commitQueued, logger: _logger, counters: _counters, onDiscard: _onDiscard, ...options } = this.options;
    const settings: SocketWorkerSettings = { ...options, port };
    const worker = new Worker(socketWorkerEntry(), {
      workerData: settings,
      resourceLimits: { maxYoungGenerationSizeMb: SOCKET_WORKER_YOUNG_GENERATION_MB },
    });
    this.worker = worker;
    return new Promise((resolve, reject) => {
      worker.on('message', (message: FromSocketWorker) => {
        if (message.kind === 'listening') {
          const { kind: _, ...listening } = message;
          resolve(listening);
        } else if (message.kind === 'listen-failed') {
          reject(Object.assign(new Error(message.message), { code: message.code }));
          void worker.terminate();
        } else if (message.kind === 'batch') this.received(worker, message);
        else if (message.kind === 'refuses') this.refusesAnswered(message.query, message.limit !== undefined);
        else if (message.kind === 'udp-error') this.warnings.warn('udp-error', message.code, { code: message.code, message: message.message }, 'udp socket error');
      });
      worker.on('error', (error) => {
        this.options.logger.error({ err: error }, 'dc09 socket worker failed');
        reject(error);
      });
      worker.on('exit', (code) => this.workerExited(worker, code));
    });
  }

  /** An exit not asked for by stop(): the sockets are down until a new worker listens again. */
  private workerExited(worker: Worker, code: number): void {
    const port = (this.bound.tcp ?? this.bound.udp)?.port;
    if (this.worker !== worker || this.stopping || port === undefined) return;
    this.worker = undefined;
    this.answerRefusesQueries();
    this.peers.clear();
    this.answers = new BatchBuilder();
    this.accepted = [];
    this.workerDown = `socket worker exited (${code}); restarting`;
    this.options.logger.error({ code }, 'dc09 socket worker exited; restarting it');
    setTimeout(() => {
      if (this.stopping) return;
      this.startWorker(port).then(
        (listening) => {
          this.bound = listening;
          this.workerDown = undefined;
        },
        (error: unknown) => {
          this.workerDown = `listener failed: ${String(error)}`;
          this.options.logger.error({ err: error }, 'dc09 socket worker could not listen again');
        },
      );
    }, SOCKET_WORKER_RESTART_MS);
  }

  private received(worker: Worker, batch: Extract<FromSocketWorker, { kind: 'batch' }>): void {
    const { counters, name } = this.options;
    for (const [id, peer] of batch.opened) {
      this.peers.set(id, peer);
      counters.inc('connections_total', { input: name });
    }
    for (const discard of batch.discarded) this.discarded(discard);
    for (const drop of batch.dropped) this.dropped(drop);
    const senders = batch.datagrams.length === 0 ? undefined : new Map(batch.datagrams);
    forEachEntry(batch.frames, (id, frame) => {
      const answer = (reply: Uint8Array | null, accepted: boolean): void => this.queueAnswer(worker, id, reply, accepted);
      if (id < 0) {
        const datagramBytes = frame.length;
        this.handle(frame, 'udp', senders?.get(id) ?? 'unknown', (reply, accepted) => answer(this.reflectable(reply, accepted, datagramBytes), accepted));
      } else this.handle(frame, 'tcp', this.peers.get(id) ?? 'unknown', answer);
    });
    for (const id of batch.closed) this.peers.delete(id);
    // The worker may send the next batch now: it queues behind this one. This batch is committed here, not at
    // the end of the loop's turn, so its answers go out before the next batch is read: batches that come in
    // while one is stored form the next group commit, and no connection waits for a commit it was not in.
    this.post({ kind: 'ready' });
    this.options.commitQueued();
  }

  /**
   * A datagram's sender address can be forged, so an answer to one is a reflection off this gateway: one that
   * accepts nothing (NAK, DUH) and is larger than the datagram it answers is withheld, so a forged datagram is never
   * amplified. A real panel's frames are larger than such an answer; it gets none, as for a bad CRC, and retries.
   */
  private reflectable(reply: Uint8Array | null, accepted: boolean, datagramBytes: number): Uint8Array | null {
    if (reply === null || accepted || reply.length <= datagramBytes) return reply;
    this.options.counters.inc('udp_answers_withheld_total', { input: this.options.name });
    return null;
  }

  /**
   * Answers go back in one message per burst: after the microtasks that settled them, so every frame a group
   * commit stored is answered in the same batch.
   */
  private queueAnswer(worker: Worker, id: number, answer: Uint8Array | null, accepted: boolean): void {
    if (worker !== this.worker) return; // an earlier worker's connection: it is gone
    this.answers.add(id, answer);
    if (accepted && id > 0) this.accepted.push(id);
    if (this.answersScheduled) return;
    this.answersScheduled = true;
    process.nextTick(() => this.sendAnswers());
  }

  private sendAnswers(): void {
    this.answersScheduled = false;
    if (this.answers.size === 0) return;
    const { batch, transfer } = this.answers.take();
    this.post({ kind: 'answers', answers: batch, accepted: this.accepted }, transfer);
    this.accepted = [];
  }

  private post(message: ToSocketWorker, transfer: ArrayBuffer[] = []): void {
    this.worker?.postMessage(message, transfer);
  }

  /**
   * Gives `answer` the frame's answer (null: none) and whether it was an ACK; a failure is logged and counted and
   * gets no answer.
   */
  private handle(frame: Uint8Array, transport: 'tcp' | 'udp', peer: string, answer: (reply: Uint8Array | null, accepted: boolean) => void): void {
    this.inFlight.add();
    void this.options.receiver.handleFrame(frame, transport, peer).then(
      (outcome) => {
        this.inFlight.done();
        answer(outcome.reply, outcome.answer === 'ack');
      },
      (error: unknown) => {
        this.inFlight.done();
        // A bug must not take the listener down; the panel gets no answer and retries.
        this.options.counters.inc('input_errors_total', { input: this.options.name });
        this.options.logger.error({ err: error, peer }, 'frame handling failed');
        answer(null, false);
      },
    );
  }

  private discarded(discard: Discard): void {
    const { counters, name } = this.options;
    counters.inc('frames_discarded_total', { input: name, reason: discard.reason }, discard.count);
    const peer = discard.peer ?? this.peers.get(discard.connection);
    const { onDiscard } = this.options;
    if (onDiscard !== undefined && discard.sample !== undefined) {
      const note = { reason: discard.reason, count: discard.count, bytes: discard.bytes };
      onDiscard(discard.sample, note, discard.connection === 0 ? 'udp' : 'tcp', peer);
    } else if (onDiscard !== undefined) {
      // The worker sends a few samples a batch (a flood's are not wanted): the rest is counted as the capture's skips.
      counters.inc('capture_discards_skipped_total', { input: name }, discard.count);
    }
    this.warnings.warn(discard.reason, peer, { reason: discard.reason, count: discard.count, bytes: discard.bytes, peer }, discardMessage(discard.reason));
    if (discard.reason !== 'FRAME_DATAGRAM_OVERLOAD') return;
    this.capacity.reached('datagrams', {
      reason: `DC-09 input ${name} discarded datagrams unread: ${this.options.maxDatagramsInFlight} were waiting for an answer, so a panel reporting over UDP now may not get through until it sends again; look for a datagram flood (GET /healthz lists the input)`,
      detail: `datagrams discarded: ${this.options.maxDatagramsInFlight} were waiting for an answer`,
      transport: 'udp',
    });
  }

  /** A connection the worker refused or closed on its own: counted, logged sparingly, and at capacity an alarm. */
  private dropped(drop: Drop): void {
    const { counters, name, maxConnections, maxConnectionsPerPeer } = this.options;
    counters.inc('connections_dropped_total', { input: name, reason: drop.reason }, drop.count);
    const why: Record<Drop['reason'], string> = {
      'max-connections': `maxConnections (${maxConnections}) reached`,
      'peer-limit': `this address already holds maxConnectionsPerPeer (${maxConnectionsPerPeer}) connections`,
      'first-frame-timeout': `no valid frame within firstFrameTimeout (${this.options.firstFrameTimeoutMs} ms)`,
      'idle-timeout': `no valid frame within idleTimeout (${this.options.idleTimeoutMs} ms)`,
      'accept-failed': notAccepted(drop.code),
    };
    const fields = { reason: drop.reason, count: drop.count, peer: drop.peer, code: drop.code };
    this.warnings.warn(`connection-${drop.reason}`, drop.peer, fields, `connection closed: ${why[drop.reason]}`);
    if (drop.reason === 'accept-failed') {
      this.capacity.reached('descriptors', acceptFailedAlarm(`DC-09 input ${name}`, drop.code, 'tcp'));
      return;
    }
    // Closing a connection that never sent a valid frame, to make room, turns no panel away.
    if ((drop.reason !== 'max-connections' && drop.reason !== 'peer-limit') || drop.madeRoom === true) return;
    const host = drop.host ?? 'unknown';
    const what = refusalAlarm(this.places, drop.reason, host, 'every connection had sent a valid frame, so none made room');
    this.capacity.refused(drop.reason, () => this.refusesNow(host), what);
  }

  /** Whether the socket worker would refuse a new connection from `host` now; false when it is gone or stopping. */
  private refusesNow(host: string): Promise<boolean> {
    if (this.worker === undefined || this.stopping) return Promise.resolve(false);
    const query = (this.lastQuery += 1);
    return new Promise((resolve) => {
      this.refusesQueries.set(query, resolve);
      this.post({ kind: 'refuses', query, host });
    });
  }

  private refusesAnswered(query: number, refused: boolean): void {
    this.refusesQueries.get(query)?.(refused);
    this.refusesQueries.delete(query);
  }

  /** The worker that would have answered is gone: nothing it held refuses any more. */
  private answerRefusesQueries(): void {
    for (const answer of this.refusesQueries.values()) answer(false);
    this.refusesQueries.clear();
  }
}

/** The DC-09 allowlist with key bytes resolved; every failure is listed with its config path. */
export function resolveDc09Accounts(
  accounts: Dc09InputSettings,
  inputIndex: number,
): { accounts: Dc09Account[] | null; issues: SettingsIssue[] } {
  if (accounts.accounts === undefined) return { accounts: null, issues: [] };
  const issues: SettingsIssue[] = [];
  const resolved: Dc09Account[] = [];
  accounts.accounts.forEach((a, j) => {
    const path = `inputs[${inputIndex}].accounts[${j}]`;
    const resolution = resolveKey(a, a.keyEncoding);
    if (!resolution.ok) issues.push({ path: resolution.at === 'key' ? `${path}.key` : path, message: resolution.message });
    else resolved.push(resolution.key === undefined ? { account: a.account } : { account: a.account, key: resolution.key });
  });
  return { accounts: resolved, issues };
}

/** A `type: dc09` input from its settings: the account allowlist with its keys resolved, the receiver, its listener. */
export function createDc09Input(settings: Dc09InputSettings, context: InputContext): InputCreated {
  const resolved = resolveDc09Accounts(settings, context.index);
  if (resolved.issues.length > 0) return { ok: false, issues: resolved.issues };
  const { clock, recorder, builder, counters, bus, onFrame, onDiscard } = context;
  const logger = context.logger.child({ component: 'input', kind: 'dc09', name: settings.name });
  const receiver = new Dc09Receiver({
    input: settings.name,
    accounts: resolved.accounts,
    window: settings.timestampWindow ?? context.defaults.timestampWindow,
    strict: settings.strict,
    osborneHoffman: settings.osborneHoffman,
    clock,
    random: context.random,
    ...(context.answersSent === undefined ? {} : { answersSent: context.answersSent }),
    recorder,
    builder,
    counters,
    logger,
    onAnswered: (answer, latencyMs) => context.metrics.observeAnswer(answer, latencyMs),
    onTraffic: (account, at) => bus.emitTrafficSeen(account, at),
    ...(onFrame === undefined ? {} : { onFrame }),
  });
  const listener = new Dc09Listener({
    name: settings.name,
    host: settings.host,
    port: settings.port,
    tcp: settings.tcp,
    udp: settings.udp,
    maxFrameBytes: settings.maxFrameBytes,
    idleTimeoutMs: settings.idleTimeout,
    firstFrameTimeoutMs: settings.firstFrameTimeout,
    maxConnections: settings.maxConnections,
    maxConnectionsPerPeer: settings.maxConnectionsPerPeer,
    maxDatagramsInFlight: settings.maxDatagrams,
    ...(onDiscard === undefined ? {} : { onDiscard, discardSampleBytes: MAX_DISCARD_SAMPLE_BYTES }),
    receiver,
    commitQueued: () => recorder.commitQueued(),
    logger,
    counters,
  });
  return { ok: true, input: listener };
}
