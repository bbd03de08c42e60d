import type { LevelWithSilent } from 'pino';
import { readFileSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { createRootLogger } from '../../system/logger.js';
import { EXIT_CONFIG, EXIT_NOINPUT, EXIT_SOFTWARE, loadConfigFile, printIssues } from '../config.js';
import { prepareDataDir, restrictFileModes } from '../../system/files.js';
import { terminalText } from '../../system/terminal-text.js';
import { startupFailure } from '../startup.js';
import { Gateway } from '../gateway.js';
import { ReplayFile } from '../../inputs/replay.js';
import { STDIN_FILE } from '../../inputs/replay-reader-protocol.js';
import { MemoryOutbox } from '../../../src/outbox/memory-outbox.js';
import { isGatewayError } from '../../../src/errors.js';
import { systemClock } from '../../../src/ports.js';
import { seededRandom } from '../../../src/model/ids.js';
import type { NormalizedEvent } from '../../../src/model/event.js';
import { eventJson } from '../../../src/model/event-json.js';
import type { Settings } from '../../../src/settings/settings.js';
import type { DiscardNote, ReplayFrame } from '../../../src/replay/capture.js';
import type { CaptureReceiver } from '../../../src/replay/capture-frames.js';
import { REPLAY_SEED, ReplayClock, type Pacing } from '../../../src/replay/clock.js';
import { compareEvents, formatDifferences } from '../../../src/replay/compare.js';
import { carriesDuress, recordDecodedFrame } from '../../../src/replay/decoded-input.js';
import { unverified } from '../../../src/pipeline/event-builder.js';
import { routeFrame, SYNTHETIC_INPUT } from '../../../src/replay/route.js';

/** Exit statuses of `replay` (README "Capture and replay"); a bad configuration exits with EXIT_CONFIG (78). */
export const EXIT_MISMATCH = 1;
export const EXIT_MALFORMED = 2;
export const EXIT_UNDELIVERED = 3;

export interface ReplayOptions {
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

/** Files smaller than this finish before a progress bar would tell anyone anything. */
const PROGRESS_MIN_BYTES = 1 << 20;

/** What `panelbridge replay` does; resolves with its exit status. */
export async function replay(file: string, options: ReplayOptions): Promise<number> {
  // Notes quote what panels sent (an account, extended data, a decode error's text): escaped, they stay one line each.
  const note = (line: string) => process.stderr.write(`${terminalText(line)}\n`);
  const loaded = loadConfigFile(options.config);
  if (!loaded.ok) {
    printIssues(loaded.issues, note);
    return EXIT_CONFIG;
  }
  // Standard input has no size: no progress bar.
  let size = 0;
  try {
    if (file !== STDIN_FILE) size = statSync(file).size;
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
  if (!dryRun) {
    // Into dataDir as `run` would: files 0600, and not beside a running gateway. The lock lasts until this process exits.
    restrictFileModes();
    try {
      prepareDataDir(settings.dataDir);
    } catch (error) {
      const failure = startupFailure(error);
      note(`replay: ${failure.message}`);
      return failure.exitCode;
    }
  }
  const pacing: Pacing = options.fast === true ? 'fast' : { speed: options.speed };
  // Its reader thread starts now and reads while the pipeline starts.
  // A packet capture's panel side is the one sending to a DC-09 or SIA over IP input's port.
  const receivers = settings.inputs.flatMap((i): CaptureReceiver[] => {
    if (i.type === 'dc09') return [{ framing: 'dc09', input: i.name, port: i.port, maxFrameBytes: i.maxFrameBytes }];
    return i.type === 'sia-ip' ? [{ framing: 'sia-ip', input: i.name, port: i.port }] : [];
  });
  const source = new ReplayFile(file, { pacing, receivers });
  let started: Awaited<ReturnType<typeof Gateway.start>>;
  try {
    started = await Gateway.start({
      settings: replaySettings,
      logger,
      clock,
      random: seededRandom(REPLAY_SEED),
      listen: false,
      answersSent: false,
      outputClock: systemClock,
      ...(dryRun ? { outbox: new MemoryOutbox({ dedupeWindowMs: settings.dedupeWindow, clock }) } : {}),
    });
  } catch (error) {
    source.close();
    note(`replay: the pipeline cannot start: ${(error as Error).message}`);
    return isGatewayError(error) && error.code.startsWith('CONFIG_') ? EXIT_CONFIG : EXIT_SOFTWARE;
  }
  if ('issues' in started) {
    source.close();
    printIssues(started.issues, note);
    return EXIT_CONFIG;
  }
  const { gateway } = started;

  const bar = options.progress && process.stderr.isTTY === true && size >= PROGRESS_MIN_BYTES ? new ProgressBar(process.stderr, size) : null;
  const report = (line: string) => (bar === null ? note(line) : bar.message(terminalText(line)));
  // Kept only for --expect: a day of events need not stay in memory otherwise.
  const replayed: NormalizedEvent[] = [];
  let stored = 0;
  const printed = new BufferedLines(process.stdout);
  gateway.bus.onFrameStored(new ReplayOutput(), (events) => {
    stored += events.length;
    for (const event of events) {
      if (dryRun) printed.add(eventJson(event));
      if (expected !== undefined) replayed.push(event);
    }
  });

  // Not an async function: that would add a promise step to every frame.
  const feed = (frame: ReplayFrame): Promise<unknown> => {
    // The recorded transport stays in source.transport (as live); a plain-log line has none: `replay`.
    const transport = frame.transport ?? 'replay';
    const peer = frame.peer ?? undefined;
    const route = routeFrame(frame, gateway.inputs);
    if (route.kind === 'input') return route.input.handleFrame(frame.bytes, transport, peer);
    // Nothing vouches for a source the configuration does not have.
    const origin = { input: route.input, transport, receivedAt: clock.now(), raw: frame.bytes, trust: unverified('unauthenticated-source'), ...(peer === undefined ? {} : { peer }) };
    return recordDecodedFrame(origin, route.protocol, { recorder: gateway.recorder, builder: gateway.builder, counters: gateway.counters });
  };

  const malformedLines: number[] = [];
  const failedLines: number[] = [];
  const discardedLive = new DiscardedLive();
  let lines = 0;
  let frames = 0;
  // Lines of a text file; packets of a packet capture (pcap, pcapng).
  let unit = 'line';
  try {
    for await (const line of source.lines()) {
      lines = line.lineNumber;
      unit = line.unit;
      bar?.update(line.bytesRead, frames);
      if (!line.parsed.ok && line.parsed.error.code === 'REPLAY_FILE_TRUNCATED') {
        // A crash mid-write, not bad data: everything before it replays; said once, as a warning.
        report(`replay: warning: ${unit} ${line.lineNumber}: ${line.parsed.error.message}`);
        continue;
      }
      if (!line.parsed.ok) {
        malformedLines.push(line.lineNumber);
        report(`${unit} ${line.lineNumber}: ${line.parsed.error.code}: ${line.parsed.error.message}`);
        continue;
      }
      clock.follow(line.parsed.value.t);
      // Bytes the input discarded before decoding them live: shown, never fed (live published nothing of them).
      const { discarded, bytes, peer } = line.parsed.value;
      if (discarded !== undefined) {
        discardedLive.add(line.parsed.value.input, discarded);
        if (carriesDuress(bytes, gateway.builder)) {
          report(`${unit} ${line.lineNumber}: a duress or hold-up the input discarded live (${discarded.reason}${peer === null ? '' : ` from ${peer}`}): never decoded or published`);
        }
        continue;
      }
      frames += 1;
      try {
        await feed(line.parsed.value);
      } catch (error) {
        failedLines.push(line.lineNumber);
        report(`${unit} ${line.lineNumber}: the pipeline failed on this frame: ${(error as Error).message}`);
      }
    }
  } catch (error) {
    bar?.finish();
    printed.flush();
    note(`replay: reading ${file} failed after ${unit} ${lines}: ${(error as Error).message}`);
    await gateway.stop();
    return EXIT_NOINPUT;
  }
  bar?.finish();
  printed.flush();

  const left = dryRun ? [] : await drain(gateway, options.drainTimeout);
  // Refused for good is not delivered either: a centre that answers 401 leaves nothing pending, only dead letters.
  const refused = Object.entries(gateway.dispatcher.stats()).filter(([, stats]) => stats.dead > 0);
  await gateway.stop();

  const read = source.read;
  const packets = read?.unit === 'packet' ? read : undefined;
  const fragments = packets?.fragments;
  const fragmented = fragments === undefined || fragments.packets === 0 ? '' : `; ${fragments.packets} IP fragment(s): ${fragments.reassembled} datagram(s) reassembled, ${fragments.incomplete} incomplete and skipped`;
  const from = packets === undefined ? `${lines} line(s)` : `${packets.count} packet(s) (${packets.skipped} other traffic or receivers' answers${fragmented})`;
  note(`replay: ${frames} frame(s) from ${from}, ${stored} event(s) stored${dryRun ? ' (dry run)' : ''}`);
  const rejected = gateway.counters.snapshot().filter((s) => s.name === 'frames_rejected_total');
  if (rejected.length > 0) note(`replay: frames refused by the pipeline: ${rejected.map((s) => `${s.labels['code']} ×${s.value} (${s.labels['input']})`).join(', ')}`);
  const duplicates = gateway.counters.get('events_duplicate_total');
  if (duplicates > 0) note(`replay: ${duplicates} retransmit(s) stored once`);
  const discards = discardedLive.summary();
  if (discards !== undefined) note(`replay: ${discards}`);
  if (malformedLines.length > 0) {
    note(packets === undefined ? `replay: ${malformedLines.length} malformed line(s): ${listLines(malformedLines)}` : `replay: ${malformedLines.length} error(s) reading the capture, at packet(s) ${listLines([...new Set(malformedLines)])}`);
  }
  if (failedLines.length > 0) note(`replay: the pipeline failed on ${failedLines.length} ${unit}(s): ${listLines(failedLines)}`);
  for (const output of left) note(`replay: output ${output.name} still has ${output.backlog} event(s) to deliver after ${options.drainTimeout} ms`);
  for (const [name, stats] of refused) note(`replay: output ${name} refused ${stats.dead} event(s) for good; they are its dead letters in dataDir`);

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
  return left.length > 0 || refused.length > 0 ? EXIT_UNDELIVERED : 0;
}

/** The capture records of what inputs discarded live (run --capture), counted by reason and input. */
class DiscardedLive {
  private records = 0;
  private readonly runs = new Map<string, { reason: string; input: string; count: number }>();

  add(input: string | null, note: DiscardNote): void {
    this.records += 1;
    const name = input ?? SYNTHETIC_INPUT;
    const key = `${note.reason} ${name}`;
    const entry = this.runs.get(key) ?? { reason: note.reason, input: name, count: 0 };
    entry.count += note.count;
    this.runs.set(key, entry);
  }

  summary(): string | undefined {
    if (this.records === 0) return undefined;
    const entries = [...this.runs.values()];
    const total = entries.reduce((sum, entry) => sum + entry.count, 0);
    const each = entries.map((entry) => `${entry.reason} ×${entry.count} (${entry.input})`);
    return `${total} run(s) the inputs discarded live, not replayed (${this.records} record(s)): ${each.join(', ')}`;
  }
}

/** The bus owner of what replay prints and compares (named so in a listener failure's log line). */
class ReplayOutput {}

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

/**
 * JSON lines written in chunks: stdout to a file or a pipe is a synchronous write on Linux, one system call per
 * write, which a replay of a million events would otherwise pay per event. Each line is encoded straight into the
 * chunk rather than joined into one string first; a chunk handed to write is never reused (a stream may hold it).
 */
export class BufferedLines {
  private chunk = Buffer.allocUnsafe(LINES_CHUNK_BYTES);
  private used = 0;

  constructor(private readonly out: NodeJS.WritableStream) {}

  add(line: string): void {
    // UTF-8 takes at most three bytes per UTF-16 unit.
    const most = 3 * line.length + 1;
    if (this.used + most > this.chunk.length) {
      this.flush();
      if (most > this.chunk.length) {
        this.out.write(`${line}\n`);
        return;
      }
    }
    this.used += this.chunk.write(line, this.used, 'utf8');
    this.chunk[this.used++] = LF;
  }

  flush(): void {
    if (this.used === 0) return;
    this.out.write(this.chunk.subarray(0, this.used));
    this.chunk = Buffer.allocUnsafe(LINES_CHUNK_BYTES);
    this.used = 0;
  }
}

const LINES_CHUNK_BYTES = 1 << 16;
const LF = 0x0a;
