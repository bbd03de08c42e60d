import net from 'node:net';
import type { ErrorCode } from '../../src/errors.js';
import { RateLimitedLog } from '../../src/observability/rate-limited-log.js';
import { SiaBlockReceiver, type SiaBlockSession } from '../../src/pipeline/sia-block-receiver.js';
import { SiaBlockFramer } from '../../src/codecs/sia-dc03-block.js';
import type { FramerOutput } from '../../src/codecs/framing.js';
import type { Transport } from '../../src/model/event.js';
import type { AdapterHealth } from '../../src/ports.js';
import type { SiaIpInputSettings } from '../../src/settings/settings.js';
import { AddressRanges } from '../../src/settings/address-ranges.js';
import { ConnectionSlots, type SlotLimit } from '../system/connection-slots.js';
import { notAccepted, onAcceptFailed } from '../system/listener.js';
import { acceptFailedAlarm, refusalAlarm, type HeldPlaces } from './capacity-alarms.js';
import { CapacityAlarm, raiseCapacityAlarm } from '../../src/pipeline/capacity-alarm.js';
import type { Input, InputDeps } from './input.js';
import { MAX_DISCARD_SAMPLE_BYTES } from '../../src/replay/capture.js';

/**
 * Bytes one connection may have waiting: a panel sends a block (at most 66 bytes) and waits for its answer, so only
 * a flood holds more.
 */
const MAX_HELD_BYTES = 4096;

/**
 * Connections a replay follows at once, by the `address:port` the capture recorded; past it the one idle longest is
 * let go (its next block starts a session without an account), as replay's packet reader bounds its TCP flows.
 */
const MAX_REPLAYED_SESSIONS = 1024;

/** The input's limits that make it degraded when reached: its connection limits, and the process's file descriptors. */
type CapacityLimit = SlotLimit | 'descriptors';

/** One panel's connection: its blocks not yet handled, and what it may still send. */
interface Connection {
  socket: net.Socket;
  /** The remote address, which maxConnectionsPerPeer counts; `peer` adds the port. */
  host: string;
  peer: string;
  session: SiaBlockSession;
  framer: SiaBlockFramer;
  /** What the framer cut and the input has not handled yet, in order: blocks, or bytes it refused. */
  queued: FramerOutput[];
  blocks: number;
  rejects: number;
  /** The block being stored and answered: the next waits for it, as the panel waits for the answer. */
  busy: Promise<void>;
  /** A block of it is being handled (stored, answered). */
  handling: boolean;
}

/**
 * A TCP listener for SIA DC-03 blocks (protocol-notes.md). Each connection is bounded by idleTimeout, the blocks and
 * rejects it may send, and one block's bytes held (a header announces at most 66); connections by maxConnections
 * and maxConnectionsPerPeer, where the oldest connection (of all, or of that address) that has sent no valid block
 * makes room for a new one. Refused past a short burst, or not accepted at all (out of file descriptors), a panel may
 * not get through: the input reports degraded and raises a supervisory event (CapacityAlarm).
 */
export class SiaIpInput implements Input {
  readonly protocol = undefined;
  private server: net.Server | undefined;
  private readonly connections = new Set<Connection>();
  private readonly slots: ConnectionSlots<Connection>;
  /** allowFrom; undefined: every address. */
  private readonly allowed: AddressRanges | undefined;
  private readonly warnings: RateLimitedLog;
  private readonly receiver: SiaBlockReceiver;
  /** Its limits reached lately (connections turned away past a burst, failed accepts), and their supervisory events. */
  private readonly capacity: CapacityAlarm<CapacityLimit>;
  private readonly places: HeldPlaces;
  private stopping = false;
  /** The sessions of replayed connections, by recorded peer, least recently used first. */
  private readonly replayed = new Map<string | undefined, SiaBlockSession>();

  constructor(
    private readonly settings: SiaIpInputSettings,
    private readonly deps: InputDeps,
  ) {
    this.warnings = new RateLimitedLog({ logger: deps.logger, clock: deps.clock });
    const { name, strict, retransmitWindow } = settings;
    this.receiver = new SiaBlockReceiver({ input: name, strict, retransmitWindow, warnings: this.warnings, ...deps });
    this.slots = new ConnectionSlots<Connection>(settings, (connection) => connection.handling);
    this.allowed = settings.allowFrom === undefined ? undefined : new AddressRanges(settings.allowFrom);
    const { maxConnections, maxConnectionsPerPeer } = settings;
    this.places = { label: `SIA over IP input ${name}`, name, maxConnections, maxConnectionsPerPeer, transport: 'tcp' };
    this.capacity = new CapacityAlarm({ clock: deps.clock, raise: (reason, transport) => raiseCapacityAlarm({ input: name, ...deps }, reason, transport) });
  }

  get name(): string {
    return this.settings.name;
  }

  async start(): Promise<void> {
    // Paused: nothing is read from a connection until it is admitted (allowFrom, the connection limits).
    const server = net.createServer({ pauseOnConnect: true }, (socket) => this.accept(socket));
    onAcceptFailed(server, (error) => this.acceptFailed(error.code ?? error.message));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.settings.port, this.settings.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const server = this.server;
    this.server = undefined;
    const closed = server === undefined ? Promise.resolve() : new Promise<void>((resolve) => server.close(() => resolve()));
    // Blocks being stored finish and are answered before their connections close.
    await Promise.all([...this.connections].map((connection) => connection.busy.then(() => connection.socket.destroy())));
    await Promise.all([closed, this.capacity.stop()]);
  }

  health(): AdapterHealth {
    if (this.server === undefined) return { state: 'down', detail: this.stopping ? 'stopped' : 'not started' };
    const address = this.server.address();
    const listening = `listening on ${typeof address === 'object' && address !== null ? address.port : '?'}; ${this.slots.size} connections`;
    const reached = this.capacity.lately('max-connections') ?? this.capacity.lately('peer-limit') ?? this.capacity.lately('descriptors');
    return reached === undefined ? { state: 'up', detail: listening } : { state: 'degraded', detail: `${listening}; ${reached.detail}` };
  }

  /**
   * A replayed block joins the session of its recorded connection (`address:port`), as it did live: an event block
   * carries the account its connection's `#` block sent. An end-of-data block ends the session; plain-log lines
   * (no peer) share one.
   */
  async handleFrame(frame: Uint8Array, _transport: Transport, peer?: string): Promise<unknown> {
    const session = this.replayed.get(peer) ?? this.receiver.newSession(peer);
    this.replayed.delete(peer);
    this.replayed.set(peer, session);
    if (this.replayed.size > MAX_REPLAYED_SESSIONS) this.replayed.delete(this.replayed.keys().next().value);
    const outcome = await this.receiver.handleBlock(session, frame, peer);
    if (outcome.end && this.replayed.get(peer) === session) this.replayed.delete(peer);
    return outcome;
  }

  /** Where the server listens; the port is the one the OS chose when settings ask for 0. */
  get port(): number | undefined {
    const address = this.server?.address();
    return typeof address === 'object' && address !== null ? address.port : undefined;
  }

  private accept(socket: net.Socket): void {
    const host = socket.remoteAddress ?? 'unknown';
    const peer = `${host}:${socket.remotePort}`;
    socket.on('error', () => socket.destroy());
    if (this.stopping) {
      socket.destroy();
      return;
    }
    // Nothing from an address outside allowFrom is read: the account is not authenticated, so its bytes would be believed.
    if (this.allowed !== undefined && !this.allowed.includes(host)) {
      this.dropped('not-allowed', peer);
      socket.destroy();
      return;
    }
    // Connections that sent no valid block hold no panel's session: the oldest makes room, so squatters cannot lock
    // out a panel for their idleTimeout.
    const refused = this.slots.admit(host, (squatter, limit) => {
      this.connections.delete(squatter);
      this.dropped(limit, squatter.peer);
      squatter.socket.destroy();
    });
    if (refused !== undefined) {
      this.dropped(refused, peer);
      socket.destroy();
      this.capacity.refused(refused, () => this.slots.refuses(host) !== undefined, refusalAlarm(this.places, refused, host, 'every connection had sent a valid block, so none made room'));
      return;
    }
    const connection: Connection = {
      socket,
      host,
      peer,
      session: this.receiver.newSession(peer),
      framer: new SiaBlockFramer(),
      queued: [],
      blocks: 0,
      rejects: 0,
      busy: Promise.resolve(),
      handling: false,
    };
    this.connections.add(connection);
    this.slots.add(connection);
    socket.setTimeout(this.settings.idleTimeout, () => this.close(connection, 'FRAME_IDLE_TIMEOUT'));
    socket.on('data', (chunk: Buffer) => {
      // Closed by the input (end of data, a limit, encryption): what the panel still sends is not read.
      if (socket.writableEnded) return;
      connection.queued.push(...connection.framer.push(chunk));
      if (heldBytes(connection) > MAX_HELD_BYTES) return this.close(connection, 'FRAME_OVERSIZE');
      connection.busy = connection.busy.then(() => this.drain(connection)).catch((error: unknown) => this.failed(connection, error));
    });
    socket.on('close', () => {
      this.connections.delete(connection);
      this.slots.forget(connection);
    });
    socket.resume();
  }

  /** Cuts and answers the whole blocks held, one at a time, until the connection closes or holds a partial block. */
  private async drain(connection: Connection): Promise<void> {
    const { socket, peer } = connection;
    while (!socket.destroyed && connection.queued.length > 0) {
      const next = connection.queued[0]!;
      // The framer refuses only a connection that opens with Galaxy encryption.
      if (next.kind === 'discarded') {
        this.deps.logger.error({ input: this.name, peer }, 'SIA over IP: the panel opened with Galaxy encryption, which this input does not speak; set its alarm report encryption off');
        return this.close(connection, next.reason);
      }
      connection.queued.shift();
      const block = next.bytes;
      connection.blocks += 1;
      this.deps.onFrame?.(block, 'tcp', peer);
      connection.handling = true;
      const outcome = await this.receiver.handleBlock(connection.session, block, peer).finally(() => (connection.handling = false));
      if (!socket.destroyed) socket.write(outcome.reply);
      if (outcome.error !== undefined && outcome.events.length === 0) connection.rejects += 1;
      else this.slots.prove(connection);
      if (outcome.end) return this.close(connection);
      if (connection.rejects >= this.settings.maxRejectsPerConnection) return this.close(connection, 'FRAME_SIA_SESSION_LIMIT');
      if (connection.blocks >= this.settings.maxBlocksPerConnection) return this.close(connection, 'FRAME_SIA_SESSION_LIMIT');
    }
  }

  /**
   * A block whose handling failed unexpectedly: whether it was stored is unknown, so it gets no answer and the
   * connection closes; the panel sends it again on a new one.
   */
  private failed(connection: Connection, error: unknown): void {
    this.deps.counters.inc('input_errors_total', { input: this.name });
    this.deps.logger.error({ err: error, input: this.name, peer: connection.peer }, 'SIA over IP: block handling failed; connection closed unanswered');
    connection.queued = [];
    connection.socket.destroy();
  }

  private close(connection: Connection, reason?: ErrorCode): void {
    const left = [...connection.queued, ...connection.framer.flush()];
    connection.queued = [];
    if (reason !== undefined) {
      this.discarded(reason, connection.peer);
      const pending = Buffer.concat(left.map((output) => output.bytes));
      // What the connection held unanswered, for `run --capture`: a replay shows what the panel sent.
      if (pending.length > 0) this.deps.onDiscard?.(pending.subarray(0, MAX_DISCARD_SAMPLE_BYTES), { reason, count: 1, bytes: pending.length }, 'tcp', connection.peer);
    }
    connection.socket.end(() => connection.socket.destroy());
  }

  /** A connection refused at once, or closed to make room, at a connection limit or outside allowFrom. */
  private dropped(reason: SlotLimit | 'not-allowed', peer: string): void {
    const why = {
      'peer-limit': `this address already holds maxConnectionsPerPeer (${this.settings.maxConnectionsPerPeer}) connections`,
      'max-connections': `maxConnections (${this.settings.maxConnections}) reached`,
      'not-allowed': 'its address is not in allowFrom',
    }[reason];
    this.deps.counters.inc('connections_dropped_total', { input: this.name, reason });
    this.warnings.warn(`connection-${reason}`, peer, { input: this.name, reason, peer }, `SIA over IP connection closed: ${why}`);
  }

  /** The system gave an incoming connection no file descriptor: it is lost, and so may be the next panel's. */
  private acceptFailed(code: string | undefined): void {
    const reason = 'accept-failed';
    this.deps.counters.inc('connections_dropped_total', { input: this.name, reason });
    this.warnings.error(`connection-${reason}`, undefined, { input: this.name, reason, code }, `SIA over IP connection ${notAccepted(code)}`);
    this.capacity.reached('descriptors', acceptFailedAlarm(this.places.label, code, 'tcp'));
  }

  private discarded(reason: ErrorCode, peer: string): void {
    this.deps.counters.inc('frames_discarded_total', { input: this.name, reason });
    this.warnings.warn(reason, peer, { input: this.name, reason }, 'SIA over IP connection closed');
  }
}

/** Bytes a connection holds unanswered: its blocks waiting their turn and a partial one. */
function heldBytes(connection: Connection): number {
  return connection.queued.reduce((sum, output) => sum + output.bytes.length, connection.framer.held);
}

export function createSiaIpInput(settings: SiaIpInputSettings, deps: InputDeps): SiaIpInput {
  return new SiaIpInput(settings, deps);
}
