import { describe, expect, it } from 'vitest';
import { MAX_EVENTS_PER_DOCUMENT } from '../../../src/pipeline/access-receiver.js';
import { silentLogger, type Logger } from '../../../src/ports.js';
import { accessReceiver as coreAccessReceiver } from '../../helpers/access-receiver.js';
import { recordingLogger } from '../../helpers/recording-logger.js';

/** An access input without a secret or mappings (ONVIF only), storing into a memory outbox. */
function accessReceiver(logger: Logger = silentLogger) {
  const { receiver, counters, stored } = coreAccessReceiver({ logger });
  const post = (xml: string) => receiver.handleBody(Buffer.from(xml), { peer: '10.0.0.7:40000' });
  return { post, counters, stored };
}

/** A pushed ONVIF notification of one message per topic. */
function notify(topics: string[]): string {
  const messages = topics.map((topic) => `<NotificationMessage><Topic>tns1:AccessControl/${topic}</Topic></NotificationMessage>`);
  return `<Notify>${messages.join('')}</Notify>`;
}
const granted = (count: number) => Array.from({ length: count }, () => 'AccessGranted');

describe('AccessReceiver', () => {
  it(`stores a document of ${MAX_EVENTS_PER_DOCUMENT} events`, async () => {
    const { post, stored } = accessReceiver();
    expect((await post(notify(granted(MAX_EVENTS_PER_DOCUMENT)))).status).toBe(200);
    expect(stored()).toHaveLength(MAX_EVENTS_PER_DOCUMENT);
  });

  // Every event carries the document as raw: unbounded, a 64 KiB post of tiny events would cost gigabytes.
  it('refuses a document of more events with 413, storing its duress events only, once however often it comes', async () => {
    const { post, stored, counters } = accessReceiver();
    const document = notify([...granted(MAX_EVENTS_PER_DOCUMENT), 'Duress']);
    for (let attempt = 0; attempt < 2; attempt++) {
      const outcome = await post(document);
      expect(outcome.status).toBe(413);
      expect(outcome.body).toMatchObject({ error: { code: 'XML_TOO_MANY_EVENTS' } });
      expect(outcome.events.map((e) => e.code?.value)).toEqual(['124']);
    }
    expect(stored()).toMatchObject([{ category: 'duress', duress: true }]);
    expect(stored()[0]?.reasons.at(-1)).toContain('XML_TOO_MANY_EVENTS');
    expect(counters.get('frames_rejected_total', { input: 'doors', code: 'XML_TOO_MANY_EVENTS' })).toBe(2);
    expect((await post(notify(granted(MAX_EVENTS_PER_DOCUMENT + 1)))).status).toBe(413);
    expect(stored()).toHaveLength(1);
  });


  it('counts every refused document but logs one line per code and peer in a burst', async () => {
    const { logger, lines } = recordingLogger();
    const { post, counters } = accessReceiver(logger);
    for (let i = 0; i < 5; i++) expect((await post(`<a>${i}`)).status).toBe(400);
    expect(counters.get('frames_rejected_total', { input: 'doors', code: 'XML_MALFORMED' })).toBe(5);
    expect(lines.filter((line) => line.message === 'access document rejected')).toHaveLength(1);
  });
});
