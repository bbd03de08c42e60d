import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../helpers/broker.js';
import { apiFetch, GatewayProcess, tempDir, writeConfig } from '../../helpers/gateway-process.js';

/**
 * A preload for the gateway child: on SIGUSR2 it writes to `out`, one a line, every module URL the process has
 * resolved from an ESM import (`esm <url>`, through a resolve hook) and every CommonJS file loaded (`cjs <path>`).
 */
function loadedModulesPreload(dir: string, out: string): string {
  const hooks = path.join(dir, 'hooks.mjs');
  writeFileSync(hooks, 'let port; export function initialize(data) { port = data.port; }\nexport async function resolve(specifier, context, next) { const resolved = await next(specifier, context); port.postMessage(resolved.url); return resolved; }\n');
  const preload = path.join(dir, 'loaded-modules.mjs');
  writeFileSync(
    preload,
    [
      "import { createRequire, register } from 'node:module';",
      "import { writeFileSync } from 'node:fs';",
      'const urls = new Set();',
      'const { port1, port2 } = new MessageChannel();',
      'port1.on("message", (url) => urls.add(url));',
      'port1.unref();',
      `register(${JSON.stringify(new URL(`file://${hooks}`).href)}, { data: { port: port2 }, transferList: [port2] });`,
      `process.on('SIGUSR2', () => writeFileSync(${JSON.stringify(out)}, [...[...urls].map((u) => 'esm ' + u), ...Object.keys(createRequire(import.meta.url).cache).map((f) => 'cjs ' + f)].join('\\n')));`,
    ].join('\n'),
  );
  return preload;
}

describe('gateway footprint (real process)', () => {
  const running: GatewayProcess[] = [];
  afterEach(async () => {
    for (const gateway of running.splice(0)) {
      gateway.kill('SIGKILL');
      await gateway.exited;
    }
  });

  it('loads no module for what is not configured, and prom-client only at the first scrape', async () => {
    const dir = tempDir('footprint');
    const out = path.join(dir, 'loaded.txt');
    const apiPort = await freePort();
    const config = writeConfig(dir, {
      dataDir: path.join(dir, 'var'),
      api: { host: '127.0.0.1', port: apiPort },
      inputs: [{ type: 'dc09', name: 'ip', host: '127.0.0.1', port: await freePort() }],
      outputs: [{ type: 'mqtt', name: 'broker', url: `mqtt://127.0.0.1:${await freePort()}`, topicPrefix: 'footprint' }],
    });
    const gateway = GatewayProcess.spawn(config, [], undefined, ['--import', loadedModulesPreload(dir, out)]);
    running.push(gateway);
    await gateway.ready;

    const loaded = async (kind?: 'esm'): Promise<string[]> => {
      rmSync(out, { force: true });
      gateway.kill('SIGUSR2');
      for (let i = 0; i < 250 && !existsSync(out); i++) await new Promise((r) => setTimeout(r, 20));
      return readFileSync(out, 'utf8')
        .split('\n')
        .filter((line) => kind === undefined || line.startsWith(`${kind} `));
    };
    const packages = (files: string[]) => new Set(files.flatMap((file) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(file)?.[1] ?? []));

    const atStart = packages(await loaded());
    // The check sees what is loaded: the configured MQTT output's client and the SQLite outbox.
    expect(atStart).toContain('mqtt');
    expect(atStart).toContain('better-sqlite3');
    // Embedded broker, access-control XML input, serial input, terminal log formatting, Prometheus registry.
    for (const unused of ['aedes', 'fast-xml-parser', '@serialport/stream', 'pino-pretty', 'prom-client']) expect(atStart).not.toContain(unused);
    // mqtt is required, not imported: an ESM import has Node scan the package's files for export names (~8 MB).
    expect(packages(await loaded('esm'))).not.toContain('mqtt');

    const scrape = await apiFetch(path.join(dir, 'var'), `http://127.0.0.1:${apiPort}/metrics`);
    expect(scrape.status).toBe(200);
    expect(await scrape.text()).toMatch(/^process_resident_memory_bytes /m);
    expect(packages(await loaded())).toContain('prom-client');
  });
});
