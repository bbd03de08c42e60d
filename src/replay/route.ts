import { detectProtocol, type FrameProtocol } from '../pipeline/decode-frame.js';
import type { InputSettings, SerialInputSettings } from '../settings/settings.js';
import type { ReplayFrame } from './capture.js';

/** Input name of plain-log frames that no configured input speaks the protocol of. */
export const SYNTHETIC_INPUT = 'replay';

/**
 * Where a replayed frame goes. `handler`: the configured input's own frame handler (allowlist, keys, window,
 * answers), exactly as when it was received. `decode`: the generic path (decodeFrame → event builder →
 * recorder) for inputs that have no frame handler and for input names the configuration does not have.
 * `unsupported`: the input's frames cannot be decoded outside its own handler (access-control XML).
 */
export type ReplayRoute =
  | { kind: 'handler'; input: string }
  | { kind: 'decode'; input: string; protocol?: FrameProtocol; strict: boolean }
  | { kind: 'unsupported'; input: string; reason: string };

const SERIAL_PROTOCOLS: Readonly<Record<SerialInputSettings['protocol'], FrameProtocol>> = {
  surgard: 'surgard',
  'contact-id-lines': 'contact-id',
  'sia-dc03-lines': 'sia-dc03',
};

function protocolOf(input: InputSettings): FrameProtocol | undefined {
  if (input.type === 'dc09') return 'dc09';
  if (input.type === 'serial') return SERIAL_PROTOCOLS[input.protocol];
  return undefined;
}

/**
 * A capture record goes to the input it names. A plain-log line names none: it goes to the first input that
 * speaks its (detected) protocol, else to the synthetic `replay` input.
 */
export function routeFrame(frame: ReplayFrame, inputs: readonly InputSettings[], hasHandler: (input: string) => boolean): ReplayRoute {
  if (frame.input === null) {
    const protocol = detectProtocol(frame.bytes);
    const input = inputs.find((i) => protocolOf(i) === protocol);
    return input === undefined ? { kind: 'decode', input: SYNTHETIC_INPUT, protocol, strict: false } : routeToInput(input, hasHandler);
  }
  const input = inputs.find((i) => i.name === frame.input);
  // An input no longer configured: its frames still decode, by detection.
  if (input === undefined) return { kind: 'decode', input: frame.input, strict: false };
  return routeToInput(input, hasHandler);
}

function routeToInput(input: InputSettings, hasHandler: (input: string) => boolean): ReplayRoute {
  if (hasHandler(input.name)) return { kind: 'handler', input: input.name };
  const protocol = protocolOf(input);
  if (protocol === undefined) {
    return { kind: 'unsupported', input: input.name, reason: `${input.type} input ${input.name} has no frame handler to replay through` };
  }
  return { kind: 'decode', input: input.name, protocol, strict: input.type === 'dc09' && input.strict };
}
