/**
 * Reads the young-generation collections (scavenges) a gateway child prints with `node --trace-gc-nvp` and says
 * what each ACKed frame leaves to the collector: bytes allocated, bytes still alive at the next scavenge (copied
 * once), bytes promoted to the old generation (copied again, and later marked and compacted there), and the
 * scavenges' pause on the thread that allocated. Unlike CPU time on a shared two-vCPU machine these change little
 * from run to run, so a change to what a frame allocates or keeps can be measured directly.
 */

/** One scavenge as V8 reports it; sizes in bytes, times in ms. */
export interface Scavenge {
  /** The isolate's address: one per thread (the main thread, the socket worker). */
  isolate: string;
  /** The allocating thread's pause. */
  pauseMs: number;
  /** The helper threads' share of the same scavenge. */
  backgroundMs: number;
  /** Allocated in the young generation since the scavenge before. */
  allocated: number;
  /** Alive, copied within the young generation. */
  survived: number;
  /** Alive for the second time, copied to the old generation. */
  promoted: number;
}

const PREFIX = /^\[\d+:(0x[0-9a-f]+)[\]:]/;

function field(line: string, name: string): number | undefined {
  const match = new RegExp(`(?:^|\\s)${name.replaceAll('.', '\\.')}=([\\d.]+)`).exec(line);
  return match === null ? undefined : Number(match[1]);
}

/** The scavenge a `--trace-gc-nvp` line reports, or undefined for any other line (other collections included). */
export function parseScavenge(line: string): Scavenge | undefined {
  if (!/\sgc=s\s/.test(line)) return undefined;
  const isolate = PREFIX.exec(line)?.[1];
  const pauseMs = field(line, 'pause');
  const allocated = field(line, 'allocated');
  const survived = field(line, 'new_space_survived');
  const promoted = field(line, 'promoted');
  if (isolate === undefined || pauseMs === undefined || allocated === undefined || survived === undefined || promoted === undefined) return undefined;
  return { isolate, pauseMs, backgroundMs: field(line, 'background.scavenge.parallel') ?? 0, allocated, survived, promoted };
}

/** Per ACKed frame, one thread's scavenges. */
export interface FrameGarbage {
  isolate: string;
  scavenges: number;
  allocatedBytes: number;
  survivedBytes: number;
  promotedBytes: number;
  /** The allocating thread's scavenge pauses plus the helper threads' work, µs. */
  scavengeUs: number;
}

/** Each thread's scavenges among `lines`, divided by `frames`; the thread allocating most first. */
export function garbagePerFrame(lines: readonly string[], frames: number): FrameGarbage[] {
  const byIsolate = new Map<string, FrameGarbage>();
  for (const line of lines) {
    const scavenge = parseScavenge(line);
    if (scavenge === undefined) continue;
    let sum = byIsolate.get(scavenge.isolate);
    if (sum === undefined) {
      sum = { isolate: scavenge.isolate, scavenges: 0, allocatedBytes: 0, survivedBytes: 0, promotedBytes: 0, scavengeUs: 0 };
      byIsolate.set(scavenge.isolate, sum);
    }
    sum.scavenges += 1;
    sum.allocatedBytes += scavenge.allocated;
    sum.survivedBytes += scavenge.survived;
    sum.promotedBytes += scavenge.promoted;
    sum.scavengeUs += (scavenge.pauseMs + scavenge.backgroundMs) * 1000;
  }
  return [...byIsolate.values()]
    .map((sum) => ({
      ...sum,
      allocatedBytes: sum.allocatedBytes / frames,
      survivedBytes: sum.survivedBytes / frames,
      promotedBytes: sum.promotedBytes / frames,
      scavengeUs: sum.scavengeUs / frames,
    }))
    .sort((a, b) => b.allocatedBytes - a.allocatedBytes);
}
