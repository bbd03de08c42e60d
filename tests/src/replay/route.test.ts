import { describe, expect, it } from 'vitest';
import { routeFrame } from '../../../src/replay/route.js';
import type { ReplayFrame } from '../../../src/replay/capture.js';
import type { RouteTarget } from '../../../src/replay/route.js';

function inputs(): RouteTarget[] {
  return [
    { name: 'doors', protocol: undefined },
    { name: 'line1', protocol: 'surgard' },
    { name: 'printer', protocol: 'contact-id' },
    { name: 'panels', protocol: 'dc09' },
    { name: 'panels-b', protocol: 'dc09' },
  ];
}

const target = (name: string) => inputs().find((i) => i.name === name);

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
  it('sends a capture record to the receiver of the input it names, whatever its type', () => {
    expect(routeFrame(frame(DC09, 'panels-b'), inputs())).toEqual({ kind: 'input', input: target('panels-b') });
    expect(routeFrame(frame(SURGARD, 'line1'), inputs())).toEqual({ kind: 'input', input: target('line1') });
    expect(routeFrame(frame('<Event/>', 'doors'), inputs())).toEqual({ kind: 'input', input: target('doors') });
  });

  it('decodes by detection for an input the configuration no longer has, under the recorded name', () => {
    expect(routeFrame(frame(CONTACT_ID, 'old-receiver'), inputs())).toEqual({ kind: 'decode', input: 'old-receiver' });
  });

  it('sends a plain-log line to the first input speaking its protocol', () => {
    expect(routeFrame(frame(DC09), inputs())).toEqual({ kind: 'input', input: target('panels') });
    expect(routeFrame(frame(SURGARD), inputs())).toEqual({ kind: 'input', input: target('line1') });
    expect(routeFrame(frame(CONTACT_ID), inputs())).toEqual({ kind: 'input', input: target('printer') });
  });

  it('gives a plain-log line no configured input speaks to the synthetic replay input', () => {
    expect(routeFrame(frame(SIA_DC03), inputs())).toEqual({ kind: 'decode', input: 'replay', protocol: 'sia-dc03' });
    expect(routeFrame(frame(DC09), [])).toEqual({ kind: 'decode', input: 'replay', protocol: 'dc09' });
  });
});
