import net from 'node:net';
import { once } from 'node:events';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { Aedes, type AedesOptions, type AuthenticateError, type Client } from 'aedes';
import { GatewayError } from '../../src/errors.js';
import { silentLogger, systemClock, type Logger } from '../../src/ports.js';
import { RateLimitedLog } from '../../src/observability/rate-limited-log.js';
import { onAcceptFailed } from '../system/listener.js';

export interface EmbeddedBrokerOptions {
  host?: string;
  /** 0 picks a free port. The default stays off 1883, which a system Mosquitto usually holds. */
  port?: number;
  /** The setting to name when the port is taken, so the message says what to change. */
  configKey?: string;
  /** Where an accept that failed is logged (see onAcceptFailed). */
  logger?: Logger;
  /** What a subscriber presents as its MQTT password (any user name but the gateway's); without it only the gateway connects. */
  subscriberPassword?: string;
  /** Told of each client refused (its client id and why): someone tried to read or forge the events. */
  onRefused?: (refused: { clientId: string; why: string }) => void;
}

/** What the gateway's own client presents; generated at each start, never written anywhere. */
export interface GatewayCredentials {
  clientId: string;
  username: string;
  password: string;
}

export interface EmbeddedBroker {
  url: string;
  port: number;
  /** The only client allowed to publish. */
  gateway: GatewayCredentials;
  close(): Promise<void>;
}

function sameSecret(given: Buffer | undefined, expected: string): boolean {
  const wanted = Buffer.from(expected);
  return given !== undefined && given.length === wanted.length && timingSafeEqual(given, wanted);
}

const GATEWAY_CLIENT_PREFIX = 'panelbridge-';

/** CONNACK return code 5 (MQTT 3.1.1): not authorized. */
function refusal(message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode: 5 as AuthenticateError['returnCode'] });
}

/**
 * Who may do what on the embedded broker: the gateway (its random client id, user name and secret) publishes;
 * a client presenting the subscriber password may subscribe. Anyone else who reaches the port is refused: it
 * listens on loopback, where every other account on the host (a compromised service) would otherwise read each
 * duress as it is published. Nobody but the gateway may publish (no forged events or acknowledgements), use the
 * gateway's user name, or connect with a client id starting `panelbridge-` (the gateway's would take over its
 * session and cut it off the broker).
 */
function brokerPolicy(
  gateway: GatewayCredentials,
  options: Pick<EmbeddedBrokerOptions, 'subscriberPassword' | 'onRefused'>,
): Pick<AedesOptions, 'authenticate' | 'authorizePublish'> {
  const authenticated = new WeakSet<Client>();
  const refuse = (client: Client, why: string, done: (error: AuthenticateError, success: false) => void) => {
    options.onRefused?.({ clientId: client.id, why });
    done(refusal(why), false);
  };
  return {
    authenticate(client, username, password, done) {
      // The whole `panelbridge-` client id space is the gateway's, the ids of earlier versions included.
      const claimsGateway = client.id.startsWith(GATEWAY_CLIENT_PREFIX) || username === gateway.username;
      if (!claimsGateway) {
        if (options.subscriberPassword !== undefined && sameSecret(password, options.subscriberPassword)) return done(null, true);
        return refuse(client, 'a subscriber presents the password in dataDir/mqtt-password', done);
      }
      if (client.id === gateway.clientId && username === gateway.username && sameSecret(password, gateway.password)) {
        authenticated.add(client);
        return done(null, true);
      }
      refuse(client, "the gateway's client id and user name are reserved", done);
    },
    authorizePublish(client, _packet, done) {
      // client is null for messages the broker itself publishes ($SYS).
      done(client === null || authenticated.has(client) ? null : new Error('only the gateway publishes on this broker'));
    },
  };
}

export const EMBEDDED_BROKER_DEFAULT_PORT = 1884;

/** An in-process MQTT broker (aedes over node:net) so a first run works without installing Mosquitto; see brokerPolicy. */
export async function startEmbeddedBroker(options: EmbeddedBrokerOptions = {}): Promise<EmbeddedBroker> {
  const host = options.host ?? '127.0.0.1';
  const requestedPort = options.port ?? EMBEDDED_BROKER_DEFAULT_PORT;
  const gateway: GatewayCredentials = {
    clientId: `${GATEWAY_CLIENT_PREFIX}${randomBytes(12).toString('hex')}`,
    username: 'panelbridge-gateway',
    password: randomBytes(32).toString('base64url'),
  };
  const broker = await Aedes.createBroker(brokerPolicy(gateway, options));
  const server = net.createServer(broker.handle);
  const acceptFailures = new RateLimitedLog({ logger: options.logger ?? silentLogger, clock: systemClock });
  onAcceptFailed(server, (error) =>
    acceptFailures.warn('accept-failed', undefined, { code: error.code }, `embedded MQTT broker: connection not accepted (${error.code ?? error.message}): the process may be out of file descriptors`),
  );
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
    gateway,
    async close() {
      const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      // aedes ends only connected clients; a socket still in its handshake would keep the server open.
      for (const socket of sockets) socket.destroy();
      await serverClosed;
    },
  };
}
