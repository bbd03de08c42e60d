import { describe, expect, it } from 'vitest';
import { catalogedDuressCodes, lookupCode } from '../../../src/catalog/index.js';

describe('lookupCode', () => {
  it('finds Contact ID and SIA rows', () => {
    expect(lookupCode('contact-id', '121')).toMatchObject({ category: 'duress', address: 'user' });
    expect(lookupCode('sia', 'HA')).toMatchObject({ category: 'holdup' });
  });

  it('reads SIA codes in any letter case', () => {
    expect(lookupCode('sia', 'ha')).toEqual(lookupCode('sia', 'HA'));
  });

  it('finds nothing for unknown codes, including object property names', () => {
    for (const value of ['999', 'constructor', '__proto__', 'toString', '']) expect(lookupCode('contact-id', value)).toBeUndefined();
    expect(lookupCode('sia', 'hasOwnProperty')).toBeUndefined();
  });
});

describe('catalogedDuressCodes', () => {
  const codes = catalogedDuressCodes();

  it('lists the duress and hold-up codes of protocols.md §6', () => {
    for (const value of ['121', '122', '124', '125', '126']) expect(codes).toContainEqual({ scheme: 'contact-id', value });
    expect(codes).toContainEqual({ scheme: 'sia', value: 'HA' });
  });

  it('lists only codes whose table category is duress or hold-up, each once', () => {
    for (const { scheme, value } of codes) expect(['duress', 'holdup']).toContain(lookupCode(scheme, value)?.category);
    expect(new Set(codes.map((c) => `${c.scheme}:${c.value}`)).size).toBe(codes.length);
    expect(codes).not.toContainEqual({ scheme: 'contact-id', value: '120' });
  });
});
