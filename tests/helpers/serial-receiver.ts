import { SerialReceiver, type SerialProtocol } from '../../src/pipeline/serial-receiver.js';
import { Recorder } from '../../src/pipeline/recorder.js';
import { Counters } from '../../src/observability/counters.js';
import { createIdSource } from '../../src/model/ids.js';
import type { Outbox } from '../../src/outbox/outbox.js';
import { silentLogger, systemClock, type Clock } from '../../src/ports.js';

/** The core of a serial input as the tests use it: Sur-Gard, two NAKs before acceptance, 30 s retransmit window. */
export function serialReceiver(
  outbox: Outbox,
  options: { clock?: Clock; counters?: Counters; protocol?: SerialProtocol; account?: string; maxNaks?: number } = {},
): SerialReceiver {
  const counters = options.counters ?? new Counters();
  return new SerialReceiver({
    input: 'receiver',
    protocol: options.protocol ?? 'surgard',
    account: options.account ?? null,
    maxNaks: options.maxNaks ?? 2,
    retransmitWindow: 30_000,
    clock: options.clock ?? systemClock,
    recorder: new Recorder({ outbox, counters, logger: silentLogger, backlogLimit: 1000 }),
    builder: { ids: createIdSource(systemClock), sites: () => [] },
    counters,
    logger: silentLogger,
  });
}
