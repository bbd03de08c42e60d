import { describe, expect, it } from 'vitest';
import { eventJson, forgetJson, parsedEvent } from '../../../src/model/event-json.js';
import { createIdSource, seededRandom } from '../../../src/model/ids.js';
import { emptySignal } from '../../../src/model/signal.js';
import { eventFromSignal, unverified } from '../../../src/pipeline/event-builder.js';
import { testEvent } from '../../helpers/output-events.js';

describe('event JSON', () => {
  it('serialises an event as JSON.stringify does, once', () => {
    const event = testEvent({ account: '1234', category: 'duress' });
    expect(eventJson(event)).toBe(JSON.stringify(event));
    expect(eventJson(event)).toBe(eventJson(event));
  });

  it('publishes an event read back from storage as the text that was stored', () => {
    const stored = '{ "schema": "panelbridge.event/1", "account": "1234", "duress": true }';
    const event = parsedEvent(stored);
    expect(event).toMatchObject({ account: '1234', duress: true });
    expect(eventJson(event)).toBe(stored);
  });

  it('keeps the text where no key, copy or comparison of the event sees it', () => {
    const event = testEvent();
    const text = eventJson(event);
    expect(Object.keys(event)).toEqual(Object.keys(testEvent()));
    expect(Object.getOwnPropertySymbols(event)).toEqual([]);
    const copy = { ...event, account: '9999' };
    expect(eventJson(copy)).toBe(JSON.stringify(copy));
    expect(structuredClone(event)).toEqual(event);
    expect(eventJson(event)).toBe(text);
  });

  it('serialises again an event whose text was dropped, and a frozen event each time', () => {
    const event = testEvent();
    eventJson(event);
    forgetJson(event);
    event.test = true;
    expect(eventJson(event)).toBe(JSON.stringify(event));
    const frozen = Object.freeze(testEvent());
    expect(eventJson(frozen)).toBe(JSON.stringify(frozen));
  });

  it('gives every built event reasons of its own: an annotation of one is not another one\'s', () => {
    const deps = { ids: createIdSource({ now: () => 0 }, seededRandom(1)), sites: () => [] };
    const origin = { input: 'panels', transport: 'tcp' as const, peer: '10.0.0.1:5000', receivedAt: 0, raw: new Uint8Array([0x0a]), trust: unverified('unknown-account') };
    const signal = { ...emptySignal('sia-dcs'), code: { scheme: 'sia' as const, value: 'BA' } };
    const first = eventFromSignal(signal, origin, deps);
    first.reasons.push('test window w-1 is open');
    const second = eventFromSignal(signal, origin, deps);
    expect(second.reasons).toEqual(['SIA BA "Burglary Alarm": burglary']);
    expect(second.code).toBe(first.code);
    expect(eventJson(second)).toBe(JSON.stringify(second));
  });
});
