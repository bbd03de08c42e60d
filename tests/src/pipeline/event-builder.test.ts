import { describe, expect, it } from 'vitest';
import { wrapDc09Body } from '../../../src/codecs/dc09/frame.js';
import { createIdSource } from '../../../src/model/ids.js';
import { decodeFrame } from '../../../src/pipeline/decode-frame.js';
import { eventFromSignal, VERIFIED } from '../../../src/pipeline/event-builder.js';
import { systemClock } from '../../../src/ports.js';
import { sitesSchema } from '../../../src/settings/sites.js';

const sites = sitesSchema.parse([
  { id: 'berlin', accounts: ['1234'], timeZone: 'Europe/Berlin' },
  { id: 'london', accounts: ['5678'] },
]);
const builder = { ids: createIdSource(systemClock), sites: () => sites };

/** The occurredAt of the first event of a DC-09 frame with this body. */
function occurredAt(body: string): string | null {
  const bytes = wrapDc09Body(body);
  const decoded = decodeFrame(bytes);
  if (!decoded.ok) throw new Error(decoded.error.message);
  const origin = { input: 'dc09', transport: 'tcp' as const, receivedAt: Date.UTC(2024, 6, 1), raw: bytes, trust: VERIFIED };
  return eventFromSignal(decoded.value.signals[0]!, origin, builder).occurredAt;
}

describe('occurredAt of an event', () => {
  it("reads a SIA block's da/ti (the panel's wall clock, which names no zone) in its site's time zone", () => {
    expect(occurredAt('"SIA-DCS"0001R0L0#1234[#1234|Nda07-01-24ti14:37:53/BA1]')).toBe('2024-07-01T12:37:53.000Z');
    expect(occurredAt('"SIA-DCS"0001R0L0#1234[#1234|Nda01-15-24ti14:37:53/BA1]')).toBe('2024-01-15T13:37:53.000Z');
    expect(occurredAt('"SIA-DCS"0001R0L0#5678[#5678|Nda07-01-24ti14:37:53/BA1]')).toBe('2024-07-01T14:37:53.000Z');
  });

  it('reads a da/ti the clocks skip as the instant they jump, and one they repeat as its first time', () => {
    expect(occurredAt('"SIA-DCS"0001R0L0#1234[#1234|Nda03-31-24ti02:30:00/BA1]')).toBe('2024-03-31T01:00:00.000Z');
    expect(occurredAt('"SIA-DCS"0001R0L0#1234[#1234|Nda10-27-24ti02:30:00/BA1]')).toBe('2024-10-27T00:30:00.000Z');
  });

  it("takes DC-09's [H] time of occurrence (UTC) over the block's da/ti, and da/ti over the frame's time of sending", () => {
    expect(occurredAt('"SIA-DCS"0001R0L0#1234[#1234|Nda07-01-24ti14:37:53/BA1][H12:37:50,07-01-2024]_12:38:10,07-01-2024')).toBe('2024-07-01T12:37:50.000Z');
    expect(occurredAt('"SIA-DCS"0001R0L0#1234[#1234|Nda07-01-24ti14:37:53/BA1]_12:38:10,07-01-2024')).toBe('2024-07-01T12:37:53.000Z');
  });
});
