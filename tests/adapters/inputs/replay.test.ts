import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readReplayFile, type ReplayLine } from '../../../adapters/inputs/replay.js';
import { captureLine } from '../../../src/replay/capture.js';
import type { Pacing } from '../../../src/replay/clock.js';

const T0 = Date.UTC(2024, 4, 1, 8, 0, 0);

function writeFile(content: string | Buffer): string {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'panelbridge-replay-reader-')), 'capture.jsonl');
  writeFileSync(file, content);
  return file;
}

async function readAll(file: string, pacing: Pacing): Promise<{ lines: ReplayLine[]; waits: number[] }> {
  const waits: number[] = [];
  const lines: ReplayLine[] = [];
  for await (const line of readReplayFile(file, { pacing, sleep: async (ms) => void waits.push(ms) })) lines.push(line);
  return { lines, waits };
}

// Public vector 43 (Contact ID) as the frame bytes.
const frameAt = (offsetMs: number) => captureLine(Buffer.from('1234181131010158'), T0 + offsetMs, 'panels', 'tcp', '10.0.0.7:4000');

describe('readReplayFile', () => {
  it('waits the recorded gaps divided by the speed, and never with --fast', async () => {
    const file = writeFile([frameAt(0), frameAt(2_000), frameAt(2_000), frameAt(62_000)].join('\n') + '\n');
    expect((await readAll(file, { speed: 100 })).waits).toEqual([20, 600]);
    expect((await readAll(file, 'fast')).waits).toEqual([]);
  });

  it('numbers lines as in the file, skipping blank ones, and keeps going past a malformed one', async () => {
    const file = writeFile([frameAt(0), '', '{"t": broken', frameAt(1_000)].join('\n'));
    const { lines } = await readAll(file, 'fast');
    expect(lines.map((l) => [l.lineNumber, l.parsed.ok])).toEqual([
      [1, true],
      [3, false],
      [4, true],
    ]);
  });

  it('splits on LF only: a raw CR inside a plain-log line stays in the frame, a CR before the LF ends the line', async () => {
    const file = writeFile(Buffer.from('N Ri01\rBA 01\n1234181131010158\r\n', 'latin1'));
    const { lines } = await readAll(file, 'fast');
    const frames = lines.map((l) => (l.parsed.ok ? Buffer.from(l.parsed.value.bytes).toString('latin1') : l.parsed.error.message));
    expect(frames).toEqual(['N Ri01\rBA 01', '1234181131010158']);
  });

  it('keeps every byte of a plain log (latin1) and reports how far into the file each line ends', async () => {
    const content = Buffer.concat([Buffer.from('N Ri01 BA 01 \\xe9\n', 'latin1'), Buffer.from([0x31, 0x32, 0xe9, 0x0a])]);
    const file = writeFile(content);
    const { lines } = await readAll(file, 'fast');
    expect(lines.map((l) => l.bytesRead)).toEqual([18, 22]);
    const second = lines[1]!.parsed;
    if (!second.ok) return expect.unreachable(second.error.message);
    expect([...second.value.bytes]).toEqual([0x31, 0x32, 0xe9]);
  });
});
