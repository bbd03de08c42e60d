import { describe, expect, it } from 'vitest';
import { decodeFrame } from '../../../src/pipeline/decode-frame.js';
import { eventFromSignal, VERIFIED } from '../../../src/pipeline/event-builder.js';
import { createIdSource } from '../../../src/model/ids.js';
import { systemClock } from '../../../src/ports.js';
import { frameContent, parseSimEvent, SIM_EVENT_NAMES, type SimEvent, type SimFormat } from '../../../src/simulate/events.js';
import { buildPanelFrame } from '../../../src/simulate/frames.js';

function named(text: string): SimEvent {
  const parsed = parseSimEvent(text);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.event;
}

/** The category the gateway's own decoder and classifier give a simulated frame. */
function categoryOf(event: SimEvent, format: SimFormat): string {
  const frame = buildPanelFrame({ content: frameContent(event, '1234', { zone: 5, user: 12 }, format), seq: '0001', account: '1234', now: Date.now(), random: (n) => Buffer.alloc(n, 0x41) });
  const decoded = decodeFrame(frame, {});
  if (!decoded.ok) throw new Error(decoded.error.message);
  const builder = { ids: createIdSource(systemClock), sites: () => [] };
  const origin = { input: 'test', transport: 'cli' as const, receivedAt: Date.now(), raw: frame, trust: VERIFIED };
  return decoded.value.signals.map((s) => eventFromSignal(s, origin, builder).category).join(',');
}

describe('simulator building blocks', () => {
  it.each([
    ['duress', 'duress'],
    ['holdup', 'holdup'],
    ['panic', 'panic'],
    ['burglary', 'burglary'],
    ['test', 'test'],
    ['walk-test', 'test'],
  ])('%s is classified %s by the gateway, in ADM-CID and SIA-DCS', (event, category) => {
    expect(categoryOf(named(event), 'adm-cid')).toBe(category);
    expect(categoryOf(named(event), 'sia-dcs')).toBe(category);
  });

  it('maps events to the Contact ID codes of the brief, with the user for duress and the zone otherwise', () => {
    const data = (event: string) => frameContent(named(event), '1234', { zone: 5, user: 12 }, 'adm-cid').data;
    expect(['duress', 'holdup', 'panic', 'burglary', 'test', 'walk-test'].map(data)).toEqual(['1121 01 012', '1122 01 005', '1120 01 005', '1130 01 005', '1601 01 005', '1611 01 005']);
    expect(frameContent(named('null'), '1234', {}, 'adm-cid')).toEqual({ token: 'NULL', dataAccount: null, data: '' });
    expect(SIM_EVENT_NAMES).toEqual(['duress', 'holdup', 'panic', 'burglary', 'test', 'walk-test', 'null']);
  });

  it('sends a raw data block as given and refuses unknown event names', () => {
    expect(frameContent(named('raw:#1234|Nri1/PA501'), '1234', {}, 'sia-dcs')).toEqual({ token: 'SIA-DCS', dataAccount: '1234', data: 'Nri1/PA501' });
    expect(parseSimEvent('fire')).toMatchObject({ ok: false });
    expect(parseSimEvent('raw:')).toMatchObject({ ok: false });
  });
});
