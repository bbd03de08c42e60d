import { describe, expect, it } from 'vitest';
import { AccessReceiver } from '../../../src/pipeline/access-receiver.js';
import { Recorder } from '../../../src/pipeline/recorder.js';
import { MemoryOutbox } from '../../../src/outbox/memory-outbox.js';
import { Counters } from '../../../src/observability/counters.js';
import { createIdSource } from '../../../src/model/ids.js';
import { silentLogger, systemClock, type Logger } from '../../../src/ports.js';
import { recordingLogger } from '../../helpers/recording-logger.js';

/** An access input without a secret or mappings (ONVIF only), storing into a memory outbox. */
function accessReceiver(logger: Logger = silentLogger) {
  const outbox = new MemoryOutbox();
  outbox.registerOutputs(['probe']);
  const counters = new Counters();
  const receiver = new AccessReceiver({
    input: 'doors',
    maxBytes: 65_536,
    mappings: [],
    defaults: {},
    secret: null,
    clock: systemClock,
    recorder: new Recorder({ outbox, counters, logger: silentLogger, backlogLimit: 1000 }),
    builder: { ids: createIdSource(systemClock), sites: () => [] },
    counters,
    logger,
  });
  const post = (xml: string) => receiver.handleBody(Buffer.from(xml), { peer: '10.0.0.7:40000' });
  return { post, counters, stored: () => outbox.pending('probe', 10_000).map((e) => e.event) };
}

describe('AccessReceiver', () => {
  it('counts every refused document but logs one line per code and peer in a burst', async () => {
    const { logger, lines } = recordingLogger();
    const { post, counters } = accessReceiver(logger);
    for (let i = 0; i < 5; i++) expect((await post(`<a>${i}`)).status).toBe(400);
    expect(counters.get('frames_rejected_total', { input: 'doors', code: 'XML_MALFORMED' })).toBe(5);
    expect(lines.filter((line) => line.message === 'access document rejected')).toHaveLength(1);
  });
});
