import { describe, expect, it } from 'vitest';
import { wrapDc09Body } from '../../../src/codecs/dc09/frame.js';
import { createIdSource } from '../../../src/model/ids.js';
import { decodeFrame } from '../../../src/pipeline/decode-frame.js';
import { eventFromSignal, VERIFIED } from '../../../src/pipeline/event-builder.js';
import { systemClock } from '../../../src/ports.js';

/**
 * A DC-09 SIA-DCS frame whose CRC, length and account are fine but whose DC-03 data the SIA parser refuses is
 * published as one `unrecognized` event (decode-frame.ts unparsedSignal): duress false, so it is also sent to
 * `local` outputs. When the refused data visibly carries the hold-up code HA, the signal "may be duress" (README:
 * every signal that is or may be duress arrives labelled duress: true).
 * - `HA01A`: DC-03 addresses are base 16 per the standard (protocols.md §2.3, openGalaxy Sia.cpp); the parser reads
 *   decimal only and refuses the whole block on the hex digit.
 * - `HA 05`: the code and its address in separate words, which the serial SIA path accepts (`N Ri01 BA 01`, DSC
 *   rendering, quirk spaced-rendering) but the DC-09 path refused.
 * Content still refused (`HA05*`, a `ti` of five digits) but carrying HA where a code stands is a suspected hold-up.
 */
const builder = { ids: createIdSource(systemClock), sites: () => [] };

function published(data: string, token = 'SIA-DCS') {
  const bytes = wrapDc09Body(`"${token}"0001R0L0#1234[${data}]`);
  const decoded = decodeFrame(bytes, {});
  if (!decoded.ok) throw new Error(decoded.error.message);
  return decoded.value.signals.map((s) =>
    eventFromSignal(s, { input: 'dc09', transport: 'tcp', receivedAt: Date.now(), raw: bytes, trust: VERIFIED }, builder),
  );
}

describe('SIA-DCS content the parser refused, carrying a hold-up code', () => {
  for (const data of ['#1234|Nri1/HA01A', '#1234|Nri1/HA 05']) {
    it(`${data} is published labelled as (possible) duress`, () => {
      const events = published(data);
      expect(events.map((e) => `${e.category} duress=${e.duress}`)).toEqual([expect.stringMatching(/duress=true$/)]);
    });
  }

  it('reads them as the standard and the serial path do: HA01A is zone 0x1A, HA 05 zone 5', () => {
    expect(published('#1234|Nri1/HA01A').map((e) => [e.code?.value, e.zone?.number, e.quirks])).toEqual([['HA', 26, ['hex-address']]]);
    expect(published('#1234|Nri1/HA 05').map((e) => [e.code?.value, e.zone?.number, e.quirks])).toEqual([['HA', 5, ['spaced-rendering']]]);
  });

  for (const data of ['#1234|Nri1/HA05*', '#1234|Nti12000/HA05', '#1234|NHA05*']) {
    it(`${data}, still refused, is published as a suspected hold-up, never as unrecognized`, () => {
      const [event, ...rest] = published(data);
      expect(rest).toEqual([]);
      expect(event).toMatchObject({ category: 'holdup', duress: true, code: { value: 'HA' }, text: data.replace('#1234|', '') });
      expect(event!.quirks).toEqual([expect.stringMatching(/^content-unparsed: /), 'duress-suspected: SIA HA in the content']);
    });
  }

  it('ADM-CID content refused but led by a duress code is a suspected duress, with its qualifier', () => {
    expect(published('#1234|1121 01 0G5', 'ADM-CID')).toMatchObject([{ category: 'duress', duress: true, qualifier: 'new' }]);
    expect(published('#1234|3122 01 0G5', 'ADM-CID')).toMatchObject([{ category: 'holdup', qualifier: 'restore' }]);
  });

  it('refused content without a duress code, or with HA only inside a word or a text, stays unrecognized', () => {
    for (const data of ['#1234|Nri1/BA05*', '#1234|Nri1/BA05*^HA 1^', '#1234|NBA05*|AHALL', '#1234|Nri1/BA05*CHAIR'])
      expect(published(data).map((e) => `${data} ${e.category} duress=${e.duress}`)).toEqual([`${data} unrecognized duress=false`]);
    expect(published('#1234|1130 01 0G5', 'ADM-CID').map((e) => e.category)).toEqual(['unrecognized']);
  });
});
