import net from 'node:net';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { encodeSiaBlock } from '../../src/codecs/sia-dc03-block.js';
import { freePort } from '../helpers/broker.js';
import { apiFetch, GatewayProcess, tempDir, writeConfig } from '../helpers/gateway-process.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

/** A connection from `localAddress` that sent `block`; resolves once it is answered, or closed unanswered. */
async function connect(port: number, localAddress: string, block?: Uint8Array): Promise<{ socket: net.Socket; answered: boolean }> {
  const socket = net.connect({ host: '127.0.0.1', port, localAddress }).on('error', () => undefined);
  cleanups.push(() => socket.destroy());
  return new Promise((resolve) => {
    socket.once('data', () => resolve({ socket, answered: true }));
    socket.once('close', () => resolve({ socket, answered: false }));
    socket.once('connect', () => block !== undefined && socket.write(block));
  });
}

// The whole daemon: an attacker within allowFrom (SIA over IP has no authentication) holds every place with
// connections that each sent a valid account block, and the panel is turned away. /healthz must not say all is well.
describe('gateway with a SIA over IP input whose connection places are all held', () => {
  it('answers /healthz degraded for the input, naming maxConnections, and publishes one supervisory event', async () => {
    const dir = tempDir('sia-ip-healthz');
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const dataDir = path.join(dir, 'var');
    const [siaPort, apiPort] = [await freePort(), await freePort()];
    const gateway = GatewayProcess.spawn(
      writeConfig(dir, {
        dataDir,
        api: { host: '127.0.0.1', port: apiPort },
        inputs: [{ type: 'sia-ip', name: 'galaxy', host: '127.0.0.1', port: siaPort, maxConnections: 2 }],
        outputs: [{ type: 'stdout', name: 'console' }],
      }),
    );
    cleanups.push(() => gateway.kill('SIGKILL'));
    await gateway.ready;
    for (let i = 0; i < 2; i++) expect((await connect(siaPort, '127.0.0.1', encodeSiaBlock('#', '9999', true))).answered).toBe(true);
    expect((await connect(siaPort, '127.0.0.2', encodeSiaBlock('#', '0192', true))).answered).toBe(false);
    const healthz = async () => (await (await apiFetch(dataDir, `http://127.0.0.1:${apiPort}/healthz`)).json()) as { status: string; inputs: unknown[] };
    // Still refusing once a short burst is over: degraded.
    await vi.waitFor(async () => expect(await healthz()).toMatchObject({ status: 'degraded', inputs: [{ name: 'galaxy', state: 'degraded', detail: expect.stringMatching(/maxConnections \(2\) reached/) }] }), {
      timeout: 10_000,
      interval: 250,
    });
    await vi.waitFor(() => expect(gateway.supervisoryReasons()).toEqual([expect.stringMatching(/SIA over IP input galaxy refused connections at maxConnections \(2\)/)]), { timeout: 5_000, interval: 50 });
  });
});
