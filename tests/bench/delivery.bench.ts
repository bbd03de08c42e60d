import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { MqttOutput } from '../../adapters/outputs/mqtt.js';
import type { NormalizedEvent } from '../../src/model/event.js';
import { MemoryOutbox } from '../../src/outbox/memory-outbox.js';
import type { Outbox } from '../../src/outbox/outbox.js';
import { SqliteOutbox } from '../../src/outbox/sqlite-outbox.js';
import { Dispatcher } from '../../src/pipeline/dispatcher.js';
import { silentLogger, systemClock } from '../../src/ports.js';
import { getTestBroker, uniquePrefix } from '../helpers/broker.js';
import { testEvent } from '../helpers/output-events.js';
import { type BenchFigure, percentile } from './figures.js';

const BACKLOG = 100_000;
/** A central-station receiver line carries many accounts; the dispatcher pipelines across them. */
const BACKLOG_ACCOUNTS = 1_000;
const SINGLE_ACCOUNT_BACKLOG = 2_000;
const APPEND_CHUNK = 1_000;
const STEADY_RATE_PER_S = 1_000;
/**
 * Two seconds put the p99 on its 20 slowest deliveries, a couple of slow fsyncs on this VM: runs of the same code
 * swung between 4.4 and 5.7 ms. Ten seconds put 100 there, as the receiver's latency figure does.
 */
const STEADY_MS = 10_000;

/** sqlite: the production store, each commit fsynced. memory: the dispatcher and MQTT path alone. */
type OutboxKind = 'sqlite' | 'memory';

interface Rig {
  outbox: Outbox;
  output: MqttOutput;
  /** Starts a dispatcher whose onDelivered calls `delivered`. */
  dispatch(delivered: (event: NormalizedEvent) => void): Dispatcher;
  close(): Promise<void>;
}

async function rig(brokerUrl: string, kind: OutboxKind, label: string): Promise<Rig> {
  const dir = await mkdtemp(path.join(tmpdir(), 'panelbridge-delivery-bench-'));
  const outbox = kind === 'sqlite' ? SqliteOutbox.open({ dataDir: dir }) : new MemoryOutbox();
  const output = new MqttOutput(
    { name: 'broker', url: brokerUrl, topicPrefix: uniquePrefix(label), audience: 'central', embeddedPort: 0 },
    { clock: systemClock, logger: silentLogger, gateway: { id: 'bench', version: '0' } },
  );
  outbox.registerOutputs([output.name]);
  await output.start();
  const dispatchers: Dispatcher[] = [];
  return {
    outbox,
    output,
    dispatch(delivered) {
      const dispatcher = new Dispatcher({
        outbox,
        outputs: [output],
        clock: systemClock,
        logger: silentLogger,
        onDelivered: (_name, event) => delivered(event),
      });
      dispatchers.push(dispatcher);
      dispatcher.start();
      return dispatcher;
    },
    async close() {
      for (const dispatcher of dispatchers) await dispatcher.stop();
      await output.stop();
      outbox.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Queues `count` events first, then starts the dispatcher and times the drain until every one is PUBACKed. */
async function drainRate(brokerUrl: string, kind: OutboxKind, count: number, accounts: number): Promise<number> {
  const r = await rig(brokerUrl, kind, 'drain');
  try {
    for (let start = 0; start < count; start += APPEND_CHUNK) {
      const chunk = Array.from({ length: Math.min(APPEND_CHUNK, count - start) }, (_, i) =>
        testEvent({ account: `acct-${(start + i) % accounts}` }),
      );
      await r.outbox.append(chunk);
    }
    let delivered = 0;
    const started = performance.now();
    await new Promise<void>((resolve) => {
      r.dispatch(() => {
        delivered += 1;
        if (delivered === count) resolve();
      });
    });
    return count / ((performance.now() - started) / 1000);
  } finally {
    await r.close();
  }
}

/** Appends at a steady rate with the dispatcher running; latency is from append() to delivered (PUBACKed). */
async function steadyLatency(brokerUrl: string, kind: OutboxKind): Promise<{ p50: number; p99: number }> {
  const r = await rig(brokerUrl, kind, 'latency');
  try {
    const appendedAt = new Map<string, number>();
    const latencies: number[] = [];
    const total = (STEADY_RATE_PER_S * STEADY_MS) / 1000;
    const allDelivered = new Promise<void>((resolve) => {
      r.dispatch((event) => {
        const at = appendedAt.get(event.id);
        if (at !== undefined) latencies.push(performance.now() - at);
        if (latencies.length === total) resolve();
      });
    });
    const started = performance.now();
    let sent = 0;
    const appends: Array<Promise<unknown>> = [];
    while (sent < total) {
      // Catch up to the schedule each turn, so timer granularity does not lower the rate.
      const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * STEADY_RATE_PER_S) + 1);
      for (; sent < due; sent++) {
        const event = testEvent({ account: `acct-${sent % 50}` });
        appendedAt.set(event.id, performance.now());
        appends.push(r.outbox.append([event]));
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await Promise.all(appends);
    await allDelivered;
    latencies.sort((a, b) => a - b);
    return { p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
  } finally {
    await r.close();
  }
}

/**
 * Dispatcher + MQTT output against `brokerUrl` (else MQTT_URL, else an in-process aedes), each with the
 * SqliteOutbox (production, fsync per commit) and the MemoryOutbox (dispatcher and MQTT alone): backlog drain
 * rate (target ≥ 20,000 events/s) and append → PUBACK latency at 1,000 events/s (target p99 ≤ 5 ms).
 */
export async function benchDelivery(brokerUrl?: string): Promise<BenchFigure[]> {
  const broker = brokerUrl === undefined ? await getTestBroker() : { url: brokerUrl, close: async () => {} };
  const figures: BenchFigure[] = [];
  try {
    for (const kind of ['sqlite', 'memory'] as const) {
      const drain = await drainRate(broker.url, kind, BACKLOG, BACKLOG_ACCOUNTS);
      const singleAccount = await drainRate(broker.url, kind, SINGLE_ACCOUNT_BACKLOG, 1);
      const steady = await steadyLatency(broker.url, kind);
      figures.push(
        { name: `delivery drain (${kind} outbox), ${BACKLOG} events over ${BACKLOG_ACCOUNTS} accounts → PUBACK`, value: drain, unit: 'events/s' },
        { name: `delivery drain (${kind} outbox), ${SINGLE_ACCOUNT_BACKLOG} events of one account → PUBACK`, value: singleAccount, unit: 'events/s' },
        { name: `delivery append → PUBACK latency p50 (${kind} outbox) @${STEADY_RATE_PER_S}/s`, value: steady.p50, unit: 'ms' },
        { name: `delivery append → PUBACK latency p99 (${kind} outbox) @${STEADY_RATE_PER_S}/s`, value: steady.p99, unit: 'ms' },
      );
    }
    return figures;
  } finally {
    await broker.close();
  }
}
