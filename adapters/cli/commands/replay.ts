import { readFileSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { LevelWithSilent } from 'pino';
import { createRootLogger } from '../../system/logger.js';
import { EXIT_CONFIG, loadConfigFile, printIssues } from '../config.js';
import { Gateway } from '../gateway.js';
import { readReplayFile } from '../../inputs/replay.js';
import { MemoryOutbox } from '../../../src/outbox/memory-outbox.js';
import { isGatewayError } from '../../../src/errors.js';
import { systemClock } from '../../../src/ports.js';
import { seededRandom } from '../../../src/model/ids.js';
import type { NormalizedEvent } from '../../../src/model/event.js';
import { parseDuration } from '../../../src/settings/sites.js';
import type { Settings } from '../../../src/settings/settings.js';
import type { ReplayFrame } from '../../../src/replay/capture.js';
import { REPLAY_SEED, ReplayClock, type Pacing } from '../../../src/replay/clock.js';
import { compareEvents, formatDifferences } from '../../../src/replay/compare.js';
import { recordDecodedFrame } from '../../../src/replay/decoded-input.js';
import { routeFrame } from '../../../src/replay/route.js';

/** Exit statuses of `replay` (README "Capture and replay"); a bad configuration exits with EXIT_CONFIG (78). */
export const EXIT_MISMATCH = 1;
export const EXIT_MALFORMED = 2;
export const EXIT_UNDELIVERED = 3;
/** EX_NOINPUT: the replay file or the expected file cannot be read. */
export const EXIT_NOINPUT = 66;
/** EX_SOFTWARE: the pipeline could not start (e.g. the outbox in dataDir cannot be opened). */
export const EXIT_SOFTWARE = 70;

/** Files smaller than this finish before a progress bar would tell anyone anything. */
const PROGRESS_MIN_BYTES = 1 << 20;

interface ReplayOptions {
  config: string;
  speed: number;
  fast?: boolean;
  dryRun?: boolean;
  expect?: string;
  ignore?: string[];
  start: number;
  drainTimeout: number;
  logLevel: LevelWithSilent;
  progress: boolean;
}

/** `panelbridge replay`: a capture (or plain log) through the whole pipeline, on the recorded clock. */
export function replayCommand(): Command {
  return new Command('replay')
    .description('feed a capture (run --capture) or a plain log (one frame per line) through the pipeline on its recorded clock')
    .argument('<file>', 'capture JSONL ({t, input, transport, peer, hex} per line) or plain log (escaped frame text per line)')
    .requiredOption('-c, --config <file>', 'configuration file (YAML or JSON)')
    .addOption(new Option('--speed <factor>', 'divide the recorded gaps between frames by this factor').argParser(positiveNumber).default(1).conflicts('fast'))
    .option('--fast', 'feed frames without waiting (the recorded times still drive the clock)')
    .option('--dry-run', 'print the normalized events as JSON lines instead of storing and delivering them')
    .option('--expect <file>', 'compare the events with these expected events (JSON lines); exit 1 on any difference')
    .option('--ignore <fields>', 'fields --expect leaves out, comma separated (e.g. id,receivedAt,source.peer)', fieldList)
    .addOption(new Option('--start <time>', 'clock for plain-log lines before any recorded time (ISO-8601)').argParser(isoTime).default(0, '1970-01-01T00:00:00Z'))
    .addOption(new Option('--drain-timeout <duration>', 'how long to wait for outputs to deliver the backlog').argParser(duration).default(30_000, '30s'))
    .addOption(new Option('--log-level <level>', 'log level of the log lines on stderr').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('warn'))
    .option('--no-progress', 'never show the progress bar')
    .action(async (file: string, options: ReplayOptions) => {
      const code = await replay(file, options);
      // Events written to a pipe must reach it before the exit.
      await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
      process.exit(code);
    });
}

async function replay(file: string, options: ReplayOptions): Promise<number> {
  const note = (line: string) => process.stderr.write(`${line}\n`);
  const loaded = loadConfigFile(options.config);
  if (!loaded.ok) {
    printIssues(loaded.issues, note);
    return EXIT_CONFIG;
  }
  let size: number;
  try {
    size = statSync(file).size;
  } catch (error) {
    note(`replay: cannot read ${file}: ${(error as Error).message}`);
    return EXIT_NOINPUT;
  }
  const expected = options.expect === undefined ? undefined : readExpectedEvents(options.expect);
  if (expected !== undefined && !expected.ok) {
    note(`replay: ${expected.message}`);
    return EXIT_NOINPUT;
  }

  const { settings } = loaded;
  const dryRun = options.dryRun === true;
  const clock = new ReplayClock(options.start);
  // Not a service: no API. A dry run starts no outputs and keeps its outbox in memory, away from dataDir.
  const replaySettings: Settings = { ...settings, api: undefined, outputs: dryRun ? [] : settings.outputs };
  const logger = createRootLogger({ level: options.logLevel, destination: process.stderr, pretty: false });
  let started: Awaited<ReturnType<typeof Gateway.start>>;
  try {
    started = await Gateway.start({
      settings: replaySettings,
      logger,
      clock,
      random: seededRandom(REPLAY_SEED),
      listen: false,
      outputClock: systemClock,
      ...(dryRun ? { outbox: new MemoryOutbox({ dedupeWindowMs: settings.dedupeWindow, clock }) } : {}),
    });
  } catch (error) {
    note(`replay: the pipeline cannot start: ${(error as Error).message}`);
    return isGatewayError(error) && error.code.startsWith('CONFIG_') ? EXIT_CONFIG : EXIT_SOFTWARE;
  }
  if ('issues' in started) {
    printIssues(started.issues, note);
    return EXIT_CONFIG;
  }
  const { gateway } = started;

  const bar = options.progress && process.stderr.isTTY === true && size >= PROGRESS_MIN_BYTES ? new ProgressBar(process.stderr, size) : null;
  const report = (line: string) => (bar === null ? note(line) : bar.message(line));
  // Kept only for --expect: a day of events need not stay in memory otherwise.
  const replayed: NormalizedEvent[] = [];
  let stored = 0;
  gateway.hooks.push({
    stored(events) {
      stored += events.length;
      for (const event of events) {
        if (dryRun) process.stdout.write(`${JSON.stringify(event)}\n`);
        if (expected !== undefined) replayed.push(event);
      }
    },
  });

  const builder = gateway.builder;
  const unsupportedInputs = new Set<string>();
  let skipped = 0;
  const feed = async (frame: ReplayFrame): Promise<void> => {
    // The recorded transport stays in source.transport (as live); a plain-log line has none: `replay`.
    const transport = frame.transport ?? 'replay';
    const peer = frame.peer ?? undefined;
    const route = routeFrame(frame, settings.inputs, (input) => gateway.frameHandlers.has(input));
    if (route.kind === 'handler') {
      await gateway.frameHandlers.get(route.input)?.(frame.bytes, transport, peer);
    } else if (route.kind === 'decode') {
      const origin = { input: route.input, transport, receivedAt: clock.now(), raw: frame.bytes, ...(peer === undefined ? {} : { peer }) };
      await recordDecodedFrame(origin, { protocol: route.protocol, strict: route.strict }, { recorder: gateway.recorder, builder, counters: gateway.counters });
    } else {
      skipped += 1;
      if (!unsupportedInputs.has(route.input)) {
        unsupportedInputs.add(route.input);
        report(`replay: skipping frames of input ${route.input}: ${route.reason}`);
      }
    }
  };

  const pacing: Pacing = options.fast === true ? 'fast' : { speed: options.speed };
  const malformedLines: number[] = [];
  const failedLines: number[] = [];
  let lines = 0;
  let frames = 0;
  try {
    for await (const line of readReplayFile(file, { pacing })) {
      lines = line.lineNumber;
      bar?.update(line.bytesRead, frames);
      if (!line.parsed.ok) {
        malformedLines.push(line.lineNumber);
        report(`line ${line.lineNumber}: ${line.parsed.error.code}: ${line.parsed.error.message}`);
        continue;
      }
      frames += 1;
      clock.follow(line.parsed.value.t);
      try {
        await feed(line.parsed.value);
      } catch (error) {
        failedLines.push(line.lineNumber);
        report(`line ${line.lineNumber}: the pipeline failed on this frame: ${(error as Error).message}`);
      }
    }
  } catch (error) {
    bar?.finish();
    note(`replay: reading ${file} failed after line ${lines}: ${(error as Error).message}`);
    await gateway.stop();
    return EXIT_NOINPUT;
  }
  bar?.finish();

  const left = dryRun ? [] : await drain(gateway, options.drainTimeout);
  await gateway.stop();

  note(`replay: ${frames} frame(s) from ${lines} line(s), ${stored} event(s) stored${dryRun ? ' (dry run)' : ''}`);
  const rejected = gateway.counters.snapshot().filter((s) => s.name === 'frames_rejected_total');
  if (rejected.length > 0) note(`replay: frames refused by the pipeline: ${rejected.map((s) => `${s.labels['code']} ×${s.value} (${s.labels['input']})`).join(', ')}`);
  const duplicates = gateway.counters.get('events_duplicate_total');
  if (duplicates > 0) note(`replay: ${duplicates} retransmit(s) stored once`);
  if (skipped > 0) note(`replay: ${skipped} frame(s) skipped (inputs ${[...unsupportedInputs].join(', ')})`);
  if (malformedLines.length > 0) note(`replay: ${malformedLines.length} malformed line(s): ${listLines(malformedLines)}`);
  if (failedLines.length > 0) note(`replay: the pipeline failed on ${failedLines.length} line(s): ${listLines(failedLines)}`);
  for (const output of left) note(`replay: output ${output.name} still has ${output.backlog} event(s) to deliver after ${options.drainTimeout} ms`);

  if (expected !== undefined) {
    const differences = compareEvents(replayed, expected.events, { ignore: options.ignore ?? [] });
    if (differences.length > 0) {
      note(`replay: ${differences.length} event(s) differ from ${options.expect} (${replayed.length} replayed, ${expected.events.length} expected):`);
      for (const line of formatDifferences(differences)) note(`  ${line}`);
      return EXIT_MISMATCH;
    }
    note(`replay: all ${replayed.length} event(s) match ${options.expect}`);
  }
  if (malformedLines.length > 0 || failedLines.length > 0) return EXIT_MALFORMED;
  return left.length > 0 ? EXIT_UNDELIVERED : 0;
}

/** Waits until every output has delivered its backlog, or the timeout; returns the outputs with events left. */
async function drain(gateway: Gateway, timeoutMs: number): Promise<Array<{ name: string; backlog: number }>> {
  const pending = () => gateway.outputs.map((o) => ({ name: o.name, backlog: gateway.outbox.backlog(o.name) })).filter((o) => o.backlog > 0);
  const deadline = performance.now() + timeoutMs;
  while (pending().length > 0 && performance.now() < deadline) await sleep(50);
  return pending();
}

function readExpectedEvents(file: string): { ok: true; events: unknown[] } | { ok: false; message: string } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    return { ok: false, message: `cannot read ${file}: ${(error as Error).message}` };
  }
  const events: unknown[] = [];
  for (const [index, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    try {
      events.push(JSON.parse(line));
    } catch (error) {
      return { ok: false, message: `${file} line ${index + 1} is not JSON: ${(error as Error).message}` };
    }
  }
  return { ok: true, events };
}

function listLines(lines: readonly number[]): string {
  return lines.length > 20 ? `${lines.slice(0, 20).join(', ')}, …` : lines.join(', ');
}

function positiveNumber(text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new InvalidArgumentError('expected a number above 0, e.g. 100');
  return value;
}

function isoTime(text: string): number {
  const value = Date.parse(text);
  if (Number.isNaN(value)) throw new InvalidArgumentError('expected an ISO-8601 time, e.g. 2024-05-01T00:00:00Z');
  return value;
}

function duration(text: string): number {
  const value = parseDuration(text);
  if (value === null) throw new InvalidArgumentError('expected a duration such as 30s or 5m');
  return value;
}

function fieldList(text: string): string[] {
  return text.split(',').map((f) => f.trim()).filter((f) => f !== '');
}

/** `[#######-------]  42.3%  12.1/28.6 MiB  10234 frames` */
export function formatProgress(done: number, total: number, frames: number, width = 30): string {
  const fraction = total > 0 ? Math.min(1, done / total) : 1;
  const filled = Math.round(fraction * width);
  const mib = (bytes: number) => (bytes / (1 << 20)).toFixed(1);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(fraction * 100).toFixed(1).padStart(5)}%  ${mib(Math.min(done, total))}/${mib(total)} MiB  ${frames} frames`;
}

/** One redrawn stderr line; redrawn only when the shown tenth of a percent changes. */
class ProgressBar {
  private permille = -1;
  private line = '';

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly total: number,
  ) {}

  update(done: number, frames: number): void {
    const permille = Math.floor((Math.min(done, this.total) / this.total) * 1000);
    if (permille === this.permille) return;
    this.permille = permille;
    this.line = formatProgress(done, this.total, frames);
    this.stream.write(`\r\x1b[2K${this.line}`);
  }

  /** A message line above the bar. */
  message(text: string): void {
    this.stream.write(`\r\x1b[2K${text}\n${this.line}`);
  }

  finish(): void {
    this.stream.write('\r\x1b[2K');
    this.line = '';
  }
}
