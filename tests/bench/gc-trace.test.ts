import { describe, expect, it } from 'vitest';
import { garbagePerFrame, parseScavenge } from './gc-trace.js';

/** `--trace-gc-nvp` lines as Node 20 and Node 24 print them, with most of their fields left out. */
const NODE20_MAIN =
  '[8777:0x42438e90]     4410 ms: pause=6.6 mutator=51.9 gc=s reduce_memory=0 scavenge=6.59 scavenge.parallel=6.02 background.scavenge.parallel=14.13 total_size_before=92539600 allocated=10954936 promoted=4860544 new_space_survived=3291312 nodes_promoted=0 promotion_ratio=32.0%';
const NODE20_WORKER =
  '[8777:0x426c3e20]     4420 ms: pause=1.4 mutator=20.0 gc=s reduce_memory=0 background.scavenge.parallel=0.6 allocated=2000000 promoted=100000 new_space_survived=300000 nodes_promoted=0';
const NODE24_MAIN =
  '[9577:0x29e40000:0]       27 ms: pause=2.9 mutator=23.0 gc=s reduce_memory=0 background.scavenge.parallel=0.1 allocated=5045064 promoted=99952 new_space_survived=34000 nodes_promoted=2';
const MARK_COMPACT =
  '[8777:0x42438e90]     5111 ms: pause=19.2 mutator=700.0 gc=mc reduce_memory=0 allocated=50000000 promoted=0 new_space_survived=0';

describe('scavenges from --trace-gc-nvp', () => {
  it('reads a scavenge of either Node line and nothing else', () => {
    expect(parseScavenge(NODE20_MAIN)).toEqual({
      pauseMs: 6.6,
      backgroundMs: 14.13,
      allocated: 10954936,
      survived: 3291312,
      promoted: 4860544,
    });
    expect(parseScavenge(NODE24_MAIN)).toMatchObject({ pauseMs: 2.9, promoted: 99952 });
    expect(parseScavenge(MARK_COMPACT)).toBeUndefined();
    expect(parseScavenge('{"level":30,"msg":"gateway ready","pause":1,"gc=s ":"x"}')).toBeUndefined();
  });

  it('sums the scavenges of every thread per frame, other lines left out', () => {
    const garbage = garbagePerFrame([NODE20_WORKER, NODE20_MAIN, MARK_COMPACT, NODE20_MAIN, 'gateway ready'], 1000);
    expect(garbage.allocatedBytes).toBeCloseTo((2000000 + 2 * 10954936) / 1000);
    expect(garbage.survivedBytes).toBeCloseTo((300000 + 2 * 3291312) / 1000);
    expect(garbage.promotedBytes).toBeCloseTo((100000 + 2 * 4860544) / 1000);
    expect(garbage.scavengeUs).toBeCloseTo((1.4 + 0.6 + 2 * (6.6 + 14.13)) * 1000 / 1000);
  });
});
