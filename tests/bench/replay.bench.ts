import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { once } from 'node:events';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { captureLine } from '../../src/replay/capture.js';
import { tempDir, writeConfig } from '../helpers/gateway-process.js';
import { cpuSeconds, rssMb } from './bench-gateway.js';
import { panelFrame } from '../helpers/panel.js';
import type { BenchFigure } from './figures.js';

const LINES = 1_000_000;
const ACCOUNTS = 2_000;
const CLI = fileURLToPath(new URL('../../adapters/cli/main.js', import.meta.url));

/**
 * A day's capture as `run --capture` writes it: DC-09 frames from 2,000 panels, one per millisecond, mostly
 * SIA-DCS alarms and restores, ADM-CID openings and closings, heartbeats, and now and then a retransmit.
 */
function frameOf(line: number): Buffer {
  const account = String(100_000 + (line % ACCOUNTS));
  const seq = String((Math.floor(line / ACCOUNTS) % 9999) + 1).padStart(4, '0');
  switch (line % 8) {
    case 0:
    case 1:
      return panelFrame({ token: 'SIA-DCS', seq, account, data: `#${account}|Nri1/BA${String(line % 64).padStart(2, '0')}` });
    case 2:
      return panelFrame({ token: 'SIA-DCS', seq, account, data: `#${account}|Nri1/BR${String(line % 64).padStart(2, '0')}` });
    case 3:
    case 4:
      return panelFrame({ token: 'ADM-CID', seq, account, data: `#${account}|1401 01 ${String(line % 100).padStart(3, '0')}` });
    case 5:
      return panelFrame({ token: 'ADM-CID', seq, account, data: `#${account}|3401 01 ${String(line % 100).padStart(3, '0')}` });
    case 6:
      return panelFrame({ token: 'NULL', seq, account, data: '' });
    default:
      // The frame two lines before, sent again: stored once.
      return frameOf(line - 2);
  }
}

export async function writeCapture(file: string, lines = LINES): Promise<void> {
  const out = createWriteStream(file);
  const start = Date.parse('2026-06-01T00:00:00.000Z');
  for (let line = 0; line < lines; line++) {
    const text = `${captureLine(frameOf(line), start + line, 'panels', 'tcp', `10.0.${line % 250}.${line % 200}:5000`)}\n`;
    if (!out.write(text)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

/**
 * `panelbridge replay --dry-run --fast` of a 1,000,000-line capture, from start to exit (events to stdout, here
 * /dev/null): the frames per second a tester replaying a day of captures waits on. The capture is written first.
 */
export async function benchReplay(): Promise<BenchFigure[]> {
  const dir = tempDir('replay-bench');
  try {
    const capture = path.join(dir, 'capture.jsonl');
    await writeCapture(capture);
    const config = writeConfig(dir, {
      dataDir: path.join(dir, 'var'),
      inputs: [{ type: 'dc09', name: 'panels', host: '127.0.0.1', port: 0 }],
      outputs: [{ type: 'stdout', name: 'stdout' }],
    });
    const started = performance.now();
    const child = spawn(process.execPath, [CLI, 'replay', capture, '--config', config, '--dry-run', '--fast', '--log-level', 'error'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    // Peak RSS and CPU time only grow: the last reading before the exit is within a poll of the final figure.
    let usage = { peakRss: Number.NaN, cpu: Number.NaN };
    const poll = setInterval(() => {
      try {
        usage = { peakRss: rssMb(child.pid!, 'VmHWM'), cpu: cpuSeconds(child.pid!) };
      } catch {
        // exited between the tick and the read
      }
    }, 100);
    const [code] = (await once(child, 'exit')) as [number | null];
    clearInterval(poll);
    const seconds = (performance.now() - started) / 1000;
    if (code !== 0) throw new Error(`replay exited ${code}: ${stderr.slice(-500)}`);
    const frames = Number(/replay: (\d+) frame\(s\)/.exec(stderr)?.[1] ?? Number.NaN);
    const events = Number(/(\d+) event\(s\) stored/.exec(stderr)?.[1] ?? Number.NaN);
    return [
      { name: `replay --dry-run --fast, ${LINES}-line capture, frames per second`, value: frames / seconds, unit: 'frames/s' },
      { name: `replay --dry-run --fast, ${LINES}-line capture, events stored`, value: events, unit: 'events' },
      { name: `replay --dry-run --fast, ${LINES}-line capture, wall time`, value: seconds, unit: 's' },
      { name: `replay --dry-run --fast, ${LINES}-line capture, CPU per frame (all threads, to the last poll)`, value: (usage.cpu * 1e6) / frames, unit: 'µs' },
      { name: `replay --dry-run --fast, ${LINES}-line capture, peak RSS`, value: usage.peakRss, unit: 'MB' },
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
