import net from 'node:net';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { localPeerUid } from '../../../adapters/system/socket-owner.js';

/** The uid localPeerUid finds for a connection this process makes from `from` to a server on `listen`. */
async function ownerSeen(listen: string, connectTo: string): Promise<number | undefined> {
  const server = net.createServer();
  const accepted = once(server, 'connection') as Promise<[net.Socket]>;
  server.listen(0, listen);
  await once(server, 'listening');
  const client = net.connect((server.address() as net.AddressInfo).port, connectTo);
  try {
    const [socket] = await accepted;
    const uid = localPeerUid(socket);
    socket.destroy();
    return uid;
  } finally {
    client.destroy();
    server.close();
  }
}

describe.skipIf(!existsSync('/proc/net/tcp'))('localPeerUid', () => {
  it('finds the account of a process on this host over IPv4 loopback', async () => {
    expect(await ownerSeen('127.0.0.1', '127.0.0.1')).toBe(process.getuid!());
  });

  const ipv6Loopback = Object.values(os.networkInterfaces()).some((addresses) => addresses?.some((a) => a.address === '::1'));
  it.skipIf(!existsSync('/proc/net/tcp6') || !ipv6Loopback)('over IPv6 loopback, and an IPv4 client of a dual-stack listener (::ffff:127.0.0.1)', async () => {
    expect(await ownerSeen('::1', '::1')).toBe(process.getuid!());
    expect(await ownerSeen('::', '127.0.0.1')).toBe(process.getuid!());
  });

  it('finds none for a socket no table lists (not a connection of this host)', () => {
    expect(localPeerUid(new net.Socket())).toBeUndefined();
  });
});
