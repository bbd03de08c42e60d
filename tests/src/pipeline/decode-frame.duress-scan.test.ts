import { describe, expect, it } from 'vitest';
import { wrapDc09Body } from '../../../src/codecs/dc09/frame.js';
import { createIdSource } from '../../../src/model/ids.js';
import { decodeFrame } from '../../../src/pipeline/decode-frame.js';
import { eventFromSignal, VERIFIED } from '../../../src/pipeline/event-builder.js';
import { systemClock } from '../../../src/ports.js';

/**
 * suspectedDuressCode: refused SIA-DCS content is searched for a catalogued
 * duress/hold-up code "where a code stands" (after a block's N/O letter, '/', '|', space or a modifier's digit).
 * SIA_CODE_PLACE's lookbehind has a bare `^` alternative and a `[|…]` alternative, so at the very start of a block
 * the N itself is read as the first letter of a code: `NDG05` (access granted), `NDF05` (door forced), `NDR01`
 * (door restore) hold "ND", SIA's duress code. Any refusal (a bad '*', an unknown trailing block, strict mode with a
 * long address) then publishes an ordinary door event as a NEW DURESS: an incident, a duress to the centre, covert.
 */
const builder = { ids: createIdSource(systemClock), sites: () => [] };

function published(data: string, strict = false) {
  const bytes = wrapDc09Body(`"SIA-DCS"0001R0L0#1234[${data}]`);
  const decoded = decodeFrame(bytes, { strict });
  if (!decoded.ok) throw new Error(decoded.error.message);
  return decoded.value.signals.map((s) =>
    eventFromSignal(s, { input: 'dc09', transport: 'tcp', receivedAt: Date.now(), raw: bytes, trust: VERIFIED }, builder),
  );
}

describe('duress-suspected scan of refused SIA-DCS content', () => {
  for (const [data, strict] of [
    ['#1234|NDG05*', false],
    ['#1234|NDF05|Zx', false],
    ['#1234|NDG00123', true],
  ] as const) {
    it(`${data}${strict ? ' (strict)' : ''}: a door code after the block letter N is not the duress code ND`, () => {
      const events = published(data, strict);
      expect(events.map((e) => `${e.code?.value} ${e.category} duress=${e.duress}`)).toEqual([expect.stringMatching(/duress=false$/)]);
    });
  }

  // Comment on SIA_CODE_PLACE: "not followed by a third letter (a word)"; the regex only refuses two more letters.
  it('#1234|Nri1/BA05 HAL: HA inside the three-letter word HAL is not a hold-up', () => {
    expect(published('#1234|Nri1/BA05 HAL').map((e) => `${e.category} duress=${e.duress}`)).toEqual(['unrecognized duress=false']);
  });

  // Sur-Gard passes a panel's `NriHA` through (README `empty-modifier`, serial-receiver.test.ts): HA stands as a code
  // there, the parser itself reads it as one. Refused (strict, or any other fault), the scan misses it because the
  // letter before H is the modifier's 'i', not a digit or a separator.
  for (const [data, strict] of [
    ['#1234|NriHA05', true],
    ['#1234|NriHA05*', false],
  ] as const) {
    it(`${data}${strict ? ' (strict)' : ''}: the hold-up after an empty ri is a suspected hold-up`, () => {
      expect(published(data, strict).map((e) => `${e.code?.value} ${e.category} duress=${e.duress}`)).toEqual(['HA holdup duress=true']);
    });
  }

  // The Galaxy level 0-1 rendering `#1234 NBA0001` (account then a space) is accepted on serial lines; inside DC-09
  // it is refused, and the scan drops the whole `#…` block up to '|' as "an account", hold-up included.
  it('#1234 Nri1/HA05 (account followed by a space) is not published as a non-duress unrecognized event', () => {
    expect(published('#1234 Nri1/HA05').map((e) => `${e.category} duress=${e.duress}`)).toEqual([expect.stringMatching(/duress=true$/)]);
  });
});

describe('duress-suspected keeps what the block says of the event', () => {
  // An O block is an old event / status report (DC-03; README: a status report keeps duress with qualifier status
  // and opens no incident). suspectedDuressCode returns qualifier null for SIA, so a refused O block reads as NEW.
  it('#1234|OHA05* (a status report of a hold-up) is published with qualifier status, not as a new hold-up', () => {
    expect(published('#1234|OHA05*').map((e) => `${e.category} ${e.qualifier} duress=${e.duress}`)).toEqual(['holdup status duress=true']);
  });
});

describe('duress-suspected keeps the numbers it can read', () => {
  it('#1234|Nri2/HA05* names zone 5 in area 2', () => {
    expect(published('#1234|Nri2/HA05*').map((e) => `${e.category} zone=${e.zone?.number} area=${e.partition?.number}`)).toEqual(['holdup zone=5 area=2']);
  });
});

// The parser reads a duress or hold-up code in any case, with the quirk miscased-code, which strict mode refuses (as
// does any other fault beside it): the scan must then still see the hold-up, whatever its case.
describe('duress-suspected scan reads SIA codes in any case', () => {
  for (const [data, strict] of [
    ['#1234|Nri1/ha01', true],
    ['#1234|NHa01', true],
    ['#1234|Nri1/hA01*', false],
    ['#1234|Nha*', false],
  ] as const) {
    it(`${data}${strict ? ' (strict)' : ''} is a suspected hold-up, its spelling named`, () => {
      const [event, ...rest] = published(data, strict);
      expect(rest).toEqual([]);
      expect(event).toMatchObject({ category: 'holdup', duress: true, code: { value: 'HA' } });
      expect(event!.quirks).toContain(`duress-suspected: SIA HA in the content (written ${/ha/i.exec(data)![0]})`);
    });
  }

  it('#1234|Nri1/ha01, not strict, is read as the hold-up it is', () => {
    expect(published('#1234|Nri1/ha01').map((e) => `${e.code?.value} ${e.category} duress=${e.duress} ${e.quirks}`)).toEqual(['HA holdup duress=true miscased-code']);
  });

  it('#1234|Nri1/ba05* (a lowercase burglary) stays unrecognized', () => {
    expect(published('#1234|Nri1/ba05*').map((e) => `${e.category} duress=${e.duress}`)).toEqual(['unrecognized duress=false']);
  });
});
