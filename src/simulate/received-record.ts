import type { NormalizedEvent } from '../model/event.js';
import type { Dc09Outcome } from '../pipeline/dc09-receiver.js';

/** What `simulate --receive` prints for each frame that arrives. */
export interface ReceivedRecord {
  receivedAt: string;
  transport: 'tcp' | 'udp';
  peer: string;
  /** The ID token as sent (`*ADM-CID`), or null when the frame did not decode. */
  token: string | null;
  account: string | null;
  seq: string | null;
  answer: Dc09Outcome['answer'];
  events: Array<Pick<NormalizedEvent, 'category' | 'duress' | 'qualifier' | 'code' | 'partition' | 'zone' | 'user' | 'occurredAt' | 'extended' | 'verified' | 'unverifiedReason'>>;
  error?: string;
}

function number(value: { number: number } | null): string {
  return value === null ? '-' : String(value.number);
}

/** `12:00:01 tcp 127.0.0.1:5123 *ADM-CID #9876 seq 0001 → ACK  duress (Contact ID 121 Duress) area 1 zone - user 5`. */
export function formatReceivedRecord(record: ReceivedRecord): string {
  const head = `${record.receivedAt} ${record.transport} ${record.peer} ${record.token ?? '?'} #${record.account ?? '-'} seq ${record.seq ?? '-'} → ${record.answer.toUpperCase()}`;
  if (record.error !== undefined) return `${head}  ${record.error}`;
  if (record.events.length === 0) return `${head}  (link test)`;
  const events = record.events.map((e) => {
    const code = e.code === null ? 'no code' : `${e.code.scheme === 'sia' ? 'SIA' : 'Contact ID'} ${e.code.value} ${e.code.description}`;
    const extended = Object.entries(e.extended).map(([letter, value]) => `[${letter}${value}]`).join('');
    const trust = e.verified === false ? ` (unverified: ${e.unverifiedReason ?? 'unknown'})` : '';
    return `${e.category}${e.qualifier === 'new' ? '' : ` ${e.qualifier}`}${e.duress ? ' (DURESS)' : ''}${trust} (${code}) area ${number(e.partition)} zone ${number(e.zone)} user ${number(e.user)}${extended === '' ? '' : ` ${extended}`}`;
  });
  return `${head}  ${events.join('; ')}`;
}
