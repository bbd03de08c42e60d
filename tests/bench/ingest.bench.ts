import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { Gateway } from '../../adapters/cli/gateway.js';
import { createRootLogger } from '../../adapters/system/logger.js';
import { systemClock } from '../../src/ports.js';
import { parseSettings } from '../../src/settings/settings.js';
import { freePort, uniquePrefix } from '../helpers/broker.js';
import type { BenchFigure } from './figures.js';
import { loadFrame } from './load-client.js';

const PANELS = 1_000;
const WARMUP_MS = 500;
const MEASURE_MS = 3_000;

/**
 * The receiver's work without sockets: the gateway built as `run` builds it (SQLite outbox, MQTT output), but
 * its DC-09 input fed in-process by 1,000 concurrent panels, each handing over its next frame when the previous
 * one is decided (stored and answered). Set beside the TCP figure it splits the gateway's cost per frame into
 * the pipeline's share and the sockets' share.
 */
export async function benchIngest(brokerUrl?: string): Promise<BenchFigure[]> {
  const dir = await mkdtemp(path.join(tmpdir(), 'panelbridge-ingest-bench-'));
  const url = brokerUrl ?? `mqtt://127.0.0.1:${await freePort()}`;
  const parsed = parseSettings(
    JSON.stringify({
      dataDir: path.join(dir, 'var'),
      inputs: [{ type: 'dc09', name: 'bench', host: '127.0.0.1', port: 0 }],
      outputs: [{ type: 'mqtt', name: 'broker', url, topicPrefix: uniquePrefix('ingest') }],
    }),
  );
  if (!parsed.ok) throw new Error(`bench settings: ${JSON.stringify(parsed.issues)}`);
  const discard = new Writable({ write: (_chunk, _encoding, done) => done() });
  const started = await Gateway.start({
    settings: parsed.settings,
    logger: createRootLogger({ level: 'warn', destination: discard }),
    clock: systemClock,
    listen: false,
  });
  if (!('gateway' in started)) throw new Error(`bench gateway: ${JSON.stringify(started.issues)}`);
  const { gateway } = started;
  const label = brokerUrl === undefined ? 'broker unreachable' : 'delivering to MQTT';
  try {
    const handle = gateway.inputs.find((input) => input.name === 'bench')?.handleFrame;
    if (handle === undefined) throw new Error('no bench input');
    let decided = 0;
    let notAcked = 0;
    const deadline = performance.now() + WARMUP_MS + MEASURE_MS;
    // `decided` counts ACKed frames only; anything else is reported apart.
    let first: { decided: number; at: number; cpu: NodeJS.CpuUsage } | undefined;
    const warmup = setTimeout(() => (first = { decided, at: performance.now(), cpu: process.cpuUsage() }), WARMUP_MS);
    await Promise.all(
      Array.from({ length: PANELS }, async (_, i) => {
        const account = String(400_000 + i);
        for (let seq = 1; performance.now() < deadline; seq = (seq % 9999) + 1) {
          const outcome = (await handle(loadFrame(account, seq), 'tcp', '127.0.0.1:1')) as { answer?: string };
          if (outcome.answer === 'ack') decided += 1;
          else notAcked += 1;
        }
      }),
    );
    clearTimeout(warmup);
    if (first === undefined) throw new Error('the ingest run ended before its warm-up');
    const seconds = (performance.now() - first.at) / 1000;
    const frames = decided - first.decided;
    const cpu = process.cpuUsage(first.cpu);
    return [
      { name: `ingest in-process (no sockets), ${PANELS} concurrent panels (${label})`, value: frames / seconds, unit: 'frames/s' },
      { name: `ingest in-process CPU per frame (${label})`, value: (cpu.user + cpu.system) / frames, unit: 'µs' },
      { name: `ingest in-process frames not ACKed (${label})`, value: notAcked, unit: 'frames' },
    ];
  } finally {
    await gateway.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
