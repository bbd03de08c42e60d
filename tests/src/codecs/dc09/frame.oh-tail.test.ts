import { expect, it } from 'vitest';
import { decodeDc09Frame } from '../../../../src/codecs/dc09/frame.js';

// The Osborne-Hoffman tail (`<16 hex>|#<account>[T<8 hex>]`) takes every account the data block does (3-16 ASCII
// letters or digits), or the same account read in the data block would fail the whole OH frame.
const ohFrame = (account: string) => {
  const body = `"SIA-DCS"0007R0075L0001[#${account}|Nri1/HA7*'TELLER 3'NM]7C9677F21948CC12|#${account}`;
  return Buffer.from(`\n01010${body.length.toString(16).toUpperCase().padStart(3, '0')}${body}\r`, 'latin1');
};

it.each(['001465', 'foc7688', '0012345678'])('reads an Osborne-Hoffman hold-up whose account is %s, tail included', (account) => {
  const result = decodeDc09Frame(ohFrame(account));
  expect(result.ok ? { dataAccount: result.value.dataAccount, ohTail: result.value.extended['ohTail'] } : result.error.message)
    .toEqual({ dataAccount: account, ohTail: `7C9677F21948CC12|#${account}` });
});

it('reads a tail whose ten-digit account is followed by its T field', () => {
  const body = `"SIA-DCS"0007R0075L0001[#0012345678|Nri1/HA7]2A52238E74F405CA|#0012345678T65FB0F5F`;
  const result = decodeDc09Frame(Buffer.from(`\n01010${body.length.toString(16).toUpperCase().padStart(3, '0')}${body}\r`, 'latin1'));
  expect(result.ok ? result.value.extended['ohTail'] : result.error.message).toBe('2A52238E74F405CA|#0012345678T65FB0F5F');
});
