import { SerialReceiver, type SerialProtocol } from '../../src/pipeline/serial-receiver.js';
import { Recorder } from '../../src/pipeline/recorder.js';
import { Counters } from '../../src/observability/counters.js';
import { createIdSource } from '../../src/model/ids.js';
import type { Outbox } from '../../src/outbox/outbox.js';
import { silentLogger, systemClock, type Clock } from '../../src/ports.js';
import { parseSettings, type SerialInputSettings } from '../../src/settings/settings.js';
import { createSerialInput, type SerialBinding, type SerialInput } from '../../adapters/inputs/serial.js';

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

/**
 * A serial input as the gateway builds it from its configuration: `config` is a whole YAML file whose first input is
 * the serial one. It stores into `outbox` and opens its port through `binding`.
 */
export function serialInputFromConfig(config: string, outbox: Outbox, binding: SerialBinding): { input: SerialInput; settings: SerialInputSettings } {
  const parsed = parseSettings(config);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  const settings = parsed.settings.inputs[0];
  if (settings?.type !== 'serial') throw new Error('expected a serial input');
  const counters = new Counters();
  const input = createSerialInput(settings, {
    clock: systemClock,
    recorder: new Recorder({ outbox, counters, logger: silentLogger, backlogLimit: 1000 }),
    builder: { ids: createIdSource(systemClock), sites: () => [] },
    counters,
    logger: silentLogger,
    binding,
  });
  return { input, settings };
}
