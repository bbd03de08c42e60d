import { AccessReceiver } from '../../src/pipeline/access-receiver.js';
import type { AccessMapping } from '../../src/codecs/access-xml.js';
import { Recorder } from '../../src/pipeline/recorder.js';
import { MemoryOutbox } from '../../src/outbox/memory-outbox.js';
import { Counters } from '../../src/observability/counters.js';
import { createIdSource } from '../../src/model/ids.js';
import type { NormalizedEvent } from '../../src/model/event.js';
import { silentLogger, systemClock, type Logger } from '../../src/ports.js';

/**
 * The core of an access-control input as the tests use it: input `doors`, no secret, no sites, storing into a memory
 * outbox read through one output (`stored`).
 */
export function accessReceiver(options: { mappings?: AccessMapping[]; maxBytes?: number; logger?: Logger } = {}): {
  receiver: AccessReceiver;
  outbox: MemoryOutbox;
  counters: Counters;
  stored: () => NormalizedEvent[];
} {
  const outbox = new MemoryOutbox();
  outbox.registerOutputs(['probe']);
  const counters = new Counters();
  const receiver = new AccessReceiver({
    input: 'doors',
    maxBytes: options.maxBytes ?? 65_536,
    mappings: options.mappings ?? [],
    defaults: {},
    secret: null,
    clock: systemClock,
    recorder: new Recorder({ outbox, counters, logger: silentLogger, backlogLimit: 1000 }),
    builder: { ids: createIdSource(systemClock), sites: () => [] },
    counters,
    logger: options.logger ?? silentLogger,
  });
  return { receiver, outbox, counters, stored: () => outbox.pending('probe', 10_000).map((entry) => entry.event) };
}
