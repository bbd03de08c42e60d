import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeDc09Frame } from '../../src/codecs/dc09/frame.js';
import { HOSTILE_ACCOUNT, HOSTILE_NOTE, OBEYED_BY_TERMINALS } from '../helpers/terminal-text.js';
import { CLI, runCli, tempDir, writeConfig } from '../helpers/gateway-process.js';

const incident = (id: string, account: string, acknowledged: boolean) => ({
  id,
  site: null,
  account,
  category: 'duress',
  openedAt: '2026-12-07T10:00:00.000Z',
  openingEventId: `${id}-e`,
  lastEventAt: '2026-12-07T10:00:00.000Z',
  eventCount: 1,
  acknowledged,
  ackedAt: acknowledged ? '2026-12-07T10:05:00.000Z' : null,
  ackedBy: acknowledged ? 'duty-officer' : null,
  note: acknowledged ? HOSTILE_NOTE : null,
  deliveredAt: null,
  calls: [],
});

describe('CLI output of text a panel or another person wrote', () => {
  let server: Server;
  let url: string;

  beforeAll(async () => {
    // The gateway's API as it answers `incidents list --all` when a hostile controller opened the newest incident.
    server = createServer((req, res) => {
      const body = { incidents: [incident('inc-2', HOSTILE_ACCOUNT, false), incident('inc-1', '1234', false), incident('inc-0', '1234', true)] };
      res.writeHead(req.url === '/incidents?all=1' ? 200 : 404, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('`incidents list` prints one line per incident and no escape sequence, so no incident can hide the others', async () => {
    const result = await runCli(['incidents', 'list', '--all', '--api', url, '--token-file', '/dev/null'], tempDir('terminal'));
    expect(result.stderr).toBe('');
    const lines = result.stdout.split('\n').slice(0, -1);
    expect(lines).toHaveLength(3);
    expect(result.stdout).not.toMatch(OBEYED_BY_TERMINALS);
    expect(lines[0]).toContain('account door-7\\u001b[8m\\u009b8m');
    expect(lines[1]).toMatch(/^inc-1 .*: OPEN$/);
    expect(lines[2]).toContain('(false alarm\\u000ano open incidents\\u202e)');
  });

  // A character beyond Latin-1 (U+202E) makes the encoder write UTF-8, so U+009B arrives as a C1 control: a byte
  // 0x9B alone is Windows-1252's '›'.
  it('`decode` prints extended data holding C1 controls escaped, still as JSON', async () => {
    const frame = encodeDc09Frame({ token: 'ADM-CID', seq: '0002', line: '0', account: '1234', dataAccount: '1234', data: '1121 01 005', extended: { I: 'Lobby\u009b8m\u202e' } });
    const result = await runCli(['decode', '--hex', Buffer.from(frame).toString('hex')]);
    expect(result.code).toBe(0);
    expect(result.stdout).not.toMatch(OBEYED_BY_TERMINALS);
    expect(result.stdout).toContain('Lobby\\u009b8m\\u202e');
    expect(JSON.stringify(JSON.parse(result.stdout))).toContain('Lobby\u009b8m\u202e');
  });

  it('`simulate --receive` prints a frame anybody may send it with its extended data escaped, on one line', async () => {
    const child = spawn(process.execPath, [CLI, 'simulate', '--receive', '--listen', '127.0.0.1:0', '--account', '4567'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let stdout = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
      await expect.poll(() => /listening on tcp and udp 127\.0\.0\.1:(\d+)/.exec(stdout), { timeout: 10_000 }).not.toBeNull();
      const port = Number(/127\.0\.0\.1:(\d+)/.exec(stdout)![1]);
      const frame = encodeDc09Frame({ token: 'ADM-CID', seq: '0001', line: '0', account: '4567', dataAccount: '4567', data: '1121 01 005', extended: { I: 'x\u001b[8m\u009b8m\u202e' } });
      const socket = dgram.createSocket('udp4');
      await new Promise<void>((resolve, reject) => socket.send(frame, port, '127.0.0.1', (error) => (error ? reject(error) : resolve())));
      socket.close();
      await expect.poll(() => stdout.split('\n').length, { timeout: 10_000 }).toBe(3);
      const received = stdout.split('\n')[1]!;
      expect(received).toContain('[Ix\\u001b[8m\\u009b8m\\u202e]');
      expect(stdout).not.toMatch(OBEYED_BY_TERMINALS);
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('`replay --expect` prints the differences of extended data holding escape sequences as text, one line each', async () => {
    const dir = tempDir('terminal-replay');
    const config = writeConfig(dir, { dataDir: path.join(dir, 'var'), inputs: [{ type: 'dc09', name: 'panels', port: 0, accounts: [{ account: '1234' }] }], outputs: [{ type: 'stdout', name: 'out' }] });
    const frame = encodeDc09Frame({ token: 'ADM-CID', seq: '0001', line: '0', account: '1234', dataAccount: '1234', data: '1121 01 005', extended: { I: 'Lobby\u001b[8m\u009b8m\nfake\u202e' } });
    const capture = path.join(dir, 'capture.jsonl');
    writeFileSync(capture, JSON.stringify({ t: '2026-12-07T10:00:00.000Z', input: 'panels', transport: 'tcp', peer: '192.0.2.10:40001', hex: Buffer.from(frame).toString('hex') }) + '\n');
    const expected = path.join(dir, 'expected.jsonl');
    writeFileSync(expected, JSON.stringify({ extended: { I: 'Lobby' } }) + '\n');
    const result = await runCli(['replay', capture, '--config', config, '--dry-run', '--fast', '--expect', expected]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('extended.I: expected "Lobby", got "Lobby\\u001b[8m\\u009b8m\\nfake\\u202e"');
    expect(result.stderr.replace(/\n/g, '')).not.toMatch(OBEYED_BY_TERMINALS);
  });

  it('`audit show` prints a note an operator wrote with escape sequences as text', async () => {
    const dir = tempDir('terminal-audit');
    mkdirSync(path.join(dir, 'var'), { mode: 0o700 });
    const record = { seq: 1, at: '2026-12-07T10:05:00.000Z', action: 'incident-acknowledged', actor: { name: 'duty-officer', role: 'operator', channel: 'api' }, details: { incident: 'inc-2', note: HOSTILE_NOTE + HOSTILE_ACCOUNT }, prev: '0', hash: '0' };
    writeFileSync(path.join(dir, 'var', 'audit.jsonl'), JSON.stringify(record) + '\n', { mode: 0o600 });
    const result = await runCli(['audit', 'show'], dir);
    expect(result.code).toBe(0);
    expect(result.stdout.split('\n').slice(0, -1)).toHaveLength(1);
    expect(result.stdout).not.toMatch(OBEYED_BY_TERMINALS);
    expect(result.stdout).toContain('note=false alarm\\u000ano open incidents\\u202edoor-7\\u001b[8m\\u009b8m');
  });
});

