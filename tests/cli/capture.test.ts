import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/broker.js';
import { GatewayProcess, tempDir, writeConfig } from '../helpers/gateway-process.js';
import { panelFrame, parseAnswer, TcpPanel, udpSend } from '../helpers/panel.js';

const running: GatewayProcess[] = [];
afterEach(async () => {
  for (const gateway of running.splice(0)) {
    gateway.kill('SIGTERM');
    await gateway.exited;
  }
});

describe('panelbridge run --capture', () => {
  // /dev/full answers every write with ENOSPC: a capture disk that filled up while the gateway runs.
  it.skipIf(!existsSync('/dev/full'))('a capture file that cannot be written (disk full): every frame is still stored, ACKed and published; one log line', async () => {
    const dir = tempDir('capture-full');
    const port = await freePort();
    const config = writeConfig(dir, {
      dataDir: path.join(dir, 'var'),
      inputs: [{ type: 'dc09', name: 'ip', host: '127.0.0.1', port, udp: false, accounts: [{ account: '1234' }] }],
      outputs: [{ type: 'stdout', name: 'console' }],
    });
    const gateway = GatewayProcess.spawn(config, ['--capture', '/dev/full']);
    running.push(gateway);
    await gateway.ready;
    const panel = await TcpPanel.connect(port);
    const answers = [];
    for (const [seq, data] of [['0001', '#1234|Nri1/HA05'], ['0002', '#1234|Nri1/BA03']] as const)
      answers.push(parseAnswer((await panel.send(panelFrame({ token: 'SIA-DCS', seq, account: '1234', data })))!).token);
    panel.close();
    expect(answers).toEqual(['ACK', 'ACK']);
    for (let waited = 0; gateway.events().length < 2 && waited < 3_000; waited += 50) await new Promise((r) => setTimeout(r, 50));
    expect(gateway.events().map((e) => e['category'])).toEqual(['holdup', 'burglary']);
    const notCaptured = gateway.stderr.filter((line) => line.includes('frame not captured'));
    expect(notCaptured).toHaveLength(1);
    expect(JSON.parse(notCaptured[0]!)).toMatchObject({ level: 50, input: 'ip', file: '/dev/full', kind: 'capture-write-failed' });
  }, 20_000);
});

describe('panelbridge run --capture: what the input discarded before decoding', () => {
  it('records noise and an oversized datagram, marked discarded with the reason, and bounds a flood of them per sender', async () => {
    const dir = tempDir('capture-discards');
    const port = await freePort();
    const capture = path.join(dir, 'capture.jsonl');
    const config = writeConfig(dir, {
      dataDir: path.join(dir, 'var'),
      inputs: [{ type: 'dc09', name: 'ip', host: '127.0.0.1', port, maxFrameBytes: 256, accounts: [{ account: '1234' }] }],
      outputs: [{ type: 'stdout', name: 'console' }],
    });
    const gateway = GatewayProcess.spawn(config, ['--capture', capture]);
    running.push(gateway);
    await gateway.ready;
    const panel = await TcpPanel.connect(port);
    // Line noise before the frame: the framer hunts for LF and discards what comes before it.
    const answer = await panel.send(Buffer.concat([Buffer.from('+++ATH0\r', 'latin1'), panelFrame({ token: 'SIA-DCS', seq: '0001', account: '1234', data: '#1234|Nri1/HA05' })]));
    panel.close();
    expect(parseAnswer(answer!).token).toBe('ACK');
    // A flood of datagrams larger than maxFrameBytes from one sender: discarded unread, and recorded only a few times.
    const oversize = Buffer.concat([Buffer.from('\n'), Buffer.alloc(400, 0x41), Buffer.from('\r')]);
    for (let i = 0; i < 200; i++) await udpSend(port, oversize, 1);
    await new Promise((r) => setTimeout(r, 300));

    const records = readFileSync(capture, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const discarded = records.filter((r) => r['discarded'] !== undefined);
    const noise = discarded.find((r) => (r['discarded'] as { reason: string }).reason === 'FRAME_NOISE');
    expect(noise).toMatchObject({ input: 'ip', transport: 'tcp', hex: Buffer.from('+++ATH0\r').toString('hex'), discarded: { reason: 'FRAME_NOISE', count: 1, bytes: 8 } });
    expect(noise!['peer']).toMatch(/^127\.0\.0\.1:\d+$/);
    const oversized = discarded.filter((r) => (r['discarded'] as { reason: string }).reason === 'FRAME_OVERSIZE');
    expect(oversized.length).toBeGreaterThan(0);
    expect(oversized[0]).toMatchObject({ input: 'ip', transport: 'udp', hex: oversize.toString('hex') });
    // The frame itself is recorded as before, and a flood takes a bounded number of lines.
    expect(records.filter((r) => r['discarded'] === undefined)).toHaveLength(1);
    expect(oversized.length).toBeLessThanOrEqual(10);
    const counted = oversized.reduce((sum, r) => sum + (r['discarded'] as { count: number }).count, 0);
    expect(counted).toBeLessThanOrEqual(200);
  }, 20_000);
});
