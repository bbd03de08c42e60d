import { GatewayError } from '../../errors.js';
import { DC09_ANSWER_TOKENS, dc09CrcFormOf, encodeDc09Frame, readUnsupportedDc09Frame, wrapDc09Body } from './frame.js';
import type { Dc09CrcForm, Dc09Message } from './frame.js';
import { formatDc09Timestamp } from './timestamp.js';

export { formatDc09Timestamp };

export interface AckOptions {
  /** Receiver time (epoch ms) for the encrypted ACK's timestamp. */
  now: number;
  /** The request's key; required when the request was encrypted. */
  key?: Uint8Array;
  /** Pad bytes for the encrypted ACK. */
  random: (n: number) => Uint8Array;
}

/**
 * An Osborne-Hoffman receiver answers with the bare token and a CR, no quotes, CRC or length ("Response is always
 * in the following form f'{response_type.value}\r'", pysiaalarm PR #44, from OH-NetRec and ATS panels).
 */
export function osborneHoffmanAnswer(token: 'ACK' | 'NAK' | 'DUH'): Uint8Array {
  return Buffer.from(`${token}\r`, 'latin1');
}

/** A receiver's answer read back (`panelbridge decode`, a replayed line): its parts, never an event. */
export interface Dc09AnswerFrame {
  token: 'ACK' | 'NAK' | 'DUH' | 'RSP';
  encrypted: boolean;
  seq: string;
  receiver: string | null;
  line: string | null;
  account: string | null;
  /** The data block: empty on ACK, NAK and DUH; an RSP's reply. */
  data: string;
  extended: Record<string, string>;
  /** The receiver's time (the NAK's, an encrypted ACK's) as ISO-8601 UTC, null when it sent none. */
  timestamp: string | null;
  crcForm: Dc09CrcForm;
  quirks: string[];
}

function isAnswerToken(token: Dc09Message['token']): token is Dc09AnswerFrame['token'] {
  return DC09_ANSWER_TOKENS.has(token);
}

/** The answer a decoded frame is, or null when it is a panel's message. */
export function dc09AnswerOf(msg: Dc09Message): Dc09AnswerFrame | null {
  const { token } = msg;
  if (!isAnswerToken(token)) return null;
  return {
    token, encrypted: msg.encrypted, seq: msg.seq, receiver: msg.receiver, line: msg.line, account: msg.account,
    data: msg.data, extended: msg.extended, timestamp: msg.timestamp === null ? null : new Date(msg.timestamp).toISOString(),
    crcForm: msg.crcForm, quirks: msg.quirks,
  };
}

/** Why an answer on a receiver's input is refused: a panel never sends one, so there is nothing to store or answer. */
export function unexpectedAnswer(token: Dc09AnswerFrame['token']): { code: 'DC09_ID_UNSUPPORTED'; message: string } {
  return { code: 'DC09_ID_UNSUPPORTED', message: `unexpected ${token} from a panel` };
}

/**
 * `"ACK"<seq>R…L…#acct[]` echoing the request's ID fields, or `"*ACK"` with pad|]_timestamp encrypted under the
 * request's key when the request was encrypted (protocols.md §3.7). Answers in the request's CRC form.
 */
export function encodeAck(req: Dc09Message, opts: AckOptions): Uint8Array {
  if (req.osborneHoffman) return osborneHoffmanAnswer('ACK');
  if (req.encrypted && opts.key === undefined) {
    throw new GatewayError('DC09_KEY_MISSING', 'an ACK to an encrypted request must be encrypted with its key');
  }
  return encodeDc09Frame({
    token: 'ACK',
    encrypted: req.encrypted,
    seq: req.seq,
    receiver: req.receiver,
    line: req.line,
    account: req.account,
    data: '',
    timestamp: req.encrypted ? opts.now : null,
    key: opts.key,
    random: opts.random,
    crcForm: req.crcForm,
  });
}

/** `"NAK"0000R0L0A0[]_HH:MM:SS,MM-DD-YYYY` with the receiver's time, never encrypted (DC09-2013 p.21). */
export function encodeNak(now: number, crcForm: Dc09CrcForm = 'ascii'): Uint8Array {
  return wrapDc09Body(`"NAK"0000R0L0A0[]_${formatDc09Timestamp(now)}`, crcForm);
}

/** The fields a DUH echoes from the message it answers. */
export type DuhEcho = Pick<Dc09Message, 'seq' | 'receiver' | 'line' | 'account' | 'crcForm' | 'osborneHoffman'>;

/** `"DUH"<seq>R…L…#acct[]`: received correctly but cannot be processed; unencrypted, as PYSIA sends it. */
export function encodeDuh(req: DuhEcho): Uint8Array {
  if (req.osborneHoffman) return osborneHoffmanAnswer('DUH');
  return encodeDc09Frame({
    token: 'DUH',
    seq: req.seq,
    receiver: req.receiver,
    line: req.line,
    account: req.account,
    data: '',
    crcForm: req.crcForm,
  });
}

/**
 * The DUH for a CRC-valid frame whose ID token the decoder does not handle (so there is no decoded message): seq, R,
 * L and account read from its text, in its CRC form.
 */
export function encodeDuhForFrame(frame: Uint8Array): Uint8Array {
  const read = readUnsupportedDc09Frame(frame);
  return encodeDuh({
    seq: read?.seq ?? '0000',
    receiver: read?.receiver ?? null,
    line: read?.line ?? null,
    account: read?.account ?? null,
    crcForm: dc09CrcFormOf(frame),
    osborneHoffman: false,
  });
}
