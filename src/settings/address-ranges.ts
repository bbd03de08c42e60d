import { BlockList, isIP } from 'node:net';

/** What an `allowFrom` entry may be, for the schema's message. */
export const ADDRESS_RANGE_RULE = 'an IPv4 or IPv6 address, or a CIDR range such as 192.0.2.0/24 or 2001:db8::/32';

const MAPPED_IPV4 = /^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i;

/**
 * An address as a listener's socket gives it, IPv4 when it is an IPv4-mapped IPv6 address: a listener on `::`
 * sees IPv4 peers as `::ffff:192.0.2.10`, and they must match (and be logged as) `192.0.2.10`.
 */
export function plainAddress(address: string | undefined): string {
  return (address ?? '').replace(MAPPED_IPV4, '');
}

/** An entry read: its address (mapped IPv4 made plain), prefix length and family; undefined when it is not one. */
function parseRange(entry: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | undefined {
  const [text = '', prefixText, ...rest] = entry.split('/');
  const address = plainAddress(text);
  const version = isIP(address);
  if (version === 0 || rest.length > 0) return undefined;
  const bits = version === 4 ? 32 : 128;
  if (prefixText !== undefined && !/^(0|[1-9]\d{0,2})$/.test(prefixText)) return undefined;
  const prefix = prefixText === undefined ? bits : Number(prefixText);
  return prefix > bits ? undefined : { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

export function isAddressRange(entry: string): boolean {
  return parseRange(entry) !== undefined;
}

/** A listener's `allowFrom`: addresses and CIDR ranges, IPv4 and IPv6; an IPv4-mapped peer matches as IPv4. */
export class AddressRanges {
  private readonly list = new BlockList();

  /** Entries the schema checked (isAddressRange); one that is not an address is skipped, admitting nothing. */
  constructor(entries: readonly string[]) {
    for (const entry of entries) {
      const range = parseRange(entry);
      if (range !== undefined) this.list.addSubnet(range.address, range.prefix, range.family);
    }
  }

  includes(address: string | undefined): boolean {
    const plain = plainAddress(address);
    const version = isIP(plain);
    return version !== 0 && this.list.check(plain, version === 4 ? 'ipv4' : 'ipv6');
  }
}
