import { readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';

/** The address's bytes in network order: IPv4 (4) or IPv6 (16, an embedded IPv4 and a zone id allowed). */
function addressBytes(address: string): number[] | undefined {
  if (net.isIPv4(address)) return address.split('.').map(Number);
  const plain = address.replace(/%.*$/, '');
  if (!net.isIPv6(plain)) return undefined;
  const [head = '', tail] = plain.split('::');
  const groups = (part: string): number[] =>
    part === ''
      ? []
      : part.split(':').flatMap((group) => {
          if (group.includes('.')) {
            const [a, b, c, d] = group.split('.').map(Number) as [number, number, number, number];
            return [(a << 8) | b, (c << 8) | d];
          }
          return [parseInt(group, 16)];
        });
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const words = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  return words.flatMap((word) => [word >> 8, word & 0xff]);
}

/**
 * An address:port as /proc/net/tcp{,6} writes it: each 32-bit word of the address printed as the host stores it
 * (byte-reversed on a little-endian host, as the Raspberry Pi and x86 are), then the port, in upper-case hex.
 */
function procEndpoint(bytes: readonly number[], port: number): string {
  const words: string[] = [];
  for (let i = 0; i < bytes.length; i += 4) {
    const word = bytes.slice(i, i + 4);
    if (os.endianness() === 'LE') word.reverse();
    words.push(word.map((b) => b.toString(16).padStart(2, '0')).join(''));
  }
  return `${words.join('')}:${port.toString(16).padStart(4, '0')}`.toUpperCase();
}

const ESTABLISHED = '01';

/**
 * The user id of the process on this host at the other end of an accepted TCP connection (Linux: the uid column of
 * the peer socket's row in /proc/net/tcp or tcp6); undefined when it is not a socket of this host (a peer on the
 * network) or the table cannot be read.
 */
export function localPeerUid(socket: net.Socket): number | undefined {
  const { remoteAddress, remotePort, localAddress, localPort } = socket;
  if (remoteAddress === undefined || remotePort === undefined || localAddress === undefined || localPort === undefined) return undefined;
  const peer = addressBytes(remoteAddress);
  const own = addressBytes(localAddress);
  if (peer === undefined || own === undefined) return undefined;
  // The peer's row: its end is local there, ours remote. An IPv4 client of a dual-stack listener is seen here as
  // ::ffff:a.b.c.d, but its own socket is an IPv4 one, listed in /proc/net/tcp.
  const rows: Array<[string, readonly number[], readonly number[]]> = [[peer.length === 4 ? '/proc/net/tcp' : '/proc/net/tcp6', peer, own]];
  if (isIpv4Mapped(peer) && isIpv4Mapped(own)) rows.push(['/proc/net/tcp', peer.slice(12), own.slice(12)]);
  for (const [file, from, to] of rows) {
    const wanted = `${procEndpoint(from, remotePort)} ${procEndpoint(to, localPort)} ${ESTABLISHED}`;
    let table: string;
    try {
      table = readFileSync(file, 'latin1');
    } catch {
      return undefined;
    }
    for (const line of table.split('\n')) {
      const fields = line.trim().split(/\s+/);
      if (`${fields[1]} ${fields[2]} ${fields[3]}` === wanted) return Number(fields[7]);
    }
  }
  return undefined;
}

function isIpv4Mapped(bytes: readonly number[]): boolean {
  return bytes.length === 16 && bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
}
