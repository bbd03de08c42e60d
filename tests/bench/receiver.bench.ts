import { performance } from 'node:perf_hooks';
import { panelFrame, parseAnswer, type TcpPanel } from '../helpers/panel.js';
import { cpuSeconds, openPanels, startBenchGateway } from './bench-gateway.js';
import { percentile, type BenchFigure } from './figures.js';

const THROUGHPUT_CONNECTIONS = 1_000;
const LATENCY_CONNECTIONS = 50;
const WARMUP_MS = 500;
const MEASURE_MS = 3_000;
const PACED_RATE_PER_S = 1_000;
const ANSWER_TIMEOUT_MS = 5_000;

/**
 * One panel: its account, and a sequence number so every frame is new (a repeat would be a deduped retransmit).
 * After an answer times out it is `broken` and sends no more: a late answer would be taken for the next frame's.
 */
class BenchPanel {
  private seq = 0;
  broken = false;

  constructor(
    readonly connection: TcpPanel,
    private readonly account: string,
  ) {}

  /** Sends one alarm frame and resolves true when the answer is an ACK. */
  async alarm(): Promise<boolean> {
    this.seq = (this.seq % 9999) + 1;
    const frame = panelFrame({
      token: 'SIA-DCS',
      seq: String(this.seq).padStart(4, '0'),
      account: this.account,
      data: `#${this.account}|Nri1/BA${String(this.seq % 100).padStart(2, '0')}`,
    });
    const answer = await this.connection.send(frame, ANSWER_TIMEOUT_MS);
    if (answer === null) this.broken = true;
    return answer !== null && parseAnswer(answer).token === 'ACK';
  }
}

async function connectPanels(port: number, count: number, firstAccount: number): Promise<BenchPanel[]> {
  const { panels, error } = await openPanels(port, count);
  if (error !== undefined) {
    for (const panel of panels) panel.close();
    throw new Error(`opened only ${panels.length} of ${count} connections: ${error}`);
  }
  return panels.map((connection, i) => new BenchPanel(connection, String(firstAccount + i)));
}

function closePanels(panels: readonly BenchPanel[]): void {
  for (const panel of panels) panel.connection.close();
}

interface Snapshot {
  acked: number;
  at: number;
  gatewayCpuS: number;
  clientCpuS: number;
}

interface ThroughputResult {
  framesPerS: number;
  /** Frames answered with something else than ACK, or not within ANSWER_TIMEOUT_MS (whole run). */
  notAcked: number;
  /** Share of one core each side used while measuring (above 100 % = more than one thread busy). */
  gatewayCpuPercent: number;
  clientCpuPercent: number;
  gatewayCpuUsPerFrame: number;
}

/** Every panel sends, waits for the answer, sends again; ACKs and CPU counted from the end of warm-up to the end. */
async function ackThroughput(panels: readonly BenchPanel[], gatewayPid: number): Promise<ThroughputResult> {
  let acked = 0;
  let notAcked = 0;
  const snapshot = (): Snapshot => {
    const own = process.cpuUsage();
    return { acked, at: performance.now(), gatewayCpuS: cpuSeconds(gatewayPid), clientCpuS: (own.user + own.system) / 1e6 };
  };
  const deadline = performance.now() + WARMUP_MS + MEASURE_MS;
  let first: Snapshot | undefined;
  let last: Snapshot | undefined;
  const warmupTimer = setTimeout(() => (first = snapshot()), WARMUP_MS);
  const deadlineTimer = setTimeout(() => (last = snapshot()), WARMUP_MS + MEASURE_MS);
  await Promise.all(
    panels.map(async (panel) => {
      while (!panel.broken && performance.now() < deadline) {
        if (await panel.alarm()) acked += 1;
        else notAcked += 1;
      }
    }),
  );
  clearTimeout(warmupTimer);
  clearTimeout(deadlineTimer);
  // Every panel broken before the deadline: the window ends where the last answer came.
  first ??= snapshot();
  last ??= snapshot();
  const seconds = (last.at - first.at) / 1000;
  const frames = last.acked - first.acked;
  const gatewayCpuS = last.gatewayCpuS - first.gatewayCpuS;
  return {
    framesPerS: frames / seconds,
    notAcked,
    gatewayCpuPercent: (gatewayCpuS / seconds) * 100,
    clientCpuPercent: ((last.clientCpuS - first.clientCpuS) / seconds) * 100,
    gatewayCpuUsPerFrame: (gatewayCpuS / frames) * 1e6,
  };
}

/**
 * Frames issued on a steady schedule (catching up on timer jitter) over idle connections, each timed from its
 * write to its ACK. A frame due while every connection waits for an answer goes out on the next one freed;
 * one that never could (every connection broken) counts as not ACKed.
 */
async function pacedLatency(panels: readonly BenchPanel[], durationMs: number): Promise<{ latencies: number[]; notAcked: number }> {
  const total = (PACED_RATE_PER_S * durationMs) / 1000;
  const idle = [...panels];
  const latencies: number[] = [];
  let notAcked = 0;
  let issued = 0;
  let due = 0;
  let inFlight = 0;
  let answered = (): void => {};
  const issue = (): void => {
    while (issued < due && idle.length > 0) {
      const panel = idle.shift()!;
      issued += 1;
      inFlight += 1;
      const writtenAt = performance.now();
      void panel.alarm().then((acked) => {
        inFlight -= 1;
        if (acked) latencies.push(performance.now() - writtenAt);
        else notAcked += 1;
        if (!panel.broken) idle.push(panel);
        issue();
        answered();
      });
    }
  };
  const started = performance.now();
  while (due < total) {
    due = Math.min(total, Math.floor(((performance.now() - started) * PACED_RATE_PER_S) / 1000) + 1);
    issue();
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  while (inFlight > 0) await new Promise<void>((resolve) => (answered = resolve));
  return { latencies: latencies.sort((a, b) => a - b), notAcked: notAcked + (total - issued) };
}

/**
 * A production gateway child (SQLite outbox, each ACK after the fsync) driven over TCP from this process:
 * ACK latency at a paced 1,000 frames/s over 50 connections (target p99 ≤ 10 ms), and ACK throughput with
 * 1,000 persistent connections each sending frame after frame (target ≥ 20,000/s), with the CPU both sides used.
 */
export async function benchReceiver(brokerUrl?: string): Promise<BenchFigure[]> {
  const gateway = await startBenchGateway(brokerUrl === undefined ? {} : { brokerUrl });
  const label = gateway.brokerLabel;
  try {
    // Latency first, on a fresh gateway: after the throughput run a delivery backlog would still be draining.
    const paced = await connectPanels(gateway.port, LATENCY_CONNECTIONS, 200_000);
    let latency: { latencies: number[]; notAcked: number };
    try {
      // The warm-up's latencies are not counted: the first frames after start pay for JIT and lazy loading.
      const warmup = await pacedLatency(paced, WARMUP_MS);
      const measured = await pacedLatency(paced, MEASURE_MS);
      latency = { latencies: measured.latencies, notAcked: warmup.notAcked + measured.notAcked };
    } finally {
      closePanels(paced);
    }
    const busy = await connectPanels(gateway.port, THROUGHPUT_CONNECTIONS, 100_000);
    const throughput = await ackThroughput(busy, gateway.pid).finally(() => closePanels(busy));

    const at = `@${PACED_RATE_PER_S}/s over ${LATENCY_CONNECTIONS} connections (${label})`;
    const load = `${THROUGHPUT_CONNECTIONS} connections (${label})`;
    return [
      { name: `receiver ACK latency p50 ${at}`, value: percentile(latency.latencies, 50), unit: 'ms' },
      { name: `receiver ACK latency p99 ${at}`, value: percentile(latency.latencies, 99), unit: 'ms' },
      { name: `receiver ACK latency max ${at}`, value: latency.latencies.at(-1) ?? Number.NaN, unit: 'ms' },
      { name: `receiver frames not ACKed ${at}`, value: latency.notAcked, unit: 'frames' },
      { name: `receiver ACK throughput, ${load}`, value: throughput.framesPerS, unit: 'frames/s' },
      { name: `receiver frames not ACKed in the throughput run, ${load}`, value: throughput.notAcked, unit: 'frames' },
      { name: `receiver gateway CPU during ACK throughput, ${load}`, value: throughput.gatewayCpuPercent, unit: '% of a core' },
      { name: `receiver gateway CPU per ACKed frame, ${load}`, value: throughput.gatewayCpuUsPerFrame, unit: 'µs' },
      { name: `receiver bench client CPU during ACK throughput, ${load}`, value: throughput.clientCpuPercent, unit: '% of a core' },
    ];
  } finally {
    await gateway.stop();
  }
}
