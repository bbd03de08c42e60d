import { describe, expect, it } from 'vitest';
import { eventJson, parsedEvent } from '../../../src/model/event-json.js';
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
});
