import { describe, expect, it } from 'vitest';
import { AccessReceiver } from '../../../src/pipeline/access-receiver.js';
import type { AccessMapping } from '../../../src/codecs/access-xml.js';
import { Recorder } from '../../../src/pipeline/recorder.js';
import { MemoryOutbox } from '../../../src/outbox/memory-outbox.js';
import { Counters } from '../../../src/observability/counters.js';
import { createIdSource } from '../../../src/model/ids.js';
import { silentLogger, systemClock } from '../../../src/ports.js';

/**
 * Documents in which a duress stands where no reading of the input looks for it. Each must still arrive labelled
 * duress (security.md rule 1, README: "every signal that is or may be duress arrives labelled duress: true").
 */
const FEED: AccessMapping = { name: 'feed', match: 'Event', eventType: 'Event.Type', door: 'Event.Door', duressValues: ['DURESS'], grantedValues: ['GRANTED'], deniedValues: [] };

function accessReceiver() {
  const outbox = new MemoryOutbox();
  outbox.registerOutputs(['probe']);
  const counters = new Counters();
  const receiver = new AccessReceiver({
    input: 'doors',
    maxBytes: 65_536,
    mappings: [FEED],
    defaults: {},
    secret: null,
    clock: systemClock,
    recorder: new Recorder({ outbox, counters, logger: silentLogger, backlogLimit: 1000 }),
    builder: { ids: createIdSource(systemClock), sites: () => [] },
    counters,
    logger: silentLogger,
  });
  const stored = () => outbox.pending('probe', 10_000).map((e) => e.event);
  return { receiver, stored };
}

async function storedAfter(body: string | Uint8Array) {
  const { receiver, stored } = accessReceiver();
  const outcome = await receiver.handleBody(typeof body === 'string' ? Buffer.from(body) : body);
  return { outcome, stored: stored() };
}

const onvif = (topics: string[]) => `<NotificationMessage>${topics.map((topic) => `<Topic>${topic}</Topic>`).join('')}</NotificationMessage>`;

describe('a duress hidden in the document structure', () => {
  it('a second Topic after a benign one is read, not only the first', async () => {
    const { outcome } = await storedAfter(onvif(['tns1:AccessControl/AccessGranted/Credential', 'tns1:AccessControl/Duress']));
    expect(outcome.events.map((event) => [event.category, event.duress])).toEqual([
      ['access', false],
      ['duress', true],
    ]);
    expect(outcome.events[1]?.quirks).toContain('repeated-topic: 2 topics in one notification');
  });
});
