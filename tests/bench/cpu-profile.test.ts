import { describe, expect, it } from 'vitest';
import { perFrame, stageTimes, startupMs } from './cpu-profile.js';

/** A profile of one stack per sample: each stack is a list of [function, url] from the root down. */
function profileOf(stacks: ReadonlyArray<{ frames: ReadonlyArray<readonly [string, string]>; us: number }>) {
  const nodes: Array<{ id: number; callFrame: { functionName: string; url: string }; children: number[] }> = [];
  const samples: number[] = [];
  const timeDeltas: number[] = [];
  for (const { frames, us } of stacks) {
    let parent: (typeof nodes)[number] | undefined;
    for (const [functionName, url] of frames) {
      const node = { id: nodes.length + 1, callFrame: { functionName, url }, children: [] };
      nodes.push(node);
      parent?.children.push(node.id);
      parent = node;
    }
    samples.push(parent!.id);
    timeDeltas.push(us);
  }
  return { nodes, samples, timeDeltas };
}

const LISTENER: readonly [string, string] = ['received', 'file:///app/dist/adapters/inputs/dc09.js'];
const RECEIVER: readonly [string, string] = ['decide', 'file:///app/dist/src/pipeline/dc09-receiver.js'];

describe('CPU profile stages', () => {
  const profile = profileOf([
    // The insert's native work runs inside the commit's transaction: it is the insert.
    { frames: [LISTENER, ['flush', 'file:///app/dist/src/outbox/sqlite-outbox.js'], ['sqliteTransaction', 'file:///app/node_modules/better-sqlite3/lib/methods/transaction.js'], ['insertEntries', 'file:///app/dist/src/outbox/sqlite-outbox.js'], ['run', '']], us: 4_000 },
    // The transaction itself (COMMIT, fsync) is the commit.
    { frames: [LISTENER, ['flush', 'file:///app/dist/src/outbox/sqlite-outbox.js'], ['sqliteTransaction', 'file:///app/node_modules/better-sqlite3/lib/methods/transaction.js']], us: 3_000 },
    // An ACK's frame encoding uses the codec but is the answer.
    { frames: [LISTENER, RECEIVER, ['encodeAck', 'file:///app/dist/src/codecs/dc09/responses.js'], ['encodeDc09Frame', 'file:///app/dist/src/codecs/dc09/frame.js']], us: 2_000 },
    // Decoding under the receiver is decode, not the receiver or the hand-off.
    { frames: [LISTENER, RECEIVER, ['decodeDc09Frame', 'file:///app/dist/src/codecs/dc09/frame.js']], us: 1_000 },
    { frames: [LISTENER, ['forEachEntry', 'file:///app/dist/adapters/inputs/dc09-socket-protocol.js']], us: 500 },
    { frames: [['(idle)', '']], us: 9_000 },
    { frames: [['(garbage collector)', '']], us: 1_500 },
    { frames: [['compileSourceTextModule', 'node:internal/modules/esm/utils']], us: 7_000 },
  ]);
  const times = stageTimes(profile, 'main');
  const ms = (stage: string): number => times.find((t) => t.stage === stage)?.ms ?? 0;

  it('gives each sample to the most specific step anywhere on its stack', () => {
    expect(ms('outbox insert')).toBe(4);
    expect(ms('outbox commit (transaction, fsync)')).toBe(3);
    expect(ms('answer (ACK encode, hand back)')).toBe(2);
    expect(ms('decode')).toBe(1);
    expect(ms('worker hand-off')).toBe(0.5);
    expect(ms('garbage collection')).toBe(1.5);
  });

  it('leaves idle time and start-up out of the per-frame figures', () => {
    expect(startupMs(times)).toBe(7);
    const rows = perFrame(times, 1_000);
    expect(rows.map((r) => r.stage)).not.toContain('idle');
    expect(rows.map((r) => r.stage)).not.toContain('start-up (module loading)');
    expect(rows.reduce((sum, r) => sum + r.usPerFrame, 0)).toBeCloseTo(12);
    expect(rows[0]).toMatchObject({ stage: 'outbox insert', usPerFrame: 4 });
  });
});
