import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { GatewayProcess, tempDir, writeConfig } from '../helpers/gateway-process.js';

/**
 * The unit is Type=exec: systemd counts it started (and accepts `systemctl reload`, ExecReload=/bin/kill -HUP
 * $MAINPID) as soon as the binary runs. `run` used to install its SIGHUP handler only after the whole start-up
 * (outbox, outputs, API, inputs), so a reload in that window (a configuration-management handler that reloads right
 * after enabling, `systemctl reload-or-restart`) met Node's default SIGHUP action and killed the gateway.
 */
describe('systemctl reload while the gateway is starting', () => {
  const cleanup: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  it('does not kill the gateway, and reloads the sites once it is ready', async () => {
    // A broker that accepts the connection and never answers holds the MQTT output's start (up to its 5 s connect
    // timeout): once the gateway has connected, it is inside start-up, before "gateway ready".
    let connected!: () => void;
    const inStartup = new Promise<void>((resolve) => (connected = resolve));
    const sockets: net.Socket[] = [];
    const silentBroker = net.createServer((socket) => (sockets.push(socket), connected()));
    await new Promise<void>((resolve) => silentBroker.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => new Promise((done) => (sockets.forEach((s) => s.destroy()), silentBroker.close(done))));
    const brokerPort = (silentBroker.address() as net.AddressInfo).port;

    const dir = tempDir('hup');
    const config = writeConfig(dir, {
      dataDir: './var',
      inputs: [{ type: 'dc09', name: 'ip', host: '127.0.0.1', port: 12716 }],
      outputs: [
        { type: 'stdout', name: 'console' },
        { type: 'mqtt', name: 'broker', url: `mqtt://127.0.0.1:${brokerPort}` },
      ],
    });
    const gateway = GatewayProcess.spawn(config, [], dir);
    cleanup.push(async () => (gateway.kill('SIGTERM'), await gateway.exited));
    gateway.ready.catch(() => undefined);
    await inStartup;
    gateway.kill('SIGHUP');
    const outcome = await Promise.race([gateway.ready.then(() => 'ready'), gateway.exited.then((e) => `exited ${e.code ?? e.signal}`)]);
    expect(outcome).toBe('ready');
    await expect.poll(() => gateway.stderr.some((line) => line.includes('"sites reloaded"')), { timeout: 5_000 }).toBe(true);
    const ready = gateway.stderr.findIndex((line) => line.includes('"gateway ready"'));
    const reloaded = gateway.stderr.findIndex((line) => line.includes('"sites reloaded"'));
    expect(reloaded).toBeGreaterThan(ready);
  }, 30_000);
});
