/**
 * Reads V8 CPU profiles (`node --cpu-prof`) of the gateway and says where its time went, by stage of a frame's
 * path. A sample goes to the first rule below that names any function on its stack, so the rules run from the
 * most specific step to the most general: an insert's native SQLite work is "outbox insert" though it runs
 * inside the commit's transaction, an ACK's frame encoding is "answer" though it uses the codec, and whatever
 * the main thread does for a frame under the listener's batch handler and no more specific step is "hand-off".
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  /** µs since the previous sample, one per sample. */
  timeDeltas: number[];
}

export type Thread = 'main' | 'socket worker';

/** A stage's time in one thread's profile, in ms. */
export interface StageTime {
  thread: Thread;
  stage: string;
  ms: number;
}

const IDLE = 'idle';

const STARTUP = 'start-up (module loading)';

/** In order of precedence: a sample goes to the first rule matching any frame of its stack. */
const STAGE_RULES: ReadonlyArray<{ stage: string; matches: (frame: CallFrame) => boolean }> = [
  { stage: STARTUP, matches: (f) => /^node:internal\/modules/.test(f.url) },
  { stage: 'answer (ACK encode, hand back)', matches: (f) => /codecs\/dc09\/responses/.test(f.url) || /^(queueAnswer|sendAnswers)$/.test(f.functionName) },
  { stage: 'event JSON', matches: (f) => /^(eventJson|serializeEvents)$/.test(f.functionName) },
  { stage: 'outbox insert', matches: (f) => /^(writeAppends|insertEntries|writeMarks)$/.test(f.functionName) },
  { stage: 'outbox commit (transaction, fsync)', matches: (f) => f.functionName === 'sqliteTransaction' || (f.functionName === 'flush' && /\/src\/outbox\//.test(f.url)) },
  { stage: 'delivery read-back (outbox → event)', matches: (f) => /^(readEvent|parsedEvent)$/.test(f.functionName) },
  { stage: 'outbox queue, dedupe, index', matches: (f) => /\/src\/outbox\//.test(f.url) },
  { stage: 'metrics, logs', matches: (f) => /observability|system\/metrics|pino|sonic-boom/.test(f.url) },
  { stage: 'classify', matches: (f) => /\/src\/classify\/|\/src\/catalog\//.test(f.url) },
  { stage: 'event build', matches: (f) => /event-builder|\/src\/model\//.test(f.url) },
  { stage: 'decode', matches: (f) => (/\/src\/codecs\/|decode-frame/.test(f.url) && !/framer|framing/.test(f.url)) },
  { stage: 'recorder, assurance, console', matches: (f) => /pipeline\/recorder|\/src\/assurance\/|api\/console|assurance-wiring|\/src\/bus/.test(f.url) },
  { stage: 'receiver (trust, retransmit key, limits)', matches: (f) => /pipeline\/dc09-receiver|unverified-frames/.test(f.url) },
  { stage: 'delivery (dispatcher, MQTT output)', matches: (f) => /pipeline\/dispatcher|adapters\/outputs\/|node_modules\/(mqtt|mqtt-packet|bl|readable-stream|number-allocator)\//.test(f.url) },
  { stage: 'replay file (read, capture lines)', matches: (f) => /\/src\/replay\/|adapters\/inputs\/replay/.test(f.url) },
  { stage: 'framing', matches: (f) => /codecs\/dc09\/framer|codecs\/framing/.test(f.url) },
  { stage: 'sockets', matches: (f) => /^node:(net|stream|_stream|internal\/stream|internal\/streams|internal\/net)/.test(f.url) || /^(writeBuffer|writev|writeUtf8String)$/.test(f.functionName) },
  { stage: 'worker hand-off', matches: (f) => /dc09-socket-protocol|adapters\/inputs\/dc09\.js/.test(f.url) || f.functionName === 'postMessage' || /messageport|internal\/worker/.test(f.url) },
];

function stageOfSample(profile: CpuProfile): (id: number) => string {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  /** Index of the first rule matching any frame from the root down to this node (RULES.length: none). */
  const best = new Map<number, number>();
  const bestOf = (id: number): number => {
    const known = best.get(id);
    if (known !== undefined) return known;
    const up = parent.get(id);
    const own = STAGE_RULES.findIndex((rule) => rule.matches(byId.get(id)!.callFrame));
    const index = Math.min(up === undefined ? STAGE_RULES.length : bestOf(up), own < 0 ? STAGE_RULES.length : own);
    best.set(id, index);
    return index;
  };
  return (id) => {
    const leaf = byId.get(id)!.callFrame.functionName;
    if (leaf === '(idle)') return IDLE;
    if (leaf === '(garbage collector)') return 'garbage collection';
    if (leaf === '(program)') return 'V8 and libuv (program)';
    return STAGE_RULES[bestOf(id)]?.stage ?? 'other';
  };
}

/** Time per stage in one profile. */
export function stageTimes(profile: CpuProfile, thread: Thread): StageTime[] {
  const stageOf = stageOfSample(profile);
  const totals = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const stage = stageOf(id);
    totals.set(stage, (totals.get(stage) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  });
  return [...totals].map(([stage, ms]) => ({ thread, stage, ms }));
}

/**
 * Every profile `--cpu-prof-dir` holds for one process. Node names them CPU.<date>.<time>.<pid>.<thread>.<n>:
 * thread 0 is the main thread; the DC-09 input's socket worker is the only other thread.
 */
export function readProfiles(dir: string): StageTime[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.cpuprofile'))
    .flatMap((name) => {
      const thread: Thread = name.split('.')[4] === '0' ? 'main' : 'socket worker';
      return stageTimes(JSON.parse(readFileSync(path.join(dir, name), 'utf8')) as CpuProfile, thread);
    });
}

/** Start-up time (module loading), once per process rather than per frame. */
export function startupMs(times: readonly StageTime[]): number {
  return times.filter((t) => t.stage === STARTUP).reduce((sum, t) => sum + t.ms, 0);
}

/** Busy time per stage and thread, in µs per frame, largest first (idle and start-up left out). */
export function perFrame(times: readonly StageTime[], frames: number): Array<StageTime & { usPerFrame: number }> {
  return times
    .filter((t) => t.stage !== IDLE && t.stage !== STARTUP)
    .map((t) => ({ ...t, usPerFrame: (t.ms * 1000) / frames }))
    .sort((a, b) => (a.thread === b.thread ? b.usPerFrame - a.usPerFrame : a.thread === 'main' ? -1 : 1));
}
