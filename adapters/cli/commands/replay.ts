import { Command, InvalidArgumentError, Option } from 'commander';
import type { ReplayOptions } from './replay-action.js';
import { parseDuration } from '../../../src/settings/duration.js';
import { parseXmlDateTime } from '../../../src/codecs/date-time.js';

/** `panelbridge replay`: a capture (or plain log) through the whole pipeline, on the recorded clock. */
export function replayCommand(): Command {
  return new Command('replay')
    .description('feed a capture (run --capture), a packet capture (pcap, pcapng) or a plain log (one frame per line) through the pipeline on its recorded clock')
    .argument('<file>', 'capture JSONL ({t, input, transport, peer, hex[, discarded]} per line), pcap/pcapng (tcpdump, Wireshark), or plain log (escaped frame text per line); - reads standard input')
    .requiredOption('-c, --config <file>', 'configuration file (YAML or JSON)')
    .addOption(new Option('--speed <factor>', 'divide the recorded gaps between frames by this factor').argParser(positiveNumber).default(1).conflicts('fast'))
    .option('--fast', 'feed frames without waiting (the recorded times still drive the clock)')
    .option('--dry-run', 'print the normalized events as JSON lines instead of storing and delivering them')
    .option('--expect <file>', 'compare the events with these expected events (JSON lines); exit 1 on any difference')
    .option('--ignore <fields>', 'fields --expect leaves out, comma separated (e.g. id,receivedAt,source.peer)', fieldList)
    .addOption(new Option('--start <time>', 'clock for plain-log lines before any recorded time (ISO-8601 with Z or an offset)').argParser(isoTime).default(0, '1970-01-01T00:00:00Z'))
    .addOption(new Option('--drain-timeout <duration>', 'how long to wait for outputs to deliver the backlog').argParser(duration).default(30_000, '30s'))
    .addOption(new Option('--log-level <level>', 'log level of the log lines on stderr').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('warn'))
    .option('--no-progress', 'never show the progress bar')
    .action(async (file: string, options: ReplayOptions) => {
      // Imported when a replay runs, not with every command's definition: it loads the whole pipeline.
      const { replay } = await import('./replay-action.js');
      const code = await replay(file, options);
      // Events written to a pipe must reach it before the exit.
      await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
      process.exit(code);
    });
}

function positiveNumber(text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new InvalidArgumentError('expected a number above 0, e.g. 100');
  return value;
}

const NAMED_OFFSET = /(?:Z|[+-]\d{2}:\d{2})$/;

/**
 * A time that names its offset. One without it is refused, not guessed: Date.parse would read it in the time zone
 * of whatever host replays the capture, and a plain log's frames belong to no one site whose zone could decide.
 */
function isoTime(text: string): number {
  const value = parseXmlDateTime(text);
  if (value === null) throw new InvalidArgumentError('expected an ISO-8601 time with its offset, e.g. 2024-05-01T00:00:00Z');
  const time = text.trim();
  if (!NAMED_OFFSET.test(time)) throw new InvalidArgumentError(`names no offset: add Z for UTC or its offset from UTC, e.g. ${time}Z or ${time}+02:00`);
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
