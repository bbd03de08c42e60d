/**
 * Reads V8 CPU profiles (`node --cpu-prof`) of the gateway and says where its time went, by stage of a frame's
 * path. Each sample goes to the stage of the innermost function on its stack that a rule below names, so time
 * spent in a library or in native code counts toward the gateway step that called it (an insert's native
 * SQLite work is "outbox insert", a JSON.stringify inside the event serialiser is "event JSON").
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

export type Thread = 'main' | 'tcp worker';

/** A stage's time in one thread's profile, in ms. */
export interface StageTime {
  thread: Thread;
  stage: string;
  ms: number;
}

const IDLE = 'idle';

/** First match wins for a frame; the innermost frame with a match names the sample's stage. */
const STAGE_RULES: ReadonlyArray<{ stage: string; matches: (frame: CallFrame) => boolean }> = [
  { stage: 'outbox commit (transaction, WAL sync)', matches: (f) => f.functionName === 'sqliteTransaction' || /^(flush|syncWal|fdatasync)$/.test(f.functionName) },
  { stage: 'outbox insert', matches: (f) => /^(writeAppends|writeMarks|run)$/.test(f.functionName) && /outbox|better-sqlite3/.test(f.url) },
  { stage: 'delivery read-back (outbox → event)', matches: (f) => /^(readEvent|parsedEvent)$/.test(f.functionName) },
  { stage: 'event JSON', matches: (f) => /^(eventJson|serializeEvents)$/.test(f.functionName) },
  { stage: 'outbox queue, dedupe, index', matches: (f) => /\/src\/outbox\//.test(f.url) },
  { stage: 'answer (ACK encode, hand back)', matches: (f) => /codecs\/dc09\/responses/.test(f.url) || /^(queueAnswer|sendAnswers)$/.test(f.functionName) },
  { stage: 'framing', matches: (f) => /codecs\/dc09\/framer|codecs\/framing/.test(f.url) },
  { stage: 'decode', matches: (f) => /\/src\/codecs\/|decode-frame/.test(f.url) },
  { stage: 'classify', matches: (f) => /\/src\/classify\/|\/src\/catalog\//.test(f.url) },
  { stage: 'event build', matches: (f) => /event-builder|\/src\/model\//.test(f.url) },
  { stage: 'recorder, assurance, console', matches: (f) => /pipeline\/recorder|\/src\/assurance\/|api\/console|assurance-wiring|\/src\/bus/.test(f.url) },
  { stage: 'receiver (trust, retransmit key, limits)', matches: (f) => /pipeline\/dc09-receiver|unverified-frames/.test(f.url) },
  { stage: 'delivery (dispatcher, MQTT output)', matches: (f) => /pipeline\/dispatcher|adapters\/outputs\/|node_modules\/(mqtt|mqtt-packet|bl|readable-stream|number-allocator)\//.test(f.url) },
  { stage: 'worker hand-off', matches: (f) => /dc09-tcp-protocol|adapters\/inputs\/dc09\.js/.test(f.url) || f.functionName === 'postMessage' || /messageport|worker/.test(f.url) },
  { stage: 'sockets', matches: (f) => /^node:(net|stream|_stream|internal\/stream|internal\/streams|internal\/net)/.test(f.url) || /^(writeBuffer|writev|writeUtf8String|close)$/.test(f.functionName) || /dc09-tcp-worker/.test(f.url) },
  { stage: 'metrics, logs', matches: (f) => /observability|system\/metrics|pino|sonic-boom/.test(f.url) },
  { stage: 'start-up (module loading)', matches: (f) => /^node:internal\/modules/.test(f.url) },
];

function stageOfSample(profile: CpuProfile): (id: number) => string {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const cache = new Map<number, string>();
  return (id) => {
    const cached = cache.get(id);
    if (cached !== undefined) return cached;
    const leaf = byId.get(id)!.callFrame.functionName;
    let stage: string | undefined =
      leaf === '(idle)' ? IDLE : leaf === '(garbage collector)' ? 'garbage collection' : leaf === '(program)' ? 'V8 and libuv (program)' : undefined;
    for (let node: number | undefined = id; stage === undefined && node !== undefined; node = parent.get(node)) {
      const frame = byId.get(node)!.callFrame;
      stage = STAGE_RULES.find((rule) => rule.matches(frame))?.stage;
    }
    stage ??= 'other';
    cache.set(id, stage);
    return stage;
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
 * thread 0 is the main thread; the DC-09 input's TCP worker is the only other thread.
 */
export function readProfiles(dir: string): StageTime[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.cpuprofile'))
    .flatMap((name) => {
      const thread: Thread = name.split('.')[4] === '0' ? 'main' : 'tcp worker';
      return stageTimes(JSON.parse(readFileSync(path.join(dir, name), 'utf8')) as CpuProfile, thread);
    });
}

/** Busy time (idle left out) per stage and thread, in µs per frame, largest first. */
export function perFrame(times: readonly StageTime[], frames: number): Array<StageTime & { usPerFrame: number }> {
  return times
    .filter((t) => t.stage !== IDLE)
    .map((t) => ({ ...t, usPerFrame: (t.ms * 1000) / frames }))
    .sort((a, b) => (a.thread === b.thread ? b.usPerFrame - a.usPerFrame : a.thread === 'main' ? -1 : 1));
}
