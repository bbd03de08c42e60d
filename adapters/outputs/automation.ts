import net from 'node:net';
import { once } from 'node:events';
import type { NormalizedEvent } from '../../src/model/event.js';
import type { AdapterHealth, Audience, Clock, DeliveryResult, Logger, OutputAdapter } from '../../src/ports.js';
import type { AutomationOutputSettings } from '../../src/settings/settings.js';
import { plainAddress } from '../../src/settings/address-ranges.js';
import { contactIdFieldsForEvent } from '../../src/codecs/forward-codes.js';
import {
  encodeSurgardContactId,
  encodeSurgardHeartbeat,
  interpretSurgardAnswer,
  SURGARD_ACK,
  SURGARD_NAK,
} from '../../src/codecs/surgard.js';
import { AnswerQueue, type Link } from './dc09-link.js';
import type { PanelAnswer } from '../../src/codecs/dc09/transmitter.js';
import { OneAtATime, reportLinkState, type LinkStateListener } from './link-state.js';
import { onAcceptFailed } from '../system/listener.js';
import { localPeerUid } from '../system/socket-owner.js';

export type AutomationOutputOptions = Omit<AutomationOutputSettings, 'type'>;

export interface AutomationOutputDeps {
  clock: Clock;
  logger: Logger;
  /** Raises a `supervisory` event when the automation link fails, and its restore. */
  reportLinkState?: LinkStateListener;
}

/** NAKs one packet may get before it is refused for good: SGAUTO p.56 retransmits a NAKed packet up to 20 times. */
const MAX_NAKS = 20;

/**
 * How often a failed link is probed with a heartbeat when idle heartbeats are off: without it nothing would ever
 * be ACKed again, and an automation that keeps its connection would get no event until it reconnects. The ~30 s
 * of the receivers' own heartbeat (SGAUTO p.15).
 */
const FAILED_LINK_PROBE_MS = 30_000;

/**
 * How late an answer may come, counted from the last packet sent, and still be taken for an answer to it rather than
 * to a later packet: twice the ACK wait. Past that it is presumed lost.
 */
const LATE_ANSWER_WAITS = 2;

/** The connected automation and the answers coming back on it. */
interface Automation extends Link {
  socket: net.Socket;
  peer: string;
  /**
   * Packets written and answers (ACK or NAK) received on this connection. The answers carry no sequence number: the
   * difference is the answers still owed, which belong to packets sent before the one waiting now.
   */
  sent: number;
  received: number;
  lastSentAt: number;
}

/**
 * The account a Sur-Gard packet can carry: 4 digits (protocol 5) or 10 (protocol Q). A shorter hex account is
 * padded with leading zeros; one that does not fit takes the configured account, named in the notes.
 */
function surgardAccount(account: string | null, fallback: string | undefined, notes: string[]): string {
  const own = (account ?? '').toUpperCase();
  if (/^[0-9A-F]{1,4}$/.test(own)) return own.padStart(4, '0');
  if (/^[0-9A-F]{5,10}$/.test(own)) return own.padStart(10, '0');
  const replacement = fallback ?? '0000';
  notes.push(`account ${account ?? '(none)'} does not fit Sur-Gard protocol 5 or Q: sent as ${replacement}`);
  return replacement;
}

/**
 * The gateway as a Sur-Gard receiver's automation port (protocols.md §4.1): monitoring software that takes a
 * Sur-Gard MLR2/System 5 connects, and each event goes to it as a protocol 5 (or Q) Contact ID packet ending in DC4.
 * Delivered = the automation's ACK (0x06) within the ACK wait. A NAK gets the packet again (up to 20 times, then it
 * is a dead letter); silence gets it again `retries` times, then the link counts as failed: only heartbeats go out
 * until one is ACKed, as the receiver manuals describe. Only the addresses in `allow` may connect, and only one
 * automation at a time: a second connection is refused while the first one answers.
 */
export class AutomationOutput implements OutputAdapter<NormalizedEvent> {
  readonly kind = 'automation';
  readonly maxInFlight = 1;
  readonly name: string;
  readonly audience: Audience;
  private readonly options: AutomationOutputOptions;
  private readonly deps: AutomationOutputDeps;
  private readonly logger: Logger;
  private readonly allowed: ReadonlySet<string>;
  private readonly allowedUids: ReadonlySet<number> | undefined;
  private server: net.Server | undefined;
  private automation: Automation | undefined;
  /** Unanswered after all retries: only heartbeats go out until one is ACKed. */
  private failed = false;
  /** A `supervisory` event is out for the current outage. */
  private reported = false;
  private lastTrafficAt = 0;
  private readonly wire = new OneAtATime();
  private heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  private refusedConnections = 0;

  constructor(options: AutomationOutputOptions, deps: AutomationOutputDeps) {
    this.options = options;
    this.deps = deps;
    this.name = options.name;
    this.audience = options.audience;
    this.logger = deps.logger.child({ component: 'output', kind: 'automation', name: options.name });
    this.allowed = new Set(options.allow.map(plainAddress));
    this.allowedUids = options.allowUids === undefined ? undefined : new Set(options.allowUids);
  }

  async start(): Promise<void> {
    const server = net.createServer((socket) => this.accept(socket));
    server.maxConnections = 8;
    onAcceptFailed(server, (error) => this.refused(undefined, `not accepted (${error.code ?? error.message}): the process may be out of file descriptors`));
    // A listen error (EADDRINUSE, …) goes to the caller as it is; the gateway names the setting to change.
    server.listen(this.options.port, this.options.host);
    await once(server, 'listening');
    this.server = server;
    this.lastTrafficAt = this.deps.clock.now();
    const every = this.options.heartbeat > 0 ? this.options.heartbeat / 4 : FAILED_LINK_PROBE_MS;
    this.heartbeatTimer = setInterval(() => void this.supervise(), Math.max(250, Math.floor(every)));
    this.heartbeatTimer.unref();
  }

  /** The port the automation connects to (the configured one, or the one chosen for port 0). */
  port(): number {
    const address = this.server?.address();
    return typeof address === 'object' && address !== null ? address.port : this.options.port;
  }

  async stop(): Promise<void> {
    clearInterval(this.heartbeatTimer);
    this.automation?.socket.destroy();
    this.automation = undefined;
    const server = this.server;
    this.server = undefined;
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  health(): AdapterHealth {
    if (this.automation === undefined) return { state: 'down', detail: 'no automation connected', linkState: 'down' };
    if (this.failed) return { state: 'down', detail: `automation ${this.automation.peer} does not answer`, linkState: 'up' };
    return { state: 'up', linkState: 'up' };
  }

  private accept(socket: net.Socket): void {
    const address = plainAddress(socket.remoteAddress);
    const peer = `${address}:${socket.remotePort}`;
    // An unknown peer must neither read events (a duress) nor ACK them away from the real automation.
    if (!this.allowed.has(address)) {
      this.refuse(socket, peer, 'address not in allow');
      return;
    }
    // Loopback admits every account on the host: the socket's owner tells the monitoring software from them.
    if (this.allowedUids !== undefined) {
      const uid = localPeerUid(socket);
      if (uid === undefined || !this.allowedUids.has(uid)) {
        this.refuse(socket, peer, uid === undefined ? 'not a process of this host (allowUids)' : `uid ${uid} not in allowUids`);
        return;
      }
    }
    if (this.automation !== undefined && !this.failed && !this.automation.socket.destroyed) {
      this.refuse(socket, peer, `automation ${this.automation.peer} is connected and answering`);
      return;
    }
    this.automation?.socket.destroy();
    const answers = new AnswerQueue();
    socket.setNoDelay(true);
    const automation: Automation = {
      socket,
      peer,
      answers,
      send: (bytes) => new Promise((resolve, reject) => socket.write(bytes, (error) => (error ? reject(error) : resolve()))),
      close: async () => void socket.destroy(),
      sent: 0,
      received: 0,
      lastSentAt: 0,
    };
    socket.on('data', (chunk: Buffer) => {
      // The automation answers with single bytes; automation commands are not taken. An answer when none is owed
      // answers nothing the output sent (or one presumed lost): it must not deliver the next packet.
      for (const byte of chunk) {
        if ((byte !== SURGARD_ACK && byte !== SURGARD_NAK) || automation.received >= automation.sent) continue;
        automation.received++;
        answers.push(Uint8Array.of(byte));
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      answers.close();
      if (this.automation === automation) {
        this.automation = undefined;
        this.logger.warn({ peer }, 'automation disconnected');
      }
    });
    this.automation = automation;
    this.failed = false;
    this.logger.info({ peer }, 'automation connected');
    // Its first heartbeat ACK ends an outage; until then the next delivery tells.
    void this.wire.run(() => this.heartbeat());
  }

  private refuse(socket: net.Socket, peer: string, why: string): void {
    this.refused(peer, why);
    socket.destroy();
  }

  private refused(peer: string | undefined, why: string): void {
    this.refusedConnections++;
    // One line per refusal is bounded by the listener's connection cap; repeats go to debug.
    (this.refusedConnections <= 10 ? this.logger.warn : this.logger.debug).call(this.logger, { peer, why, refused: this.refusedConnections }, 'automation connection refused');
  }

  deliver(event: NormalizedEvent): Promise<DeliveryResult> {
    const forwarded = contactIdFieldsForEvent(event);
    if (forwarded === null) {
      this.logger.debug({ eventId: event.id }, 'heartbeat not forwarded');
      return Promise.resolve({ ok: true });
    }
    const { fields, notes } = forwarded;
    const account = surgardAccount(event.account, this.options.account, notes);
    const packet = encodeSurgardContactId({ receiver: this.options.receiver, line: this.options.line, account, fields });
    if (notes.length > 0) this.logger.info({ eventId: event.id, category: event.category, sent: packet.slice(0, -1), notes }, 'event forwarded with a substitute code');
    return this.wire.run(() => this.transmit(Buffer.from(packet, 'latin1')));
  }

  private async transmit(packet: Uint8Array): Promise<DeliveryResult> {
    const automation = this.automation;
    if (automation === undefined) return this.unavailable('no automation connected');
    if (this.failed) return this.unavailable(`automation ${automation.peer} does not answer; waiting for an ACKed heartbeat`);
    await this.settleOwedAnswers(automation);
    let naks = 0;
    for (let silent = 0; silent <= this.options.retries; ) {
      const answer = await this.attempt(automation, packet);
      if (answer.kind === 'ack') {
        this.answered();
        return { ok: true };
      }
      if (answer.kind === 'nak') {
        this.lastTrafficAt = this.deps.clock.now();
        if (++naks >= MAX_NAKS) return { ok: false, retryable: false, error: `automation ${automation.peer} NAKed the packet ${naks} times` };
        continue;
      }
      silent++;
    }
    return this.linkFailed(automation, `no ACK within ${this.options.ackTimeout} ms after ${this.options.retries + 1} attempts`);
  }

  /**
   * The heartbeat `1RR000 … @` (SGAUTO p.15) when the link was idle for `heartbeat`, or while it counts as failed:
   * the first ACKed one resumes the link.
   */
  private async heartbeat(): Promise<void> {
    const automation = this.automation;
    if (automation === undefined) return;
    // No settling first: a late answer to an earlier packet, taken for the heartbeat's, still shows the automation
    // answers; the answers still owed are counted all the same before the next event goes out.
    const packet = Buffer.from(encodeSurgardHeartbeat(this.options.receiver), 'latin1');
    for (let attempt = 0; attempt <= this.options.retries; attempt++) {
      const answer = await this.attempt(automation, packet);
      if (answer.kind === 'ack') {
        this.answered();
        return;
      }
    }
    await this.linkFailed(automation, 'heartbeat not ACKed');
  }

  /**
   * Before an event's packet: waits for the answers still owed to earlier packets (a slow automation's ACK to a
   * copy that was sent again) and drops them, so none is taken for the new packet's; one later than
   * LATE_ANSWER_WAITS ACK waits after the last send is presumed lost.
   */
  private async settleOwedAnswers(automation: Automation): Promise<void> {
    const deadline = automation.lastSentAt + LATE_ANSWER_WAITS * this.options.ackTimeout;
    while (automation.received < automation.sent && performance.now() < deadline) {
      // None by the deadline, or the connection closed: then every later wait answers null at once, and looping on
      // it would hold the event loop, every panel's ACK with it, until the deadline.
      if ((await automation.answers.next(deadline - performance.now())) === null) break;
    }
    automation.answers.clear();
    automation.received = automation.sent;
  }

  /**
   * Sends one copy of a packet and waits up to the ACK wait for an answer: to this copy or an earlier copy of the
   * same packet (answers to earlier packets were settled before its first copy).
   */
  private async attempt(automation: Automation, packet: Uint8Array): Promise<PanelAnswer> {
    automation.sent++;
    automation.lastSentAt = performance.now();
    try {
      await automation.send(packet);
    } catch (error) {
      automation.sent--;
      return { kind: 'none', detail: `not sent: ${(error as Error).message}` };
    }
    const received = await automation.answers.next(this.options.ackTimeout - (performance.now() - automation.lastSentAt));
    return received === null ? { kind: 'none' } : interpretSurgardAnswer(received);
  }

  private async supervise(): Promise<void> {
    const idle = this.options.heartbeat > 0 && this.deps.clock.now() - this.lastTrafficAt >= this.options.heartbeat;
    const due = this.failed || idle;
    if (this.automation === undefined) {
      if (due && !this.reported) await this.unavailable('no automation connected');
      return;
    }
    if (due) await this.wire.run(() => this.heartbeat());
  }

  private answered(): void {
    this.lastTrafficAt = this.deps.clock.now();
    if (this.failed) this.logger.info({ peer: this.automation?.peer }, 'automation answers again');
    this.failed = false;
    if (this.reported) {
      this.reported = false;
      reportLinkState(this.deps.reportLinkState, this.logger, 'restore', `automation output ${this.name}: ${this.automation?.peer ?? 'the automation'} answers again`);
    }
  }

  private async linkFailed(automation: Automation, detail: string): Promise<DeliveryResult> {
    // A connection replaced meanwhile says nothing about the one that took its place.
    if (automation !== this.automation) return { ok: false, retryable: true, error: `automation ${automation.peer} disconnected` };
    if (!this.failed) this.logger.warn({ peer: automation.peer, detail }, 'automation link failed: only heartbeats until one is ACKed');
    this.failed = true;
    return this.unavailable(`automation ${automation.peer}: ${detail}`);
  }

  private async unavailable(detail: string): Promise<DeliveryResult> {
    if (!this.reported) {
      this.reported = true;
      reportLinkState(this.deps.reportLinkState, this.logger, 'new', `automation output ${this.name} on ${this.options.host}:${this.port()}: ${detail}; events wait in the outbox`);
    }
    return { ok: false, retryable: true, error: detail };
  }
}
