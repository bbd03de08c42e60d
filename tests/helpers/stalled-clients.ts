import net from 'node:net';

/**
 * Opens `count` connections that start a request and never finish its headers, and waits (up to `timeoutMs`)
 * until the server has closed them all. `refused`: closed without an answer (over the connection cap);
 * `timedOut`: answered 408 (headers timeout); `open`: still connected when the wait ended.
 */
export async function stallClients(port: number, count: number, requestLine: string, timeoutMs = 5_000): Promise<{ refused: number; timedOut: number; open: number }> {
  const sockets: net.Socket[] = [];
  const tally = { refused: 0, timedOut: 0, open: 0 };
  for (let i = 0; i < count; i++) {
    const socket = net.connect(port, '127.0.0.1');
    let answer = '';
    tally.open += 1;
    socket.on('data', (chunk) => (answer += chunk));
    socket.on('error', () => undefined);
    socket.once('close', () => {
      tally.open -= 1;
      if (answer === '') tally.refused += 1;
      else if (answer.startsWith('HTTP/1.1 408')) tally.timedOut += 1;
    });
    socket.write(`${requestLine}\r\nHost: 127.0.0.1\r\n`); // headers never finished
    sockets.push(socket);
  }
  const deadline = Date.now() + timeoutMs;
  while (tally.open > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  for (const socket of sockets) socket.destroy();
  return tally;
}

/**
 * Opens `count` connections from `localAddress` (another loopback address than the client under test) that send
 * nothing: one peer holding its place, well inside the headers timeout. Destroy them when done.
 */
export async function idleConnections(port: number, count: number, localAddress: string): Promise<net.Socket[]> {
  const sockets: net.Socket[] = [];
  for (let i = 0; i < count; i++) {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress }).on('error', () => undefined);
    await new Promise((resolve) => socket.once('connect', resolve));
    sockets.push(socket);
  }
  // The server has taken (or closed) every one of them.
  await new Promise((resolve) => setTimeout(resolve, 100));
  return sockets;
}
