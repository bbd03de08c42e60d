import { SerialPortStream, type OpenOptions } from '@serialport/stream';
import { autoDetect } from '@serialport/bindings-cpp';
import { SURGARD_TERMINATOR } from '../../src/codecs/surgard.js';
import { DelimitedFramer } from '../../src/codecs/delimited-framer.js';
import { SevenBitLine, withParityBits } from '../../src/codecs/seven-bit-line.js';
import { SerialReceiver, answersEachFrame, type SerialProtocol } from '../../src/pipeline/serial-receiver.js';
import type { SerialInputSettings } from '../../src/settings/settings.js';
import type { AdapterHealth, Clock, Logger } from '../../src/ports.js';
import type { Counters } from '../../src/observability/counters.js';
import { backoffDelay } from '../../src/backoff.js';
import { RateLimitedLog } from '../../src/observability/rate-limited-log.js';
import type { Transport } from '../../src/model/event.js';
import type { FrameProtocol } from '../../src/pipeline/decode-frame.js';
import type { CaptureDiscard, Input, InputDeps } from './input.js';
import { MAX_DISCARD_SAMPLE_BYTES } from '../../src/replay/capture.js';

/** How the port is reached: the OS binding (`autoDetect` of @serialport/bindings-cpp) in production, `MockBinding` in tests. */
export type SerialBinding = OpenOptions['binding'];

export interface SerialInputOptions {
  name: string;
  path: string;
  baudRate: number;
  dataBits: 5 | 6 | 7 | 8;
  parity: 'none' | 'even' | 'odd' | 'mark' | 'space';
  stopBits: 1 | 1.5 | 2;
  protocol: SerialProtocol;
  maxFrameBytes: number;
  /** Reopen delays after the port is lost: doubles from `initial` up to `max` (ms), ±20 % jitter. */
  reconnect: { initial: number; max: number };
  /** A port down this long (ms) raises one supervisory event; its return raises a restore. */
  downAlarmAfter: number;
  /**
   * A port open but silent this long (ms), not even a heartbeat, counts as down and raises the supervisory event at
   * once; its next bytes raise the restore. A cut cable leaves a USB adapter's port open, and only the receiver's
   * missing heartbeats show it. Absent or 0: silence is never an alarm (a panel's one-way line is quiet for days).
   */
  silenceAlarmAfter?: number;
  receiver: SerialReceiver;
  clock: Clock;
  logger: Logger;
  counters: Counters;
  binding?: SerialBinding;
  /**
   * Frames waiting for the store; more are discarded (a Sur-Gard receiver waits for each ACK anyway), except a
   * duress or hold-up, which waits in an allowance of its own (MAX_DURESS_FRAMES_OVER_QUEUE).
   */
  maxQueuedFrames?: number;
  /** Called with every raw frame before decoding (capture files). */
  onFrame?(frame: Uint8Array, transport: 'serial', peer: string): void;
  /** Called with every run of bytes discarded before decoding (capture files). */
  onDiscard?: CaptureDiscard;
}

export const DEFAULT_RECONNECT = { initial: 1_000, max: 30_000 } as const;
const RECONNECT_JITTER = 0.2;
const DEFAULT_MAX_QUEUED_FRAMES = 64;
/**
 * Duress and hold-up frames that may wait beyond `maxQueuedFrames`: security.md rule 1, over-limit traffic is still
 * decoded and its duress stored, and a one-way line cannot be asked to send a discarded line again. The bound keeps
 * a flood of forged duress lines from growing memory past this many frames of at most `maxFrameBytes` each (1 MiB
 * at the largest setting), and it is safe for real ones: a panel sends one line per activation, so no site raises
 * this many while one store is waiting on the disk, and the allowance frees as the store drains. Past it a duress
 * frame is discarded, counted and logged as an error.
 */
export const MAX_DURESS_FRAMES_OVER_QUEUE = 16;
const LINE_TERMINATORS = [0x0d, 0x0a];
/**
 * A frame's bytes arrive within milliseconds of each other; a part left this long without its terminator (a panel
 * reset mid-line, a receiver restarted mid-packet) is discarded, or it would be glued to the next frame, however
 * much later that comes, and spoil it.
 */
const FRAME_IDLE_MS = 1_000;

/**
 * A serial receiver or panel port. It carries bytes only: the SerialReceiver decides every answer, written on
 * the same port as soon as the receiver says so (after the store). Frames are handled one at a time in arrival
 * order. A lost port (unplugged USB adapter, close, error) is reopened with exponential backoff.
 */
export class SerialInput implements Input {
  private readonly binding: SerialBinding;
  private stream: SerialPortStream | undefined;
  private framer: DelimitedFramer | undefined;
  /** On a port set to 8 data bits and no parity: the parity a 7-bit receiver puts in each byte's top bit. */
  private line: SevenBitLine | undefined;
  /** Serializes frame handling and supervisory events, so answers and down/restore stay in order. */
  private chain: Promise<void> = Promise.resolve();
  private queued = 0;
  /** Duress frames waiting beyond the queue bound (MAX_DURESS_FRAMES_OVER_QUEUE). */
  private duressOverQueue = 0;
  /**
   * Answered frames (Sur-Gard packets, 685 lines) being handled, by the port they came in on and their bytes: the receiver's resend of one of
   * them on the same port is not answered again. A copy from a port since lost is answered nowhere (handle()), so a
   * resend on the reopened port is handled as its own.
   */
  private readonly unanswered = new Map<string, number>();
  /** Counts the ports opened, so that packets of a lost port are told from those of the current one. */
  private portGeneration = 0;
  private attempts = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private alarmTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private silenceTimer: NodeJS.Timeout | undefined;
  private downSince: number | null = null;
  /** What the port is while downSince is set: lost (`down`) or open without a byte (`silent`). */
  private downState: 'down' | 'silent' = 'down';
  private alarmRaised = false;
  private stopped = true;
  private readonly warnings: RateLimitedLog;

  constructor(private readonly options: SerialInputOptions) {
    this.binding = options.binding ?? autoDetect();
    this.warnings = new RateLimitedLog({ logger: options.logger, clock: options.clock });
  }

  get name(): string {
    return this.options.name;
  }

  get protocol(): FrameProtocol {
    return this.options.receiver.frameProtocol;
  }

  /** The receiver alone, no port (replay). */
  handleFrame = (frame: Uint8Array, transport: Transport, peer?: string): Promise<unknown> => this.options.receiver.handlePacket(frame, peer, transport);

  /** Opens the port once; when that fails the input keeps retrying in the background and reports down. */
  async start(): Promise<void> {
    this.stopped = false;
    this.markDown(new Error('not opened yet'));
    await this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.alarmTimer);
    clearTimeout(this.idleTimer);
    clearTimeout(this.silenceTimer);
    this.downSince = null;
    this.alarmRaised = false;
    await this.chain;
    const stream = this.stream;
    this.stream = undefined;
    if (stream?.isOpen) await new Promise<void>((resolve) => stream.close(() => resolve()));
  }

  health(): AdapterHealth {
    if (this.stopped) return { state: 'down', detail: 'stopped' };
    if (this.downSince !== null) return { state: 'down', detail: `${this.options.path} ${this.downState} since ${new Date(this.downSince).toISOString()}` };
    return { state: 'up', detail: `${this.options.path} open` };
  }

  private async connect(): Promise<void> {
    const { path, baudRate, dataBits, parity, stopBits, logger } = this.options;
    const stream = new SerialPortStream({ binding: this.binding, path, baudRate, dataBits, parity, stopBits, autoOpen: false });
    const opened = await new Promise<Error | null>((resolve) => stream.open((error) => resolve(error)));
    if (this.stopped) {
      if (opened === null) stream.close(() => undefined);
      return;
    }
    if (opened !== null) {
      logger.debug({ err: opened, path, attempt: this.attempts }, 'serial port open failed');
      this.scheduleReconnect();
      return;
    }
    this.attach(stream);
  }

  private attach(stream: SerialPortStream): void {
    const { path, logger, protocol, maxFrameBytes, dataBits, parity } = this.options;
    this.stream = stream;
    this.line = dataBits === 8 && parity === 'none' ? new SevenBitLine() : undefined;
    this.portGeneration += 1;
    this.attempts = 0;
    const terminators = protocol === 'surgard' ? [SURGARD_TERMINATOR] : LINE_TERMINATORS;
    this.framer = new DelimitedFramer({
      terminators: this.line === undefined ? terminators : withParityBits(terminators),
      maxFrameBytes,
      keepTerminator: protocol === 'surgard',
      keepLastOfOversize: protocol !== 'surgard',
    });
    stream.on('data', (chunk: Buffer) => this.received(stream, chunk));
    stream.on('error', (error: Error) => {
      logger.warn({ err: error, path }, 'serial port error');
      if (this.stream === stream && stream.isOpen) stream.close();
    });
    stream.on('close', (error: Error | null) => {
      if (this.stream !== stream) return;
      this.stream = undefined;
      clearTimeout(this.silenceTimer);
      this.flushPartial();
      if (this.stopped) return;
      logger.warn({ err: error, path }, 'serial port lost');
      this.markDown(error ?? new Error('closed'));
      this.scheduleReconnect();
    });
    logger.info({ path, protocol }, 'serial port open');
    this.markUp();
    this.watchSilence(stream);
  }

  /** (Re)starts the wait for the port's next bytes, when silence is an alarm (silenceAlarmAfter). */
  private watchSilence(stream: SerialPortStream): void {
    const after = this.options.silenceAlarmAfter ?? 0;
    clearTimeout(this.silenceTimer);
    if (after <= 0) return;
    this.silenceTimer = setTimeout(() => {
      if (this.stream === stream && !this.stopped) this.markDown(new Error(`no bytes for ${after} ms`), 'silent');
    }, after);
    this.silenceTimer.unref();
  }

  private received(stream: SerialPortStream, chunk: Buffer): void {
    const framer = this.framer;
    if (framer === undefined || this.stream !== stream) return;
    // Bytes on the current port: it is not silent (a lost port's down state ends only at its reopen).
    if (this.downState === 'silent') this.markUp();
    this.watchSilence(stream);
    const maxQueued = this.options.maxQueuedFrames ?? DEFAULT_MAX_QUEUED_FRAMES;
    for (const out of framer.push(this.withoutParity(chunk))) {
      if (out.kind === 'discarded') {
        this.discarded(out.reason, out.bytes);
        continue;
      }
      const frame = this.line?.frame(out.bytes) ?? out.bytes;
      if (this.isResendOfUnanswered(frame)) continue;
      else if (this.queued < maxQueued) {
        this.queued += 1;
        this.handleInTurn(stream, frame, () => (this.queued -= 1));
      } else this.overQueue(stream, frame);
    }
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.flushPartial(), FRAME_IDLE_MS);
    this.idleTimer.unref();
  }

  /** The chunk without the parity bits a 7-bit receiver sends an 8-bit port; told once, with the setting to fix it. */
  private withoutParity(chunk: Uint8Array): Uint8Array {
    const line = this.line;
    if (line === undefined) return chunk;
    const known = line.parity;
    const bytes = line.receive(chunk);
    if (known === undefined && line.parity !== undefined) {
      const { path, name } = this.options;
      this.options.logger.warn(
        { path, parity: line.parity },
        `serial input ${name}: the receiver sends 7 data bits with ${line.parity} parity; they are read, and answers sent, that way: set dataBits: 7 and parity: ${line.parity} on this input`,
      );
    }
    return bytes;
  }

  /** Discards (and counts) the part of a frame the framer holds without its terminator. */
  private flushPartial(): void {
    clearTimeout(this.idleTimer);
    for (const out of this.framer?.flush() ?? []) if (out.kind === 'discarded') this.discarded(out.reason, out.bytes);
  }

  /** A frame beyond the queue bound: kept only when it is a duress or hold-up, within the allowance for those. */
  private overQueue(stream: SerialPortStream, frame: Uint8Array): void {
    const { counters, name, path, receiver } = this.options;
    if (!receiver.carriesDuress(frame)) return this.discarded('QUEUE_FULL', frame);
    if (this.duressOverQueue >= MAX_DURESS_FRAMES_OVER_QUEUE) {
      counters.inc('frames_discarded_total', { input: name, reason: 'DURESS_QUEUE_FULL' });
      this.captureDiscard('DURESS_QUEUE_FULL', frame);
      this.warnings.error('DURESS_QUEUE_FULL', path, { bytes: frame.length, path }, 'serial duress frame discarded: the queue and the duress allowance beyond it are full');
      return;
    }
    this.duressOverQueue += 1;
    counters.inc('duress_frames_over_queue_total', { input: name });
    this.warnings.warn('duress-over-queue', path, { path }, 'serial duress frame queued beyond the full frame queue');
    this.handleInTurn(stream, frame, () => (this.duressOverQueue -= 1));
  }

  /**
   * A Sur-Gard receiver has one packet outstanding and sends it again after 4 s without an answer (protocols.md
   * §4.1), and so does a receiver in Ademco 685 mode; it reads the next ACK byte as the answer to whatever it is waiting on, with no sequence number. A copy
   * that arrives while the first is still being stored (a slow disk) must get no answer of its own: its ACK would
   * reach the receiver after the first one, be taken for the next packet's, and that packet would be dropped from
   * the receiver's buffer before it was stored. The first copy's answer, ACK or NAK, answers both.
   */
  private isResendOfUnanswered(frame: Uint8Array): boolean {
    if (!answersEachFrame(this.options.protocol) || !this.unanswered.has(this.unansweredKey(frame))) return false;
    const { counters, name, path } = this.options;
    this.options.onFrame?.(frame, 'serial', path);
    counters.inc('frames_discarded_total', { input: name, reason: 'RESENT_WHILE_UNANSWERED' });
    this.warnings.warn('RESENT_WHILE_UNANSWERED', path, { path }, 'serial packet resent while its first copy is still being stored: answered once');
    return true;
  }

  private unansweredKey(frame: Uint8Array): string {
    return `${this.portGeneration}|${Buffer.from(frame).toString('latin1')}`;
  }

  /** Handles the frame after every frame queued before it; `done` runs once it is answered or has failed. */
  private handleInTurn(stream: SerialPortStream, frame: Uint8Array, done: () => void): void {
    const key = this.unansweredKey(frame);
    this.unanswered.set(key, (this.unanswered.get(key) ?? 0) + 1);
    const answered = (): void => {
      const left = (this.unanswered.get(key) ?? 1) - 1;
      if (left === 0) this.unanswered.delete(key);
      else this.unanswered.set(key, left);
      done();
    };
    this.enqueue(() => this.handle(stream, frame).finally(answered));
  }

  private async handle(stream: SerialPortStream, frame: Uint8Array): Promise<void> {
    const { path, receiver } = this.options;
    this.options.onFrame?.(frame, 'serial', path);
    const outcome = await receiver.handlePacket(frame, path);
    // An answer for a port that has since been lost is dropped: the receiver resends to the new port.
    if (outcome.reply !== null && this.stream === stream && stream.isOpen) stream.write(Buffer.from(this.line?.send(outcome.reply) ?? outcome.reply));
  }

  private markUp(): void {
    clearTimeout(this.alarmTimer);
    const since = this.downSince;
    const state = this.downState;
    this.downSince = null;
    this.downState = 'down';
    if (this.alarmRaised && since !== null) {
      this.alarmRaised = false;
      this.enqueue(() => this.supervisory(this.options.receiver.portRestored(this.options.path, since, state), 'restore'));
    }
  }

  /** A lost port raises its alarm after downAlarmAfter; a silent one at once, its silence having lasted long enough. */
  private markDown(reason: Error, state: 'down' | 'silent' = 'down'): void {
    if (this.downSince !== null) return;
    const since = this.options.clock.now();
    this.downSince = since;
    this.downState = state;
    this.alarmTimer = setTimeout(() => {
      if (this.stopped || this.downSince !== since) return;
      this.alarmRaised = true;
      this.options.logger.error({ path: this.options.path, reason: reason.message, since }, `serial port ${state}`);
      this.enqueue(() => this.supervisory(this.options.receiver.portDown(this.options.path, since, state), state));
    }, state === 'silent' ? 0 : this.options.downAlarmAfter);
  }

  private async supervisory(recording: Promise<{ ok: boolean }>, what: string): Promise<void> {
    const recorded = await recording;
    if (!recorded.ok) this.options.logger.error({ path: this.options.path }, `serial port ${what} event could not be stored`);
  }

  private scheduleReconnect(): void {
    const { initial, max } = this.options.reconnect;
    this.attempts += 1;
    const delay = backoffDelay({ initialMs: initial, maxMs: max, factor: 2, jitter: RECONNECT_JITTER }, this.attempts, Math.random);
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      this.connect().catch((error: unknown) => {
        this.options.logger.error({ err: error, path: this.options.path }, 'serial port reopen failed');
        this.scheduleReconnect();
      });
    }, delay);
  }

  /** Runs after everything queued before it; a failure is logged and never stops the queue. */
  private enqueue(work: () => Promise<void>): void {
    this.chain = this.chain.then(work).catch((error: unknown) => {
      this.options.counters.inc('input_errors_total', { input: this.options.name });
      this.options.logger.error({ err: error, path: this.options.path }, 'serial frame handling failed');
    });
  }

  /**
   * Noise, an oversize frame, a partial frame at close, or a frame beyond the queue bound: every one counted, the
   * log thinned to a line per reason every 10 s (a line streaming junk would otherwise write a log line a frame).
   */
  private discarded(reason: string, bytes: Uint8Array): void {
    const { counters, name, path } = this.options;
    counters.inc('frames_discarded_total', { input: name, reason });
    this.captureDiscard(reason, bytes);
    this.warnings.warn(reason, path, { reason, bytes: bytes.length, path }, 'serial bytes discarded');
  }

  private captureDiscard(reason: string, bytes: Uint8Array): void {
    this.options.onDiscard?.(bytes.subarray(0, MAX_DISCARD_SAMPLE_BYTES), { reason, count: 1, bytes: bytes.length }, 'serial', this.options.path);
  }
}

export interface SerialInputDeps extends InputDeps {
  binding?: SerialBinding;
}

/** A `type: serial` input from its settings: the receiver core and the port adapter around it. */
export function createSerialInput(settings: SerialInputSettings, deps: SerialInputDeps): SerialInput {
  const { clock, recorder, builder, counters } = deps;
  const logger = deps.logger.child({ component: 'input', kind: 'serial', name: settings.name });
  const receiver = new SerialReceiver({
    input: settings.name,
    protocol: settings.protocol,
    account: settings.account ?? null,
    maxNaks: settings.maxNaks,
    retransmitWindow: settings.retransmitWindow,
    listenInCharacter: settings.listenInCharacter,
    clock,
    recorder,
    builder,
    counters,
    logger,
  });
  return new SerialInput({
    name: settings.name,
    path: settings.path,
    baudRate: settings.baudRate,
    dataBits: settings.dataBits,
    parity: settings.parity,
    stopBits: settings.stopBits,
    protocol: settings.protocol,
    maxFrameBytes: settings.maxFrameBytes,
    reconnect: settings.reconnect ?? DEFAULT_RECONNECT,
    downAlarmAfter: settings.downAlarmAfter,
    silenceAlarmAfter: settings.silenceAlarmAfter,
    receiver,
    clock,
    logger,
    counters,
    ...(deps.binding === undefined ? {} : { binding: deps.binding }),
    ...(deps.onFrame === undefined ? {} : { onFrame: deps.onFrame }),
    ...(deps.onDiscard === undefined ? {} : { onDiscard: deps.onDiscard }),
  });
}
