import { describe, expect, test } from 'vitest';
import {
  contactIdCheckDigit,
  contactIdSignal,
  decodeContactId,
  encodeContactId,
  parseAdmCidData,
} from '../../../src/codecs/contact-id.js';
import type { ContactIdFields } from '../../../src/codecs/contact-id.js';
import { isGatewayError } from '../../../src/errors.js';
import catalog from '../../../src/catalog/contact-id.json' with { type: 'json' };
import { CATEGORIES } from '../../../src/model/event.js';
import { ADDRESS_KINDS, type CodeTable } from '../../../src/catalog/types.js';

/** Value of a digit in the sum (0 counts 10), written out independently of the codec. */
const VALUE: Record<string, number> = { '0': 10, B: 11, C: 12, D: 13, E: 14, F: 15 };
const valueOf = (digit: string): number => VALUE[digit] ?? Number(digit);

function errorCode(result: { ok: boolean; error?: { code: string } }): string | undefined {
  return result.ok ? undefined : result.error?.code;
}

describe('contactIdCheckDigit (protocols.md §1.2)', () => {
  test('worked example 123418113101015 → 8 (sum 82)', () => {
    expect(contactIdCheckDigit('123418113101015')).toBe('8');
  });

  test('a body whose sum is already a multiple of 15 gets F (S = 15), never 0', () => {
    // vector 46 body: sum 75
    expect(contactIdCheckDigit('123418340103005')).toBe('F');
  });

  test('check value 10 is written as the digit 0', () => {
    expect(contactIdCheckDigit('123418113101013')).toBe('0');
  });

  test('values 11-14 are written B-E', () => {
    // Each body below is built so that 15 - (sum mod 15) is the wanted value.
    const bodies: Array<[string, string]> = [
      ['123418113101012', 'B'],
      ['123418113101011', 'C'],
      ['123418113101006', 'D'],
      ['123418612101001', 'E'],
    ];
    for (const [body, digit] of bodies) {
      const sum = [...body].reduce((total, d) => total + valueOf(d), 0);
      expect(15 - (sum % 15)).toBe(valueOf(digit));
      expect(contactIdCheckDigit(body)).toBe(digit);
    }
  });

  test('refuses a body that is not 15 Contact ID digits', () => {
    for (const body of ['12341811310101', '12341811310101A', '1234181131010x5']) {
      expect(() => contactIdCheckDigit(body)).toThrow(/CID_FORMAT_INVALID/);
    }
  });
});

describe('decodeContactId', () => {
  test('every qualifier: 1 new, 3 restore, 6 status', () => {
    for (const qualifier of ['1', '3', '6'] as const) {
      const text = encodeContactId({ account: '4F39', messageType: '18', qualifier, event: '121', group: '01', ccc: '007' });
      const result = decodeContactId(text);
      expect(result.ok && result.value.qualifier).toBe(qualifier);
    }
  });

  test.each(['0', '2', '4', '5', '7', '8', '9', 'B', 'F'])('qualifier %s is CID_QUALIFIER_INVALID', (qualifier) => {
    const body = `123418${qualifier}121010` + '01';
    expect(errorCode(decodeContactId(body + contactIdCheckDigit(body)))).toBe('CID_QUALIFIER_INVALID');
  });

  test.each([
    ['17', 'Express 4/1'],
    ['27', 'Express 4/2'],
    ['55', 'High-speed'],
    ['56', 'Super-fast'],
  ])('message type %s (%s) is refused, never mis-parsed', (messageType, name) => {
    const body = `1234${messageType}1121010` + '01';
    const result = decodeContactId(body + contactIdCheckDigit(body));
    expect(errorCode(result)).toBe('CID_MESSAGE_TYPE_UNSUPPORTED');
    expect(result.ok ? '' : result.error.message).toContain(name);
  });

  test('message type 98 is Contact ID', () => {
    const result = decodeContactId('1234981122000129');
    expect(result.ok && result.value).toMatchObject({ messageType: '98', event: '122', ccc: '012' });
  });

  test('other message types (e.g. 19, 58) are refused', () => {
    for (const messageType of ['19', '58']) {
      const body = `1234${messageType}1121010` + '01';
      expect(errorCode(decodeContactId(body + contactIdCheckDigit(body)))).toBe('CID_MESSAGE_TYPE_UNSUPPORTED');
    }
  });

  test('surrounding whitespace is accepted without a quirk', () => {
    const result = decodeContactId(' \t1234181131010158\r\n');
    expect(result.ok && result.value.quirks).toEqual([]);
  });

  test('inner spaces, other characters and wrong lengths are CID_FORMAT_INVALID', () => {
    for (const text of ['', '1234 181131010158', '1234181131010158Z', '12341811310101580', '1234']) {
      expect(errorCode(decodeContactId(text)), JSON.stringify(text)).toBe('CID_FORMAT_INVALID');
    }
  });

  test('every single-digit change of a valid message is caught', () => {
    const valid = '1234181131010158';
    for (let index = 0; index < valid.length; index++) {
      for (const digit of '0123456789BCDEF') {
        if (digit === valid[index]) continue;
        const changed = valid.slice(0, index) + digit + valid.slice(index + 1);
        const result = decodeContactId(changed);
        // Two different digits differ in value by 1-14, never by a multiple of 15, so the sum always breaks.
        expect(result.ok, changed).toBe(false);
      }
    }
  });

  test('hex A: tolerated in the account and as check value 10, refused everywhere else', () => {
    // A counts 10, like 0, so the check digit of the 0 spelling fits the A spelling.
    const accountWithA = '1A3418113101015' + contactIdCheckDigit('103418113101015');
    const account = decodeContactId(accountWithA);
    expect(account.ok && account.value).toMatchObject({ account: '1A34', quirks: ['account-hex-a'] });
    expect(errorCode(decodeContactId(accountWithA, { strict: true }))).toBe('CID_FORMAT_INVALID');
    const groupWithA = '12341811310A015' + contactIdCheckDigit('123418113100015');
    expect(errorCode(decodeContactId(groupWithA))).toBe('CID_FORMAT_INVALID');
    expect(errorCode(decodeContactId('123418113101013A', { strict: true }))).toBe('CID_CHECKSUM_INVALID');
  });

  test('digits B-F in group and zone are Contact ID digits (spandsp report {0x1234, …, 0xBC, 0xDEF})', () => {
    const body = '123418112' + '1BCDEF';
    const result = decodeContactId(body + contactIdCheckDigit(body));
    expect(result.ok && result.value).toMatchObject({ group: 'BC', ccc: 'DEF', quirks: [] });
  });
});

describe('encodeContactId', () => {
  test('round trip of the spandsp reports (vectors 43-46)', () => {
    for (const raw of ['1234181131010158', '1234183131010156', '1234181401020035', '123418340103005F']) {
      const decoded = decodeContactId(raw);
      if (!decoded.ok) expect.unreachable(decoded.error.message);
      const { checkDigit: _check, quirks: _quirks, ...fields } = decoded.value;
      expect(encodeContactId(fields)).toBe(raw);
    }
  });

  test('refuses what it cannot send, with a coded GatewayError', () => {
    const good = { account: '1234', messageType: '18', qualifier: '1', event: '121', group: '01', ccc: '001' } as const;
    const bad: Array<[Record<string, string>, string]> = [
      [{ account: '12A4' }, 'CID_FORMAT_INVALID'],
      [{ account: '123' }, 'CID_FORMAT_INVALID'],
      [{ messageType: '17' }, 'CID_MESSAGE_TYPE_UNSUPPORTED'],
      [{ qualifier: '2' }, 'CID_QUALIFIER_INVALID'],
      [{ event: '89A' }, 'CID_FORMAT_INVALID'],
      [{ ccc: '01' }, 'CID_FORMAT_INVALID'],
    ];
    for (const [change, code] of bad) {
      let thrown: unknown;
      try {
        encodeContactId({ ...good, ...change } as typeof good);
      } catch (error) {
        thrown = error;
      }
      expect(isGatewayError(thrown) && thrown.code, JSON.stringify(change)).toBe(code);
    }
  });
});

describe('parseAdmCidData (DC-09 ADM-CID)', () => {
  test.each([
    ['vector 6/38: 3401 01 057', '3401 01 057', { qualifier: '3', event: '401', group: '01', ccc: '057' }],
    ['vector 5: 1110 00 129', '1110 00 129', { qualifier: '1', event: '110', group: '00', ccc: '129' }],
    ['vector 37: 1602 00 001', '1602 00 001', { qualifier: '1', event: '602', group: '00', ccc: '001' }],
    ['vector 40: 1130 02 001', '1130 02 001', { qualifier: '1', event: '130', group: '02', ccc: '001' }],
  ])('%s', (_name, data, fields) => {
    expect(parseAdmCidData(data)).toEqual({ ok: true, value: { ...fields, quirks: [] } });
  });

  test('digits without spaces are tolerated as adm-cid-no-spaces, refused when strict', () => {
    const tolerant = parseAdmCidData('340101057');
    expect(tolerant.ok && tolerant.value).toMatchObject({ event: '401', group: '01', ccc: '057', quirks: ['adm-cid-no-spaces'] });
    expect(errorCode(parseAdmCidData('340101057', { strict: true }))).toBe('CID_FORMAT_INVALID');
  });

  test('bad data is a value, never an exception', () => {
    expect(errorCode(parseAdmCidData('3401 01 05'))).toBe('CID_FORMAT_INVALID');
    expect(errorCode(parseAdmCidData('3401 0A 057'))).toBe('CID_FORMAT_INVALID');
    expect(errorCode(parseAdmCidData('NFA129'))).toBe('CID_FORMAT_INVALID');
    expect(errorCode(parseAdmCidData('5401 01 057'))).toBe('CID_QUALIFIER_INVALID');
  });
});

describe('contactIdSignal', () => {
  const base = { protocol: 'contact-id', account: '1234', receiver: null, line: null } as const;

  test('maps qualifier, group and CCC; 00 and 000 mean none', () => {
    const duress: ContactIdFields = { qualifier: '1', event: '121', group: '01', ccc: '007' };
    expect(contactIdSignal(duress, base)).toMatchObject({
      protocol: 'contact-id',
      account: '1234',
      code: { scheme: 'contact-id', value: '121' },
      qualifier: 'new',
      partition: 1,
      address: 7,
      quirks: [],
    });
    const none = contactIdSignal({ qualifier: '6', event: '602', group: '00', ccc: '000' }, base);
    expect(none).toMatchObject({ qualifier: 'status', partition: null, address: null });
    expect(contactIdSignal({ ...duress, qualifier: '3' }, base).qualifier).toBe('restore');
  });

  test('non-decimal group/zone digits give no number and say so', () => {
    const signal = contactIdSignal({ qualifier: '1', event: '130', group: 'BC', ccc: 'DEF' }, { ...base, quirks: ['x'] });
    expect(signal).toMatchObject({ partition: null, address: null, quirks: ['x', 'non-decimal-group', 'non-decimal-address'] });
  });
});

describe('src/catalog/contact-id.json', () => {
  const table = catalog as CodeTable;

  test('every entry is a well-formed CodeEntry keyed by a 3-digit code', () => {
    for (const [code, entry] of Object.entries(table)) {
      expect(code).toMatch(/^\d{3}$/);
      expect(CATEGORIES).toContain(entry.category);
      expect(ADDRESS_KINDS).toContain(entry.address);
      expect(entry.description).toMatch(/\S/);
    }
  });

  test('covers the whole §1.5 table, including the extended 7xx/9xx codes', () => {
    const mustHave = ['100', '163', '200', '210', '300', '314', '393', '400', '436', '466', '500', '579', '600', '654', '703', '704', '796', '798', '900', '929'];
    for (const code of mustHave) expect(table[code], code).toBeDefined();
    expect(Object.keys(table).length).toBeGreaterThanOrEqual(270);
  });

  test('baseline classification of the codes that matter for duress', () => {
    const expected: Record<string, Partial<(typeof table)[string]>> = {
      '121': { category: 'duress', address: 'user', silent: true },
      '124': { category: 'duress', address: 'door', silent: true },
      '125': { category: 'duress', address: 'door', silent: true },
      '122': { category: 'holdup', silent: true },
      '126': { category: 'holdup', address: 'user', silent: true },
      '129': { category: 'holdup', address: 'zone', silent: true },
      '146': { category: 'burglary', silent: true },
      '120': { category: 'panic' },
      '123': { category: 'panic' },
      '465': { category: 'panic' },
      '423': { category: 'access' },
      '375': { category: 'trouble' },
      '376': { category: 'trouble' },
      '572': { category: 'bypass' },
      '925': { category: 'bypass' },
      '914': { category: 'test' },
      '151': { category: 'fire' },
      '162': { category: 'fire' },
      '461': { category: 'tamper' },
      '641': { category: 'supervisory' },
    };
    for (const [code, entry] of Object.entries(expected)) expect(table[code], code).toMatchObject(entry);
    expect(table['465']?.silent).toBeUndefined();
    const duressOrHoldup = Object.keys(table).filter((code) => ['duress', 'holdup'].includes(table[code]?.category ?? ''));
    expect(duressOrHoldup.sort()).toEqual(['121', '122', '124', '125', '126', '129']);
  });

  test('open/close codes are flagged and start as openings', () => {
    const openClose = Object.keys(table).filter((code) => table[code]?.openClose);
    for (const code of ['400', '401', '409', '441', '442', '450', '459']) expect(openClose).toContain(code);
    for (const code of openClose) expect(table[code]?.category, code).toBe('opening');
  });
});
