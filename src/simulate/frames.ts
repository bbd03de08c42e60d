import { decodeDc09Frame, encodeDc09Frame } from '../codecs/dc09/frame.js';
import { encodeSurgardContactId, encodeSurgardHeartbeat, SURGARD_ACK, SURGARD_NAK, SURGARD_TERMINATOR } from '../codecs/surgard.js';
import { contactIdFieldsFor, type FrameContent, type SimAddress, type SimEvent } from './events.js';

/** Panel sequence numbers: 0001..9999, then 0001 again (DC09-2007 C.2.3.7). */
export class SequenceCounter {
  private last: number;

  constructor(start = 1) {
    this.last = start - 1;
  }

  next(): string {
    this.last = this.last >= 9999 ? 1 : this.last + 1;
    return String(this.last).padStart(4, '0');
  }
}

export interface PanelFrameInput {
  content: FrameContent;
  seq: string;
  account: string;
  /** AES key: the frame is sent encrypted (`*ADM-CID`). */
  key?: Uint8Array;
  /** Panel time for the timestamp (required inside encrypted frames, sent on every frame). */
  now: number;
  random: (n: number) => Uint8Array;
  receiver?: string | null;
  line?: string | null;
}

export function buildPanelFrame(input: PanelFrameInput): Uint8Array {
  const { content, key } = input;
  return encodeDc09Frame({
    token: content.token,
    encrypted: key !== undefined,
    seq: input.seq,
    receiver: input.receiver ?? null,
    line: input.line ?? '0',
    account: input.account,
    dataAccount: content.dataAccount,
    data: content.data,
    timestamp: input.now,
    random: input.random,
    ...(key === undefined ? {} : { key }),
  });
}

/** `stale`: an answer to an earlier frame (it arrived after that frame timed out); the panel keeps waiting. */
export type AnswerKind = 'ack' | 'nak' | 'duh' | 'rsp' | 'invalid' | 'stale' | 'none';

export interface PanelAnswer {
  kind: AnswerKind;
  /** The answer was encrypted (`*ACK`) and decrypted with the panel's key. */
  encrypted?: boolean;
  /** Receiver time a NAK (or an encrypted ACK) carries, epoch ms. */
  receiverTime?: number | null;
  /** Why an answer is invalid. */
  detail?: string;
}

export interface SentFrame {
  seq: string;
  encrypted: boolean;
  key?: Uint8Array;
}

/**
 * Checks an answer as a panel would: CRC and length, the echoed sequence number, and for an encrypted request an
 * encrypted ACK that decrypts with the same key (protocols.md §3.7). A NAK carries sequence 0000 and the
 * receiver's time.
 */
export function interpretAnswer(bytes: Uint8Array, sent: SentFrame): PanelAnswer {
  const decoded = decodeDc09Frame(bytes, { keyFor: () => sent.key });
  if (!decoded.ok) return { kind: 'invalid', detail: `${decoded.error.code}: ${decoded.error.message}` };
  const answer = decoded.value;
  switch (answer.token) {
    case 'NAK':
      return { kind: 'nak', receiverTime: answer.timestamp };
    case 'ACK':
    case 'DUH':
    case 'RSP': {
      if (answer.seq !== sent.seq) return { kind: 'stale', detail: `${answer.token} for sequence ${answer.seq}, waiting for ${sent.seq}` };
      if (answer.token === 'ACK' && answer.encrypted !== sent.encrypted) {
        return { kind: 'invalid', detail: sent.encrypted ? 'plain ACK to an encrypted frame' : 'encrypted ACK to a plain frame' };
      }
      const kind = answer.token === 'ACK' ? 'ack' : answer.token === 'DUH' ? 'duh' : 'rsp';
      return { kind, encrypted: answer.encrypted, ...(answer.encrypted ? { receiverTime: answer.timestamp } : {}) };
    }
    default:
      return { kind: 'invalid', detail: `unexpected ${answer.token} from a receiver` };
  }
}

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

/** The automation answers a packet with one byte: ACK 0x06 or NAK 0x15. */
export function interpretSurgardAnswer(bytes: Uint8Array): PanelAnswer {
  if (bytes.length === 1 && bytes[0] === SURGARD_ACK) return { kind: 'ack' };
  if (bytes.length === 1 && bytes[0] === SURGARD_NAK) return { kind: 'nak' };
  return { kind: 'invalid', detail: `expected 0x06 or 0x15, got ${Buffer.from(bytes).toString('hex')}` };
}
