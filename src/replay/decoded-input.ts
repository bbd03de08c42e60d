import { unexpectedAnswer } from '../codecs/dc09/responses.js';
import { decodeFrame, type FrameProtocol } from '../pipeline/decode-frame.js';
import { eventFromSignal, signalIsDuress, type EventBuilderDeps, type FrameOrigin } from '../pipeline/event-builder.js';
import type { Recorder } from '../pipeline/recorder.js';
import type { Counters } from '../observability/counters.js';
import type { NormalizedEvent } from '../model/event.js';

export interface DecodedInputDeps {
  recorder: Recorder;
  builder: EventBuilderDeps;
  counters: Counters;
}

export type DecodedOutcome = { ok: true; events: NormalizedEvent[] } | { ok: false; code: string; message: string };

/**
 * The generic path for a replayed frame no configured input takes (an input since removed, a plain-log line no input
 * speaks): decode (detecting the protocol when it is not given), build the events, store them through the recorder. As on the DC-09 input,
 * a link heartbeat is not stored, and a refused frame is counted under its error code.
 */
export async function recordDecodedFrame(
  origin: FrameOrigin,
  protocol: FrameProtocol | undefined,
  deps: DecodedInputDeps,
): Promise<DecodedOutcome> {
  const { counters, recorder, builder } = deps;
  const decoded = decodeFrame(origin.raw, protocol === undefined ? {} : { protocol });
  const rejected = ({ code, message }: { code: string; message: string }): DecodedOutcome => {
    counters.inc('frames_rejected_total', { input: origin.input, code });
    return { ok: false, code, message };
  };
  if (!decoded.ok) return rejected(decoded.error);
  // A receiver's answer is refused as the DC-09 input refuses it: it carries no event.
  if (decoded.value.answer !== undefined) return rejected(unexpectedAnswer(decoded.value.answer.token));
  counters.inc('frames_total', { input: origin.input, protocol: decoded.value.protocol, result: 'decoded' });
  const signals = decoded.value.signals.filter((s) => s.code !== null || s.access !== undefined);
  if (signals.length === 0) {
    counters.inc('heartbeats_total', { input: origin.input });
    return { ok: true, events: [] };
  }
  const recorded = await recorder.record(signals.map((signal) => eventFromSignal(signal, origin, builder)));
  return recorded.ok ? { ok: true, events: recorded.events } : { ok: false, code: recorded.error.code, message: recorded.error.message };
}

/**
 * Whether bytes an input discarded live (a capture's `discarded` record) hold a duress or hold-up (the event's `duress` flag), decoded by detection and
 * classified with nothing built or stored: replay names such records, since live no one saw them. Encrypted DC-09
 * cannot be read without its input's key, and is not named.
 */
export function carriesDuress(bytes: Uint8Array, builder: EventBuilderDeps): boolean {
  const decoded = decodeFrame(bytes);
  return decoded.ok && decoded.value.signals.some((signal) => signalIsDuress(signal, builder));
}
