import net from 'node:net';
import { once } from 'node:events';
import { Aedes } from 'aedes';
import { GatewayError } from '../../src/errors.js';

export interface EmbeddedBrokerOptions {
  host?: string;
  /** 0 picks a free port. The default stays off 1883, which a system Mosquitto usually holds. */
  port?: number;
  /** The setting to name when the port is taken, so the message says what to change. */
  configKey?: string;
}

export interface EmbeddedBroker {
  url: string;
  port: number;
  close(): Promise<void>;
}

export const EMBEDDED_BROKER_DEFAULT_PORT = 1884;

/** An in-process MQTT broker (aedes over node:net) so a first run works without installing Mosquitto. */
export async function startEmbeddedBroker(options: EmbeddedBrokerOptions = {}): Promise<EmbeddedBroker> {
  const host = options.host ?? '127.0.0.1';
  const requestedPort = options.port ?? EMBEDDED_BROKER_DEFAULT_PORT;
  const broker = await Aedes.createBroker();
  const server = net.createServer(broker.handle);
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  try {
    server.listen(requestedPort, host);
    await once(server, 'listening');
  } catch (error) {
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    const code = (error as NodeJS.ErrnoException).code;
    const hint =
      code === 'EADDRINUSE'
        ? `port ${requestedPort} on ${host} is already in use (another MQTT broker?); set ${options.configKey ?? 'outputs[].embeddedPort'} to a free port, or point url at the running broker`
        : (error as Error).message;
    throw new GatewayError('OUTPUT_BROKER_START_FAILED', `embedded MQTT broker cannot listen: ${hint}`, { cause: error });
  }
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `mqtt://${host}:${port}`,
    port,
    async close() {
      const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      // aedes ends only connected clients; a socket still in its handshake would keep the server open.
      for (const socket of sockets) socket.destroy();
      await serverClosed;
    },
  };
}
