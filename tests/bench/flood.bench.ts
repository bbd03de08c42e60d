import net from 'node:net';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { panelFrame, parseAnswer, TcpPanel } from '../helpers/panel.js';
import { rssMb, startBenchGateway } from './bench-gateway.js';
import { percentile, type BenchFigure } from './figures.js';

/** The attack from issue 15: 60 MiB of 12-byte junk frames on one connection (once took RSS to 1.44 GB). */
const FLOOD_BYTES = 60 * 1024 * 1024;
/** The flood stops here if the gateway has not taken it all by then (it pauses the socket, so it may not). */
const FLOOD_MAX_MS = 20_000;
const SAMPLE_MS = 100;
const PROBE_EVERY_MS = 250;
const ANSWER_TIMEOUT_MS = 5_000;
const JUNK_FRAME = Buffer.from('\n0000000Axx\r', 'latin1');
const JUNK_CHUNK = Buffer.concat(Array.from({ length: Math.floor((64 * 1024) / JUNK_FRAME.length) }, () => JUNK_FRAME));

/**
 * One connection floods the gateway with frames that frame but never decode, as fast as the gateway reads
 * them, while a second connection sends a heartbeat every 250 ms: the gateway's peak RSS (target ≤ 250 MB),
 * and the heartbeat's answer latency (target: every one within 1 s).
 */
export async function benchFlood(brokerUrl?: string): Promise<BenchFigure[]> {
  const gateway = await startBenchGateway(brokerUrl === undefined ? {} : { brokerUrl });
  try {
    const rssBefore = rssMb(gateway.pid);
    const flooder = net.connect({ host: '127.0.0.1', port: gateway.port });
    flooder.on('error', () => undefined);
    await once(flooder, 'connect');
    const probe = await TcpPanel.connect(gateway.port);

    let peakRss = rssBefore;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, rssMb(gateway.pid));
    }, SAMPLE_MS);
    const latencies: number[] = [];
    let unanswered = 0;
    let flooding = true;
    const probing = (async () => {
      while (flooding) {
        const asked = performance.now();
        const answer = await probe.send(panelFrame({ token: 'NULL', seq: '0000', account: '4242', data: '' }), ANSWER_TIMEOUT_MS);
        if (answer === null || parseAnswer(answer).token !== 'ACK') unanswered += 1;
        else latencies.push(performance.now() - asked);
        await sleep(PROBE_EVERY_MS);
      }
    })();

    const started = performance.now();
    let sent = 0;
    while (sent < FLOOD_BYTES && performance.now() - started < FLOOD_MAX_MS && !flooder.destroyed) {
      sent += JUNK_CHUNK.length;
      if (!flooder.write(JUNK_CHUNK)) await Promise.race([once(flooder, 'drain'), sleep(FLOOD_MAX_MS - (performance.now() - started))]);
    }
    const floodMs = performance.now() - started;
    flooding = false;
    await probing;
    clearInterval(sampler);
    peakRss = Math.max(peakRss, rssMb(gateway.pid));
    flooder.destroy();
    probe.close();
    await sleep(1_000);
    const rssAfter = rssMb(gateway.pid);
    latencies.sort((a, b) => a - b);
    return [
      { name: 'flood: junk bytes written on one connection (60 MiB or 20 s, whichever first)', value: sent / (1024 * 1024), unit: 'MiB' },
      { name: 'flood: its duration', value: floodMs / 1000, unit: 's' },
      { name: 'flood: gateway RSS before', value: rssBefore, unit: 'MB' },
      { name: 'flood: gateway peak RSS during a one-connection junk flood', value: peakRss, unit: 'MB' },
      { name: 'flood: gateway RSS 1 s after the flooder left', value: rssAfter, unit: 'MB' },
      { name: 'flood: heartbeat answer latency on a second connection, p50', value: percentile(latencies, 50), unit: 'ms' },
      { name: 'flood: heartbeat answer latency on a second connection, max', value: latencies.at(-1) ?? Number.NaN, unit: 'ms' },
      { name: 'flood: heartbeats without an answer within 5 s', value: unanswered, unit: 'heartbeats' },
    ];
  } finally {
    await gateway.stop();
  }
}
