import { detectProtocol, type FrameProtocol } from '../pipeline/decode-frame.js';
import type { ReplayFrame } from './capture.js';

/** Input name of plain-log frames that no configured input speaks the protocol of. */
export const SYNTHETIC_INPUT = 'replay';

/** A configured input as routing sees it: its name and the protocol its frames are in (undefined: none detectable). */
export interface RouteTarget {
  name: string;
  protocol: FrameProtocol | undefined;
}

/**
 * Where a replayed frame goes. `input`: the configured input's own receiver (allowlist, keys, window, retransmits,
 * NAKs, answers), exactly as when it was received. `decode`: the generic path (decodeFrame → event builder →
 * recorder) for input names the configuration does not have and for plain-log frames no input speaks.
 */
export type ReplayRoute<T extends RouteTarget> = { kind: 'input'; input: T } | { kind: 'decode'; input: string; protocol?: FrameProtocol };

/**
 * A capture record goes to the input it names. A plain-log line names none: it goes to the first input that
 * speaks its (detected) protocol, else to the synthetic `replay` input.
 */
export function routeFrame<T extends RouteTarget>(frame: ReplayFrame, inputs: readonly T[]): ReplayRoute<T> {
  if (frame.input === null) {
    const protocol = detectProtocol(frame.bytes);
    const input = inputs.find((i) => i.protocol === protocol);
    return input === undefined ? { kind: 'decode', input: SYNTHETIC_INPUT, protocol } : { kind: 'input', input };
  }
  const input = inputs.find((i) => i.name === frame.input);
  // An input no longer configured: its frames still decode, by detection.
  return input === undefined ? { kind: 'decode', input: frame.input } : { kind: 'input', input };
}
