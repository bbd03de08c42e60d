import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { freePort, uniquePrefix } from '../helpers/broker.js';
import { apiFetch, GatewayProcess, tempDir, writeConfig } from '../helpers/gateway-process.js';
import { TcpPanel } from '../helpers/panel.js';


/** `Environment=MALLOC_ARENA_MAX=…` in systemd/panelbridge.service. */
const DEPLOYED_MALLOC_ARENA_MAX = '2';

export interface BenchGateway {
  process: GatewayProcess;
  pid: number;
  /** The DC-09 input's TCP port. */
  port: number;
  /** Which broker the gateway's MQTT output points at, for figure names. */
  brokerLabel: string;
  /** From spawning the process to its "gateway ready" log line. */
  readyMs: number;
  /** Events stored but not yet delivered by the MQTT output (its `outbox_backlog` metric). */
  backlog(): Promise<number>;
  stop(): Promise<void>;
}

export interface BenchGatewayOptions {
  /** MQTT broker for the output; without one the output points at a closed port (the outbox still stores). */
  brokerUrl?: string;
  maxConnections?: number;
  /** Node arguments for the gateway child, before those of BENCH_GATEWAY_NODE_ARGS. */
  nodeArgs?: string[];
  /** The DC-09 input's allowlist, each account with its AES key in hex; unset: no allowlist. */
  accounts?: ReadonlyArray<{ account: string; key: string }>;
}

const STOP_GRACE_MS = 10_000;
/** USER_HZ: 100 on every Linux architecture Node supports. */
const CLOCK_TICKS_PER_S = 100;

/**
 * A production `panelbridge run` child: DC-09 input on a free port, SQLite outbox in a temp dataDir, the API,
 * and one MQTT output. Resolves once the "gateway ready" line is logged.
 */
export async function startBenchGateway(options: BenchGatewayOptions = {}): Promise<BenchGateway> {
  const dir = tempDir('bench');
  const port = await freePort();
  const apiPort = await freePort();
  const dataDir = path.join(dir, 'var');
  const brokerUrl = options.brokerUrl ?? `mqtt://127.0.0.1:${await freePort()}`;
  const config = writeConfig(dir, {
    dataDir,
    api: { host: '127.0.0.1', port: apiPort },
    logLevel: 'info',
    inputs: [
      {
        type: 'dc09',
        name: 'bench-receiver',
        host: '127.0.0.1',
        port,
        maxConnections: options.maxConnections ?? 2000,
        // Every bench connection comes from 127.0.0.1, and opening thousands takes longer than the default
        // first-frame timeout: neither limit is what these figures measure.
        maxConnectionsPerPeer: options.maxConnections ?? 2000,
        firstFrameTimeout: '5m',
        ...(options.accounts === undefined ? {} : { accounts: options.accounts.map(({ account, key }) => ({ account, key, keyEncoding: 'hex' })) }),
      },
    ],
    outputs: [{ type: 'mqtt', name: 'broker', url: brokerUrl, topicPrefix: uniquePrefix('bench') }],
  });
  // Measured as deployed: with the environment systemd/panelbridge.service sets, and no Node options.
  // BENCH_GATEWAY_NODE_ARGS adds node arguments (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile the
  // gateway under the bench's load).
  const inherited = process.env['MALLOC_ARENA_MAX'];
  process.env['MALLOC_ARENA_MAX'] = DEPLOYED_MALLOC_ARENA_MAX;
  const spawnedAt = performance.now();
  const nodeArgs = [...(options.nodeArgs ?? []), ...(process.env['BENCH_GATEWAY_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== '')];
  const gateway = GatewayProcess.spawn(config, [], undefined, nodeArgs);
  if (inherited === undefined) delete process.env['MALLOC_ARENA_MAX'];
  else process.env['MALLOC_ARENA_MAX'] = inherited;
  const stop = async (): Promise<void> => {
    gateway.kill('SIGTERM');
    const timer = setTimeout(() => gateway.kill('SIGKILL'), STOP_GRACE_MS);
    await gateway.exited;
    clearTimeout(timer);
    await rm(dir, { recursive: true, force: true });
  };
  let readyMs: number;
  try {
    await gateway.ready;
    readyMs = performance.now() - spawnedAt;
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    process: gateway,
    pid: gateway.child.pid ?? Number.NaN,
    port,
    brokerLabel: options.brokerUrl === undefined ? 'broker unreachable' : 'delivering to MQTT',
    readyMs,
    backlog: async () => {
      const metrics = await (await apiFetch(dataDir, `http://127.0.0.1:${apiPort}/metrics`)).text();
      const line = /^panelbridge_outbox_backlog\{output="broker"\} (\d+)$/m.exec(metrics);
      if (line === null) throw new Error('the gateway reports no backlog for its output');
      return Number(line[1]);
    },
    stop,
  };
}

/**
 * Resident set size of a process in MB, from /proc/<pid>/status (Linux): VmHWM is the peak so far, RssAnon the
 * process's own memory (heaps, stacks), RssFile the pages of the node binary and libraries it has touched.
 */
export function rssMb(pid: number, field: 'VmRSS' | 'VmHWM' | 'RssAnon' | 'RssFile' = 'VmRSS'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (match?.[1] === undefined) throw new Error(`no ${field} for pid ${pid}`);
  return Number(match[1]) / 1024;
}

/** CPU seconds (user + system, all threads) a process has used so far, from /proc/<pid>/stat (Linux). */
export function cpuSeconds(pid: number): number {
  // Fields after the ")" that ends the command name; utime and stime are the 12th and 13th, in clock ticks.
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
}

/** A process's soft open-files limit (Linux; Node raises it to the hard limit at start), or null if unknown. */
export function openFilesLimit(pid: number | 'self'): number | null {
  const match = /^Max open files\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
  return match?.[1] === undefined ? null : Number(match[1]);
}

/**
 * Opens up to `count` connections with `connect`, `batch` at a time; stops at the first batch that cannot be
 * fully opened (an fd or port limit) and returns what it has.
 */
export async function openConnections<T>(count: number, connect: () => Promise<T>, batch = 500): Promise<{ opened: T[]; error?: string }> {
  const opened: T[] = [];
  while (opened.length < count) {
    const size = Math.min(batch, count - opened.length);
    const attempts = await Promise.allSettled(Array.from({ length: size }, connect));
    for (const attempt of attempts) if (attempt.status === 'fulfilled') opened.push(attempt.value);
    const failed = attempts.find((a): a is PromiseRejectedResult => a.status === 'rejected');
    if (failed !== undefined) return { opened, error: String((failed.reason as Error).message ?? failed.reason) };
  }
  return { opened };
}

/** Panel connections (tests/helpers/panel.ts) to the gateway's DC-09 port. */
export async function openPanels(port: number, count: number): Promise<{ panels: TcpPanel[]; error?: string }> {
  const { opened, error } = await openConnections(count, () => TcpPanel.connect(port));
  return error === undefined ? { panels: opened } : { panels: opened, error };
}
