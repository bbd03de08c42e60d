import { setTimeout as sleep } from 'node:timers/promises';
import { panelFrame, parseAnswer, type TcpPanel } from '../helpers/panel.js';
import { openFilesLimit, openPanels, rssMb, startBenchGateway } from './bench-gateway.js';
import { percentile, type BenchFigure } from './figures.js';

const READY_RUNS = 3;
const SETTLE_MS = 1_000;
/**
 * Idle means settled: V8's memory reducer gives back the young generation that start-up grew once the process
 * has been quiet for several seconds (seen at 15–20 s), so the idle figure is read at 30 s.
 */
const IDLE_SETTLE_MS = 30_000;
const CONNECTIONS = 10_000;
/** Above CONNECTIONS, so the gateway's limit (default 2000) is not what is measured. */
const MAX_CONNECTIONS = 12_000;
const ANSWER_TIMEOUT_MS = 10_000;

/** Each connection sends one heartbeat; resolves with how many got their ACK. */
async function heartbeatAll(panels: readonly TcpPanel[]): Promise<number> {
  const answers = await Promise.all(
    panels.map((panel, i) => panel.send(panelFrame({ token: 'NULL', seq: '0001', account: String(300_000 + i), data: '' }), ANSWER_TIMEOUT_MS)),
  );
  return answers.filter((answer) => answer !== null && parseAnswer(answer).token === 'ACK').length;
}

/**
 * The gateway process as deployed (`panelbridge run`, SQLite outbox, API, one MQTT output): start-up time to
 * the "gateway ready" line (median of 3, target ≤ 1 s), resident memory 1 s after ready (the start-up peak,
 * reported) and settled idle (target ≤ 80 MB), and with 10,000 open panel connections that have each sent a
 * heartbeat (target ≤ 150 MB).
 */
export async function benchFootprint(brokerUrl?: string): Promise<BenchFigure[]> {
  const options = { maxConnections: MAX_CONNECTIONS, ...(brokerUrl === undefined ? {} : { brokerUrl }) };
  const readyMs: number[] = [];
  for (let run = 1; run < READY_RUNS; run++) {
    const gateway = await startBenchGateway(options);
    readyMs.push(gateway.readyMs);
    await gateway.stop();
  }
  const gateway = await startBenchGateway(options);
  readyMs.push(gateway.readyMs);
  const label = gateway.brokerLabel;
  try {
    await sleep(SETTLE_MS);
    const startupRss = rssMb(gateway.pid);
    await sleep(IDLE_SETTLE_MS - SETTLE_MS);
    const idleRss = rssMb(gateway.pid);
    const idleAnon = rssMb(gateway.pid, 'RssAnon');
    const idleFile = rssMb(gateway.pid, 'RssFile');

    // Both ends hold one descriptor per connection; a lower limit caps what can be measured (reported below).
    const { panels, error } = await openPanels(gateway.port, CONNECTIONS);
    let acked: number;
    let loadedRss: number;
    try {
      acked = await heartbeatAll(panels);
      await sleep(SETTLE_MS);
      loadedRss = rssMb(gateway.pid);
    } finally {
      for (const panel of panels) panel.close();
    }
    if (error !== undefined) {
      const limits = `open-files limit: bench ${openFilesLimit('self')}, gateway ${openFilesLimit(gateway.pid)}`;
      process.stderr.write(`footprint: opened ${panels.length} of ${CONNECTIONS} connections (${error}; ${limits})\n`);
    }
    readyMs.sort((a, b) => a - b);
    return [
      { name: `gateway start → "gateway ready", median of ${READY_RUNS} (${label})`, value: percentile(readyMs, 50), unit: 'ms' },
      { name: `gateway RSS after start-up, ready + ${SETTLE_MS / 1000} s (${label})`, value: startupRss, unit: 'MB' },
      { name: `gateway RSS idle, ready + ${IDLE_SETTLE_MS / 1000} s (${label})`, value: idleRss, unit: 'MB' },
      // Node 24's binary alone keeps more file pages resident than Node 20's: the split says whose memory it is.
      { name: `gateway idle memory, anonymous part (heaps, stacks), node ${process.versions.node}`, value: idleAnon, unit: 'MB' },
      { name: `gateway idle memory, file-backed part (node binary, libraries), node ${process.versions.node}`, value: idleFile, unit: 'MB' },
      { name: `gateway RSS with ${CONNECTIONS} connections open (${label})`, value: loadedRss, unit: 'MB' },
      { name: `connections open and heartbeat-ACKed for the RSS figure (of ${CONNECTIONS})`, value: acked, unit: 'connections' },
    ];
  } finally {
    await gateway.stop();
  }
}
