import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startBenchGateway } from './bench-gateway.js';
import { perFrame, readProfiles, startupMs, type StageTime } from './cpu-profile.js';
import { garbagePerFrame } from './gc-trace.js';
import type { BenchFigure } from './figures.js';
import { ackThroughput } from './receiver.bench.js';

export interface ProfileRow {
  thread: StageTime['thread'];
  stage: string;
  usPerFrame: number;
}

export interface ProfileResult {
  figures: BenchFigure[];
  /** µs per ACKed frame by thread and stage, idle left out. */
  breakdown: ProfileRow[];
  /** Where the .cpuprofile files were kept (open them in Chrome DevTools or speedscope). */
  profileDir: string;
}

/**
 * The ACK path under the throughput load (1,000 connections, each sending its next frame when the last is
 * answered), in a gateway child run with `--cpu-prof`: each thread's profile is split into stages and divided by
 * the frames ACKed while the gateway ran. Profiling slows the gateway a little; the split is what counts here,
 * the throughput figures come from the unprofiled run. The same child traces its scavenges (`--trace-gc-nvp`, on
 * stdout): what a frame leaves to the collector, summed over its threads from the load's start to the child's exit,
 * as the CPU profile counts (the delivery of what the load left behind included).
 */
export async function benchProfile(brokerUrl?: string): Promise<ProfileResult> {
  const profileDir = await mkdtemp(path.join(tmpdir(), 'panelbridge-profile-'));
  const gateway = await startBenchGateway({ ...(brokerUrl === undefined ? {} : { brokerUrl }), nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, '--trace-gc-nvp'] });
  const startupLines = gateway.process.stdout.length;
  let acked: number;
  try {
    ({ acked } = await ackThroughput(gateway.port, gateway.pid));
  } finally {
    // The profiles are written as the process exits.
    await gateway.stop();
  }
  const times = readProfiles(profileDir);
  const breakdown = perFrame(times, acked).map(({ thread, stage, usPerFrame }) => ({ thread, stage, usPerFrame }));
  const total = (thread: ProfileRow['thread']): number => breakdown.filter((row) => row.thread === thread).reduce((sum, row) => sum + row.usPerFrame, 0);
  const garbage = garbagePerFrame(gateway.process.stdout.slice(startupLines), acked);
  return {
    profileDir,
    breakdown,
    figures: [
      { name: `profile: main thread busy per ACKed frame (${gateway.brokerLabel})`, value: total('main'), unit: 'µs' },
      { name: `profile: socket worker busy per ACKed frame (${gateway.brokerLabel})`, value: total('socket worker'), unit: 'µs' },
      { name: 'profile: frames ACKed in the profiled run', value: acked, unit: 'frames' },
      { name: 'profile: heap allocated per ACKed frame (both threads)', value: garbage.allocatedBytes, unit: 'bytes' },
      { name: '… of it still alive at the next scavenge (copied once)', value: garbage.survivedBytes, unit: 'bytes' },
      { name: '… promoted to the old generation (copied twice, marked there later)', value: garbage.promotedBytes, unit: 'bytes' },
      { name: 'profile: scavenges per ACKed frame (pauses and helper threads)', value: garbage.scavengeUs, unit: 'µs' },
      { name: 'profile: start-up (module loading, both threads; not in the per-frame figures)', value: startupMs(times), unit: 'ms' },
    ],
  };
}
