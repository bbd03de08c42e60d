/**
 * Reads the young-generation collections (scavenges) a gateway child prints with `node --trace-gc-nvp` and says
 * what each ACKed frame leaves to the collector: bytes allocated, bytes still alive at the next scavenge (copied
 * once), bytes promoted to the old generation (copied again, and later marked and compacted there), and the
 * scavenges' time (the allocating thread's pause and the helper threads' work). They depend less on the VM's speed
 * than CPU time does, though they grow with how far delivery lags (events read back are parsed again).
 */

/** One scavenge as V8 reports it; sizes in bytes, times in ms. */
export interface Scavenge {
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

function field(line: string, name: string): number | undefined {
  const match = new RegExp(`(?:^|\\s)${name.replaceAll('.', '\\.')}=([\\d.]+)`).exec(line);
  return match === null ? undefined : Number(match[1]);
}

/** The scavenge a `--trace-gc-nvp` line reports, or undefined for any other line (other collections included). */
export function parseScavenge(line: string): Scavenge | undefined {
  if (!/^\[\d+:0x[0-9a-f]+[\]:]/.test(line) || !/\sgc=s\s/.test(line)) return undefined;
  const pauseMs = field(line, 'pause');
  const allocated = field(line, 'allocated');
  const survived = field(line, 'new_space_survived');
  const promoted = field(line, 'promoted');
  if (pauseMs === undefined || allocated === undefined || survived === undefined || promoted === undefined) return undefined;
  return { pauseMs, backgroundMs: field(line, 'background.scavenge.parallel') ?? 0, allocated, survived, promoted };
}

/** Per ACKed frame, the scavenges of every thread (each isolate prints its own). */
export interface FrameGarbage {
  allocatedBytes: number;
  survivedBytes: number;
  promotedBytes: number;
  /** The allocating threads' scavenge pauses plus the helper threads' work, µs. */
  scavengeUs: number;
}

/** The scavenges among `lines`, divided by `frames`. */
export function garbagePerFrame(lines: readonly string[], frames: number): FrameGarbage {
  const sum: FrameGarbage = { allocatedBytes: 0, survivedBytes: 0, promotedBytes: 0, scavengeUs: 0 };
  for (const line of lines) {
    const scavenge = parseScavenge(line);
    if (scavenge === undefined) continue;
    sum.allocatedBytes += scavenge.allocated;
    sum.survivedBytes += scavenge.survived;
    sum.promotedBytes += scavenge.promoted;
    sum.scavengeUs += (scavenge.pauseMs + scavenge.backgroundMs) * 1000;
  }
  return {
    allocatedBytes: sum.allocatedBytes / frames,
    survivedBytes: sum.survivedBytes / frames,
    promotedBytes: sum.promotedBytes / frames,
    scavengeUs: sum.scavengeUs / frames,
  };
}
