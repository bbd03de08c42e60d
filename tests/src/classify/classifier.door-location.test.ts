import { describe, expect, it } from 'vitest';
import { decodeFrame } from '../../../src/pipeline/decode-frame.js';
import { eventFromSignal, VERIFIED } from '../../../src/pipeline/event-builder.js';
import { createIdSource } from '../../../src/model/ids.js';
import { siteSchema } from '../../../src/settings/sites.js';
import { parseFrameText } from '../../../src/codecs/escapes.js';
import { buildPanelFrame } from '../../../src/simulate/frames.js';

// README "Sites": doors carry `location`; the event schema's `door` has `location`; the access-XML path publishes it.
// A door reported by a panel (CID 124/125 or SIA DF/DG… on the door's zone) must name it too: a responder needs it.
const site = siteSchema.parse({
  id: 'branch-12',
  accounts: ['1234'],
  doors: [{ id: 'door-lobby-2', name: 'Lobby door 2', location: 'Ground floor, east lobby', zone: 7, duress: true }],
});

function dc09(token: 'ADM-CID' | 'SIA-DCS', data: string): Uint8Array {
  return buildPanelFrame({ content: { token, dataAccount: '1234', data }, seq: '0001', account: '1234', now: Date.parse('2024-05-01T08:00:00Z'), random: (n) => new Uint8Array(n) });
}

function eventFor(frame: Uint8Array | string) {
  const bytes = typeof frame === 'string' ? parseFrameText(frame) : { ok: true as const, value: frame };
  if (!bytes.ok) throw new Error('bad frame');
  const decoded = decodeFrame(bytes.value, { requireHeader: false });
  if (!decoded.ok) throw new Error(decoded.error.message);
  const origin = { input: 'panels', transport: 'tcp' as const, receivedAt: Date.parse('2024-05-01T08:00:00Z'), raw: bytes.value, trust: VERIFIED };
  return eventFromSignal(decoded.value.signals[0]!, origin, { ids: createIdSource({ now: () => 0 }), sites: () => [site] });
}

describe('door events reported by a panel carry the configured door location', () => {
  it('Contact ID 124 (duress access) on the door zone names the door location', () => {
    const event = eventFor(dc09('ADM-CID', '1124 01 007'));
    expect(event.category).toBe('duress');
    expect(event.door).toEqual({ id: 'door-lobby-2', name: 'Lobby door 2', location: 'Ground floor, east lobby' });
  });

  it('SIA DF (door forced) on the door point names the door location', () => {
    const event = eventFor(dc09('SIA-DCS', 'Nri1/DF7'));
    expect(event.door?.location).toBe('Ground floor, east lobby');
  });
});
