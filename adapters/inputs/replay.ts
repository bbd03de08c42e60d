import { createReadStream } from 'node:fs';
import { setTimeout as sleepFor } from 'node:timers/promises';
import type { DecodeResult } from '../../src/codecs/result.js';
import { parseReplayLine, type ReplayFrame } from '../../src/replay/capture.js';
import { pacingDelay, type Pacing } from '../../src/replay/clock.js';

/** One non-blank line of a replay file, parsed, with how far into the file it ends. */
export interface ReplayLine {
  lineNumber: number;
  parsed: DecodeResult<ReplayFrame>;
  /** Bytes of the file up to the end of this line (for the progress bar). */
  bytesRead: number;
}

export interface ReplayFileOptions {
  pacing: Pacing;
  /** Real-time wait between frames; replaceable so pacing can be observed without waiting. */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * A capture or plain log, read as a stream (a day of traffic need not fit in memory), one line at a time. Before
 * each frame it waits the recorded gap to the previous frame divided by the speed. Lines split on LF only, so a
 * raw CR inside a plain-log frame stays part of it; latin1 keeps every byte of a plain log as one character.
 */
export async function* readReplayFile(file: string, options: ReplayFileOptions): AsyncGenerator<ReplayLine> {
  const sleep = options.sleep ?? ((ms: number) => sleepFor(ms));
  let previousTime: number | null = null;
  let lineNumber = 0;
  let bytesRead = 0;
  let rest = '';
  let ended = false;
  const chunks = createReadStream(file, { encoding: 'latin1', highWaterMark: 1 << 20 })[Symbol.asyncIterator]();
  while (!ended) {
    const next = await chunks.next();
    let lines: string[];
    if (next.done === true) {
      ended = true;
      if (rest === '') break;
      lines = [rest];
    } else {
      lines = (rest + (next.value as string)).split('\n');
      rest = lines.pop() ?? '';
    }
    // One generator for the whole file, lines handled in place: a generator per line cost more than the parse.
    for (const line of lines) {
      lineNumber += 1;
      bytesRead += line.length + 1;
      const parsed = parseReplayLine(line);
      if (parsed === null) continue;
      if (parsed.ok) {
        const delay = pacingDelay(previousTime, parsed.value.t, options.pacing);
        if (delay > 0) await sleep(delay);
        previousTime = parsed.value.t ?? previousTime;
      }
      yield { lineNumber, parsed, bytesRead };
    }
  }
}
