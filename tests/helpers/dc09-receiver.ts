import { randomBytes } from 'node:crypto';
import { Dc09Receiver, type Dc09ReceiverOptions } from '../../src/pipeline/dc09-receiver.js';
import { Recorder, type RecorderDeps } from '../../src/pipeline/recorder.js';
import { MemoryOutbox } from '../../src/outbox/memory-outbox.js';
import { Counters } from '../../src/observability/counters.js';
import { createIdSource } from '../../src/model/ids.js';
import { silentLogger, systemClock } from '../../src/ports.js';

/** A DC-09 receiver over a memory outbox (output `probe` registered), system clock, no sites; its recorder tells `bus`. */
export function testDc09Receiver(
  options: Pick<Dc09ReceiverOptions, 'input' | 'accounts'> & Partial<Pick<Dc09ReceiverOptions, 'osborneHoffman' | 'strict' | 'onTraffic'>>,
  recorder: Pick<RecorderDeps, 'bus'> = {},
): { receiver: Dc09Receiver; outbox: MemoryOutbox; counters: Counters } {
  const outbox = new MemoryOutbox();
  outbox.registerOutputs(['probe']);
  const counters = new Counters();
  const receiver = new Dc09Receiver({
    window: { past: 40_000, future: 20_000 },
    strict: false,
    ...options,
    clock: systemClock,
    random: randomBytes,
    recorder: new Recorder({ outbox, counters, logger: silentLogger, backlogLimit: 1000, ...recorder }),
    builder: { ids: createIdSource(systemClock), sites: () => [] },
    counters,
    logger: silentLogger,
  });
  return { receiver, outbox, counters };
}
