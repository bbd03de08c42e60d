import { MqttOutput, type MqttOutputDeps, type MqttOutputOptions } from '../../adapters/outputs/mqtt.js';
import { MemoryOutbox } from '../../src/outbox/memory-outbox.js';
import { Dispatcher } from '../../src/pipeline/dispatcher.js';
import { silentLogger, systemClock } from '../../src/ports.js';
import type { BackoffPolicy } from '../../src/backoff.js';

/**
 * A central MQTT output to `url`, started behind a dispatcher on a memory outbox, with quick reconnects and retries;
 * `cleanups` stops both. `deps` adds to (or overrides) the output's test dependencies, `backoff` the dispatcher's.
 */
export async function mqttOutputBehindDispatcher(
  url: string,
  topicPrefix: string,
  cleanups: Array<() => Promise<unknown> | void>,
  deps: Partial<MqttOutputDeps> = {},
  backoff: Partial<BackoffPolicy> = {},
): Promise<{ output: MqttOutput; outbox: MemoryOutbox; dispatcher: Dispatcher }> {
  const options: MqttOutputOptions = { name: 'central', url, topicPrefix, audience: 'central', embeddedPort: 1884 };
  const output = new MqttOutput(options, { clock: systemClock, logger: silentLogger, gateway: { id: 'gw', version: '0' }, reconnectPeriodMs: 100, reconnectMaxMs: 200, ...deps });
  await output.start();
  cleanups.push(() => output.stop());
  const outbox = new MemoryOutbox({ clock: systemClock });
  const dispatcher = new Dispatcher({ outbox, outputs: [output], clock: systemClock, logger: silentLogger, backoff: { initialMs: 100, maxMs: 300, ...backoff } });
  dispatcher.start();
  cleanups.push(() => dispatcher.stop());
  return { output, outbox, dispatcher };
}
