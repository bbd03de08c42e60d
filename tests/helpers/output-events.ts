import { EVENT_SCHEMA_ID, DURESS_CATEGORIES, type Category, type NormalizedEvent } from '../../src/model/event.js';

let counter = 0;

/** A schema-v1 event for output and dispatcher tests; `duress` follows the category unless overridden. */
export function testEvent(fields: { account?: string | null; category?: Category; siteId?: string } & Partial<NormalizedEvent> = {}): NormalizedEvent {
  counter += 1;
  const { account = '1234', category = 'burglary', siteId, ...rest } = fields;
  return {
    schema: EVENT_SCHEMA_ID,
    id: `test-event-${process.pid}-${counter}`,
    receivedAt: new Date(Date.UTC(2024, 0, 1, 12, 0, 0) + counter).toISOString(),
    occurredAt: null,
    source: { input: 'test', transport: 'cli' },
    verified: true,
    protocol: 'sia-dcs',
    account,
    receiver: null,
    line: null,
    code: null,
    qualifier: 'new',
    category,
    duress: DURESS_CATEGORIES.has(category),
    silent: DURESS_CATEGORIES.has(category),
    partition: null,
    zone: null,
    user: null,
    site: siteId === undefined ? null : { id: siteId },
    test: false,
    reasons: [],
    quirks: [],
    extended: {},
    raw: `test frame ${counter}`,
    ...rest,
  };
}
