import type { NormalizedEvent } from '../../model/event.js';
import { contactIdFieldsForEvent, siaDataForEvent } from '../forward-codes.js';
import { decodeDc09Frame, encodeDc09Frame, parseDc09IdFields, type Dc09IdFields } from './frame.js';
import { aesCbcName, decryptDc09 } from './cipher.js';
import { formatDc09Timestamp, parseDc09Timestamp } from './timestamp.js';

/**
 * The transmitter's side of a DC-09 exchange (a panel, the simulator, the DC-09 output): sequence numbers and
 * what an answer from the receiver means.
 */

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

/** What goes inside a DC-09 frame: its ID token and its data block. */
export interface FrameContent {
  token: 'ADM-CID' | 'SIA-DCS' | 'NULL';
  /** Written as `#acct|` at the start of the data block. */
  dataAccount: string | null;
  data: string;
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
  /** [X…] extended data fields by letter (inside the encryption when encrypted). */
  extended?: Record<string, string>;
  /** Encrypted only: pad the encrypted part to a multiple of this many bytes (see Dc09EncodeInput). */
  padTo?: number;
}

/** The R, L and account fields of a panel's frames, which an ACK or DUH to one echoes (protocols.md §3.7). */
export interface PanelIds {
  account: string;
  /** null: the frames have no R field. */
  receiver: string | null;
  line: string;
}

/** The ID fields a panel's frames carry: no R field and `L0` unless given. */
export function panelIds(ids: { account: string; receiver?: string | null | undefined; line?: string | null | undefined }): PanelIds {
  return { account: ids.account, receiver: ids.receiver ?? null, line: ids.line ?? '0' };
}

export function buildPanelFrame(input: PanelFrameInput): Uint8Array {
  const { content, key } = input;
  const { account, receiver, line } = panelIds(input);
  return encodeDc09Frame({
    token: content.token,
    encrypted: key !== undefined,
    seq: input.seq,
    receiver,
    line,
    account,
    dataAccount: content.dataAccount,
    data: content.data,
    ...(input.extended === undefined ? {} : { extended: input.extended }),
    timestamp: input.now,
    random: input.random,
    ...(key === undefined ? {} : { key }),
    ...(input.padTo === undefined ? {} : { padTo: input.padTo }),
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
  /**
   * Encrypted ACKs: the pad is one byte repeated (pysiaalarm pads with '0', ioBroker.sia with 0x00, protocols.md
   * §3.6), so the receiver encrypts all its ACKs of one second to the same bytes. False: a random pad.
   */
  fixedPad?: boolean;
  /** Why an answer is invalid. */
  detail?: string;
  /** Why an answer is invalid, as a code (the `reason` a counter is labelled with). */
  refusal?: AnswerRefusal;
}

/**
 * Why an answer is not taken: off the format or CRC (`undecodable`), an *ACK that does not decrypt under the key
 * (`wrong-key`), a plain ACK to an encrypted frame, an *ACK to a plain one, one without a timestamp or timestamped
 * before the frame went out, one byte for byte taken before (`replayed`), an answer not echoing the frame's ID
 * fields, or a token a receiver does not send.
 */
export type AnswerRefusal =
  | 'undecodable'
  | 'wrong-key'
  | 'plain-ack'
  | 'encrypted-ack'
  | 'ack-without-time'
  | 'ack-before-frame'
  | 'replayed'
  | 'not-echoed'
  | 'unexpected-token';

/** The frame an answer is read against: its sequence number, the key to read the answer with, and what it must echo. */
export interface SentFrame {
  seq: string;
  encrypted: boolean;
  key?: Uint8Array;
  /**
   * Checked as a panel checks (the simulator, which tells an installer whether a receiver answers as panels need):
   * the R, L and account the answer must echo, and a length field that counts its bytes. Unset (the forwarding
   * output): an answer with the right sequence number counts however it writes those, even off the format
   * (pysiaalarm, Home Assistant's receiver, writes a missing R field as `None`), since refusing a centre's ACK for
   * its formatting would leave a delivered duress undelivered.
   */
  echo?: PanelIds;
  /**
   * The earliest receiver time an encrypted ACK may carry (epoch ms). The sequence number of an *ACK is in the clear
   * and its CRC keyless, so an *ACK recorded earlier can be renumbered to match any frame; only the time inside
   * the encryption says it is not an answer to this one. Unset: not checked.
   */
  ackNotBefore?: number;
}

/**
 * Checks an answer: CRC, the echoed sequence number, and for an encrypted request an encrypted ACK that decrypts
 * with the same key (protocols.md §3.7); with `echo`, as a panel would, also the length and the echoed R, L and
 * account, without it none of those. A NAK carries sequence 0000 and R0L0A0 whatever it answers, and the receiver's
 * time.
 */
export function interpretAnswer(bytes: Uint8Array, sent: SentFrame): PanelAnswer {
  const asPanel = sent.echo !== undefined;
  const decoded = decodeDc09Frame(bytes, { keyFor: () => sent.key, exactLength: asPanel, looseIdFields: !asPanel, blocklessAnswers: !asPanel });
  if (!decoded.ok) {
    // CRC and header were right (those are checked first); only the decrypted content is off the template.
    const contentOnly = decoded.error.code === 'DC09_DECRYPT_FAILED' || decoded.error.code === 'DC09_TIMESTAMP_INVALID';
    const tolerated = contentOnly && sent.key !== undefined ? quirkyEncryptedAck(bytes, sent.key, sent) : undefined;
    return tolerated ?? { kind: 'invalid', refusal: contentOnly && sent.key !== undefined ? 'wrong-key' : 'undecodable', detail: `${decoded.error.code}: ${decoded.error.message}` };
  }
  const answer = decoded.value;
  switch (answer.token) {
    case 'NAK':
      return { kind: 'nak', receiverTime: answer.timestamp };
    case 'ACK':
    case 'DUH':
    case 'RSP': {
      if (answer.seq !== sent.seq) return { kind: 'stale', detail: `${answer.token} for sequence ${answer.seq}, waiting for ${sent.seq}` };
      if (answer.token === 'ACK' && answer.encrypted !== sent.encrypted) {
        return sent.encrypted
          ? { kind: 'invalid', refusal: 'plain-ack', detail: 'plain ACK to an encrypted frame' }
          : { kind: 'invalid', refusal: 'encrypted-ack', detail: 'encrypted ACK to a plain frame' };
      }
      const notEchoed = sent.echo === undefined ? undefined : unechoedIds(answer, sent.echo);
      if (notEchoed !== undefined) return { kind: 'invalid', refusal: 'not-echoed', detail: `${answer.token} does not echo the frame's ${notEchoed}` };
      const replayed = answer.token === 'ACK' && answer.encrypted ? replayedAck(answer.timestamp, sent) : undefined;
      if (replayed !== undefined) return replayed;
      const kind = answer.token === 'ACK' ? 'ack' : answer.token === 'DUH' ? 'duh' : 'rsp';
      const read: PanelAnswer = { kind, encrypted: answer.encrypted, ...(answer.encrypted ? { receiverTime: answer.timestamp } : {}) };
      return kind === 'ack' && answer.encrypted && sent.key !== undefined ? { ...read, fixedPad: padIsFixed(decryptedAck(bytes, sent.key)?.plaintext) } : read;
    }
    default:
      return { kind: 'invalid', refusal: 'unexpected-token', detail: `unexpected ${answer.token} from a receiver` };
  }
}

/** An encrypted ACK not timestamped after `sent.ackNotBefore`: it may be one recorded earlier, replayed. */
function replayedAck(receiverTime: number | null, sent: SentFrame): PanelAnswer | undefined {
  if (sent.ackNotBefore === undefined || (receiverTime !== null && receiverTime >= sent.ackNotBefore)) return undefined;
  if (receiverTime === null) return { kind: 'invalid', refusal: 'ack-without-time', detail: 'encrypted ACK without a timestamp: it may be a recorded ACK replayed' };
  // The same words whichever it is: a centre whose clock lags is told from a replay only by the operator.
  return {
    kind: 'invalid',
    refusal: 'ack-before-frame',
    detail: `encrypted ACK timestamped ${new Date(receiverTime).toISOString()}, before this frame went out: a recorded ACK replayed, or a receiver clock that lags the frame's timestamp by more than the 20 s its window allows, or the gateway's by more than 40 s (set both by NTP)`,
  };
}

/**
 * Whether an encrypted ACK's pad (its plaintext before the first '|' or ']') is one byte repeated. A random pad of
 * 10 bytes does that by chance once in 125^9 (frame.ts draws 125 values a byte). An ACK this cannot read counts as
 * fixed: the weaker check, never a refused delivery for its layout.
 */
function padIsFixed(plaintext: string | undefined): boolean {
  if (plaintext === undefined) return true;
  const end = plaintext.search(/[|\]]/);
  const pad = plaintext.slice(0, end < 0 ? plaintext.length : end);
  return [...pad].every((char) => char === pad[0]);
}

/**
 * The granularity of a DC-09 timestamp: a fixed-pad receiver's *ACKs are the same bytes only when written within
 * the same second of its clock.
 */
const RECEIVER_SECOND_MS = 1_000;
/** The last two AES blocks, as hex: the 22 bytes of `|]_HH:MM:SS,MM-DD-YYYY` end every *ACK's plaintext within them. */
const TAKEN_ACK_TAIL_HEX = 64;
/** Ciphertexts remembered at most (about 3 MB): one per ACK taken, and an output has one exchange at a time. */
const MAX_TAKEN_ACKS = 16_384;

/**
 * The encrypted *ACKs taken on a link, by the last two blocks of their ciphertext. A recorded *ACK renumbered to another frame keeps its
 * ciphertext (only the clear header changes) and its time, which can be seconds old and pass `ackNotBefore`: its
 * plaintext (pad|]_time) names neither the sequence number nor the account, so only its bytes tie it to the frame
 * it answered. Under DC-09's all-zero IV the same ciphertext is the same pad and time. From a receiver that pads at
 * random a repeat is therefore a replay. A fixed-pad receiver writes the same bytes for every ACK of one second of
 * its clock; but it answers a frame only after the frame went out, so a repeat can be its answer to a later frame
 * only when that frame went out less than RECEIVER_SECOND_MS after the earlier ACK was taken. Each is kept while its
 * time could still pass `ackNotBefore` (`keepMs` past the later of its time and when it was taken).
 */
export class TakenAcks {
  private readonly taken = new Map<string, { at: number; until: number; seq: string }>();

  constructor(private readonly keepMs: number) {}

  /**
   * The refusal of a replayed *ACK, or undefined after remembering a fresh one; `bytes` is the whole answer, `ack`
   * what interpretAnswer read in it, `frame` the frame it answers with when it first went out.
   */
  take(bytes: Uint8Array, ack: Pick<PanelAnswer, 'receiverTime' | 'fixedPad'>, frame: { seq: string; sentAt: number }, now: number): PanelAnswer | undefined {
    const text = Buffer.from(bytes).toString('latin1');
    // Hex in either letter case decrypts alike. Only the last blocks: under CBC they decrypt as they did whatever
    // blocks are added or dropped before them, and they hold the ]_timestamp (a replay with a block of the
    // attacker's in front still reads as an *ACK when the pad runs over more than one block).
    const ciphertext = text.slice(text.indexOf('[') + 1).trimEnd().toUpperCase().slice(-TAKEN_ACK_TAIL_HEX);
    const earlier = this.taken.get(ciphertext);
    if (earlier !== undefined && now <= earlier.until) {
      if (ack.fixedPad === true && frame.sentAt - earlier.at < RECEIVER_SECOND_MS) return undefined;
      const why = ack.fixedPad === true ? `this frame went out ${Math.round((frame.sentAt - earlier.at) / 100) / 10} s after it was taken` : 'the receiver pads at random';
      return { kind: 'invalid', refusal: 'replayed', detail: `encrypted ACK byte for byte the one taken for sequence ${earlier.seq} ${Math.round((now - earlier.at) / 100) / 10} s ago, and ${why}: a recorded ACK replayed` };
    }
    this.taken.delete(ciphertext);
    this.taken.set(ciphertext, { at: now, until: Math.max(now, ack.receiverTime ?? now) + this.keepMs, seq: frame.seq });
    for (const [oldest, { until }] of this.taken) {
      if (this.taken.size <= MAX_TAKEN_ACKS && until >= now) break;
      this.taken.delete(oldest);
    }
    return undefined;
  }
}

/** The R, L and account fields an answer does not echo as the frame sent them (in either letter case), if any. */
function unechoedIds(answer: Dc09IdFields, sent: PanelIds): string | undefined {
  const fields = [['R', answer.receiver, sent.receiver], ['L', answer.line, sent.line], ['#', answer.account, sent.account]] as const;
  const wrong = fields.filter(([, echoed, own]) => echoed?.toUpperCase() !== own?.toUpperCase());
  if (wrong.length === 0) return undefined;
  return wrong.map(([field, echoed, own]) => `${field}${own ?? ' (none)'} (answered ${echoed === null ? 'without it' : `${field}${echoed}`})`).join(', ');
}

/** The header and ciphertext of an encrypted ACK: `"*ACK"<seq>`, the ID fields (R…L…#acct), `[<hex>`. */
const ENCRYPTED_ACK = /"\*ACK"(\d{4})([^"[]*)\[([0-9A-Fa-f]+)\r?$/;
/**
 * `]`, perhaps a space, then `_` and the receiver's time: what an *ACK's plaintext ends with, but for PKCS#7 padding
 * (ioBroker.sia). At the end, not anywhere: a recorded *ACK with a block of noise added after it decrypts to its
 * own plaintext and then that noise, and its bytes are no longer those taken.
 */
const ACK_PLAINTEXT_TAIL = /\] ?_(\d\d:\d\d:\d\d,\d\d-\d\d-\d{4})([\s\S]{0,16})$/;

/** Nothing, or PKCS#7 padding: n bytes of value n (1-16). */
function isNoneOrPkcs7(rest: string): boolean {
  for (let i = 0; i < rest.length; i++) if (rest.charCodeAt(i) !== rest.length) return false;
  return true;
}

/** An encrypted ACK's clear sequence number and ID fields and its plaintext (latin1) under `key`, if laid out as one. */
function decryptedAck(bytes: Uint8Array, key: Uint8Array): { seq: string; idFields: string; plaintext: string } | undefined {
  const match = ENCRYPTED_ACK.exec(Buffer.from(bytes).toString('latin1'));
  const algorithm = aesCbcName(key);
  if (match === null || algorithm === undefined || match[3]!.length % 32 !== 0) return undefined;
  return { seq: match[1]!, idFields: match[2]!, plaintext: decryptDc09(key, Buffer.from(match[3]!, 'hex'), algorithm).toString('latin1') };
}

/**
 * An `*ACK` off the template that still proves the key: ioBroker.sia pads with 0x00, writes a space before `_` and
 * adds PKCS#7 padding (protocols.md §3.6). It counts when it decrypts under our key to `] _<valid timestamp>`, which
 * random bytes under another key will not.
 */
function quirkyEncryptedAck(bytes: Uint8Array, key: Uint8Array, sent: SentFrame): PanelAnswer | undefined {
  const ack = decryptedAck(bytes, key);
  if (ack === undefined) return undefined;
  const tail = ACK_PLAINTEXT_TAIL.exec(ack.plaintext);
  const receiverTime = tail === null || !isNoneOrPkcs7(tail[2]!) ? null : parseDc09Timestamp(tail[1]!, 0);
  if (receiverTime === null) return undefined;
  if (ack.seq !== sent.seq) return { kind: 'stale', detail: `ACK for sequence ${ack.seq}, waiting for ${sent.seq}` };
  if (sent.echo !== undefined) {
    const ids = parseDc09IdFields(ack.idFields, 0, ack.idFields.length, 'ACK');
    if (typeof ids === 'string') return { kind: 'invalid', refusal: 'not-echoed', detail: `ACK ID fields: ${ids}` };
    const notEchoed = unechoedIds(ids, sent.echo);
    if (notEchoed !== undefined) return { kind: 'invalid', refusal: 'not-echoed', detail: `ACK does not echo the frame's ${notEchoed}` };
  }
  return replayedAck(receiverTime, sent) ?? { kind: 'ack', encrypted: true, receiverTime, fixedPad: padIsFixed(ack.plaintext), detail: 'encrypted ACK off the template (tolerated)' };
}

export type Dc09EventFormat = 'adm-cid' | 'sia-dcs';

/** What a forwarded event becomes inside a DC-09 frame; `notes` name what could not be carried as it was. */
export interface EventFrameContent {
  content: FrameContent;
  extended: Record<string, string>;
  notes: string[];
}

/** Extended fields hold at most 256 characters (protocols.md §3.9). */
const MAX_EXTENDED_TEXT = 256;

/**
 * Text for an [X…] field: one line of ASCII without brackets (they end the field), at most 256 characters; accents
 * are dropped ('Zürich' → 'Zurich'), other letters read '?'. The standard allows Windows-1252 here, but receivers
 * decode frames as UTF-8: ioBroker.sia (src/lib/sia.ts parseSIA) then finds the CRC wrong and NAKs, and pysiaalarm's
 * Home Assistant integration failed on such bytes (eavanvalkenburg/sia issue #32), so the event was never delivered.
 */
function extendedText(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[\u0000-\u001f\u007f[\]]/g, ' ')
    .replace(/[^\u0020-\u007e]/g, '?')
    .trim()
    .slice(0, MAX_EXTENDED_TEXT);
}

/**
 * The event's context as DC-09 extended data (protocols.md §3.9): [H] the panel's time of occurrence, [S] the site,
 * [L] the location on site (the zone's or the door's), [I] the alarm text the panel sent, after `UNVERIFIED <reason>`
 * when the event is unverified, then `panel code <how it reads>` when the code sent replaced the panel's own.
 * After ADM-CID data all of it goes in the one [I] field (`UNVERIFIED …: occurred <H>: site <S>: location <L>: …`):
 * pysiaalarm 3.1.1, Home Assistant's receiver, reads at most one extended field after ADM-CID data
 * (src/pysiaalarm/utils/regexes.py adm_content_regex) and NAKs a frame with more, so the event was never delivered.
 * Its SIA-DCS reading takes any number, as the standard allows.
 */
export function eventExtendedData(event: NormalizedEvent, panelCode: string | null, format: Dc09EventFormat): Record<string, string> {
  const occurredAt = event.occurredAt === null ? Number.NaN : Date.parse(event.occurredAt);
  const occurred = Number.isNaN(occurredAt) ? undefined : formatDc09Timestamp(occurredAt);
  const site = event.site?.name ?? event.site?.id;
  const location = event.zone?.['location'] ?? event.door?.location;
  // An unverified event (no key, unknown account, …) still goes, but the operator must see that nobody vouches for it.
  const trust = event.verified === false ? `UNVERIFIED ${event.unverifiedReason ?? ''}`.trim() : undefined;
  const replaced = panelCode === null ? undefined : `panel code ${panelCode}`;
  const joined = (parts: ReadonlyArray<unknown>): string => parts.filter((part) => typeof part === 'string' && part !== '').join(': ');
  const fields: Array<readonly [string, unknown]> =
    format === 'adm-cid'
      ? [['I', joined([trust, occurred && `occurred ${occurred}`, site && `site ${site}`, typeof location === 'string' && `location ${location}`, event.text, replaced])]]
      : [['H', occurred], ['S', site], ['L', location], ['I', joined([trust, event.text, replaced])]];
  const extended: Record<string, string> = {};
  for (const [letter, value] of fields) {
    const text = typeof value === 'string' ? extendedText(value) : '';
    if (text !== '') extended[letter] = text;
  }
  return extended;
}

/** A stored event as ADM-CID (`#acct|QXYZ GG CCC`) or SIA-DCS (`#acct|Nri1/BA003`) content; null for a heartbeat. */
export function eventFrameContent(event: NormalizedEvent, format: Dc09EventFormat, account: string): EventFrameContent | null {
  if (format === 'adm-cid') {
    const cid = contactIdFieldsForEvent(event);
    if (cid === null) return null;
    const { qualifier, event: code, group, ccc } = cid.fields;
    return { content: { token: 'ADM-CID', dataAccount: account, data: `${qualifier}${code} ${group} ${ccc}` }, extended: eventExtendedData(event, cid.panelCode, format), notes: cid.notes };
  }
  const sia = siaDataForEvent(event);
  if (sia === null) return null;
  return { content: { token: 'SIA-DCS', dataAccount: account, data: sia.data }, extended: eventExtendedData(event, sia.panelCode, format), notes: sia.notes };
}
