import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startDc09Gateway } from '../../helpers/dc09-gateway.js';
import { apiFetch, tempDir } from '../../helpers/gateway-process.js';
import { ACCEPT_FAILURES } from '../../helpers/failing-accepts.mjs';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

describe('DC-09 input out of file descriptors', () => {
  // libuv hides most of them (it takes and closes the connection on a spare descriptor it keeps); one reaches Node
  // only when that spare could not be opened again, which no test can arrange: the failures are preloaded.
  it('counts each accept its socket worker failed, logs them in one line, shows the input degraded, and goes on accepting', async () => {
    const dir = tempDir('dc09-emfile');
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const preload = fileURLToPath(new URL('../../helpers/failing-accepts.mjs', import.meta.url));
    const { gateway, dataDir, ports, send } = await startDc09Gateway(dir, cleanups, { nodeArgs: ['--import', preload] });

    expect(await send(1, '#1234|1130 01 003')).toBe('ACK');
    const metrics = await (await apiFetch(dataDir, `http://127.0.0.1:${ports.apiPort}/metrics`)).text();
    expect(metrics).toContain(`connections_dropped_total{input="ip",reason="accept-failed"} ${ACCEPT_FAILURES}`);
    const logged = [...gateway.stdout, ...gateway.stderr].filter((line) => line.includes('accept-failed'));
    expect(logged).toHaveLength(1);
    expect(JSON.parse(logged[0]!)).toMatchObject({ code: 'EMFILE', msg: expect.stringMatching(/out of file descriptors \(LimitNOFILE\)/) });
    // A panel turned away now would not be heard: the input says so on /healthz for a while, as at maxConnections.
    const health = await (await apiFetch(dataDir, `http://127.0.0.1:${ports.apiPort}/healthz`)).json();
    expect(health).toMatchObject({ status: 'degraded', inputs: [{ name: 'ip', state: 'degraded', detail: expect.stringMatching(/not accepted \(EMFILE\)/) }] });
    // …and one supervisory event, for all the failures, tells the centre a report may be lost.
    await vi.waitFor(() => expect(gateway.supervisoryReasons()).toEqual([expect.stringMatching(/could not accept a connection \(EMFILE\)/)]), { timeout: 5_000, interval: 50 });
  });
});
