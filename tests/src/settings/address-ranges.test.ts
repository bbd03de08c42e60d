import { describe, expect, it } from 'vitest';
import { AddressRanges, isAddressRange } from '../../../src/settings/address-ranges.js';
import { parseSettings } from '../../../src/settings/settings.js';

describe('AddressRanges: allowFrom', () => {
  it('admits the addresses and CIDR ranges listed, IPv4 and IPv6', () => {
    const ranges = new AddressRanges(['192.0.2.0/24', '198.51.100.7', '2001:db8::/32', '::1']);
    expect(['192.0.2.1', '192.0.2.255', '198.51.100.7', '2001:db8:1::5', '::1'].map((a) => ranges.includes(a))).toEqual([true, true, true, true, true]);
    expect(['192.0.3.1', '198.51.100.8', '2001:db9::1', '10.0.0.1', '::2'].map((a) => ranges.includes(a))).toEqual([false, false, false, false, false]);
  });

  it('reads an IPv4-mapped IPv6 peer (a dual-stack listener) as its IPv4 address, and a mapped entry as IPv4', () => {
    expect(new AddressRanges(['192.0.2.0/24']).includes('::ffff:192.0.2.9')).toBe(true);
    expect(new AddressRanges(['192.0.2.0/24']).includes('::ffff:192.0.3.9')).toBe(false);
    expect(new AddressRanges(['::ffff:192.0.2.9']).includes('192.0.2.9')).toBe(true);
  });

  it('admits nothing it cannot read: no address, a host name', () => {
    const ranges = new AddressRanges(['192.0.2.0/24']);
    expect(ranges.includes(undefined)).toBe(false);
    expect(ranges.includes('localhost')).toBe(false);
  });

  it.each(['192.0.2.0/33', '2001:db8::/129', 'panel.lan', '192.0.2.0/', '192.0.2.0/024', '10.0.0.300', ''])('refuses %s as an entry', (entry) => {
    expect(isAddressRange(entry)).toBe(false);
    const parsed = parseSettings(`inputs:\n  - { type: sia-ip, name: galaxy, port: 0, allowFrom: ["${entry}"] }\noutputs: [{ type: stdout, name: out }]\n`);
    expect(parsed.ok).toBe(false);
  });
});
