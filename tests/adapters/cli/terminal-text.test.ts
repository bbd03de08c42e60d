import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeDc09Frame } from '../../../src/codecs/dc09/frame.js';
import { terminalText } from '../../../adapters/cli/terminal-text.js';
import { runCli, tempDir } from '../../helpers/gateway-process.js';

/** What a terminal obeys rather than shows: C0 and C1 controls, DEL, and the marks that reorder a line (bidi). */
const OBEYED = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/;

/**
 * Text an attacker controls: an access-XML controller sends the account of its duress (unverified, it is still
 * stored and opens an incident), an operator writes the acknowledgement's note. SGR 8 (conceal) in ESC and in C1 CSI
 * form would hide every line printed after it, the real hold-up's included; a newline forges a line of its own;
 * U+202E reverses the rest of the line.
 */
const HOSTILE_ACCOUNT = 'door-7\u001b[8m\u009b8m';
const HOSTILE_NOTE = 'false alarm\nno open incidents\u202e';

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

describe('terminalText', () => {
  it('shows every character a terminal would obey as a \\u escape, and leaves the rest, and the meaning of JSON, alone', () => {
    expect(terminalText('Teller 1 – Zürich ✓')).toBe('Teller 1 – Zürich ✓');
    expect(terminalText('a\u001b[2Jb\u009b8m\r\n\t\u007f\u202e')).toBe('a\\u001b[2Jb\\u009b8m\\u000d\\u000a\\u0009\\u007f\\u202e');
    const value = { account: HOSTILE_ACCOUNT, note: HOSTILE_NOTE };
    const printed = terminalText(JSON.stringify(value));
    expect(printed).not.toMatch(OBEYED);
    expect(JSON.parse(printed)).toEqual(value);
  });
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
    expect(result.stdout).not.toMatch(OBEYED);
    expect(lines[0]).toContain('account door-7\\u001b[8m\\u009b8m');
    expect(lines[1]).toMatch(/^inc-1 .*: OPEN$/);
    expect(lines[2]).toContain('(false alarm\\u000ano open incidents\\u202e)');
  });

  it('`decode` prints extended data holding C1 controls escaped, still as JSON', async () => {
    const frame = encodeDc09Frame({ token: 'ADM-CID', seq: '0002', line: '0', account: '1234', dataAccount: '1234', data: '1121 01 005', extended: { I: 'Lobby\u009b8m' } });
    const result = await runCli(['decode', '--hex', Buffer.from(frame).toString('hex')]);
    expect(result.code).toBe(0);
    expect(result.stdout).not.toMatch(OBEYED);
    expect(result.stdout).toContain('Lobby\\u009b8m');
    expect(JSON.stringify(JSON.parse(result.stdout))).toContain('Lobby\u009b8m');
  });
});
