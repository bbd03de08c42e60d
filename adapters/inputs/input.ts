import type { EventBus } from '../../src/bus.js';
import type { Transport } from '../../src/model/event.js';
import type { DiscardNote } from '../../src/replay/capture.js';
import type { FrameProtocol } from '../../src/pipeline/decode-frame.js';
import type { RandomBytes } from '../../src/model/ids.js';
import type { Counters } from '../../src/observability/counters.js';
import type { EventBuilderDeps } from '../../src/pipeline/event-builder.js';
import type { Recorder } from '../../src/pipeline/recorder.js';
import type { AdapterHealth, Clock, Logger } from '../../src/ports.js';
import type { Settings, SettingsIssue } from '../../src/settings/settings.js';
import type { GatewayMetrics } from '../system/metrics.js';

/** What an input does with one raw frame (decode, store, decide the answer); `replay` feeds captures to it. */
export type FrameHandler = (frame: Uint8Array, transport: Transport, peer?: string) => Promise<unknown>;

/**
 * One configured input: its port or listener around its own receiver in src/pipeline/. Created without opening
 * anything; `start` opens the port or listens. `handleFrame` runs a frame through the receiver alone, with no port:
 * `replay` drives it, so a replayed frame meets the same rules (allowlist, retransmits, NAKs, answers) as live.
 */
export interface Input {
  readonly name: string;
  /** The protocol its frames are in, by which `replay` routes plain-log lines; undefined: none detection knows. */
  readonly protocol: FrameProtocol | undefined;
  start(): Promise<void>;
  /** Stops taking frames, lets those in flight finish (their answers are written), then closes. */
  stop(): Promise<void>;
  health(): AdapterHealth;
  handleFrame: FrameHandler;
}

/** `run --capture`: every raw frame before it is decoded; `at` when the input knows its arrival better than now. */
export type CaptureFrame = (frame: Uint8Array, transport: Transport, peer?: string, at?: number) => void;

/**
 * `run --capture`: bytes an input discarded before decoding them (line noise, an oversized frame, datagrams past its
 * limits), so a replay shows what the panel sent; `sample` is the first run's bytes, cut at MAX_DISCARD_SAMPLE_BYTES.
 */
export type CaptureDiscard = (sample: Uint8Array, note: DiscardNote, transport: Transport, peer?: string) => void;

/** What every input's receiver needs from the gateway. */
export interface InputDeps {
  clock: Clock;
  recorder: Recorder;
  builder: EventBuilderDeps;
  counters: Counters;
  logger: Logger;
  onFrame?: CaptureFrame;
  onDiscard?: CaptureDiscard;
}

/** What the gateway gives every input factory; an input takes the part it uses. */
export interface InputContext extends InputDeps {
  /** The input's position in `inputs`, for the paths of its settings issues. */
  index: number;
  /** Answer pads (DC-09); seeded by `replay` so a replay is reproducible. */
  random: RandomBytes;
  /** False for `replay`: the answers go nowhere, so an input need not build them. Unset: true. */
  answersSent?: boolean;
  /** Traffic seen goes on the bus (link supervision). */
  bus: Pick<EventBus, 'emitTrafficSeen'>;
  /** Answers and how long they took to decide. */
  metrics: Pick<GatewayMetrics, 'observeAnswer'>;
  /** Top-level settings an input falls back to. */
  defaults: Pick<Settings, 'timestampWindow'>;
}

/** A factory's result: the input, or what is wrong with its settings (an unreadable key file, …). */
export type InputCreated = { ok: true; input: Input } | { ok: false; issues: SettingsIssue[] };
