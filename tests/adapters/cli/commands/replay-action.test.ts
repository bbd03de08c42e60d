import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BufferedLines, formatProgress, replay } from '../../../../adapters/cli/commands/replay-action.js';
import { captureLine } from '../../../../src/replay/capture.js';
import { escapeBytes } from '../../../../src/codecs/result.js';
import { tempDir, writeConfig } from '../../../helpers/gateway-process.js';
import { onvifDuress } from '../../../helpers/onvif.js';
import { panelFrame, type PanelFrame } from '../../../helpers/panel.js';

const AT = Date.parse('2024-05-01T08:00:00.000Z');
// Public vector 51: a Sur-Gard MLR2 duress packet; and a packet no Sur-Gard decoder reads.
const DURESS = '501100 181234E12101001\u0014';
const GARBAGE = '5011?? garbage\u0014';

/** Runs `replay --dry-run --fast` in this process: the events it prints and its notes. */
async function replayCapture(inputs: unknown[], frames: Array<{ at: number; input: string; transport: string; text: string }>, sites: unknown[] = []) {
  const dir = tempDir('replay-receivers');
  // The device does not exist: a replay must not open it.
  const config = writeConfig(dir, { dataDir: path.join(dir, 'var'), inputs, outputs: [{ type: 'stdout', name: 'out' }], sites });
  const file = path.join(dir, 'capture.jsonl');
  writeFileSync(file, frames.map((f) => captureLine(Buffer.from(f.text, 'latin1'), f.at, f.input, f.transport, '/dev/panelbridge-none')).join('\n') + '\n');
  return replayFile(file, config);
}

/** Runs `replay FILE --dry-run --fast` in this process: the events it prints and its notes. */
async function replayFile(file: string, config: string) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => (stdout.push(String(chunk)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => (stderr.push(String(chunk)), true));
  const code = await replay(file, { config, speed: 1, fast: true, dryRun: true, start: AT, drainTimeout: 1_000, logLevel: 'silent', progress: false });
  vi.restoreAllMocks();
  const events = stdout.join('').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
  return { code, events, notes: stderr.join('') };
}

afterEach(() => vi.restoreAllMocks());

describe('replay drives each input through its own receiver', () => {
  it("applies a Sur-Gard serial input's retransmit and NAK rules: a retransmit is stored once, a packet NAKed maxNaks times is stored as unrecognized", async () => {
    const serial = { type: 'serial', name: 'line1', path: '/dev/panelbridge-none', protocol: 'surgard', maxNaks: 2, retransmitWindow: '30s' };
    const { code, events, notes } = await replayCapture(
      [serial],
      [
        { at: AT, input: 'line1', transport: 'serial', text: DURESS },
        { at: AT + 2_000, input: 'line1', transport: 'serial', text: DURESS }, // the ACK was lost: sent again
        { at: AT + 4_000, input: 'line1', transport: 'serial', text: GARBAGE }, // NAK
        { at: AT + 5_000, input: 'line1', transport: 'serial', text: GARBAGE }, // NAK
        { at: AT + 6_000, input: 'line1', transport: 'serial', text: GARBAGE }, // not line noise: stored and ACKed
      ],
    );
    expect(code).toBe(0);
    expect(events.map((e) => [e['category'], e['source']])).toEqual([
      ['duress', { input: 'line1', transport: 'serial', peer: '/dev/panelbridge-none' }],
      ['unrecognized', { input: 'line1', transport: 'serial', peer: '/dev/panelbridge-none' }],
    ]);
    expect((events[1]!['reasons'] as string[])[0]).toContain('NAKed 2 times and sent again unchanged');
    expect(notes).toContain('1 retransmit(s) stored once');
  });

  it("replays an access-control XML input's posts through its receiver: its site and trust, a post sent again stored once", async () => {
    const access = { type: 'access-xml', name: 'doors', port: 0, site: 'hq', secret: 'door-secret' };
    const sites = [{ id: 'hq', accounts: ['1234'], doors: [{ id: 'door-lobby-2', name: 'Lobby door 2' }] }];
    const { code, events, notes } = await replayCapture(
      [access],
      [
        { at: AT, input: 'doors', transport: 'http', text: ONVIF_DURESS },
        { at: AT + 1_000, input: 'doors', transport: 'http', text: ONVIF_DURESS }, // the controller timed out and posted again
      ],
      sites,
    );
    expect(code).toBe(0);
    expect(notes).not.toContain('skipping');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      protocol: 'access-xml',
      category: 'duress',
      verified: true,
      site: { id: 'hq' },
      door: { id: 'door-lobby-2', name: 'Lobby door 2' },
      source: { input: 'doors', transport: 'http' },
    });
    expect(notes).toContain('1 retransmit(s) stored once');
  });
});

describe('formatProgress', () => {
  it('draws the share of bytes read', () => {
    expect(formatProgress(3 << 20, 12 << 20, 1500, 8)).toBe('[##------]  25.0%  3.0/12.0 MiB  1500 frames');
    expect(formatProgress(13 << 20, 12 << 20, 9, 4)).toBe('[####] 100.0%  12.0/12.0 MiB  9 frames');
  });
});

const ONVIF_DURESS = onvifDuress();

describe('replay: the printed lines', () => {
  it('writes every line whole and in order, in chunks never changed once written, any character and a line longer than a chunk included', () => {
    const written: Array<{ chunk: string | Uint8Array; copy: Buffer }> = [];
    const out = {
      write: (chunk: string | Uint8Array) => {
        written.push({ chunk, copy: Buffer.from(chunk) });
        return true;
      },
    } as unknown as NodeJS.WritableStream;
    const lines = Array.from({ length: 3_000 }, (_, i) => `{"n":${i},"site":"Büro 東京 \ud83d\udea8","pad":"${'x'.repeat(i % 97)}"}`);
    lines.splice(1_500, 0, `{"reasons":["${'é'.repeat(40_000)}"]}`);
    const printed = new BufferedLines(out);
    for (const line of lines) printed.add(line);
    printed.flush();

    expect(Buffer.concat(written.map((w) => Buffer.from(w.chunk))).toString('utf8')).toBe(lines.map((line) => `${line}\n`).join(''));
    expect(written.length).toBeGreaterThan(4);
    expect(written.every((w) => Buffer.from(w.chunk).equals(w.copy))).toBe(true);
  });
});

describe('replay: what the input discarded live', () => {
  it('counts the discarded records of a capture and feeds them nowhere: they were never published live', async () => {
    const dir = tempDir('replay-discards');
    const config = writeConfig(dir, { dataDir: path.join(dir, 'var'), inputs: [{ type: 'dc09', name: 'ip', port: 0, accounts: [{ account: '1234' }] }], outputs: [{ type: 'stdout', name: 'out' }] });
    const holdup = panelFrame({ token: 'SIA-DCS', seq: '0001', account: '1234', data: '#1234|Nri1/HA05' });
    const file = path.join(dir, 'capture.jsonl');
    writeFileSync(
      file,
      [
        captureLine(Buffer.from('+++ATH0\r'), AT, 'ip', 'tcp', '192.0.2.10:40001', { reason: 'FRAME_NOISE', count: 1, bytes: 8 }),
        // A whole frame in an oversized datagram, discarded unread: replaying it would publish what live never did.
        captureLine(holdup, AT + 1, 'ip', 'udp', '192.0.2.10:40002', { reason: 'FRAME_OVERSIZE', count: 3, bytes: 3000 }),
        captureLine(holdup, AT + 2, 'ip', 'tcp', '192.0.2.10:40001'),
        // A duress the input never decoded: the tester must see it was one.
        captureLine(panelFrame({ token: 'ADM-CID', seq: '0002', account: '1234', data: '#1234|1121 01 007' }), AT + 3, 'ip', 'udp', '192.0.2.10:40003', { reason: 'FRAME_DATAGRAM_PEER_LIMIT', count: 1, bytes: 60 }),
      ].join('\n') + '\n',
    );
    const { code, events, notes } = await replayFile(file, config);
    expect(code).toBe(0);
    expect(events.map((e) => [e['category'], (e['source'] as { transport: string }).transport])).toEqual([['holdup', 'tcp']]);
    expect(notes).toContain('replay: 1 frame(s) from 4 line(s), 1 event(s) stored (dry run)');
    expect(notes).toContain('replay: 5 run(s) the inputs discarded live, not replayed (3 record(s)): FRAME_NOISE ×1 (ip), FRAME_OVERSIZE ×3 (ip), FRAME_DATAGRAM_PEER_LIMIT ×1 (ip)');
    // Named each, as live no one saw them: the hold-up in the oversized datagram and the duress past the peer limit.
    expect(notes).toContain('line 2: a duress or hold-up the input discarded live (FRAME_OVERSIZE from 192.0.2.10:40002): never decoded or published');
    expect(notes).toContain('line 4: a duress or hold-up the input discarded live (FRAME_DATAGRAM_PEER_LIMIT from 192.0.2.10:40003): never decoded or published');
    expect(notes).not.toContain('line 1: a duress');
  });
});

describe('replay: a capture cut short mid-record', () => {
  it('replays every whole record, the duress included, and warns that the last one was cut instead of calling it malformed', async () => {
    const dir = tempDir('replay-cut');
    const config = writeConfig(dir, { dataDir: path.join(dir, 'var'), inputs: [{ type: 'dc09', name: 'ip', port: 0, accounts: [{ account: '1234' }] }], outputs: [{ type: 'stdout', name: 'out' }] });
    const frame = (seq: string, data: string, token: PanelFrame['token'] = 'SIA-DCS') => panelFrame({ token, seq, account: '1234', data });
    const last = captureLine(frame('0003', '#1234|Nri1/BA03'), AT + 2, 'ip', 'tcp', '192.0.2.10:40001');
    const file = path.join(dir, 'capture.jsonl');
    // The gateway crashed while writing the third record: no LF, and half its JSON.
    writeFileSync(
      file,
      [captureLine(frame('0001', '#1234|Nri1/BA03'), AT, 'ip', 'tcp', '192.0.2.10:40001'), captureLine(frame('0002', '#1234|1121 01 007', 'ADM-CID'), AT + 1, 'ip', 'tcp', '192.0.2.10:40001'), last.slice(0, 60)].join('\n'),
    );
    const { code, events, notes } = await replayFile(file, config);
    expect(events.map((e) => [e['category'], e['duress']])).toEqual([['burglary', false], ['duress', true]]);
    expect(notes).toContain('replay: warning: line 3: the file ends inside this record, cut short while it was written (the gateway stopped mid-write?); the whole records before it were replayed');
    expect(notes).not.toContain('malformed');
    expect(code).toBe(0);
  });
});

describe('replay --dry-run --fast: a duress is always shown as one', () => {
  it('labels every duress duress, whatever else is wrong with its frame (unknown account, stale encryption, a keyed account in plaintext, a retransmit, an input gone, a plain-log line)', async () => {
    const dir = tempDir('replay-duress');
    const key = Buffer.from('0123456789ABCDEF0123456789ABCDEF', 'hex');
    const config = writeConfig(dir, {
      dataDir: path.join(dir, 'var'),
      inputs: [{ type: 'dc09', name: 'ip', port: 0, accounts: [{ account: '1234' }, { account: '5678', key: key.toString('hex'), keyEncoding: 'hex' }] }],
      outputs: [{ type: 'stdout', name: 'out' }],
    });
    const duress = (account: string, seq: string, extra: Partial<PanelFrame> = {}) => panelFrame({ token: 'ADM-CID', seq, account, data: `#${account}|1121 01 007`, ...extra });
    const records = [
      captureLine(duress('1234', '0001'), AT, 'ip', 'tcp', '192.0.2.10:40001'),
      captureLine(duress('1234', '0001'), AT + 1_000, 'ip', 'tcp', '192.0.2.10:40001'), // its ACK was lost: sent again
      captureLine(duress('9999', '0002'), AT + 2_000, 'ip', 'udp', '192.0.2.11:40001'), // an account not on the allowlist
      captureLine(duress('5678', '0003'), AT + 3_000, 'ip', 'tcp', '192.0.2.12:40001'), // a keyed account in plaintext
      captureLine(duress('5678', '0004', { key, time: AT - 3_600_000 }), AT + 4_000, 'ip', 'tcp', '192.0.2.12:40001'), // stale timestamp
      captureLine(duress('1234', '0006'), AT + 6_000, 'gone', 'tcp', '192.0.2.10:40001'), // an input no longer configured
      escapeBytes(duress('1234', '0007')), // a plain-log line, on --start
    ];
    const file = path.join(dir, 'capture.jsonl');
    writeFileSync(file, records.join('\n') + '\n');
    const { code, events, notes } = await replayFile(file, config);
    expect(notes).toContain('1 retransmit(s) stored once');
    expect(events.map((e) => [e['category'], e['duress'], e['verified']])).toEqual([
      ['duress', true, true],
      ['duress', true, false],
      ['duress', true, false],
      ['duress', true, false],
      ['duress', true, false],
      ['duress', true, true],
    ]);
    // The refused ones are refused as they were live, and still shown.
    expect(notes).toContain('frames refused by the pipeline: DC09_ACCOUNT_UNKNOWN ×1 (ip), DC09_PLAINTEXT_FOR_KEYED_ACCOUNT ×1 (ip), DC09_TIMESTAMP_OUT_OF_WINDOW ×1 (ip)');
    expect(code).toBe(0);
  });
});
