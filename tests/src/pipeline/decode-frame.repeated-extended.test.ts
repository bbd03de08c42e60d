import { describe, expect, it } from 'vitest';
import { wrapDc09Body } from '../../../src/codecs/dc09/frame.js';
import { createIdSource } from '../../../src/model/ids.js';
import { eventSchema } from '../../../src/model/event.js';
import { decodeFrame } from '../../../src/pipeline/decode-frame.js';
import { eventFromSignal, VERIFIED } from '../../../src/pipeline/event-builder.js';
import { systemClock } from '../../../src/ports.js';

const builder = { ids: createIdSource(systemClock), sites: () => [] };

function published(body: string, strict: boolean) {
  const bytes = wrapDc09Body(body);
  const decoded = decodeFrame(bytes, { strict });
  if (!decoded.ok) throw new Error(`${decoded.error.code}: ${decoded.error.message}`);
  return decoded.value.signals.map((s) =>
    eventFromSignal(s, { input: 'dc09', transport: 'tcp', receivedAt: Date.now(), raw: bytes, trust: VERIFIED }, builder),
  );
}

describe('DC-09 extended fields sent more than once', () => {
  // A hold-up (silent, under duress) whose panic button reports two positions and two photo links.
  const body = '"SIA-DCS"0001R0L0#1234[#1234|NHA01][X24.0117][Y49.8416][X24.0120][Y49.8420][Vhttp://cam/1.jpg][Vhttp://cam/2.jpg]';

  it.each([false, true])('neither hide the hold-up nor lose a value (strict %s)', (strict) => {
    const [event, ...rest] = published(body, strict);
    expect(rest).toEqual([]);
    expect(event).toMatchObject({
      category: 'holdup',
      duress: true,
      extended: { X: '24.0117', Y: '49.8416', V: 'http://cam/1.jpg' },
      extendedRepeated: { X: ['24.0117', '24.0120'], Y: ['49.8416', '49.8420'], V: ['http://cam/1.jpg', 'http://cam/2.jpg'] },
    });
    expect(eventSchema.safeParse(event).success).toBe(true);
  });

  it('the time of occurrence is the first [H], as extended shows it', () => {
    const [event] = published('"SIA-DCS"0001R0L0#1234[#1234|NHA01][H10:00:00,01-02-2024][H11:00:00,01-02-2024]', false);
    expect(event?.occurredAt).toBe('2024-01-02T10:00:00.000Z');
    expect(event?.extendedRepeated).toEqual({ H: ['10:00:00,01-02-2024', '11:00:00,01-02-2024'] });
  });
});
