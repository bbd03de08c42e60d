import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, GatewayProcess, tempDir, writeConfig } from '../helpers/gateway-process.js';
import { freePort } from '../helpers/broker.js';
import { TcpPanel, panelFrame, parseAnswer, udpSend } from '../helpers/panel.js';
import { escapeBytes } from '../../src/codecs/result.js';
import { eventSchema } from '../../src/model/event.js';
import { encodeSiaBlock } from '../../src/codecs/sia-dc03-block.js';

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function replay(args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, 'replay', ...args], { maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : Number((error as { code?: number }).code ?? -1), stdout, stderr });
    });
  });
}

type Event = Record<string, unknown> & { id: string; receivedAt: string; raw: string };

function eventsOf(stdout: string): Event[] {
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => eventSchema.parse(JSON.parse(l)) as Event);
}

const KEY_HEX = '0123456789ABCDEF0123456789ABCDEF';
const ACCOUNTS = [{ account: '1234' }, { account: '5678', key: KEY_HEX, keyEncoding: 'hex' }];

/** The golden capture (tests/cli/replay/capture.jsonl: its lines name their sources) and its configuration. */
const GOLDEN_CAPTURE = new URL('./replay/capture.jsonl', import.meta.url).pathname;
const GOLDEN_EXPECTED = new URL('./replay/expected.jsonl', import.meta.url).pathname;
const goldenConfig = (dir: string) =>
  writeConfig(dir, {
    dataDir: path.join(dir, 'var'),
    inputs: [{ type: 'dc09', name: 'panels', port: 0, accounts: [{ account: 'AAA' }, { account: '1111' }, { account: 'AAAB' }, ACCOUNTS[1]] }],
    outputs: [{ type: 'stdout', name: 'out' }],
  });

describe('panelbridge replay: the golden capture', () => {
  const dir = tempDir('replay-golden');
  const config = goldenConfig(dir);

  it('gives exactly the expected events (--expect exits 0) and touches no dataDir in a dry run', async () => {
    const result = await replay([GOLDEN_CAPTURE, '--config', config, '--dry-run', '--fast', '--expect', GOLDEN_EXPECTED]);
    expect(result.stderr).toContain('all 6 event(s) match');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(readFileSync(GOLDEN_EXPECTED, 'utf8'));
    expect(existsSync(path.join(dir, 'var'))).toBe(false);
  });

  it('exits 1 with a diff naming the event and the field when an expected event differs', async () => {
    const lines = readFileSync(GOLDEN_EXPECTED, 'utf8').trimEnd().split('\n');
    const changed = JSON.parse(lines[4]!) as { category: string; user: { number: number } };
    changed.category = 'holdup';
    changed.user.number = 4;
    lines[4] = JSON.stringify(changed);
    const modified = path.join(dir, 'modified.jsonl');
    writeFileSync(modified, lines.join('\n') + '\n');
    const result = await replay([GOLDEN_CAPTURE, '--config', config, '--dry-run', '--fast', '--expect', modified]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('event 5: category: expected "holdup", got "duress"');
    expect(result.stderr).toContain('event 5: user.number: expected 4, got 3');
  });

  it('reports a missing event, and leaves out --ignore fields', async () => {
    const lines = readFileSync(GOLDEN_EXPECTED, 'utf8').trimEnd().split('\n');
    const withOtherIds = lines.map((l) => JSON.stringify({ ...(JSON.parse(l) as object), id: 'recorded-live' }));
    const file = path.join(dir, 'other-ids.jsonl');
    writeFileSync(file, [...withOtherIds, lines[0]].join('\n') + '\n');
    const ignoring = await replay([GOLDEN_CAPTURE, '--config', config, '--dry-run', '--fast', '--expect', file, '--ignore', 'id']);
    expect(ignoring.code).toBe(1);
    expect(ignoring.stderr).not.toContain(': id:');
    expect(ignoring.stderr).toMatch(/event 7: missing from the replay, expected \{"receivedAt":"2024-05-01T08:00:00.120Z"/);
  });

  it('reports a malformed line by number, replays the rest and exits 2', async () => {
    const lines = readFileSync(GOLDEN_CAPTURE, 'utf8').trimEnd().split('\n');
    lines.splice(2, 0, '{"t":"2024-05-01T08:00:01Z","input":"panels","transport":"tcp","hex":"0a41"');
    const file = path.join(dir, 'damaged.jsonl');
    writeFileSync(file, lines.join('\n') + '\n');
    const result = await replay([file, '--config', config, '--dry-run', '--fast']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('line 3: REPLAY_LINE_MALFORMED: not valid JSON');
    expect(result.stderr).toContain('1 malformed line(s): 3');
    expect(result.stdout).toBe(readFileSync(GOLDEN_EXPECTED, 'utf8'));
  });

  it('exits 3 naming the output when an output refused events for good (dead letters): they were not delivered', async () => {
    // A centre that answers 401 (its secret rotated): every event becomes a dead letter at once, so none is left
    // pending, and the replay said nothing and exited 0 as if the centre had taken them.
    const refusing = http.createServer((req, res) => req.resume().on('end', () => res.writeHead(401).end()));
    await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
    try {
      const target = tempDir('replay-refused');
      const url = `http://127.0.0.1:${(refusing.address() as AddressInfo).port}/hook`;
      const refusedConfig = writeConfig(target, {
        dataDir: path.join(target, 'var'),
        inputs: [{ type: 'dc09', name: 'panels', port: 0, accounts: [{ account: 'AAA' }, { account: '1111' }, { account: 'AAAB' }, ACCOUNTS[1]] }],
        outputs: [{ type: 'webhook', name: 'cms', url, secret: 'whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0' }],
      });
      const result = await replay([GOLDEN_CAPTURE, '--config', refusedConfig, '--fast']);
      expect(result.stderr).toMatch(/output cms refused 6 event\(s\) for good/);
      expect(result.code).toBe(3);
    } finally {
      refusing.close();
    }
  });

  it('exits 66 for a file it cannot read and 78 for a bad configuration', async () => {
    expect((await replay([path.join(dir, 'absent.jsonl'), '--config', config, '--dry-run'])).code).toBe(66);
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, 'inputs: 7\n');
    expect((await replay([GOLDEN_CAPTURE, '--config', bad, '--dry-run'])).code).toBe(78);
  });
});

describe('panelbridge replay: a capture made by `run --capture`', () => {
  const dir = tempDir('replay-live');
  const capture = path.join(dir, 'capture.jsonl');
  let config: string;
  let live: Event[] = [];
  let gateway: GatewayProcess | undefined;

  beforeAll(async () => {
    const port = await freePort();
    config = writeConfig(dir, {
      dataDir: path.join(dir, 'var'),
      inputs: [{ type: 'dc09', name: 'panels', host: '127.0.0.1', port, accounts: ACCOUNTS }],
      outputs: [{ type: 'stdout', name: 'out' }],
    });
    gateway = GatewayProcess.spawn(config, ['--capture', capture]);
    await gateway.ready;
    const panel = await TcpPanel.connect(port);
    const key = Buffer.from(KEY_HEX, 'hex');
    const burglary = panelFrame({ token: 'SIA-DCS', seq: '0001', account: '1234', data: '#1234|Nri1/BA005' });
    const answers = [
      await panel.send(burglary),
      await panel.send(burglary), // a retransmit: ACKed, stored once
      await panel.send(panelFrame({ token: 'ADM-CID', seq: '0002', account: '1234', data: '#1234|1121 01 003' })),
      await panel.send(panelFrame({ token: 'NULL', seq: '0003', account: '1234', data: '' })),
      await panel.send(panelFrame({ token: 'SIA-DCS', seq: '0004', account: '5678', data: '#5678|Nri2/PA012', key, time: Date.now() })),
      await panel.send(panelFrame({ token: 'SIA-DCS', seq: '0005', account: '9999', data: '#9999|Nri1/FA001' })),
    ];
    await sleep(120); // recorded gaps for --speed to scale
    answers.push(await udpSend(port, panelFrame({ token: 'ADM-CID', seq: '0006', account: '1234', data: '#1234|1130 01 015' })));
    panel.close();
    expect(answers.map((a) => (a === null ? null : parseAnswer(a, key).token))).toEqual(['ACK', 'ACK', 'ACK', 'ACK', '*ACK', 'NAK', 'ACK']);
    for (let waited = 0; gateway.events().length < 5 && waited < 5_000; waited += 50) await sleep(50);
    live = gateway.events() as Event[];
    gateway.kill('SIGTERM');
    await gateway.exited;
  });
  afterAll(() => gateway?.kill('SIGKILL'));

  it('recorded every frame received', () => {
    const records = readFileSync(capture, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records).toHaveLength(7);
    expect(records.map((r) => r['transport'])).toEqual(['tcp', 'tcp', 'tcp', 'tcp', 'tcp', 'tcp', 'udp']);
    expect(live).toHaveLength(5);
  });

  it('gives byte-identical output on two dry runs', async () => {
    const [first, second] = await Promise.all([
      replay([capture, '--config', config, '--dry-run', '--fast']),
      replay([capture, '--config', config, '--dry-run', '--fast']),
    ]);
    expect(first.code).toBe(0);
    expect(eventsOf(first.stdout)).toHaveLength(5);
    expect(second.stdout).toBe(first.stdout);
  });

  // Ids aside (random live, seeded in a replay); incident ids aside, because a replay leaves the duress assurance
  // (incidents, test windows, ledger) out. receivedAt included: the capture stamp is the frame's receivedAt.
  it('gives the events the live gateway published', async () => {
    const replayed = eventsOf((await replay([capture, '--config', config, '--dry-run', '--fast'])).stdout);
    const byRaw = (a: Event, b: Event) => a.raw.localeCompare(b.raw);
    const strip = ({ id: _id, incident: _incident, ...rest }: Event) => rest;
    const [sortedLive, sortedReplay] = [[...live].sort(byRaw), [...replayed].sort(byRaw)];
    expect(sortedReplay.map(strip)).toEqual(sortedLive.map(strip));
  });

  it('gives the same events at --speed 100 as with --fast', async () => {
    const [paced, fast] = await Promise.all([
      replay([capture, '--config', config, '--dry-run', '--speed', '100']),
      replay([capture, '--config', config, '--dry-run', '--fast']),
    ]);
    expect(paced.code).toBe(0);
    expect(paced.stdout).toBe(fast.stdout);
  });

  it('without --dry-run, stores in dataDir and delivers through the configured outputs', async () => {
    const target = tempDir('replay-deliver');
    const deliverConfig = writeConfig(target, {
      dataDir: path.join(target, 'var'),
      inputs: [{ type: 'dc09', name: 'panels', port: 0, accounts: ACCOUNTS }],
      outputs: [{ type: 'stdout', name: 'out' }],
    });
    const [delivered, dry] = await Promise.all([
      replay([capture, '--config', deliverConfig, '--fast']),
      replay([capture, '--config', config, '--dry-run', '--fast']),
    ]);
    expect(delivered.code).toBe(0);
    expect(existsSync(path.join(target, 'var'))).toBe(true);
    const lines = (stdout: string) => stdout.trimEnd().split('\n').sort();
    expect(lines(delivered.stdout)).toEqual(lines(dry.stdout));
  });
});

describe('panelbridge replay: a plain log, one frame per line', () => {
  it('routes each frame by its detected protocol, on the --start clock, with transport "replay"', async () => {
    const dir = tempDir('replay-plain');
    const config = writeConfig(dir, {
      dataDir: path.join(dir, 'var'),
      inputs: [{ type: 'dc09', name: 'panels', port: 0, accounts: ACCOUNTS }],
      outputs: [{ type: 'stdout', name: 'out' }],
    });
    const log = path.join(dir, 'panel.log');
    writeFileSync(
      log,
      [
        escapeBytes(panelFrame({ token: 'ADM-CID', seq: '0007', account: '1234', data: '#1234|1121 01 003' })),
        '1234181131010158', // public vector 43 (spandsp): Contact ID perimeter burglary
        'N Ri01 BA 01', // public vector 54: SIA DC-03 burglary, area 01 zone 01
        '',
      ].join('\n'),
    );
    const result = await replay([log, '--config', config, '--dry-run', '--fast', '--start', '2024-05-01T00:00:00Z']);
    expect(result.code).toBe(0);
    const events = eventsOf(result.stdout);
    expect(events.map((e) => [e['source'], e['protocol'], (e['code'] as { value: string }).value, e['receivedAt']])).toEqual([
      [{ input: 'panels', transport: 'replay' }, 'adm-cid', '121', '2024-05-01T00:00:00.000Z'],
      [{ input: 'replay', transport: 'replay' }, 'contact-id', '131', '2024-05-01T00:00:00.000Z'],
      [{ input: 'replay', transport: 'replay' }, 'sia-dc03', 'BA', '2024-05-01T00:00:00.000Z'],
    ]);
  });
});

describe('panelbridge replay: a SIA over IP capture', () => {
  // What `run --capture` records of a sia-ip input: one line per block, with the connection's address and port. The
  // FX020's account block (eavanvalkenburg/sia#32); the panel loses its first connection before the hold-up's
  // acknowledge and sends the session again from a new port.
  it("keeps each connection's account for its event blocks and stores a resent event block once", async () => {
    const dir = tempDir('replay-sia-ip');
    const config = writeConfig(dir, {
      dataDir: path.join(dir, 'var'),
      inputs: [{ type: 'sia-ip', name: 'galaxy', host: '127.0.0.1', port: 0 }],
      outputs: [{ type: 'stdout', name: 'out' }],
    });
    const record = (t: string, peer: string, block: Uint8Array) => JSON.stringify({ t, input: 'galaxy', transport: 'tcp', peer, hex: Buffer.from(block).toString('hex') });
    const capture = path.join(dir, 'capture.jsonl');
    writeFileSync(
      capture,
      [
        record('2024-05-01T08:00:00.000Z', '192.0.2.10:40001', Buffer.from('D#0192\x92', 'latin1')),
        record('2024-05-01T08:00:00.100Z', '192.0.2.10:40001', encodeSiaBlock('N', 'ti11:46/HA1011', true)),
        record('2024-05-01T08:00:05.000Z', '192.0.2.10:40002', Buffer.from('D#0192\x92', 'latin1')),
        record('2024-05-01T08:00:05.100Z', '192.0.2.10:40002', encodeSiaBlock('N', 'ti11:46/HA1011', true)),
        record('2024-05-01T08:00:05.200Z', '192.0.2.10:40002', encodeSiaBlock('0', '', true)),
        '',
      ].join('\n'),
    );
    const result = await replay([capture, '--config', config, '--dry-run', '--fast']);
    expect(result.code).toBe(0);
    expect(eventsOf(result.stdout).map((e) => [e['account'], e['category'], e['duress']])).toEqual([['0192', 'holdup', true]]);
    expect(result.stderr).toContain('1 retransmit(s) stored once');
  });
});
