import { EVENT_SCHEMA_ID, type NormalizedEvent } from '../../src/model/event.js';

export { FakeClock } from './fake-clock.js';

/**
 * A schema-v1 event shaped like a Contact ID report (SIA DC-05 Appendix C codes, /work/shared/protocols.md §1.5:
 * 121 duress, 130 burglary). Only id, account, duress and receivedAt matter to the outbox.
 */
export function outboxTestEvent(fields: { id: string; account: string | null; duress?: boolean; receivedAt: number }): NormalizedEvent {
  const duress = fields.duress ?? false;
  return {
    schema: EVENT_SCHEMA_ID,
    id: fields.id,
    receivedAt: new Date(fields.receivedAt).toISOString(),
    occurredAt: null,
    source: { input: 'dc09-main', transport: 'tcp', peer: '127.0.0.1:40000' },
    verified: true,
    protocol: 'adm-cid',
    account: fields.account,
    receiver: '01',
    line: '1',
    code: duress
      ? { scheme: 'contact-id', value: '121', description: 'Duress' }
      : { scheme: 'contact-id', value: '130', description: 'Burglary' },
    qualifier: 'new',
    category: duress ? 'duress' : 'burglary',
    duress,
    silent: duress,
    partition: { number: 1 },
    zone: duress ? null : { number: 3 },
    user: duress ? { number: 7 } : null,
    test: false,
    reasons: [duress ? 'contact-id 121 is duress' : 'contact-id 130 is burglary'],
    quirks: [],
    extended: {},
    raw: `test frame ${fields.id}`,
  };
}
