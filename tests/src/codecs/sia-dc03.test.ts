import { describe, expect, it } from 'vitest';
import sia from '../../../src/catalog/sia.json' with { type: 'json' };
import { ADDRESS_KINDS, type CodeTable } from '../../../src/catalog/types.js';
import { CASE_INSENSITIVE_MODIFIERS, decodeSiaLine, parseSiaData } from '../../../src/codecs/sia-dc03.js';
import { decodeSiaBlock, encodeSiaBlock, readUnsupportedSiaBlock } from '../../../src/codecs/sia-dc03-block.js';
import type { SiaData, SiaOptions } from '../../../src/codecs/sia-dc03.js';
import type { DecodeResult } from '../../../src/codecs/result.js';
import { CATEGORIES } from '../../../src/model/event.js';
import { isGatewayError } from '../../../src/errors.js';

const catalog: CodeTable = sia as CodeTable;

function parsed(data: string, options?: SiaOptions): SiaData {
  const result = parseSiaData(data, options);
  if (!result.ok) throw new Error(`expected "${data}" to parse: ${result.error.message}`);
  return result.value;
}

function errorOf<T>(result: DecodeResult<T>): { code: string; message: string } {
  if (result.ok) throw new Error('expected a decode error');
  return result.error;
}

const codes = (data: SiaData): string[] => data.events.map((event) => event.code?.value ?? '?');

describe('SIA code catalogue (src/catalog/sia.json)', () => {
  it('lists the 325 two-letter codes of pysiaalarm data/sia_codes.py, Ajax additions included, and HV', () => {
    const keys = Object.keys(catalog);
    // HV (Ajax's confirmed hold-up) is in pysiaalarm's adm_mapping.py, as CID 129's pair, not in its sia_codes.py.
    expect(keys).toHaveLength(326);
    for (const key of keys) expect(key).toMatch(/^[A-Z]{2}$/);
    for (const ajax of ['PC', 'PD', 'PE', 'PF', 'PG', 'PO', 'SM', 'XC', 'ZY', 'ZZ', 'AF', 'NB', 'ND', 'NE', 'NO', 'NP', 'CB', 'CC', 'OB']) {
      expect(catalog[ajax], ajax).toBeDefined();
    }
  });

  it('uses only known categories, address kinds and qualifiers', () => {
    for (const [code, entry] of Object.entries(catalog)) {
      expect(CATEGORIES, code).toContain(entry.category);
      expect(ADDRESS_KINDS, code).toContain(entry.address);
      expect([undefined, 'restore'], code).toContain(entry.qualifier);
      expect(entry.description.trim(), code).not.toBe('');
    }
  });

  it('makes HA a silent hold-up and keeps its restores hold-up, silent, restore', () => {
    expect(catalog['HA']).toMatchObject({ category: 'holdup', silent: true, address: 'zone' });
    expect(catalog['HA']?.qualifier).toBeUndefined();
    for (const code of ['HH', 'HR']) expect(catalog[code]).toMatchObject({ category: 'holdup', qualifier: 'restore', silent: true });
    const silent = Object.entries(catalog).filter(([, entry]) => entry.silent === true).map(([code]) => code);
    expect(silent.sort()).toEqual(['HA', 'HH', 'HR', 'HV', 'ND']);
  });

  it('classifies panic, medical and their restores', () => {
    expect(catalog['PA']?.category).toBe('panic');
    for (const code of ['PH', 'PR']) expect(catalog[code]).toMatchObject({ category: 'panic', qualifier: 'restore' });
    for (const code of ['MA', 'QA']) expect(catalog[code]?.category).toBe('medical');
    for (const code of ['MH', 'MR', 'QH', 'QR']) expect(catalog[code]).toMatchObject({ category: 'medical', qualifier: 'restore' });
  });

  it('keeps device states of life-safety zones out of the alarm categories', () => {
    for (const code of ['HB', 'PB', 'MB', 'QB']) expect(catalog[code]?.category).toBe('bypass');
    for (const code of ['HU', 'PU', 'MU', 'QU']) expect(catalog[code]).toMatchObject({ category: 'bypass', qualifier: 'restore' });
    for (const code of ['HT', 'PT', 'MT', 'QT']) expect(catalog[code]?.category).toBe('trouble');
    for (const code of ['HS', 'PS', 'MS', 'QS']) expect(catalog[code]?.category).toBe('supervisory');
  });

  it('follows the test, supervisory and unrecognized lists of protocols.md §2.4/§6', () => {
    for (const code of ['RP', 'RX', 'RY', 'TX', 'TS', 'TE', 'TC', 'TP', 'BX', 'FX', 'GX', 'FI', 'FK']) {
      expect(catalog[code]?.category, code).toBe('test');
    }
    for (const code of ['YC', 'YK', 'YS', 'NT', 'NR', 'LT', 'LR', 'BZ', 'FZ', 'UZ', 'EM', 'EN', 'XL', 'XX']) {
      expect(catalog[code]?.category, code).toBe('supervisory');
    }
    for (const code of ['YN', 'YO']) expect(catalog[code]?.category).toBe('unrecognized');
    expect(catalog['DU']?.category).toBe('status');
    expect(catalog['ND']).toMatchObject({ category: 'duress', address: 'partition', silent: true });
    expect(catalog['JA']?.category).toBe('tamper');
  });

  it('gives openings and closings a user address', () => {
    for (const code of ['OP', 'OR', 'OK', 'CL', 'CK', 'CR', 'CF', 'CQ', 'OQ']) {
      expect(catalog[code]?.address, code).toBe('user');
    }
    for (const code of ['OP', 'OA', 'OG', 'OR']) expect(catalog[code]?.category).toBe('opening');
    for (const code of ['CL', 'CA', 'CG', 'CK', 'CR']) expect(catalog[code]?.category).toBe('closing');
  });

  it('marks every restoral-named code as a restore and every bypass-named code as bypass', () => {
    for (const [code, entry] of Object.entries(catalog)) {
      if (/Restor/.test(entry.description)) expect(entry.qualifier, code).toBe('restore');
      if (/ Unbypass$/.test(entry.description)) expect(entry, code).toMatchObject({ category: 'bypass', qualifier: 'restore' });
      else if (/ Bypass$/.test(entry.description)) expect(entry, code).toMatchObject({ category: 'bypass' });
    }
  });

  it('has no code spelled like a case-insensitive modifier', () => {
    for (const modifier of CASE_INSENSITIVE_MODIFIERS) expect(catalog[modifier.toUpperCase()], modifier).toBeUndefined();
    for (const colliding of ['DA', 'PH', 'PT', 'SS']) expect(catalog[colliding], colliding).toBeDefined();
  });
});

describe('parseSiaData: several events per block', () => {
  it('returns closing by user 22 AND panic zone 31 (SG Automation Output 4.7, vector with /id22/CL/PA31)', () => {
    const data = parsed('#1234|Nda04-22-94ti16:02:15/id22/CL/PA31');
    expect(codes(data)).toEqual(['CL', 'PA']);
    expect(data.events.map((event) => [event.user, event.address])).toEqual([
      [22, null],
      [22, 31],
    ]);
    expect(data.events.every((event) => event.occurredAt === '1994-04-22T16:02:15.000Z')).toBe(true);
  });

  it('keeps every packet in order, however many there are', () => {
    const data = parsed('NBA1/BA2/FA3/HA4/RP');
    expect(codes(data)).toEqual(['BA', 'BA', 'FA', 'HA', 'RP']);
    expect(data.events.map((event) => event.address)).toEqual([1, 2, 3, 4, null]);
  });

  it('collects the events of several N/O blocks in one data string', () => {
    const data = parsed('#1234|NBA1|OFA2');
    expect(codes(data)).toEqual(['BA', 'FA']);
    expect(data.events.map((event) => event.qualifier)).toEqual([null, 'status']);
  });

  it('reads packets that follow each other without "/" and labels it', () => {
    const data = parsed('NOP001NM');
    expect(codes(data)).toEqual(['OP', 'NM']);
    expect(data.quirks).toEqual(['no-slash-before-code']);
    expect(data.events[1]?.quirks).toEqual(['no-slash-before-code']);
  });

  it('accepts an unknown two-letter code; the catalogue classifies it later', () => {
    const data = parsed('NQQ12');
    expect(data.events[0]?.code).toEqual({ scheme: 'sia', value: 'QQ' });
    expect(catalog['QQ']).toBeUndefined();
  });
});

describe('parseSiaData: modifiers', () => {
  it('applies a modifier to the packets after it, not before it', () => {
    const data = parsed('NBA1/ri2/BA3/id7/BA5');
    expect(data.events.map((event) => [event.partition, event.user])).toEqual([
      [null, null],
      [2, null],
      [2, 7],
    ]);
  });

  it('lets a later modifier replace an earlier one', () => {
    expect(parsed('Nri1/BA1/ri2/BA2').events.map((event) => event.partition)).toEqual([1, 2]);
  });

  it('starts every N/O block without modifiers', () => {
    expect(parsed('Nri1/id3/BA1|NBA2').events[1]).toMatchObject({ partition: null, user: null });
  });

  it('reads ri/id/address as decimal, keeping zero', () => {
    expect(parsed('Nri0010/id0012/HA0010').events[0]).toMatchObject({ partition: 10, user: 12, address: 10 });
    expect(parsed('NHA00').events[0]?.address).toBe(0);
  });

  it('puts modifiers without a Signal field into extended', () => {
    const event = parsed('Npi6/ai2/ph1/lv3/va42/pt1/rg05/ss9/BA1').events[0];
    expect(event?.extended).toEqual({ pi: '6', ai: '2', ph: '1', lv: '3', va: '42', pt: '1', rg: '05', ss: '9' });
  });

  it('builds occurredAt from da+ti only, keeping the raw values', () => {
    const onlyTime = parsed('Nti19:44/id1/RP').events[0];
    expect(onlyTime?.occurredAt).toBeNull();
    expect(onlyTime?.extended).toEqual({ ti: '19:44' });
    expect(parsed('Nda12-31-99ti23:59/BA1').events[0]?.occurredAt).toBe('1999-12-31T23:59:00.000Z');
    expect(parsed('Nda01-02-69ti00:00:01/BA1').events[0]?.occurredAt).toBe('2069-01-02T00:00:01.000Z');
    expect(parsed('Nda01-02-70ti00:00:01/BA1').events[0]?.occurredAt).toBe('1970-01-02T00:00:01.000Z');
  });

  // Bosch B/G series write `tihhmm` (installation manual F.01U.287.180 §22.2.1): the same time, named as a quirk.
  it('reads a time without its colon (HHMM) as that time, with a quirk, and refuses it when strict', () => {
    const data = parsed('Nda12-07-26ti2315/BA1');
    expect(data.events[0]?.occurredAt).toBe('2026-12-07T23:15:00.000Z');
    expect(data.events[0]?.extended).toEqual({ da: '12-07-26', ti: '2315' });
    expect(data.quirks).toEqual(['time-without-colon']);
    expect(parsed('Nda12-07-26ti2460/BA1').quirks).toEqual(['time-without-colon', 'invalid-timestamp']);
    expect(errorOf(parseSiaData('Nti2315/BA1', { strict: true })).message).toContain('time-without-colon');
    // Before, the whole block was refused: a panic in it came out unrecognized, not as a panic.
    expect(parsed('Nri01/ti1230PA0003').events.map((event) => [event.code?.value, event.partition, event.address])).toEqual([['PA', 1, 3]]);
    // Five or six digits are no HHMM: still refused, as every other malformed time.
    expect(errorOf(parseSiaData('Nti23150/BA1')).message).toContain("'ti'");
  });

  it('leaves occurredAt null for a weekday date (month 00)', () => {
    const data = parsed('Nda00-03-00ti10:00/BA1');
    expect(data.events[0]?.occurredAt).toBeNull();
    expect(data.quirks).toEqual([]);
  });

  it('labels an impossible date and rejects it when strict', () => {
    const data = parsed('Nda02-30-21ti10:00/BA1');
    expect(data.events[0]?.occurredAt).toBeNull();
    expect(data.quirks).toEqual(['invalid-timestamp']);
    expect(errorOf(parseSiaData('Nda13-01-21ti10:00/BA1', { strict: true })).code).toBe('SIA03_FORMAT_INVALID');
    expect(parsed('Nda01-01-21ti24:00/BA1').quirks).toEqual(['invalid-timestamp']);
  });

  it('names the modifier whose value is malformed', () => {
    expect(errorOf(parseSiaData('Nda2021-01-01/BA1')).message).toContain("'da'");
    expect(errorOf(parseSiaData('Nti1:5/BA1')).message).toContain("'ti'");
    expect(errorOf(parseSiaData('Nda/BA1')).message).toContain("'da' at offset 1 has no valid value (MM-DD-YY)");
    expect(errorOf(parseSiaData('Nri1234567890/BA1')).message).toContain("'ri' has more than 9 digits");
  });

  // SG-System III manual, DRL3 option 72 "Force SIA Zone Number" (off by default): "[#1234|NriBA] becomes
  // [#1234|NriBA00]" only when on. pysiaalarm reads `ri` and `id` with `\d*` too.
  it('reads a numeric modifier without digits as no number, with a quirk, and refuses it when strict', () => {
    expect(parsed('#1234|NriHA').events[0]).toMatchObject({ code: { value: 'HA' }, partition: null });
    const data = parsed('Nri1/BA1/ri/id/BA2/pi/HA3');
    expect(data.events.map((event) => [event.code?.value, event.partition, event.user])).toEqual([
      ['BA', 1, null],
      ['BA', null, null],
      ['HA', null, null],
    ]);
    expect(data.events[2]?.extended).toEqual({ pi: '' });
    expect(data.quirks).toEqual(['empty-modifier']);
    expect(errorOf(parseSiaData('NriBA', { strict: true })).message).toContain('empty-modifier');
    expect(errorOf(parseSiaData('NtiBA')).message).toContain("'ti' at offset 1 has no valid value (HH:MM, HH:MM:SS or HHMM)");
  });

  it('keeps an unknown lowercase modifier with a quirk', () => {
    const data = parsed('Nxy12/BA1');
    expect(data.events[0]?.extended).toEqual({ xy: '12' });
    expect(data.quirks).toEqual(['unknown-modifier']);
    expect(errorOf(parseSiaData('Nxy12/BA1', { strict: true })).message).toContain('unknown-modifier');
  });

  // Modifiers are two lowercase letters, codes two capitals: a panel writing its hold-up `ha` had it read as an
  // unknown modifier, and after another code (`BA01/ha02`) the hold-up vanished from a block that still parsed.
  it('reads a duress or hold-up code written in lowercase or mixed case as that code, never as a modifier', () => {
    for (const [data, expected] of [
      ['Nri1/BA01/ha02', ['BA', 'HA']],
      ['Nri1/ha01', ['HA']],
      ['NhA01/nd02', ['HA', 'ND']],
    ] as const) {
      const data_ = parsed(data);
      expect(codes(data_)).toEqual(expected);
      expect(data_.quirks).toEqual(['miscased-code']);
      expect(errorOf(parseSiaData(data, { strict: true })).message).toContain('miscased-code');
    }
    expect(parsed('Nri1/ha05').events[0]).toMatchObject({ address: 5, partition: 1 });
  });

  it('labels modifiers that follow the last packet of a block', () => {
    expect(parsed('NBA1/ri2').quirks).toEqual(['modifier-after-last-event']);
  });
});

describe('parseSiaData: packets', () => {
  it('reads a *units suffix into extended', () => {
    expect(parsed('NBA12*345ab/BA2').events.map((event) => event.extended)).toEqual([
      { units: '345', unitType: 'ab' },
      {},
    ]);
    expect(errorOf(parseSiaData('NBA12*')).message).toContain('units');
  });

  it('labels addresses longer than 4 digits', () => {
    const data = parsed('NBA12345');
    expect(data.events[0]?.address).toBe(12345);
    expect(data.quirks).toEqual(['long-address']);
  });

  // protocols.md §2.3: addresses are base 16 per the standard (Galaxy sends base 10, read as such).
  it('reads an address with a hex letter as base 16, and two adjacent capitals as the next code', () => {
    const hex = parsed('Nri1/HA01A');
    expect(hex.events.map((e) => [e.code?.value, e.address])).toEqual([['HA', 0x1a]]);
    expect(hex.quirks).toEqual(['hex-address']);
    expect(parsed('NBA1F').events[0]?.address).toBe(0x1f);
    expect(parsed('NBA01FA02').events.map((e) => [e.code?.value, e.address])).toEqual([['BA', 1], ['FA', 2]]);
    expect(parsed('Nri1/HA01A', { strict: true }).events[0]?.address).toBe(0x1a);
  });

  // `BR319AI=…|BA319DI=…` (RControl, sia-dc03.jsonl): one input name field `I=` after zones 319A and 319D, not the
  // fields `AI=` and `DI=` after zone 319 twice.
  it('reads a hex letter as the address when run-on text follows it, and still refuses a duress code in that text', () => {
    const data = parsed('Nri6/HA319AI=Vault');
    expect(data.events.map((e) => [e.code?.value, e.address])).toEqual([['HA', 0x319a]]);
    expect(data.text).toBe('I=Vault');
    expect(parsed('Nri6/BA319CU=Hall').events.map((e) => [e.address, e.code?.value])).toEqual([[0x319c, 'BA']]);
    expect(() => parsed('Nri6/BA319AHA=x')).toThrow(/duress/);
  });

  it('stamps the protocol the caller names', () => {
    expect(parsed('NBA1').events[0]?.protocol).toBe('sia-dc03');
    expect(parsed('NBA1', { protocol: 'sia-dcs' }).events[0]?.protocol).toBe('sia-dcs');
    expect(parsed('NBA1', { protocol: 'surgard' }).events[0]?.protocol).toBe('surgard');
  });
});

describe('parseSiaData: text', () => {
  it('attaches ^text^ to the packet before it', () => {
    const data = parsed('NBA1^Front door^/BA2');
    expect(data.events.map((event) => event.text)).toEqual(['Front door', null]);
    expect(data.text).toBe('Front door');
  });

  it('attaches ^text^ that precedes every packet to the next packet', () => {
    expect(parsed('N^Hall^BA1').events[0]?.text).toBe('Hall');
  });

  it('attaches an A block to the events of the N/O block just before it', () => {
    const data = parsed('#1234|NBA1/BA2|Azone text|NFA3');
    expect(data.events.map((event) => event.text)).toEqual(['zone text', 'zone text', null]);
    expect(data.text).toBe('zone text');
  });

  it('joins caret text and A block text of one event', () => {
    expect(parsed('NBA1^Hall^|Aarmed').events[0]?.text).toBe('Hall armed');
  });

  it('keeps "|" and "/" inside ^text^ as text', () => {
    const data = parsed('NBA1^a|b/c^');
    expect(data.events[0]?.text).toBe('a|b/c');
  });

  it('labels an unterminated ^ and keeps the rest as text', () => {
    const data = parsed('NBA1^open text');
    expect(data.events[0]?.text).toBe('open text');
    expect(data.quirks).toEqual(['unterminated-text']);
  });
});

describe('parseSiaData: blocks and function letters', () => {
  it('marks O (old event) signals status and leaves N signals for the catalogue', () => {
    expect(parsed('OBA1').events[0]?.qualifier).toBe('status');
    expect(parsed('NBA1').events[0]?.qualifier).toBeNull();
  });

  it('reads the account from #acct, with or without the DC-09 pad terminator', () => {
    expect(parsed('#AB12|NBA1').account).toBe('AB12');
    expect(parsed('|#AB12|NBA1').events[0]?.account).toBe('AB12');
    expect(parsed('|NBA1').account).toBeNull();
  });

  it('returns no events for empty data or an account alone, and an error for an N block without a code', () => {
    expect(parsed('').events).toEqual([]);
    expect(parsed('#1234').events).toEqual([]);
    expect(errorOf(parseSiaData('#1234|Nri1')).message).toContain('carries no event code');
    expect(errorOf(parseSiaData('N')).message).toContain('carries no event code');
  });

  // protocols.md §2.1: `L` listen-in; Sur-Gard MLR2-DG manual p.40 `L90` (panel stays on line 90 s).
  it('joins a listen-in block without an event to the event before it, or reads it alone as SIA LF', () => {
    const joined = parsed('#1234|Nri1/HA01|L90');
    expect(joined.events).toEqual([expect.objectContaining({ code: { scheme: 'sia', value: 'HA' }, extended: expect.objectContaining({ listenIn: '90' }) })]);
    expect(joined.quirks).toEqual(['listen-in']);
    const alone = parsed('#1234|L');
    expect(alone.events).toEqual([expect.objectContaining({ account: '1234', code: { scheme: 'sia', value: 'LF' }, extended: { listenIn: '' } })]);
    expect(alone.quirks).toEqual(['listen-in-block']);
    const other = parsed('#1234|L90x');
    expect([other.events, other.quirks]).toEqual([[], ['ignored-block']]);
  });

  it('labels blocks it does not interpret and rejects unknown function letters', () => {
    const data = parsed('#1234|NBA1|Xsomething');
    expect(codes(data)).toEqual(['BA']);
    expect(data.quirks).toEqual(['ignored-block']);
    const unknown = errorOf(parseSiaData('#1234|Zfoo'));
    expect(unknown).toMatchObject({ code: 'SIA03_FORMAT_INVALID' });
    expect(unknown.message).toContain('unknown block function code "Z"');
  });

  it('rejects a malformed account block', () => {
    expect(errorOf(parseSiaData('#|NBA1')).message).toContain('account block');
    expect(errorOf(parseSiaData('#12 34|NBA1')).message).toContain('account block');
  });

  it('labels empty blocks after the first and spaces inside a block', () => {
    expect(parsed('#1234||NBA1').quirks).toEqual(['empty-block']);
    expect(parsed('NBA1|').quirks).toEqual(['empty-block']);
    expect(parsed('Nri1 BA1').quirks).toEqual(['spaced-rendering']);
  });

  it('reads a rendered block as the serial line path does: a code and its address in separate words', () => {
    const data = parsed('#1234|Nri1/HA 05');
    expect(data.events.map((e) => [e.code?.value, e.partition, e.address])).toEqual([['HA', 1, 5]]);
    expect(data.quirks).toEqual(['spaced-rendering']);
    // Only a space joins them: a '/' before a bare number is still an error.
    expect(errorOf(parseSiaData('NBA/01')).code).toBe('SIA03_FORMAT_INVALID');
  });

  it('escapes control characters quoted in error messages', () => {
    expect(errorOf(parseSiaData('N\x01\x02')).message).toContain('\\x01\\x02');
  });
});

describe('decodeSiaLine: panel serial lines', () => {
  it('decodes the DSC rendering "N Ri01 BA 01"', () => {
    const data = decodeSiaLine('N Ri01 BA 01\r\n');
    expect(data.ok && data.value.events[0]).toMatchObject({ code: { value: 'BA' }, partition: 1, address: 1 });
  });

  it('joins a modifier written apart from its value ("ID 12"), so the hold-up after it keeps its code', () => {
    const data = decodeSiaLine('N ri01 BA 05 ID 12 HA\r\n');
    expect(data.ok && data.value.events.map((e) => [e.code?.value, e.user, e.address])).toEqual([
      ['BA', null, 5],
      ['HA', 12, null],
    ]);
  });

  it('accepts upper-case modifiers and a space after the account', () => {
    const upper = decodeSiaLine('#1234|NRI01/ID05/BA01');
    expect(upper.ok && upper.value.events[0]).toMatchObject({ account: '1234', partition: 1, user: 5, address: 1 });
    const spaced = decodeSiaLine('#1234 NBA0001');
    expect(spaced.ok && spaced.value.account).toBe('1234');
  });

  it('never mistakes the codes PT and SS for modifiers', () => {
    const data = decodeSiaLine('N PT 05 SS 2');
    expect(data.ok && codes(data.value)).toEqual(['PT', 'SS']);
  });

  it('keeps spaces inside ^text^ and leaves A blocks alone', () => {
    const data = decodeSiaLine('#1 N ri1 CL0^VX  FRONTE^|Aa  b');
    expect(data.ok && data.value.events[0]?.text).toBe('VX  FRONTE a  b');
  });

  it('does not call spaces inside an unterminated ^text a rendering', () => {
    const data = decodeSiaLine('NBA1^open text');
    expect(data.ok && data.value.quirks).toEqual(['unterminated-text']);
  });

  it('takes a bracketed data block as printed by receivers', () => {
    const data = decodeSiaLine('[#1234|Nri1/HA0]');
    expect(data.ok && data.value.events[0]).toMatchObject({ code: { value: 'HA' }, address: 0, partition: 1 });
  });

  it('passes wire-form lines through unchanged and without quirks', () => {
    const line = decodeSiaLine('#1234|Nda04-22-94ti16:02:15/id22/CL/PA31');
    expect(line).toEqual(parseSiaData('#1234|Nda04-22-94ti16:02:15/id22/CL/PA31'));
  });

  it('rejects rendering fixes in strict mode and garbage always', () => {
    expect(errorOf(decodeSiaLine('N Ri01 BA 01', { strict: true })).message).toContain('spaced-rendering');
    expect(errorOf(decodeSiaLine('NRI01/BA01', { strict: true })).message).toContain('uppercase-modifier');
    expect(errorOf(decodeSiaLine('hello')).code).toBe('SIA03_FORMAT_INVALID');
  });
});

describe('DC-03 binary blocks', () => {
  // "ri1/BA01" with acknowledge request; parity worked out by hand: 0xFF^0x48^0x4E^'r'^'i'^'1'^'/'^'B'^'A'^'0'^'1' = 0xFE.
  const NEW_EVENT_BLOCK = Uint8Array.from([0x48, 0x4e, 0x72, 0x69, 0x31, 0x2f, 0x42, 0x41, 0x30, 0x31, 0xfe]);
  // Acknowledge system block: no data, header 0x00, parity 0xFF^0x00^0x38 = 0xC7.
  const ACK_BLOCK = Uint8Array.from([0x00, 0x38, 0xc7]);

  it('encodes the header length, acknowledge bit and parity', () => {
    expect(encodeSiaBlock('N', 'ri1/BA01', true)).toEqual(NEW_EVENT_BLOCK);
    expect(encodeSiaBlock('8', '')).toEqual(ACK_BLOCK);
  });

  it('decodes a block with good parity', () => {
    expect(decodeSiaBlock(NEW_EVENT_BLOCK)).toEqual({
      ok: true,
      value: { functionCode: 'N', data: 'ri1/BA01', ackRequested: true, reverseChannel: false },
    });
    expect(decodeSiaBlock(ACK_BLOCK)).toMatchObject({ ok: true, value: { functionCode: '8', data: '', ackRequested: false } });
  });

  it('reads the reverse-channel bit', () => {
    const block = Uint8Array.from([0x80, 0x38, 0xff ^ 0x80 ^ 0x38]);
    expect(decodeSiaBlock(block)).toMatchObject({ ok: true, value: { reverseChannel: true, ackRequested: false } });
  });

  it('reports SIA03_PARITY when the parity byte or a data byte is wrong', () => {
    const badParity = NEW_EVENT_BLOCK.slice();
    badParity[badParity.length - 1] = 0xfd;
    const parityError = errorOf(decodeSiaBlock(badParity));
    expect(parityError.code).toBe('SIA03_PARITY');
    expect(parityError.message).toContain('0xfd');
    expect(parityError.message).toContain('0xfe');
    const badData = NEW_EVENT_BLOCK.slice();
    badData[6] = 0x43; // 'B' -> 'C'
    expect(errorOf(decodeSiaBlock(badData)).code).toBe('SIA03_PARITY');
  });

  it('rejects a length that disagrees with the header, a short block and an unknown function code', () => {
    expect(errorOf(decodeSiaBlock(NEW_EVENT_BLOCK.subarray(0, 10))).message).toContain('announces 8 data bytes');
    expect(errorOf(decodeSiaBlock(Uint8Array.from([0x00, 0x38]))).code).toBe('SIA03_FORMAT_INVALID');
    const unknown = Uint8Array.from([0x00, 0x5a, 0xff ^ 0x5a]);
    expect(errorOf(decodeSiaBlock(unknown)).message).toContain('unknown function code 0x5a');
  });

  it('tells a whole block with an unknown function code from a broken one, and reads its data', () => {
    const unknown = Uint8Array.from([0x02, 0x5a, 0x48, 0x41, 0xff ^ 0x02 ^ 0x5a ^ 0x48 ^ 0x41]);
    expect(errorOf(decodeSiaBlock(unknown)).code).toBe('SIA03_FUNCTION_UNSUPPORTED');
    expect(readUnsupportedSiaBlock(unknown)).toEqual({ functionCode: 'Z', data: 'HA', ackRequested: false, reverseChannel: false });
    const broken = unknown.slice();
    broken[4] = broken[4]! ^ 1;
    expect(errorOf(decodeSiaBlock(broken)).code).toBe('SIA03_PARITY');
    expect(readUnsupportedSiaBlock(broken)).toBeNull();
    expect(readUnsupportedSiaBlock(NEW_EVENT_BLOCK)).toBeNull();
  });

  it('reads the blocks a Galaxy set to SIA over IP sends, and builds the acknowledge its receivers answer (protocol-notes.md)', () => {
    // An FX020 v3.02 with encryption off, as quoted in eavanvalkenburg/sia#32.
    const fx020Account = Uint8Array.from([...Buffer.from('D#0192', 'latin1'), 0x92]);
    expect(decodeSiaBlock(fx020Account)).toEqual({
      ok: true,
      value: { functionCode: '#', data: '0192', ackRequested: true, reverseChannel: false },
    });
    const galaxyEvent = decodeSiaBlock(encodeSiaBlock('N', 'ti11:46/BA1011', true));
    const data = galaxyEvent.ok ? parseSiaData(`#0192|N${galaxyEvent.value.data}`) : galaxyEvent;
    expect(data.ok && data.value.events[0]).toMatchObject({ account: '0192', code: { value: 'BA' }, address: 1011 });
    expect(encodeSiaBlock('8', '', true)).toEqual(Uint8Array.from([0x40, 0x38, 0x87]));
  });

  it('carries Latin-1 data bytes unchanged', () => {
    const block = encodeSiaBlock('A', 'Caf\xe9 \xff');
    const decoded = decodeSiaBlock(block);
    expect(decoded.ok && decoded.value.data).toBe('Caf\xe9 \xff');
  });

  it('throws on caller bugs: oversized data, unknown function code, non-Latin-1 text', () => {
    for (const call of [
      () => encodeSiaBlock('N', 'x'.repeat(64)),
      () => encodeSiaBlock('Z', 'BA1'),
      () => encodeSiaBlock('A', 'snow ☃'),
    ]) {
      let thrown: unknown;
      try {
        call();
      } catch (error) {
        thrown = error;
      }
      expect(isGatewayError(thrown) && thrown.code).toBe('SIA03_FORMAT_INVALID');
    }
    expect(encodeSiaBlock('N', 'x'.repeat(63))).toHaveLength(66);
  });
});
