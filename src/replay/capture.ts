import { parseFrameText } from '../codecs/escapes.js';
import { fail, ok, type DecodeResult } from '../codecs/result.js';
import { isoTimeMs, TRANSPORTS, type Transport } from '../model/event.js';

/**
 * One frame to replay. A capture record (`run --capture`) knows when, where and from whom it came; a plain-log
 * line knows only its bytes, so those fields are null.
 */
export interface ReplayFrame {
  /** Recorded receive time (ms since the epoch). */
  t: number | null;
  input: string | null;
  transport: Transport | null;
  peer: string | null;
  bytes: Uint8Array;
  /** Set when the input discarded these bytes live before decoding them: a replay counts them and feeds them nowhere. */
  discarded?: DiscardNote;
}

/**
 * Why and how much an input discarded unread (`run --capture`): `count` runs for `reason` since the last such
 * record of this sender, `bytes` long in all; the record's hex holds the first run, cut at MAX_DISCARD_SAMPLE_BYTES.
 */
export interface DiscardNote {
  reason: string;
  count: number;
  bytes: number;
}

/** The most bytes of a discarded run a capture record keeps: enough for any panel's frame, little for a flood. */
export const MAX_DISCARD_SAMPLE_BYTES = 1024;

/** The capture line `run --capture` writes and `replay` reads (also the golden tests' frame format). */
export interface CaptureRecord {
  t: string;
  input: string;
  transport: string;
  peer?: string;
  hex: string;
  discarded?: DiscardNote;
}

const OPEN_BRACE = 0x7b;

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** The capture line for a frame, as `run --capture` appends it. */
export function captureLine(frame: Uint8Array, at: number, input: string, transport: string, peer: string, discarded?: DiscardNote): string {
  const record: CaptureRecord = { t: new Date(at).toISOString(), input, transport, peer, hex: Buffer.from(frame).toString('hex') };
  if (discarded !== undefined) record.discarded = { reason: discarded.reason, count: discarded.count, bytes: discarded.bytes };
  return JSON.stringify(record);
}

/**
 * One line of a replay file → the frame it holds; null for a blank line. A line starting with `{` is a capture
 * record; any other line is a plain-log frame written with `\n \r \t \\ \xNN` escapes (no frame starts with `{`).
 */
export function parseReplayLine(line: string): DecodeResult<ReplayFrame> | null {
  const text = line.endsWith('\r') ? line.slice(0, -1) : line;
  // A capture line starts with its `{`: one character look before any trimming (a million lines a replay).
  if (text.charCodeAt(0) === OPEN_BRACE) return parseCaptureRecord(text);
  if (text.trim() === '') return null;
  if (text.trimStart().startsWith('{')) return parseCaptureRecord(text);
  const bytes = parseFrameText(text);
  if (!bytes.ok) return malformed(bytes.error.message, text);
  return ok({ t: null, input: null, transport: null, peer: null, bytes: bytes.value });
}

/**
 * The file's last line when no LF ends it. A capture record (`{`) that does not parse there was cut short while it
 * was written (the gateway stopped mid-write), and so is a run of NULs: REPLAY_FILE_TRUNCATED, not a malformed
 * line. A plain-log line needs no LF after it.
 */
export function parseLastReplayLine(line: string): DecodeResult<ReplayFrame> | null {
  // A file system that lost the last write in a crash can leave zero bytes where it was: no frame is all NULs.
  const lostWrite = /^\0+$/.test(line);
  const parsed = lostWrite ? null : parseReplayLine(line);
  if (!lostWrite && (parsed === null || parsed.ok || !line.trimStart().startsWith('{'))) return parsed;
  return fail('REPLAY_FILE_TRUNCATED', 'the file ends inside this record, cut short while it was written (the gateway stopped mid-write?); the whole records before it were replayed', line);
}

/**
 * A line exactly as captureLine writes it, with no escape or control character in any value: its fields are
 * the JSON's without JSON.parse, which was a third of reading a replay line. Anything else goes through JSON.parse.
 */
const PLAIN_STRING = String.raw`"([^"\\\x00-\x1f]*)"`;
const WRITTEN_RECORD = new RegExp(
  String.raw`^\{"t":${PLAIN_STRING},"input":${PLAIN_STRING},"transport":${PLAIN_STRING}(?:,"peer":${PLAIN_STRING})?,"hex":${PLAIN_STRING}\}$`,
);

function parseCaptureRecord(text: string): DecodeResult<ReplayFrame> {
  const written = WRITTEN_RECORD.exec(text);
  if (written !== null) return checkedRecord({ t: written[1], input: written[2], transport: written[3], peer: written[4], hex: written[5] }, text);
  // Text starting with `{` parses to an object or not at all.
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(text) as Record<string, unknown>;
  } catch (error) {
    return malformed(`not valid JSON: ${(error as Error).message}`, text);
  }
  return checkedRecord(record, text);
}

function checkedRecord(record: Record<string, unknown>, text: string): DecodeResult<ReplayFrame> {
  const { t, input, transport, peer, hex, discarded } = record;
  const at = typeof t === 'string' && ISO_TIME.test(t) ? isoTimeMs(t) : Number.NaN;
  if (typeof t !== 'string' || Number.isNaN(at)) {
    return malformed('"t" must be an ISO-8601 time such as 2024-05-01T12:00:00.000Z', text);
  }
  if (typeof input !== 'string' || input === '') return malformed('"input" must be the name of an input', text);
  if (typeof transport !== 'string' || !isTransport(transport)) {
    return malformed(`"transport" must be one of ${TRANSPORTS.join(', ')}`, text);
  }
  if (peer !== undefined && typeof peer !== 'string') return malformed('"peer" must be a string when present', text);
  const note = discarded === undefined ? undefined : discardNoteOf(discarded);
  if (note === null) return malformed('"discarded" must be {reason, count, bytes}: a reason code and two counts', text);
  // Node's hex decoder stops at the first pair that is not hex: the whole text was hex exactly when every pair
  // came out as a byte.
  if (typeof hex !== 'string' || hex.length === 0 || hex.length % 2 !== 0) return badHex(text);
  // Memory of its own (Buffer.from would take a slice of Node's shared pool and keep the pool alive), decoded in place.
  const bytes = new Uint8Array(hex.length / 2);
  if (Buffer.from(bytes.buffer).write(hex, 'hex') !== bytes.length) return badHex(text);
  const frame: ReplayFrame = { t: at, input, transport, peer: peer ?? null, bytes };
  if (note !== undefined) frame.discarded = note;
  return ok(frame);
}

function discardNoteOf(value: unknown): DiscardNote | null {
  if (typeof value !== 'object' || value === null) return null;
  const { reason, count, bytes } = value as Record<string, unknown>;
  const isCount = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;
  if (typeof reason !== 'string' || reason === '' || !isCount(count) || !isCount(bytes)) return null;
  return { reason, count, bytes };
}

function badHex(text: string): DecodeResult<never> {
  return malformed('"hex" must be a non-empty, even number of hex digits', text);
}

function isTransport(value: string): value is Transport {
  return (TRANSPORTS as readonly string[]).includes(value);
}

function malformed(message: string, text: string): DecodeResult<never> {
  return fail('REPLAY_LINE_MALFORMED', message, text);
}
