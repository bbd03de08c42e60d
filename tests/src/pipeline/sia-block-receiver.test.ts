import { describe, expect, it } from 'vitest';
import { encodeSiaBlock } from '../../../src/codecs/sia-dc03-block.js';
import { createIdSource } from '../../../src/model/ids.js';
import { Counters } from '../../../src/observability/counters.js';
import { RateLimitedLog } from '../../../src/observability/rate-limited-log.js';
import { MemoryOutbox } from '../../../src/outbox/memory-outbox.js';
import { Recorder } from '../../../src/pipeline/recorder.js';
import { SiaBlockReceiver } from '../../../src/pipeline/sia-block-receiver.js';
import { silentLogger, systemClock } from '../../../src/ports.js';

function receiver(outbox: MemoryOutbox) {
  const counters = new Counters();
  return new SiaBlockReceiver({
    input: 'galaxy',
    strict: false,
    clock: systemClock,
    recorder: new Recorder({ outbox, counters, logger: silentLogger, backlogLimit: 1000 }),
    builder: { ids: createIdSource(systemClock), sites: () => [] },
    counters,
    logger: silentLogger,
    warnings: new RateLimitedLog({ logger: silentLogger, clock: systemClock }),
  });
}

describe('SiaBlockReceiver', () => {
  it('rejects an event block it could not store, so the panel sends it again, and stores the copy', async () => {
    const outbox = new MemoryOutbox();
    outbox.registerOutputs(['probe']);
    const append = outbox.append.bind(outbox);
    outbox.append = () => Promise.reject(new Error('ENOSPC: no space left on device'));
    const galaxy = receiver(outbox);
    const session = galaxy.newSession();
    await galaxy.handleBlock(session, encodeSiaBlock('#', '123456', true));
    const holdUp = encodeSiaBlock('N', 'ti11:46/HA1011', true);
    const failed = await galaxy.handleBlock(session, holdUp);
    expect([...failed.reply]).toEqual([0x40, 0x39, 0x86]);
    outbox.append = append;
    const stored = await galaxy.handleBlock(session, holdUp);
    expect([...stored.reply]).toEqual([0x40, 0x38, 0x87]);
    expect(outbox.pending('probe', 10).map((e) => e.event)).toEqual([expect.objectContaining({ account: '123456', duress: true })]);
  });

  it('reads a duress code in an event block its codec cannot parse as that code', async () => {
    const outbox = new MemoryOutbox();
    outbox.registerOutputs(['probe']);
    const galaxy = receiver(outbox);
    const outcome = await galaxy.handleBlock(galaxy.newSession(), encodeSiaBlock('N', 'ti99:99:99:99/HA1011', true));
    expect(outcome.events).toEqual([expect.objectContaining({ duress: true, code: expect.objectContaining({ value: 'HA' }), quirks: expect.arrayContaining([expect.stringMatching(/^duress-suspected/)]) })]);
  });
});
