import { encodeSurgardContactId, encodeSurgardHeartbeat, SURGARD_TERMINATOR } from '../codecs/surgard.js';
export { interpretSurgardAnswer } from '../codecs/surgard.js';
export { buildPanelFrame, interpretAnswer, panelIds, SequenceCounter, type AnswerKind, type PanelAnswer, type PanelFrameInput, type SentFrame } from '../codecs/dc09/transmitter.js';
import { contactIdFieldsFor, type SimAddress, type SimEvent } from './events.js';

export interface SurgardPacketInput {
  event: SimEvent;
  /** 4 digits (protocol 5) or 10 digits (protocol Q). */
  account: string;
  address: SimAddress;
  /** RR, 2 digits. */
  receiver: string;
  /** LLL, 3 digits. */
  line: string;
}

/**
 * A Sur-Gard automation packet as the receiver sends it to the automation (protocols.md §4.1): Contact ID events
 * as protocol 5/Q, `null` as the idle heartbeat, raw text as given (DC4 appended when missing). Throws
 * GatewayError on fields the packet cannot carry.
 */
export function buildSurgardPacket(input: SurgardPacketInput): string {
  const { event } = input;
  if (event.kind === 'raw') {
    const terminator = String.fromCharCode(SURGARD_TERMINATOR);
    return event.data.endsWith(terminator) ? event.data : event.data + terminator;
  }
  if (event.name === 'null') return encodeSurgardHeartbeat(input.receiver);
  return encodeSurgardContactId({
    receiver: input.receiver,
    line: input.line,
    account: input.account,
    fields: contactIdFieldsFor(event.name, input.address),
  });
}
