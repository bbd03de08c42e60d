import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readAdminToken } from '../../adapters/api/tokens.js';
import { Gateway } from '../../adapters/cli/gateway.js';
import { wireAssurance, type AssuranceHost } from '../../adapters/cli/assurance-wiring.js';
import { createRootLogger } from '../../adapters/system/logger.js';
import { MqttOutput } from '../../adapters/outputs/mqtt.js';
import { AssuranceStore } from '../../src/assurance/store.js';
import { createIdSource, seededRandom } from '../../src/model/ids.js';
import { EventBus } from '../../src/bus.js';
import { Counters } from '../../src/observability/counters.js';
import { MemoryOutbox } from '../../src/outbox/memory-outbox.js';
import { eventFromSignal, VERIFIED } from '../../src/pipeline/event-builder.js';
import { Recorder } from '../../src/pipeline/recorder.js';
import { silentLogger, systemClock } from '../../src/ports.js';
import { settingsSchema } from '../../src/settings/settings.js';
import { freePort, getTestBroker, startTcpProxy } from '../helpers/broker.js';
import { GatewayProcess, tempDir, writeConfig } from '../helpers/gateway-process.js';
import { panelFrame, parseAnswer, TcpPanel } from '../helpers/panel.js';
import { cid, FakeClock } from '../helpers/assurance-harness.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const SITES = [
  {
    id: 'bank-1',
    accounts: ['1234'],
    zones: [{ number: 5, name: 'Teller 1 hold-up button', type: 'holdup', testEvery: '7d' }],
    users: [{ number: 12, name: 'Manager duress code', duress: true, testEvery: '30d' }],
  },
];

describe('assurance timer: no stuck ticks', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('keeps raising alarms while a device-state publish hangs on a stalled broker, and stops promptly', async () => {
    const broker = await getTestBroker();
    cleanups.push(() => broker.close());
    const proxy = await startTcpProxy(broker.url);
    cleanups.push(() => proxy.close());
    // A publish that would wait a minute for its PUBACK: what a lost callback looked like from the timer.
    const central = new MqttOutput(
      { name: 'cms', url: proxy.url, topicPrefix: 'pbwatchdog', audience: 'central', embeddedPort: 1884, protocolVersion: broker.protocolVersion },
      { clock: systemClock, logger: silentLogger, gateway: { id: 'gw', version: '0' }, publishTimeoutMs: 60_000 },
    );
    await central.start();
    cleanups.push(() => central.stop());
    proxy.holdUpstream();

    const settings = settingsSchema.parse({ dataDir: '/not-used', duressDeadline: '10s', inputs: [], outputs: [{ type: 'stdout', name: 'unused' }], sites: SITES });
    const clock = new FakeClock();
    const outbox = new MemoryOutbox({ clock });
    outbox.registerOutputs(['cms']);
    const bus = new EventBus({ logger: silentLogger });
    const builder = { ids: createIdSource(clock, seededRandom(5)), sites: () => settings.sites };
    const recorder = new Recorder({ outbox, counters: new Counters(), logger: silentLogger, backlogLimit: 1_000, bus });
    const host: AssuranceHost = { recorder, api: undefined, outputs: [central], outbox, builder, bus };
    const wiring = wireAssurance(host, settings, { clock, logger: silentLogger, store: AssuranceStore.open(':memory:'), tickMs: 100 });
    let stopped = false;
    cleanups.push(async () => {
      if (!stopped) await wiring.stop();
    });

    // A hold-up that no central output confirms (the broker is stalled).
    const holdup = eventFromSignal(cid('122', 5), { input: 'panel', transport: 'tcp', receivedAt: clock.now(), raw: new Uint8Array([0x31]), trust: VERIFIED }, builder);
    expect((await recorder.record([holdup])).ok).toBe(true);
    for (let i = 0; i < 10; i++) {
      await sleep(100);
      expect(wiring.health().lastTickAgeMs).toBeLessThan(300);
    }
    clock.advance(11_000);
    await sleep(300);
    // The deadline alarm fired on time, though the device states are still waiting for their PUBACK.
    expect(wiring.health()).toMatchObject({ state: 'degraded', undeliveredDuress: [{ eventId: holdup.id }] });
    const alarms = outbox.pending('cms', 100).filter((e) => e.event.category === 'supervisory');
    expect(alarms.map((e) => e.event.reasons.join(' ')).join('\n')).toMatch(/not confirmed by any central output within 10s/);

    const stopping = Date.now();
    await wiring.stop();
    stopped = true;
    expect(Date.now() - stopping).toBeLessThan(3_000);
  });

  it('answers /healthz 503 with the last tick age when the checks stop running', async () => {
    const dir = tempDir('watchdog');
    // A receiver that takes every event: the first start tells central of the admin token it made, and a receiver
    // that is down would make /healthz 503 for that alone.
    const receiver = createServer((req, res) => req.resume().on('end', () => res.writeHead(200).end()));
    receiver.listen(0, '127.0.0.1');
    await once(receiver, 'listening');
    cleanups.push(() => new Promise<void>((resolve) => {
      receiver.closeAllConnections();
      receiver.close(() => resolve());
    }));
    const settings = settingsSchema.parse({
      dataDir: path.join(dir, 'var'),
      api: { host: '127.0.0.1', port: 0 },
      inputs: [],
      outputs: [{ type: 'webhook', name: 'hook', url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/e`, secret: 'whsec_c2VjcmV0LWZvci10ZXN0cw==' }],
      sites: SITES,
    });
    const started = await Gateway.start({ settings, logger: createRootLogger({ level: 'silent' }), clock: systemClock });
    if ('issues' in started) throw new Error(JSON.stringify(started.issues));
    const { gateway } = started;
    cleanups.push(() => gateway.stop());
    // With a token /healthz shows everything, the assurance included (the gateway made its own admin token).
    const token = readAdminToken(settings.dataDir);
    const healthz = async () => {
      const response = await fetch(`http://127.0.0.1:${gateway.api!.address!.port}/healthz`, { headers: { authorization: `Bearer ${token}` } });
      return { status: response.status, body: (await response.json()) as { assurance: { lastTickAgeMs: number; detail?: string } } };
    };
    const first = await healthz();
    expect(first.status).toBe(200);
    expect(first.body.assurance.lastTickAgeMs).toBeLessThan(3_000);

    // A fault inside the checks: every tick now fails before it completes.
    const wiring = (gateway as unknown as { assurance: { assurance: { tick(): void } } }).assurance;
    wiring.assurance.tick = () => {
      throw new Error('injected fault');
    };
    await sleep(3_600);
    const stalled = await healthz();
    expect(stalled.status).toBe(503);
    expect(stalled.body.assurance.lastTickAgeMs).toBeGreaterThan(3_000);
    expect(stalled.body.assurance.detail).toMatch(/assurance checks have not run for \d+ ms/);
  });
});

describe('SIGTERM with an output stuck on a stalled broker', () => {
  it('exits within stopTimeout', async () => {
    const broker = await getTestBroker();
    const proxy = await startTcpProxy(broker.url);
    const dir = tempDir('stop-timeout');
    const port = await freePort();
    const gateway = GatewayProcess.spawn(
      writeConfig(dir, {
        dataDir: `${dir}/var`,
        stopTimeout: '3s',
        inputs: [{ type: 'dc09', name: 'ip', host: '127.0.0.1', port, udp: false }],
        outputs: [{ type: 'mqtt', name: 'cms', url: proxy.url, topicPrefix: 'pbstop', protocolVersion: broker.protocolVersion }],
        sites: SITES,
      }),
    );
    try {
      await gateway.ready;
      await sleep(300);
      proxy.holdUpstream();
      const panel = await TcpPanel.connect(port);
      expect(parseAnswer((await panel.send(panelFrame({ token: 'SIA-DCS', seq: '0001', account: '1234', data: '#1234|Nri1/HA05' })))!).token).toBe('ACK');
      panel.close();
      await sleep(300);
      const stopping = Date.now();
      gateway.kill('SIGTERM');
      const exit = await gateway.exited;
      expect(exit.code).toBe(0);
      expect(Date.now() - stopping).toBeLessThan(4_500);
    } finally {
      gateway.kill('SIGKILL');
      await gateway.exited;
      await proxy.close();
      await broker.close();
    }
  });
});
