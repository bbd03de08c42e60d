import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it, vi } from 'vitest';
import { ReplayFile, type ReplayLine } from '../../../adapters/inputs/replay.js';
import { Credits } from '../../../adapters/inputs/replay-reader-protocol.js';
import { captureLine } from '../../../src/replay/capture.js';
import type { Pacing } from '../../../src/replay/clock.js';
import { LINKTYPE, latin1, pcapngFile, udpPacket } from '../../helpers/pcap-writer.js';

const T0 = Date.UTC(2024, 4, 1, 8, 0, 0);

function writeFile(content: string | Buffer): string {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'panelbridge-replay-reader-')), 'capture.jsonl');
  writeFileSync(file, content);
  return file;
}

async function readAll(file: string, pacing: Pacing): Promise<{ lines: ReplayLine[]; waits: number[] }> {
  const waits: number[] = [];
  const lines: ReplayLine[] = [];
  for await (const line of new ReplayFile(file, { pacing, sleep: async (ms) => void waits.push(ms) }).lines()) lines.push(line);
  return { lines, waits };
}

// Public vector 43 (Contact ID) as the frame bytes.
const frameAt = (offsetMs: number) => captureLine(Buffer.from('1234181131010158'), T0 + offsetMs, 'panels', 'tcp', '10.0.0.7:4000');

describe('ReplayFile', () => {
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

describe('ReplayFile on its reader thread', () => {
  it('keeps file order and line numbers across many batches, malformed and blank lines among them', async () => {
    const lines: string[] = [];
    for (let i = 0; i < 500; i++) lines.push(i % 37 === 5 ? '{"t": broken' : i % 41 === 7 ? '' : frameAt(i));
    const file = writeFile(lines.join('\n') + '\n');
    const read: ReplayLine[] = [];
    // 64-byte reads: every batch holds at most a line, and most lines are split across reads.
    for await (const line of new ReplayFile(file, { pacing: 'fast', chunkBytes: 64, batchesAhead: 2 }).lines()) read.push(line);
    const expected = lines.flatMap((text, i) => (text === '' ? [] : [[i + 1, text !== '{"t": broken'] as const]));
    expect(read.map((l) => [l.lineNumber, l.parsed.ok])).toEqual(expected);
    expect(read.filter((l) => l.parsed.ok).map((l) => (l.parsed.ok ? l.parsed.value.t! - T0 : -1))).toEqual(
      lines.flatMap((text, i) => (text === '' || text === '{"t": broken' ? [] : [i])),
    );
    const failed = read.find((l) => !l.parsed.ok)!.parsed;
    expect(failed.ok ? undefined : failed.error.code).toBe('REPLAY_LINE_MALFORMED');
  });

  it('gives each frame bytes of its own, with its recorded input, transport and peer', async () => {
    const file = writeFile([frameAt(0), captureLine(Buffer.from('N Ri01 BA 01'), T0, 'line1', 'serial', '/dev/ttyS0')].join('\n'));
    const { lines } = await readAll(file, 'fast');
    const frames = lines.map((l) => (l.parsed.ok ? l.parsed.value : expect.unreachable()));
    expect(frames.map((f) => [f.input, f.transport, f.peer, Buffer.from(f.bytes).toString('latin1')])).toEqual([
      ['panels', 'tcp', '10.0.0.7:4000', '1234181131010158'],
      ['line1', 'serial', '/dev/ttyS0', 'N Ri01 BA 01'],
    ]);
    expect(frames.map((f) => [f.bytes.byteOffset, f.bytes.buffer.byteLength])).toEqual([
      [0, 16],
      [0, 12],
    ]);
  });

  it('stops its reader thread when the lines end, when the loop is left early and when the read fails', async () => {
    const terminate = vi.spyOn(Worker.prototype, 'terminate');
    try {
      const file = writeFile(Array.from({ length: 200 }, (_, i) => frameAt(i)).join('\n') + '\n');
      expect((await readAll(file, 'fast')).lines).toHaveLength(200);
      expect(terminate).toHaveBeenCalledTimes(1);
      let read = 0;
      for await (const _ of new ReplayFile(file, { pacing: 'fast', chunkBytes: 256 }).lines()) if (++read === 3) break;
      expect(terminate).toHaveBeenCalledTimes(2);
      await expect(readAll(mkdtempSync(path.join(os.tmpdir(), 'panelbridge-replay-reader-')), 'fast')).rejects.toThrow(/EISDIR/);
      expect(terminate).toHaveBeenCalledTimes(3);
    } finally {
      terminate.mockRestore();
    }
  });

  it('fails as the read fails, after the lines before it', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'panelbridge-replay-reader-'));
    await expect(readAll(dir, 'fast')).rejects.toThrow(/EISDIR/);
  });
});

describe('Credits', () => {
  it('lets at most the limit out, and one more for each given back', async () => {
    const credits = new Credits(2);
    const taken: number[] = [];
    for (let i = 0; i < 4; i++) void credits.take().then(() => taken.push(i));
    await Promise.resolve();
    await Promise.resolve();
    expect(taken).toEqual([0, 1]);
    credits.give();
    await new Promise((resolve) => setImmediate(resolve));
    expect(taken).toEqual([0, 1, 2]);
  });
});

describe('ReplayFile on a packet capture', () => {
  it('tells it by its magic number, also when the first read holds less of it, and yields its frames by packet', async () => {
    // Public vector 33 (Sigma NULL, https://github.com/eavanvalkenburg/pysiaalarm/issues/72), twice over UDP.
    const frame = latin1('\nFE2E0013"NULL"0000L0#8312[]\r');
    const panel = { address: '192.0.2.10', port: 40001 };
    const receiver = { address: '192.0.2.1', port: 12000 };
    const packets = [udpPacket(panel, receiver, frame), udpPacket(receiver, panel, frame), udpPacket(panel, receiver, frame)];
    const file = writeFile(Buffer.from(pcapngFile(packets.map((data, i) => ({ time: T0 + i * 1000, data })), { interfaces: [{ linkType: LINKTYPE.raw }], order: 'be' })));
    const waits: number[] = [];
    const source = new ReplayFile(file, { pacing: { speed: 1 }, chunkBytes: 3, sleep: async (ms) => void waits.push(ms), receivers: [{ framing: 'dc09', input: 'panels', port: 12000, maxFrameBytes: 4096 }] });
    const read: ReplayLine[] = [];
    for await (const line of source.lines()) read.push(line);
    expect(read.map((l) => [l.unit, l.lineNumber, l.parsed.ok && l.parsed.value.t! - T0, l.parsed.ok && l.parsed.value.input])).toEqual([
      ['packet', 1, 0, 'panels'],
      ['packet', 3, 2000, 'panels'],
    ]);
    expect(waits).toEqual([2000]);
    expect(source.read).toEqual({ unit: 'packet', count: 3, skipped: 1, fragments: { packets: 0, reassembled: 0, incomplete: 0 } });
  });

  it('reads a text file shorter than a magic number as text', async () => {
    const source = new ReplayFile(writeFile('1\n'), { pacing: 'fast' });
    const read: ReplayLine[] = [];
    for await (const line of source.lines()) read.push(line);
    expect(read.map((l) => [l.unit, l.lineNumber])).toEqual([['line', 1]]);
    expect(source.read).toEqual({ unit: 'line', count: 1, skipped: 0 });
  });
});
