import { describe, expect, it } from 'vitest';
import { lookupCode } from '../../../src/catalog/index.js';
import type { AddressKind } from '../../../src/catalog/types.js';
import { classify, type Classification } from '../../../src/classify/classify.js';
import { parseSiaData } from '../../../src/codecs/sia-dc03.js';
import sia from '../../../src/catalog/sia.json' with { type: 'json' };

const codes = Object.keys(sia);
const NUMBER = 37;

function classified(data: string): Classification {
  const parsed = parseSiaData(data);
  if (!parsed.ok) throw new Error(parsed.error.message);
  const [signal] = parsed.value.events;
  if (signal === undefined) throw new Error(`no event in ${data}`);
  return classify(signal, {});
}

/** Where a number of each kind must be found in the classified event. */
function numberFound(c: Classification, kind: AddressKind): number | string | undefined {
  switch (kind) {
    case 'zone':
      return c.zone?.number;
    case 'user':
      return c.user?.number;
    case 'partition':
      return c.partition?.number;
    case 'door':
      return c.door?.id;
    case 'none':
      return c.number?.kind === 'unspecified' ? c.number.value : undefined;
    default:
      return c.number?.kind === kind ? c.number.value : undefined;
  }
}

describe('no digit is lost: every SIA code puts its number in the field of its kind', () => {
  it('the table has all 325 codes of SIA DC-03 plus the Ajax additions, each with a kind', () => {
    expect(codes).toHaveLength(326);
  });

  it.each(codes)('%s', (code) => {
    const kind = lookupCode('sia', code)!.address;
    const c = classified(`N${code}${NUMBER}`);
    const expected = kind === 'door' ? String(NUMBER) : NUMBER;
    expect(numberFound(c, kind), `${code} (${kind})`).toBe(expected);
  });

  // pysiaalarm sia_codes.py gives ND (Ajax) "Area number", as for its siblings NB, NE and NO.
  it('reads the number after ND, a duress that ends night mode, as its area', () => {
    expect(classified('NND2')).toMatchObject({ category: 'duress', duress: true, partition: { number: 2 }, user: null });
  });

  it('names the kinds SIA DC-03 gives the codes the field reports lost', () => {
    const kindOf = (code: string) => lookupCode('sia', code)?.address;
    for (const code of ['CG', 'OG', 'NL', 'CA', 'JC']) expect(kindOf(code), code).toBe('partition');
    for (const code of ['DG', 'DD', 'DF']) expect(kindOf(code), code).toBe('door');
    expect(kindOf('RC')).toBe('relay');
    expect(kindOf('OU')).toBe('output');
    expect(kindOf('LT')).toBe('line');
  });

  it('an area after the code fills partition; with an ri naming another area, both are kept', () => {
    expect(classified('NCG2').partition).toEqual({ number: 2 });
    const both = classified('Nri1/CG2');
    expect(both.partition).toEqual({ number: 1 });
    expect(both.number).toEqual({ kind: 'partition', value: 2 });
  });

  it('a door code names the door, and the ri area stays the partition', () => {
    const c = classified('Nri3/DG12');
    expect(c.door).toEqual({ id: '12' });
    expect(c.partition).toEqual({ number: 3 });
    expect(c.zone).toBeNull();
  });

  it('a number after a code the table gives none (Ajax PE, XC) is kept as unspecified; 0 is no number', () => {
    expect(classified('NPE5').number).toEqual({ kind: 'unspecified', value: 5 });
    expect(classified('NXC12').number).toEqual({ kind: 'unspecified', value: 12 });
    expect(classified('NRP0000').number).toBeUndefined();
  });
});
