import { GatewayError } from '../../src/errors.js';
import type { NormalizedEvent } from '../../src/model/event.js';
import { pooledRandomBytes, type RandomBytes } from '../../src/model/ids.js';
import type { AdapterHealth, Audience, Clock, DeliveryResult, Logger, OutputAdapter } from '../../src/ports.js';
import { DEFAULT_DC09_PAD_BYTES, padBucket, type Dc09OutputSettings } from '../../src/settings/settings.js';
import { decodeKey } from '../../src/settings/keys.js';
import {
  buildPanelFrame,
  eventFrameContent,
  interpretAnswer,
  SequenceCounter,
  TakenAcks,
  type AnswerRefusal,
  type FrameContent,
  type PanelAnswer,
} from '../../src/codecs/dc09/transmitter.js';
import type { Counters } from '../../src/observability/counters.js';
import { RateLimitedLog } from '../../src/observability/rate-limited-log.js';
import { readSecret } from '../system/secrets.js';
import { OneAtATime, reportLinkState, type LinkStateListener } from './link-state.js';
import { exchange, formatLinkTarget, openDc09Link, parseLinkTarget, type Link, type LinkTarget } from './dc09-link.js';

export type Dc09OutputOptions = Omit<Dc09OutputSettings, 'type'>;

export interface Dc09OutputDeps {
  clock: Clock;
  logger: Logger;
  random?: RandomBytes;
  /** Raises a `supervisory` event (stored and published like any other) when both paths are down, and its restore. */
  reportLinkState?: LinkStateListener;
  /** `dc09_output_answers_distrusted_total{output, path, reason}`. */
  counters?: Counters;
}

/**
 * Why an answer from a path was refused (AnswerRefusal), or on a keyed link not trusted: a NAK or DUH, never
 * encrypted, which anyone on the path can send (it is acted on as far as a forged one can do no harm).
 */
type AnswerDistrust = AnswerRefusal | 'plain-nak' | 'plain-duh';

/** NAKs with a receiver time accepted per attempt: each one corrects the clock, more mean the receiver disagrees with itself. */
const MAX_TIME_CORRECTIONS = 2;

/**
 * How far a receiver's clock may run behind the gateway's before its encrypted ACKs read as recorded ones. Measured
 * on the gateway's own clock, not the one NAKs corrected: a NAK is never encrypted, so a forged one could otherwise
 * move the bound to an old ACK. A receiver that lags more than RECEIVER_WINDOW_AHEAD_MS NAKs the frame, and the
 * resend carries its time; this is the most such a lag may be (NTP on both ends keeps it far smaller).
 */
const RECEIVER_CLOCK_LAG_MS = 40_000;

/**
 * A receiver takes a frame timestamped at most 20 s ahead of its clock and NAKs one later (the accept window
 * [now - 40 s, now + 20 s], protocols.md §3.5; the 40 s side is how far its clock may run ahead). So its ACK to a
 * frame, written on its clock, is no more than this older than the frame's own timestamp.
 */
const RECEIVER_WINDOW_AHEAD_MS = 20_000;

/**
 * How long every path may answer a message only with DUH on a keyed link before it becomes a dead letter. A DUH is
 * never encrypted, so under a key it may be a man in the middle's; it is retried this long, with the duress
 * deadline alert and the link fault raised. Short, because the account's later events (a later duress among them)
 * wait behind it in order, and a centre that truly cannot process the message DUHs it every time.
 */
export const KEYED_DUH_DEAD_LETTER_MS = 10 * 60_000;

/** Events whose first keyed DUH is remembered at most (the outbox holds the retried ones; this only bounds the map). */
const MAX_KEYED_DUH_EVENTS = 10_000;

/** A DUH on a keyed link, as a path failure: why it is not taken as the receiver's refusal. */
const UNTRUSTED_DUH = 'DUH, never encrypted: on a keyed link no proof the receiver refused the message (retried)';

/** How often a path that does not answer is probed with a NULL when `supervision` is off. */
const DOWN_PATH_PROBE_MS = 30_000;

type PathName = 'primary' | 'backup';

interface Path {
  name: PathName;
  target: LinkTarget;
  link: Link | undefined;
  /** The last exchange on this path went unanswered. */
  down: boolean;
  lastFailure: string | undefined;
  /** A supervisory report names this path's silence as why a refused event could not be offered to it; restored when it answers. */
  reportedSilent: boolean;
  /** When the path last ACKed (on a keyed link: an `*ACK` that decrypted with the key), on the gateway's clock. */
  lastAckAt: number | undefined;
  /**
   * Its receiver's time minus ours, learnt from the path's last NAK with a time (protocols.md §3.5). Per path: a NAK
   * is never encrypted, so one forged on a path must not set the time the other path's receiver is sent.
   */
  clockOffsetMs: number;
}

/**
 * One message as it goes on the wire, built once: every resend and the other path get the same bytes, so a receiver
 * that deduplicates on content and timestamp (§3.10; panelbridge's own does) stores it once. Only a NAK with the
 * receiver's time has it rebuilt, with the corrected timestamp, and a path whose NAKs taught it another clock
 * offset than the frame was stamped with gets it rebuilt with its own (two receivers that agree on the time, as one
 * centre's do, still get the same bytes). The random pad is drawn per encryption: under the
 * all-zero IV it is what makes two encryptions differ (§3.6). A resend is the same message, as its clear sequence
 * number says anyway, so sending the same ciphertext again reveals nothing, and a receiver comparing raw frames
 * sees the repeat too.
 */
class OutgoingFrame {
  bytes!: Uint8Array;
  /** The time its timestamp reads: the receiver's clock as far as a NAK told it (whole seconds on the wire). */
  stampedAt!: number;
  /** The clock offset it was stamped with. */
  offsetMs!: number;

  constructor(
    readonly seq: string,
    /** When it first went out, on the gateway's own clock: an *ACK to it cannot be older. */
    readonly createdAt: number,
    private readonly clock: () => number,
    offsetMs: number,
    private readonly build: (timestamp: number) => Uint8Array,
  ) {
    this.stamp(offsetMs);
  }

  /** After a clock correction, or for a path with another offset: the same message with that timestamp (and a fresh pad). */
  stamp(offsetMs: number): void {
    this.offsetMs = offsetMs;
    this.stampedAt = this.clock() + offsetMs;
    this.bytes = this.build(this.stampedAt);
  }

  /**
   * The earliest receiver time an `*ACK` to it may carry: no more than RECEIVER_WINDOW_AHEAD_MS before its own
   * timestamp (what a receiver checking the window guarantees), but never more than RECEIVER_CLOCK_LAG_MS before
   * the gateway's clock when it first went out, nor later than RECEIVER_WINDOW_AHEAD_MS before it. A NAK is never
   * encrypted, so the timestamp it set may be forged: set back, it would widen the bound to an old ACK; set ahead, it
   * would refuse every ACK of a receiver that does not check timestamps (and so never NAKs to set it right).
   */
  ackNotBefore(): number {
    const stampedSecond = Math.floor(this.stampedAt / 1000) * 1000;
    return Math.max(this.createdAt - RECEIVER_CLOCK_LAG_MS, Math.min(stampedSecond, this.createdAt) - RECEIVER_WINDOW_AHEAD_MS);
  }
}

type Attempt =
  | { outcome: 'ack' }
  | { outcome: 'duh' }
  /** The last answer was a NAK (`timed`: with the receiver's time), after the time corrections it allows. */
  | { outcome: 'nak'; detail: string; timed: boolean }
  | { outcome: 'silent'; detail: string };

/**
 * The gateway as a DC-09 transmitter (protocols.md §3): each event is sent to a monitoring centre's receiver as
 * ADM-CID or SIA-DCS, and counts as delivered only when the receiver ACKs it (an encrypted `*ACK` must decrypt
 * with the key). A NAK with the receiver's time corrects the clock and the frame goes again; a DUH has the other
 * path asked, and when no path ACKs it (each answered DUH or nothing) it is refused for good (dead letter), except on
 * a keyed link, where a DUH (never encrypted) is a failure of its path, retried until every path has answered only
 * DUH for KEYED_DUH_DEAD_LETTER_MS; silence on every path is retried, and the backup path takes over until the
 * primary answers a NULL poll.
 * Exchanges are one at a time, like a panel's: the dispatcher's order (duress first, each account in order) is the
 * order on the wire.
 */
export class Dc09Output implements OutputAdapter<NormalizedEvent> {
  readonly kind = 'dc09';
  readonly maxInFlight = 1;
  readonly name: string;
  readonly audience: Audience;
  private readonly options: Dc09OutputOptions;
  private readonly deps: Dc09OutputDeps;
  private readonly logger: Logger;
  private readonly random: RandomBytes;
  private readonly paths: Path[];
  private readonly sequence = new SequenceCounter();
  private key: Uint8Array | undefined;
  private active: Path;
  /** Both paths went unanswered; reported once per outage. */
  private bothDown = false;
  /**
   * Duress events a path refused (DUH) while another path did not answer, with the paths that refused them: they
   * wait for a path that has not refused them, never going again to one that has.
   */
  private readonly duressRefusedBy = new Map<string, Set<PathName>>();
  /** On a keyed link: when each event not yet ACKed was first answered DUH (see KEYED_DUH_DEAD_LETTER_MS). */
  private readonly keyedDuhSince = new Map<string, number>();
  private lastTrafficAt = 0;
  /** The *ACKs taken on either path (one key, so a recorded one fits both). */
  private readonly takenAcks: TakenAcks;
  private readonly wire = new OneAtATime();
  /** Refused and distrusted answers: a man in the middle can send any number, so they are counted, not each logged. */
  private readonly distrustLog: RateLimitedLog;
  private pollTimer: ReturnType<typeof setInterval> | undefined;
  /** Ends the probe of a down path now on the wire (see poll). */
  private probe: AbortController | undefined;
  /** A supervision round is on the wire or waiting for it. */
  private supervising = false;
  private stopped = false;

  constructor(options: Dc09OutputOptions, deps: Dc09OutputDeps) {
    // Hex fields in upper case, as every capture shows them (some receivers match only [A-F0-9]).
    this.options = {
      ...options,
      account: options.account.toUpperCase(),
      line: options.line.toUpperCase(),
      ...(options.receiver === undefined ? {} : { receiver: options.receiver.toUpperCase() }),
    };
    this.deps = deps;
    this.name = options.name;
    this.audience = options.audience;
    this.logger = deps.logger.child({ component: 'output', kind: 'dc09', name: options.name });
    this.random = deps.random ?? pooledRandomBytes();
    this.distrustLog = new RateLimitedLog({ logger: this.logger, clock: deps.clock });
    this.paths = [this.path('primary', options.primary), ...(options.backup === undefined ? [] : [this.path('backup', options.backup)])];
    this.active = this.paths[0]!;
    // An *ACK passes `ackNotBefore` for frames first sent up to RECEIVER_CLOCK_LAG_MS after its time, and such a frame
    // may still be waiting for its answer after every send on every path (each with a connect and its time corrections).
    const longestExchangeMs = this.paths.length * (options.retries + 1) * (MAX_TIME_CORRECTIONS + 2) * options.ackTimeout;
    this.takenAcks = new TakenAcks(RECEIVER_CLOCK_LAG_MS + longestExchangeMs);
  }

  private path(name: PathName, url: string): Path {
    const target = parseLinkTarget(url);
    if (target === undefined) throw new GatewayError('CONFIG_INVALID', `dc09 output "${this.options.name}": ${name} "${url}" is not tcp://HOST:PORT or udp://HOST:PORT`);
    return { name, target, link: undefined, down: false, lastFailure: undefined, reportedSilent: false, lastAckAt: undefined, clockOffsetMs: 0 };
  }

  async start(): Promise<void> {
    const { key, keyFile, keyEnv, keyEncoding } = this.options;
    let text: string | undefined;
    try {
      text = readSecret({ value: key, file: keyFile, env: keyEnv });
    } catch (error) {
      throw new GatewayError('CONFIG_INVALID', `dc09 output "${this.name}": cannot read its key: ${(error as Error).message}`);
    }
    if (text !== undefined) {
      const decoded = decodeKey(text, keyEncoding ?? 'hex');
      if (!decoded.ok) throw new GatewayError('CONFIG_KEY_INVALID', `dc09 output "${this.name}": ${decoded.message}`);
      this.key = decoded.bytes;
    }
    this.stopped = false;
    this.lastTrafficAt = this.deps.clock.now();
    // Checked more often than the interval so a poll goes out close to it. Without supervision, a path that is
    // down is still probed, so the primary is taken back. The timer never holds the process.
    const every = this.options.supervision > 0 ? this.options.supervision / 4 : DOWN_PATH_PROBE_MS;
    this.pollTimer = setInterval(() => void this.supervise(), Math.max(250, Math.floor(every)));
    this.pollTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.pollTimer);
    await Promise.all(this.paths.map((path) => this.dropLink(path)));
  }

  health(): AdapterHealth {
    if (this.bothDown) return { state: 'down', detail: `no answer on any path: ${this.paths.map((p) => `${p.name} ${p.lastFailure ?? 'down'}`).join('; ')}` };
    const down = this.paths.filter((p) => p.down);
    if (down.length > 0) return { state: 'degraded', detail: down.map((p) => `${p.name} ${formatLinkTarget(p.target)}: ${p.lastFailure ?? 'down'}`).join('; ') };
    return { state: 'up' };
  }

  deliver(event: NormalizedEvent): Promise<DeliveryResult> {
    const forwarded = eventFrameContent(event, this.options.format, this.options.account);
    if (forwarded === null) {
      // A panel's link heartbeat is not an alarm; this output keeps its own link supervised with NULL polls.
      this.logger.debug({ eventId: event.id }, 'heartbeat not forwarded');
      return Promise.resolve({ ok: true });
    }
    if (forwarded.notes.length > 0) {
      this.logger.info({ eventId: event.id, category: event.category, sent: forwarded.content.data, notes: forwarded.notes }, 'event forwarded with a substitute code');
    }
    if (event.duress) this.probe?.abort();
    return this.wire.run(() => this.transmit(event, forwarded.content, forwarded.extended));
  }

  private async transmit(event: NormalizedEvent, content: FrameContent, extended: Record<string, string>): Promise<DeliveryResult> {
    if (this.stopped) return { ok: false, retryable: true, error: 'output stopped' };
    // One frame for every resend and both paths: the receiver that got the first copy stores it once (§3.10).
    const frame = this.frame(content, extended, this.active.clockOffsetMs);
    const refusedBy = this.duressRefusedBy.get(event.id) ?? new Set<PathName>();
    const order = [this.active, ...this.paths.filter((p) => p !== this.active)].filter((p) => !refusedBy.has(p.name));
    const failures: string[] = [...refusedBy].map((name) => `${name}: DUH (the receiver will not process this message)`);
    const silent: Path[] = [];
    let keyedDuhs = 0;
    for (const path of order) {
      const attempt = await this.sendOn(path, frame, this.options.retries + 1);
      if (this.stopped) return { ok: false, retryable: true, error: 'output stopped' };
      if (attempt.outcome === 'ack') {
        if (path !== this.active) this.switchTo(path, `the ${this.active.name} path did not answer`);
        this.pathAcked(path);
        this.duressRefusedBy.delete(event.id);
        this.keyedDuhSince.delete(event.id);
        this.logger.debug({ eventId: event.id, seq: frame.seq, path: path.name, data: content.data }, 'event delivered: receiver ACK');
        return { ok: true };
      }
      // DUH is never encrypted, so one path's DUH could be forged on that path: the other path is still asked. On
      // a keyed link it proves neither that the receiver is there nor that it refused the message: a failure of the
      // path, which gets the message again on the next try.
      if (attempt.outcome === 'duh' && this.key !== undefined) {
        this.pathSilent(path, UNTRUSTED_DUH);
        keyedDuhs++;
        failures.push(`${path.name} ${formatLinkTarget(path.target)}: ${UNTRUSTED_DUH}`);
        continue;
      }
      if (attempt.outcome === 'duh') {
        this.pathAnswered(path);
        refusedBy.add(path.name);
        failures.push(`${path.name} ${formatLinkTarget(path.target)}: DUH (the receiver will not process this message)`);
        continue;
      }
      this.pathSilent(path, attempt.detail);
      silent.push(path);
      failures.push(`${path.name} ${formatLinkTarget(path.target)}: ${attempt.detail}`);
    }
    if (refusedBy.size === 0) {
      this.allPathsDown();
      if (keyedDuhs > 0 && this.keyedDuhOutlasted(event, keyedDuhs === order.length)) {
        return { ok: false, retryable: false, error: `refused: every path answered only DUH for ${KEYED_DUH_DEAD_LETTER_MS / 60_000} minutes (${failures.join('; ')})` };
      }
      return { ok: false, retryable: true, error: `no ACK from the receiver (${failures.join('; ')})` };
    }
    // A path answered DUH to this message, so it must not get it again (§3.10: no repeat after DUH). A duress waits
    // for a silent path to answer (a DUH is never encrypted, so it may be forged on its path); anything else would
    // hold back the account's later events, a duress too, that the answering path takes: it is a dead letter. The
    // silent path decided that, so it is reported.
    for (const path of silent) this.reportRefusedForSilence(path, event);
    if (event.duress && silent.length > 0) {
      this.duressRefusedBy.set(event.id, refusedBy);
      return { ok: false, retryable: true, error: `no ACK from the receiver (${failures.join('; ')})` };
    }
    this.duressRefusedBy.delete(event.id);
    return { ok: false, retryable: false, error: `refused: ${failures.join('; ')}` };
  }

  /**
   * Whether `event` has had only DUHs on a keyed link for KEYED_DUH_DEAD_LETTER_MS, counted from its first DUH;
   * `everyPath`: this try every path answered DUH (a silent path may yet take it, so the bound waits for it).
   */
  private keyedDuhOutlasted(event: NormalizedEvent, everyPath: boolean): boolean {
    const now = this.deps.clock.now();
    const since = this.keyedDuhSince.get(event.id);
    if (since === undefined) {
      this.keyedDuhSince.set(event.id, now);
      // Events the outbox dropped otherwise (an output removed) must not grow the map without bound.
      if (this.keyedDuhSince.size > MAX_KEYED_DUH_EVENTS) this.keyedDuhSince.delete(this.keyedDuhSince.keys().next().value!);
      return false;
    }
    if (!everyPath || now - since < KEYED_DUH_DEAD_LETTER_MS) return false;
    this.keyedDuhSince.delete(event.id);
    return true;
  }

  /** Sends on one path until it ACKs or DUHs, or `attempts` sends went unanswered. NAKs with a time do not count. */
  private async sendOn(path: Path, frame: OutgoingFrame, attempts: number, signal?: AbortSignal): Promise<Attempt> {
    const { seq } = frame;
    let detail = 'no answer';
    let corrections = 0;
    let unansweredBefore = false;
    let lastNak: PanelAnswer | undefined;
    if (frame.offsetMs !== path.clockOffsetMs) frame.stamp(path.clockOffsetMs);
    for (let attempt = 0; attempt < attempts && !this.stopped && signal?.aborted !== true; ) {
      const answer = await this.exchangeOn(path, frame, signal);
      lastNak = answer.kind === 'nak' ? answer : undefined;
      switch (answer.kind) {
        case 'ack':
          return { outcome: 'ack' };
        case 'duh':
          return { outcome: 'duh' };
        case 'nak':
          if (answer.receiverTime != null && corrections < MAX_TIME_CORRECTIONS) {
            corrections++;
            path.clockOffsetMs = answer.receiverTime - this.deps.clock.now();
            frame.stamp(path.clockOffsetMs);
            this.logger.warn({ path: path.name, seq, offsetMs: path.clockOffsetMs }, 'receiver NAK with its time: resending with the corrected time');
            continue;
          }
          detail = 'NAK';
          break;
        default:
          // The resend goes on the same link, where a slow centre's late ACK to the first copy still arrives (its
          // sequence number pairs it). One that could not send, or swallowed two frames (NAT entry gone), is not
          // reused: reconnect.
          if (answer.kind === 'none' && (answer.detail !== undefined || unansweredBefore)) await this.dropLink(path);
          unansweredBefore = answer.kind === 'none';
          detail = answer.detail === undefined ? `${answer.kind === 'none' ? 'no answer' : answer.kind} within ${this.options.ackTimeout} ms` : `${answer.kind}: ${answer.detail}`;
      }
      attempt++;
    }
    // The next message starts on a fresh link.
    if (unansweredBefore) await this.dropLink(path);
    if (lastNak !== undefined) return { outcome: 'nak', detail, timed: lastNak.receiverTime != null };
    return { outcome: 'silent', detail };
  }

  /** A new message (the next sequence number) timestamped now, `offsetMs` (a path's clock offset) ahead. */
  private frame(content: FrameContent, extended: Record<string, string>, offsetMs: number): OutgoingFrame {
    const seq = this.sequence.next();
    return new OutgoingFrame(seq, this.deps.clock.now(), () => this.deps.clock.now(), offsetMs, (timestamp) =>
      buildPanelFrame({
        content,
        extended,
        seq,
        account: this.options.account,
        receiver: this.options.receiver ?? null,
        line: this.options.line,
        now: timestamp,
        random: this.random,
        ...(this.key === undefined ? {} : { key: this.key }),
        padTo: padBucket(this.options, DEFAULT_DC09_PAD_BYTES),
      }),
    );
  }

  private async exchangeOn(path: Path, frame: OutgoingFrame, signal?: AbortSignal): Promise<PanelAnswer> {
    const link = await this.linkOf(path, signal);
    if (typeof link === 'string') return { kind: 'none', detail: link };
    const sent = {
      seq: frame.seq,
      encrypted: this.key !== undefined,
      ...(this.key === undefined ? {} : { key: this.key, ackNotBefore: frame.ackNotBefore() }),
    };
    const { answer } = await exchange(link, frame.bytes, this.options.ackTimeout, (reply) => {
      let answer = interpretAnswer(reply, sent);
      if (answer.kind === 'ack' && answer.encrypted === true) answer = this.takenAcks.take(reply, answer, { seq: frame.seq, sentAt: frame.createdAt }, this.deps.clock.now()) ?? answer;
      this.noteDistrust(path, frame.seq, answer);
      return answer;
    }, { provisional: (answer) => this.mayBeInjected(answer), ...(signal === undefined ? {} : { signal }) });
    if (answer.kind !== 'none') this.lastTrafficAt = this.deps.clock.now();
    return answer;
  }

  /**
   * An answer that does not end the wait for the frame's own: one refused (noise, a forged plain ACK, a replayed
   * *ACK) and, on a keyed link, a DUH (never encrypted). Ending it there let anyone who can inject a segment or a
   * datagram, without dropping any, get in ahead of the centre's ACK and have its delivery missed every time.
   */
  private mayBeInjected(answer: PanelAnswer): boolean {
    return answer.kind === 'invalid' || (answer.kind === 'duh' && this.key !== undefined);
  }

  /** Counts and logs (rate-limited) an answer refused, or on a keyed link an unencrypted NAK or DUH. */
  private noteDistrust(path: Path, seq: string, answer: PanelAnswer): void {
    const reason: AnswerDistrust | undefined =
      answer.kind === 'invalid' ? (answer.refusal ?? 'undecodable') : this.key === undefined ? undefined : answer.kind === 'nak' ? 'plain-nak' : answer.kind === 'duh' ? 'plain-duh' : undefined;
    if (reason === undefined) return;
    this.deps.counters?.inc('dc09_output_answers_distrusted_total', { output: this.name, path: path.name, reason });
    this.distrustLog.warn(`${path.name}\u0000${reason}`, undefined, { path: path.name, target: formatLinkTarget(path.target), reason, seq, ...(answer.detail === undefined ? {} : { detail: answer.detail }) }, 'receiver answer refused or not trusted');
  }

  /** The path's link, opened on first use and after a failed open; an error text when it cannot be opened. */
  private async linkOf(path: Path, signal?: AbortSignal): Promise<Link | string> {
    if (path.link !== undefined) return path.link;
    try {
      path.link = await openDc09Link(path.target, { connectTimeoutMs: this.options.ackTimeout, ...(signal === undefined ? {} : { signal }) });
      return path.link;
    } catch (error) {
      return `cannot connect: ${(error as Error).message}`;
    }
  }

  private async dropLink(path: Path): Promise<void> {
    const link = path.link;
    path.link = undefined;
    await link?.close();
  }

  /** The path ACKed a frame: an `*ACK` under the key on a keyed link, the only answer that proves the receiver there. */
  private pathAcked(path: Path): void {
    path.lastAckAt = this.deps.clock.now();
    this.pathAnswered(path);
  }

  private pathAnswered(path: Path): void {
    const wasDown = path.down;
    path.down = false;
    path.lastFailure = undefined;
    if (wasDown) this.logger.info({ path: path.name, target: formatLinkTarget(path.target) }, 'receiver path answers again');
    const answersAgain = `the ${path.name} receiver path ${formatLinkTarget(path.target)} of DC-09 output ${this.name} answers again`;
    if (this.bothDown) {
      this.bothDown = false;
      reportLinkState(this.deps.reportLinkState, this.logger, 'restore', answersAgain);
    }
    if (path.reportedSilent) {
      path.reportedSilent = false;
      reportLinkState(this.deps.reportLinkState, this.logger, 'restore', answersAgain);
    }
  }

  private pathSilent(path: Path, detail: string): void {
    if (!path.down) this.logger.warn({ path: path.name, target: formatLinkTarget(path.target), detail }, 'receiver path does not answer');
    path.down = true;
    path.lastFailure = detail;
  }

  private switchTo(path: Path, why: string): void {
    this.logger.warn({ from: this.active.name, to: path.name, target: formatLinkTarget(path.target), why }, 'DC-09 output switched receiver path');
    this.active = path;
  }

  /** One report per silence of the path, raised when it left an event that the other path refused undeliverable. */
  private reportRefusedForSilence(path: Path, event: NormalizedEvent): void {
    if (path.reportedSilent) return;
    path.reportedSilent = true;
    reportLinkState(
      this.deps.reportLinkState,
      this.logger,
      'new',
      `DC-09 output ${this.name}: the ${path.name} receiver path ${formatLinkTarget(path.target)} does not answer (${path.lastFailure ?? 'no answer'}); event ${event.id}, refused (DUH) on the other path, ${event.duress ? 'waits for it' : 'is a dead letter'}`,
    );
  }

  private allPathsDown(): void {
    if (this.bothDown) return;
    this.bothDown = true;
    const paths = this.paths.map((p) => `${p.name} ${formatLinkTarget(p.target)} (${p.lastFailure ?? 'no answer'})`).join(', ');
    reportLinkState(this.deps.reportLinkState, this.logger, 'new', `DC-09 output ${this.name}: no receiver path answers: ${paths}; events wait in the outbox`);
  }

  /**
   * The supervision schedule: a NULL poll on the active path when nothing went over it for `supervision`, and on
   * every path that is down, so the primary is taken back as soon as it answers (also with supervision off).
   */
  private async supervise(): Promise<void> {
    // One round at a time: the timer ticks every quarter interval, and a round waiting for a silent path takes up to
    // ackTimeout a path, so rounds queued on the wire behind it would hold the next delivery, a duress too, for all
    // of theirs.
    if (this.stopped || this.supervising) return;
    const now = this.deps.clock.now();
    const idle = this.options.supervision > 0 && now - this.lastTrafficAt >= this.options.supervision;
    const due = this.paths.filter((p) => p.down || (p === this.active && idle));
    if (due.length === 0) return;
    this.supervising = true;
    try {
      await this.wire.run(async () => {
        for (const path of due) await this.poll(path);
      });
    } finally {
      this.supervising = false;
    }
  }

  /**
   * Sends one NULL on `path` (no retries: the next tick polls again); a NAK with the receiver's time has it sent
   * again with that time, as an event's frame is. On a keyed link only an `*ACK` under the key proves the receiver
   * is there: a NAK is never encrypted (DC09-2013 §5.5.3.2), so anyone on the path can answer every poll with a
   * well-formed one timed now and hide a cut line. A poll answered only by NAKs therefore fails, as silence does
   * (the poll went after `supervision` without an ACK). On a plain link nothing is authenticated, and a NAK with
   * the time is an answer, as receivers that do not take NULL send.
   */
  private async poll(path: Path): Promise<void> {
    if (this.stopped) return;
    // Probing a down path while another carries the traffic may take the whole ackTimeout (a blackholed path, or a
    // man in the middle that swallows it); a duress that comes in meanwhile ends the probe rather than wait for it.
    const probe = path.down && path !== this.active ? new AbortController() : undefined;
    this.probe = probe;
    let attempt: Attempt;
    try {
      attempt = await this.sendOn(path, this.frame({ token: 'NULL', dataAccount: null, data: '' }, {}, path.clockOffsetMs), 1, probe?.signal);
    } finally {
      this.probe = undefined;
    }
    // An ended probe tells nothing of the path: the next tick probes it again.
    if (this.stopped || probe?.signal.aborted === true) return;
    const plainNakAnswers = attempt.outcome === 'nak' && attempt.timed && this.key === undefined;
    if (attempt.outcome === 'ack' || plainNakAnswers) {
      if (attempt.outcome === 'ack') this.pathAcked(path);
      else this.pathAnswered(path);
      const primary = this.paths[0]!;
      if (path === primary && this.active !== primary) this.switchTo(primary, 'the primary path answers a NULL poll again');
      return;
    }
    this.pathSilent(path, this.pollFailure(path, attempt));
    if (this.paths.every((p) => p.down)) this.allPathsDown();
    else if (path === this.active) {
      const other = this.paths.find((p) => !p.down);
      if (other !== undefined) this.switchTo(other, `the ${path.name} path did not answer a NULL poll`);
    }
  }

  /** Why a NULL poll failed, for the log, `/healthz` and the supervisory event. */
  private pollFailure(path: Path, attempt: Exclude<Attempt, { outcome: 'ack' }>): string {
    if (attempt.outcome === 'duh') return 'DUH to NULL';
    if (attempt.outcome === 'silent') return `NULL poll: ${attempt.detail}`;
    if (this.key === undefined) return 'NAK without the receiver\'s time to NULL';
    const since = path.lastAckAt === undefined ? 'since start-up' : `since ${new Date(path.lastAckAt).toISOString()}`;
    return `NULL answered only by plain NAKs, no *ACK under the key ${since} (a NAK is never encrypted: anyone on the path can send one, so it is no sign the receiver is there)`;
  }
}
