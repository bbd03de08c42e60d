import { describe, expect, it } from 'vitest';
import { routeFrame } from '../../../src/replay/route.js';
import type { ReplayFrame } from '../../../src/replay/capture.js';
import { parseSettings, type InputSettings } from '../../../src/settings/settings.js';

function inputs(): InputSettings[] {
  const parsed = parseSettings(
    JSON.stringify({
      inputs: [
        { type: 'access-xml', name: 'doors', port: 8088 },
        { type: 'serial', name: 'line1', path: '/dev/ttyUSB0', protocol: 'surgard' },
        { type: 'serial', name: 'printer', path: '/dev/ttyUSB1', protocol: 'contact-id-lines' },
        { type: 'dc09', name: 'panels', port: 12000, strict: true },
        { type: 'dc09', name: 'panels-b', port: 12001 },
      ],
      outputs: [],
    }),
  );
  if (!parsed.ok) return expect.unreachable(JSON.stringify(parsed.issues));
  return parsed.settings.inputs;
}

const frame = (text: string, input: string | null = null): ReplayFrame => ({
  t: input === null ? null : 0,
  input,
  transport: input === null ? null : 'tcp',
  peer: null,
  bytes: Buffer.from(text, 'latin1'),
});

// Public vectors: 21 (DC-09), 43 (Contact ID), 51 (Sur-Gard MLR2 duress), 54 (SIA DC-03 line).
const DC09 = '\nF4D20029"SIA-DCS"0001RF3L77#1234[#1234|NRR|Atest]\r';
const CONTACT_ID = '1234181131010158';
const SURGARD = '501100 181234E12101001\u0014';
const SIA_DC03 = 'N Ri01 BA 01';

describe('routeFrame', () => {
  const withHandlers = (...names: string[]) => (input: string) => names.includes(input);

  it('sends a capture record to the handler of the input it names', () => {
    expect(routeFrame(frame(DC09, 'panels-b'), inputs(), withHandlers('panels', 'panels-b'))).toEqual({ kind: 'handler', input: 'panels-b' });
  });

  it('decodes with the configured protocol when the input has no handler', () => {
    expect(routeFrame(frame(SURGARD, 'line1'), inputs(), withHandlers('panels'))).toEqual({ kind: 'decode', input: 'line1', protocol: 'surgard', strict: false });
    expect(routeFrame(frame(DC09, 'panels'), inputs(), withHandlers())).toEqual({ kind: 'decode', input: 'panels', protocol: 'dc09', strict: true });
  });

  it('decodes by detection for an input the configuration no longer has, under the recorded name', () => {
    expect(routeFrame(frame(CONTACT_ID, 'old-receiver'), inputs(), withHandlers('panels'))).toEqual({ kind: 'decode', input: 'old-receiver', strict: false });
  });

  it('skips, with a reason, frames of an input that only its own handler can read', () => {
    const route = routeFrame(frame('<Event/>', 'doors'), inputs(), withHandlers('panels'));
    expect(route).toMatchObject({ kind: 'unsupported', input: 'doors' });
  });

  it('sends a plain-log line to the first input speaking its protocol', () => {
    expect(routeFrame(frame(DC09), inputs(), withHandlers('panels', 'panels-b'))).toEqual({ kind: 'handler', input: 'panels' });
    expect(routeFrame(frame(SURGARD), inputs(), withHandlers('panels'))).toEqual({ kind: 'decode', input: 'line1', protocol: 'surgard', strict: false });
    expect(routeFrame(frame(CONTACT_ID), inputs(), withHandlers('panels'))).toEqual({ kind: 'decode', input: 'printer', protocol: 'contact-id', strict: false });
  });

  it('gives a plain-log line no configured input speaks to the synthetic replay input', () => {
    expect(routeFrame(frame(SIA_DC03), inputs(), withHandlers('panels'))).toEqual({ kind: 'decode', input: 'replay', protocol: 'sia-dc03', strict: false });
    expect(routeFrame(frame(DC09), [], withHandlers())).toEqual({ kind: 'decode', input: 'replay', protocol: 'dc09', strict: false });
  });
});
